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
	"github.com/strictmt/strictmt/repository"
)

//go:embed migrations/shared/*.sql
var sharedFS embed.FS

//go:embed migrations/tenant/*.sql
var tenantFS embed.FS

// VersionTable is the goose version table kept in every schema.
const VersionTable = repository.VersionTable

// sharedLockID is the advisory lock taken while the shared schema migrates.
const sharedLockID = 0x5374726963744d54 // "StrictMT"

// Migration is one versioned tenant migration: plain SQL with unqualified
// names, run with the tenant schema as search_path.
type Migration struct {
	Version int64
	Name    string
	SQL     string
	// Stmts is SQL split into its statements, each sent as a message of
	// its own (see ExecEach); NewMigration fills it.
	Stmts []string
}

// NewMigration returns the migration version with its SQL split into
// statements.
func NewMigration(version int64, name, sql string) Migration {
	return Migration{Version: version, Name: name, SQL: sql, Stmts: SplitStatements(sql)}
}

// statements returns m's statements, splitting SQL when Stmts was not
// filled (a Migration written as a literal).
func (m Migration) statements() []string {
	if m.Stmts == nil {
		return SplitStatements(m.SQL)
	}
	return m.Stmts
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
		out = append(out, NewMigration(v, name, string(body)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// sharedProvider returns the goose provider of the shared (public)
// schema's migrations.
func sharedProvider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(sharedFS, "migrations/shared")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName("public."+VersionTable),
		goose.WithSessionLocker(advisoryLocker{id: sharedLockID}),
		goose.WithDisableGlobalRegistry(true),
	)
}

// MigrateShared applies the pending shared (public schema) migrations under
// an advisory lock, so concurrent runs wait for each other.
func MigrateShared(ctx context.Context, db *sql.DB) error {
	p, err := sharedProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating shared schema: %w", err)
	}
	return nil
}

// SharedPending returns the versions of the shared migrations not yet
// applied, changing nothing.
func SharedPending(ctx context.Context, db *sql.DB) ([]int64, error) {
	p, err := sharedProvider(db)
	if err != nil {
		return nil, err
	}
	var all []int64
	for _, src := range p.ListSources() {
		all = append(all, src.Version)
	}
	applied, err := appliedVersions(ctx, db, "public")
	if err != nil {
		return nil, err
	}
	return notIn(all, applied), nil
}

// appliedVersions returns the versions recorded in schema's version table;
// none when the table does not exist.
func appliedVersions(ctx context.Context, db *sql.DB, schema string) (map[int64]bool, error) {
	out := map[int64]bool{}
	var exists bool
	q, args := repository.VersionTableExistsQuery(schema)
	if err := db.QueryRowContext(ctx, q, args...).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return out, nil
	}
	rs, err := db.QueryContext(ctx, repository.AppliedVersionsSQL(schema))
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var v int64
		if err := rs.Scan(&v); err != nil {
			return nil, err
		}
		out[v] = true
	}
	return out, rs.Err()
}

func notIn(all []int64, applied map[int64]bool) []int64 {
	var out []int64
	for _, v := range all {
		if !applied[v] {
			out = append(out, v)
		}
	}
	return out
}

// advisoryLocker is a goose session locker on a PostgreSQL session-level
// advisory lock that waits in the server (repository.AdvisoryLockSQL)
// rather than polling: a second migrate run resumes the moment the first
// releases a schema, and waiting ends with ctx.
type advisoryLocker struct{ id int64 }

func (l advisoryLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, repository.AdvisoryLockSQL, l.id)
	return err
}

func (l advisoryLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released bool
	if err := conn.QueryRowContext(ctx, repository.AdvisoryUnlockSQL, l.id).Scan(&released); err != nil {
		return err
	}
	if !released {
		return fmt.Errorf("advisory lock %d was not held", l.id)
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
// transaction whose search_path is the schema. The same transaction grants
// the tenant role what the migration created, so a schema's version and
// its role's grants never disagree.
func newTenantProvider(db *sql.DB, c Cluster, schema, role string, migrations []Migration) (*goose.Provider, error) {
	store, err := database.NewStore(database.DialectPostgres, schema+"."+VersionTable)
	if err != nil {
		return nil, err
	}
	gos := make([]*goose.Migration, 0, len(migrations))
	for _, m := range migrations {
		gos = append(gos, goose.NewGoMigration(m.Version,
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				if err := applyTenantSQL(ctx, tx, c, schema, m); err != nil {
					return err
				}
				return grantExisting(ctx, tx, schema, role)
			}},
			nil))
	}
	return goose.NewProvider("", db, nil,
		goose.WithStore(store),
		goose.WithGoMigrations(gos...),
		goose.WithSessionLocker(advisoryLocker{id: schemaLockID(schema)}),
		goose.WithDisableGlobalRegistry(true),
	)
}

// execer is what applyTenantSQL needs of a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// applyTenantSQL runs m in tx with schema as search_path
// (repository.TenantMigrationStmts), a statement per message (see
// ExecEach): goose's transaction gives no access to its connection, so
// each goes in a round trip of its own, as goose sends the statements of
// its own SQL migrations.
func applyTenantSQL(ctx context.Context, tx execer, c Cluster, schema string, m Migration) error {
	if err := execEachTx(ctx, tx, repository.TenantMigrationStmts(schema, c.Citus, m.statements())); err != nil {
		return fmt.Errorf("%s: %w", m.Name, err)
	}
	return nil
}
