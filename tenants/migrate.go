package tenants

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
)

// MigrateOptions selects what a migration run does.
type MigrateOptions struct {
	Shared  bool   // migrate the shared (public) schema
	Tenants bool   // migrate tenant schemas
	Schema  string // only this tenant schema, when set
	Workers int    // tenant schemas migrated at once; 0 means the CPU count
	DryRun  bool   // list pending migrations, change nothing
	// Progress, when set, is called after each tenant schema is done.
	Progress func(p Progress)
}

// Progress is the state of a tenant migration run.
type Progress struct {
	Done, Total, Failed int
	Schema              string
	Elapsed             time.Duration
}

// MigrateReport is the outcome of a tenant migration run.
type MigrateReport struct {
	Total    int
	Migrated int              // schemas where at least one migration ran
	Applied  int              // migrations applied, over all schemas
	Failed   map[string]error // schema → error; those schemas were rolled back
	Pending  map[string][]int64
	Elapsed  time.Duration
}

// MigrateError lists the tenant schemas a run could not migrate.
type MigrateError struct{ Failed map[string]error }

func (e *MigrateError) Error() string {
	names := make([]string, 0, len(e.Failed))
	for s := range e.Failed {
		names = append(names, s)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, s := range names {
		parts[i] = s + ": " + e.Failed[s].Error()
	}
	return fmt.Sprintf("migrating %d tenant schema(s) failed: %s", len(names), strings.Join(parts, "; "))
}

type tenantRow struct{ schema, role string }

// MigrateTenants applies pending tenant migrations to every tenant schema
// (or opts.Schema) with opts.Workers at once, each schema under its own
// advisory lock and each migration in its own transaction. A schema that
// fails is left at its last good version and the others go on; the error
// names every failed schema, and a rerun continues where this one stopped.
// It also gives every tenant its role, should one be missing.
func MigrateTenants(ctx context.Context, db *sql.DB, log *slog.Logger, opts MigrateOptions) (*MigrateReport, error) {
	start := time.Now()
	migrations, err := TenantMigrations()
	if err != nil {
		return nil, err
	}
	rows, err := listTenants(ctx, db, opts.Schema)
	if err != nil {
		return nil, err
	}
	if opts.Schema != "" && len(rows) == 0 {
		return nil, fmt.Errorf("no tenant with schema_name %q", opts.Schema)
	}
	missingRoles, err := rolesMissing(ctx, db, rows)
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	latest := migrations[len(migrations)-1].Version

	rep := &MigrateReport{Total: len(rows), Failed: map[string]error{}, Pending: map[string][]int64{}}
	var mu sync.Mutex
	jobs := make(chan tenantRow)
	var wg sync.WaitGroup
	done := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range jobs {
				applied, pending, err := migrateSchema(ctx, db, t, migrations, latest, missingRoles[t.role], opts.DryRun)
				mu.Lock()
				done++
				if err != nil {
					rep.Failed[t.schema] = err
					log.Error("tenant migration failed", "schema", t.schema, "err", err)
				}
				if applied > 0 {
					rep.Migrated++
					rep.Applied += applied
				}
				if len(pending) > 0 {
					rep.Pending[t.schema] = pending
				}
				if opts.Progress != nil {
					opts.Progress(Progress{Done: done, Total: len(rows), Failed: len(rep.Failed), Schema: t.schema, Elapsed: time.Since(start)})
				}
				mu.Unlock()
			}
		}()
	}
	for _, t := range rows {
		if ctx.Err() != nil {
			break
		}
		jobs <- t
	}
	close(jobs)
	wg.Wait()
	rep.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if len(rep.Failed) > 0 {
		return rep, &MigrateError{Failed: rep.Failed}
	}
	return rep, nil
}

func listTenants(ctx context.Context, db *sql.DB, only string) ([]tenantRow, error) {
	q := "SELECT schema_name, role_name FROM public.clients ORDER BY schema_name"
	args := []any{}
	if only != "" {
		q = "SELECT schema_name, role_name FROM public.clients WHERE schema_name = $1"
		args = append(args, only)
	}
	rs, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []tenantRow
	for rs.Next() {
		var t tenantRow
		if err := rs.Scan(&t.schema, &t.role); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rs.Err()
}

func rolesMissing(ctx context.Context, db *sql.DB, rows []tenantRow) (map[string]bool, error) {
	missing := map[string]bool{}
	if len(rows) == 0 {
		return missing, nil
	}
	names := make([]string, len(rows))
	for i, t := range rows {
		names[i] = t.role
		missing[t.role] = true
	}
	rs, err := db.QueryContext(ctx, "SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", names)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var r string
		if err := rs.Scan(&r); err != nil {
			return nil, err
		}
		delete(missing, r)
	}
	return missing, rs.Err()
}

// migrateSchema brings one schema to the latest version. A schema already
// there costs one query.
func migrateSchema(ctx context.Context, db *sql.DB, t tenantRow, migrations []Migration, latest int64, missingRole, dryRun bool) (applied int, pending []int64, err error) {
	var current sql.NullInt64
	qerr := db.QueryRowContext(ctx, "SELECT max(version_id) FROM "+QuoteIdent(t.schema)+"."+VersionTable).Scan(&current)
	upToDate := qerr == nil && current.Valid && current.Int64 >= latest
	if !upToDate {
		p, err := newTenantProvider(db, t.schema, migrations)
		if err != nil {
			return 0, nil, err
		}
		if dryRun {
			statuses, err := p.Status(ctx)
			if err != nil {
				return 0, nil, err
			}
			for _, s := range statuses {
				if s.State == goose.StatePending {
					pending = append(pending, s.Source.Version)
				}
			}
			return 0, pending, nil
		}
		results, err := p.Up(ctx)
		applied = len(results)
		if err != nil {
			return applied, nil, err
		}
	}
	if dryRun || (upToDate && !missingRole) {
		return applied, nil, nil
	}
	// New tables need the tenant role's grants; a tenant from before roles
	// existed needs its role.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return applied, nil, err
	}
	defer tx.Rollback()
	if missingRole {
		if _, err := tx.ExecContext(ctx, "CREATE ROLE "+QuoteIdent(t.role)+" NOLOGIN"); err != nil {
			return applied, nil, err
		}
	}
	if err := grant(ctx, tx, t.schema, t.role); err != nil {
		return applied, nil, err
	}
	return applied, nil, tx.Commit()
}
