package tenants

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/shared/*.sql
var sharedFS embed.FS

//go:embed migrations/tenant/*.sql
var tenantFS embed.FS

// VersionTable is the goose version table kept in every schema.
const VersionTable = "goose_db_version"

// sharedLockID is the advisory lock taken while the shared schema migrates.
const sharedLockID = 0x5374726963744d54 // "StrictMT"

// Migration is one versioned tenant migration: plain SQL with unqualified
// names, run with the tenant schema as search_path.
type Migration struct {
	Version int64
	Name    string
	SQL     string
}

// TenantMigrations returns the embedded tenant migrations in version order.
func TenantMigrations() ([]Migration, error) { return loadMigrations(tenantFS, "migrations/tenant") }

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", name)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// MigrateShared applies the pending shared (public schema) migrations under
// an advisory lock, so concurrent runs wait for each other.
func MigrateShared(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(sharedFS, "migrations/shared")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(sharedLockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName("public."+VersionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating shared schema: %w", err)
	}
	return nil
}

// schemaLockID is the advisory lock id of one tenant schema's migrations.
func schemaLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("strictmt-schema:" + schema))
	return int64(h.Sum64() >> 1)
}

// newTenantProvider returns a goose provider for one tenant schema: its own
// version table, its own advisory lock, and every migration run in a
// transaction whose search_path is the schema.
func newTenantProvider(db *sql.DB, schema string, migrations []Migration) (*goose.Provider, error) {
	store, err := database.NewStore(database.DialectPostgres, schema+"."+VersionTable)
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(schemaLockID(schema)), lock.WithLockTimeout(1, 600))
	if err != nil {
		return nil, err
	}
	gos := make([]*goose.Migration, 0, len(migrations))
	for _, m := range migrations {
		gos = append(gos, goose.NewGoMigration(m.Version,
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				return applyTenantSQL(ctx, tx, schema, m)
			}},
			nil))
	}
	return goose.NewProvider("", db, nil,
		goose.WithStore(store),
		goose.WithGoMigrations(gos...),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
}

// execer is what applyTenantSQL needs of a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func applyTenantSQL(ctx context.Context, tx execer, schema string, m Migration) error {
	// SET LOCAL ends with the transaction, so the search_path never leaks
	// to another user of the pooled connection.
	if _, err := tx.ExecContext(ctx, "SET LOCAL search_path TO "+QuoteIdent(schema)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("%s: %w", m.Name, err)
	}
	return nil
}
