package tenants

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/strictmt/strictmt/repository"
	"golang.org/x/sync/errgroup"
)

// versionChunk is how many schemas one version query reads. Each schema's
// version table is locked (ACCESS SHARE) until that query ends, so a chunk
// stays far below the server's lock table (max_locks_per_transaction ×
// max_connections, 6,400 by default) however many tenants there are.
const versionChunk = 100

// MigrateOptions selects what a migration run does.
type MigrateOptions struct {
	Shared  bool   // migrate the shared (public) schema
	Tenants bool   // migrate tenant schemas
	Schema  string // only this tenant schema, when set
	Workers int    // tenant schemas migrated at once; 0 means the CPU count
	DryRun  bool   // list pending migrations, change nothing
	// Migrations, when not nil, replaces the embedded tenant migrations;
	// tests and benchmarks supply extra ones through it.
	Migrations []Migration
	// Progress, when set, is called after each tenant schema is done and
	// once for the schemas found up to date, never concurrently.
	Progress func(p Progress)
	// Cluster, when not nil, is how the tenants are provisioned (see
	// DetectCluster): in Citus mode the schemas are read from their own
	// version tables and undistributed schemas are distributed, and
	// every tenant role is made to match the mode (LOGIN or NOLOGIN) and
	// be a member of the group role. When nil, Citus mode follows the
	// citus extension and the roles' login and group are left as they are.
	Cluster *Cluster
}

// Progress is the state of a tenant migration run.
type Progress struct {
	Done, Total, Failed int
	Schema              string // the schema just done; "" for a batch
	Elapsed             time.Duration
}

// MigrateReport is the outcome of a tenant migration run.
type MigrateReport struct {
	Total    int
	UpToDate int // schemas that needed nothing
	// Vouched counts the up-to-date schemas the catalog's copy of their
	// versions vouched for, whose version tables were not read.
	Vouched  int
	Migrated int              // schemas where at least one migration ran
	Applied  int              // migrations applied, over all schemas
	Failed   map[string]error // schema → error; its failed migration was rolled back
	Pending  map[string][]int64
	Elapsed  time.Duration
}

// MigrateError lists the tenant schemas a run could not migrate.
type MigrateError struct{ Failed map[string]error }

// Schemas returns the failed schemas in order.
func (e *MigrateError) Schemas() []string {
	names := make([]string, 0, len(e.Failed))
	for s := range e.Failed {
		names = append(names, s)
	}
	sort.Strings(names)
	return names
}

func (e *MigrateError) Error() string {
	names := e.Schemas()
	parts := make([]string, len(names))
	for i, s := range names {
		parts[i] = s + ": " + strings.ReplaceAll(e.Failed[s].Error(), "\n", " ")
	}
	return fmt.Sprintf("migrating %d tenant schema(s) failed: %s", len(names), strings.Join(parts, "; "))
}

type tenantRow struct {
	schema, role string
	version      int64 // highest applied version; -1 without a version table
	applied      int   // distinct versions above 0 recorded as applied
	missingRole  bool
	// fixRole: the role's LOGIN or group membership does not match the
	// cluster (see MigrateOptions.Cluster).
	fixRole bool
	// distribute: in Citus mode, the schema is not distributed yet.
	distribute bool
	// recorded: the catalog's believed copy of the schema's versions
	// (public.tenant_versions_current) holds every migration.
	recorded bool
}

// MigrateTenants applies pending tenant migrations to every tenant schema
// (or opts.Schema) with opts.Workers at once, each schema under its own
// advisory lock and each migration in its own transaction. A schema that
// fails is left at its last good version and the others go on; the error
// (a *MigrateError) names every failed schema, and a rerun continues where
// this one stopped. Schemas already at the latest version cost a share of
// one query per 100 schemas. It also gives every tenant its role, should
// one be missing. With opts.DryRun it fills the report's Pending and
// changes nothing.
func MigrateTenants(ctx context.Context, db *sql.DB, log *slog.Logger, opts MigrateOptions) (*MigrateReport, error) {
	start := time.Now()
	migrations := opts.Migrations
	if migrations == nil {
		var err error
		if migrations, err = TenantMigrations(); err != nil {
			return nil, err
		}
	}
	if err := checkMigrations(migrations); err != nil {
		return nil, err
	}
	rows, err := listTenants(ctx, db, opts.Schema)
	if err != nil {
		return nil, err
	}
	if opts.Schema != "" && len(rows) == 0 {
		return nil, fmt.Errorf("no tenant with schema_name %q", opts.Schema)
	}
	rep := &MigrateReport{Total: len(rows), Failed: map[string]error{}, Pending: map[string][]int64{}}
	if len(rows) == 0 {
		rep.Elapsed = time.Since(start)
		return rep, nil
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	run := &migrateRun{db: db, log: log, opts: opts, migrations: migrations, workers: workers, start: start, rep: rep}
	if err := run.readState(ctx, rows); err != nil {
		return nil, err
	}

	var work []tenantRow
	var record []string // up to date, but not vouched for by the catalog yet
	for _, t := range rows {
		if t.upToDate(migrations) && !t.needsWork() {
			rep.UpToDate++
			if t.recorded {
				rep.Vouched++
			} else {
				record = append(record, t.schema)
			}
		} else {
			work = append(work, t)
		}
	}
	if run.records && !opts.DryRun && len(record) > 0 {
		if err := recordVersions(ctx, db, record); err != nil {
			log.Warn("recording tenant versions in the catalog failed; the next migrate reads these schemas again", "err", err)
		}
	}
	if rep.UpToDate > 0 {
		run.done = rep.UpToDate
		run.report("")
	}
	run.migrateAll(ctx, work)
	rep.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if len(rep.Failed) > 0 {
		return rep, &MigrateError{Failed: rep.Failed}
	}
	return rep, nil
}

// migrateRun is one MigrateTenants run: what it found out about the
// database and what it has done so far.
type migrateRun struct {
	db         *sql.DB
	log        *slog.Logger
	opts       MigrateOptions
	migrations []Migration
	workers    int
	start      time.Time
	cluster    Cluster
	records    bool // the catalog keeps copies of the schemas' versions (never on Citus)

	mu   sync.Mutex // guards rep and done while schemas migrate
	rep  *MigrateReport
	done int
}

// readState fills in what each of rows needs: its role's state and, on
// Citus, whether its schema is distributed; then its versions, from the
// catalog's copies where they are believed and from the schema's own
// version table otherwise.
func (r *migrateRun) readState(ctx context.Context, rows []tenantRow) error {
	cluster, fixRoles := r.opts.Cluster, true
	if cluster == nil {
		c, err := DetectCluster(ctx, r.db, CitusAuto, "")
		if err != nil {
			return err
		}
		cluster, fixRoles = &c, false
	}
	r.cluster = *cluster
	if !r.opts.DryRun {
		// A missing role is created a member of it, in any case.
		if err := EnsureTenantGroup(ctx, r.db, r.cluster); err != nil {
			return err
		}
	}
	if err := markRoles(ctx, r.db, rows, r.cluster, fixRoles); err != nil {
		return err
	}
	if r.cluster.Citus && r.cluster.Extension {
		if err := markUndistributed(ctx, r.db, rows); err != nil {
			return err
		}
	}
	// On Citus the trigger that keeps the catalog's copies true does not
	// fire (see Cluster): every schema's own version table is read.
	if !r.cluster.Citus {
		var err error
		if r.records, err = hasVersionRecords(ctx, r.db); err != nil {
			return err
		}
	}
	if r.records {
		if err := readRecords(ctx, r.db, rows, r.migrations); err != nil {
			return err
		}
	}
	// The schemas the catalog cannot vouch for are read one by one.
	var unknown []tenantRow
	var at []int
	for i, t := range rows {
		if !t.recorded {
			unknown = append(unknown, t)
			at = append(at, i)
		}
	}
	if err := readVersions(ctx, r.db, unknown, r.workers); err != nil {
		return err
	}
	for k, i := range at {
		rows[i] = unknown[k]
	}
	return nil
}

// migrateAll migrates (or, in a dry run, lists the pending migrations of)
// each of work, r.workers at once, until ctx ends.
func (r *migrateRun) migrateAll(ctx context.Context, work []tenantRow) {
	var g errgroup.Group
	g.SetLimit(r.workers)
	for _, t := range work {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			r.migrateOne(ctx, t)
			return nil
		})
	}
	_ = g.Wait()
}

// migrateOne migrates one schema and records its outcome.
func (r *migrateRun) migrateOne(ctx context.Context, t tenantRow) {
	var applied int
	var pending []int64
	var err error
	if r.opts.DryRun {
		pending, err = pendingIn(ctx, r.db, t.schema, r.migrations)
	} else {
		applied, err = migrateSchema(ctx, r.db, r.cluster, t, r.migrations)
		if err == nil && r.records {
			if rerr := recordVersions(ctx, r.db, []string{t.schema}); rerr != nil {
				r.log.Warn("recording tenant versions in the catalog failed; the next migrate reads this schema again", "schema", t.schema, "err", rerr)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done++
	if err != nil {
		r.rep.Failed[t.schema] = err
		r.log.Error("tenant migration failed", "schema", t.schema, "err", err)
	}
	if applied > 0 {
		r.rep.Migrated++
		r.rep.Applied += applied
	}
	if len(pending) > 0 {
		r.rep.Pending[t.schema] = pending
	}
	r.report(t.schema)
}

// report calls the run's Progress, if any; callers hold r.mu or run alone.
func (r *migrateRun) report(schema string) {
	if r.opts.Progress != nil {
		r.opts.Progress(Progress{Done: r.done, Total: r.rep.Total, Failed: len(r.rep.Failed), Schema: schema, Elapsed: time.Since(r.start)})
	}
}

func checkMigrations(ms []Migration) error {
	if len(ms) == 0 {
		return errors.New("no tenant migrations")
	}
	for i, m := range ms {
		if m.Version < 1 || (i > 0 && m.Version <= ms[i-1].Version) {
			return fmt.Errorf("tenant migration %s: versions must be positive and increasing", m.Name)
		}
	}
	return nil
}

func listTenants(ctx context.Context, db *sql.DB, only string) ([]tenantRow, error) {
	// Before the shared migrations ran there is no catalog and no tenant.
	var catalog bool
	if err := db.QueryRowContext(ctx, repository.CatalogExistsSQL).Scan(&catalog); err != nil {
		return nil, err
	}
	if !catalog {
		return nil, nil
	}
	q := repository.TenantsSQL
	args := []any{}
	if only != "" {
		q = repository.TenantBySchemaSQL
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

// markRoles marks the rows whose role is missing and, with fix, those
// whose role's LOGIN or membership of the group role does not match c, in
// one query.
func markRoles(ctx context.Context, db *sql.DB, rows []tenantRow, c Cluster, fix bool) error {
	names := make([]string, len(rows))
	for i, t := range rows {
		names[i] = t.role
	}
	rs, err := db.QueryContext(ctx, repository.RoleStatesSQL, names, c.group())
	if err != nil {
		return err
	}
	defer rs.Close()
	present := map[string]bool{}
	wrong := map[string]bool{}
	for rs.Next() {
		var r string
		var login, member bool
		if err := rs.Scan(&r, &login, &member); err != nil {
			return err
		}
		present[r] = true
		wrong[r] = login != c.Citus || !member
	}
	for i := range rows {
		rows[i].missingRole = !present[rows[i].role]
		rows[i].fixRole = fix && wrong[rows[i].role]
	}
	return rs.Err()
}

// markUndistributed marks, on Citus, the rows whose schema exists and is
// not a distributed schema.
func markUndistributed(ctx context.Context, db *sql.DB, rows []tenantRow) error {
	names := make([]string, len(rows))
	for i, t := range rows {
		names[i] = t.schema
	}
	rs, err := db.QueryContext(ctx, repository.UndistributedSchemasSQL, names)
	if err != nil {
		return fmt.Errorf("listing the tenant schemas Citus does not distribute: %w", err)
	}
	defer rs.Close()
	at := make(map[string]int, len(rows))
	for i, t := range rows {
		at[t.schema] = i
	}
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			return err
		}
		rows[at[s]].distribute = true
	}
	return rs.Err()
}

// needsWork reports whether t's role or, on Citus, its schema needs
// something whatever its version.
func (t tenantRow) needsWork() bool { return t.missingRole || t.fixRole || t.distribute }

// readVersions sets every row's version: one catalog query finds the
// schemas that have a version table, then one UNION ALL query per chunk
// reads their highest versions, instead of one query per schema; workers
// chunks at once.
func readVersions(ctx context.Context, db *sql.DB, rows []tenantRow, workers int) error {
	names := make([]string, len(rows))
	for i := range rows {
		rows[i].version = -1
		names[i] = rows[i].schema
	}
	q, args := repository.VersionTablesQuery(names)
	rs, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	has := map[string]bool{}
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			rs.Close()
			return err
		}
		has[s] = true
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	var idx []int
	for i, t := range rows {
		// The catalog is written only through validated names; one that
		// is not valid is left to the per-schema path, which fails it.
		if has[t.schema] && ValidateSchemaName(t.schema) == nil {
			idx = append(idx, i)
		}
	}
	var chunks [][]int
	for len(idx) > 0 {
		n := min(versionChunk, len(idx))
		chunks = append(chunks, idx[:n])
		idx = idx[n:]
	}
	// A backend that has not seen a version table yet builds its catalog
	// cache entry on the way, so the chunks go to several backends at once.
	errs := make([]error, len(chunks))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= len(chunks) {
					return
				}
				errs[c] = readChunk(ctx, db, rows, chunks[c])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// upToDate reports whether every one of migrations is recorded in t: the
// highest version alone would miss a hole left by an older one.
func (t tenantRow) upToDate(migrations []Migration) bool {
	return t.recorded || t.version >= migrations[len(migrations)-1].Version && t.applied >= len(migrations)
}

// hasVersionRecords reports whether the catalog keeps copies of the
// tenant schemas' versions (shared migration 00002 has run).
func hasVersionRecords(ctx context.Context, db *sql.DB) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, repository.HasVersionRecordsSQL).Scan(&ok)
	return ok, err
}

// readRecords marks the rows whose schema the catalog vouches for as
// holding every one of migrations, in one query over the catalog alone,
// whatever the number of tenants. The view believes a record only while
// the schema's version table is the one recorded and its change trigger
// is the one recorded, unchanged and always enabled; the trigger deletes
// the record on any write to the version table. So a record is an exact
// copy of the version table, and a schema it does not vouch for (a hole
// made by hand, a table re-created, a trigger disabled or dropped, a
// record never made) is read from its own version table, as before.
func readRecords(ctx context.Context, db *sql.DB, rows []tenantRow, migrations []Migration) error {
	names := make([]string, len(rows))
	at := make(map[string]int, len(rows))
	for i, t := range rows {
		names[i] = t.schema
		at[t.schema] = i
	}
	rs, err := db.QueryContext(ctx, repository.RecordedSchemasSQL, names, versions(migrations))
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			return err
		}
		if i, ok := at[s]; ok {
			rows[i].recorded = true
		}
	}
	return rs.Err()
}

// recordVersions has the catalog copy what the schemas' version tables
// hold now (public.strictmt_record_versions), 100 schemas a statement.
func recordVersions(ctx context.Context, db *sql.DB, schemas []string) error {
	for len(schemas) > 0 {
		n := min(versionChunk, len(schemas))
		chunk := slices.Clone(schemas[:n])
		// One lock order for every run: concurrent runs never deadlock.
		slices.Sort(chunk)
		if _, err := db.ExecContext(ctx, repository.RecordVersionsSQL, chunk); err != nil {
			return err
		}
		schemas = schemas[n:]
	}
	return nil
}

// readChunk sets the version of rows[i] for each i in chunk, in one query.
func readChunk(ctx context.Context, db *sql.DB, rows []tenantRow, chunk []int) error {
	schemas := make([]string, len(chunk))
	for k, i := range chunk {
		schemas[k] = rows[i].schema
	}
	rs, err := db.QueryContext(ctx, repository.MaxVersionsSQL(schemas))
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var k, applied int
		var v sql.NullInt64
		if err := rs.Scan(&k, &v, &applied); err != nil {
			return err
		}
		if v.Valid {
			rows[chunk[k]].version = v.Int64
		}
		rows[chunk[k]].applied = applied
	}
	return rs.Err()
}

// pendingIn returns the versions of migrations not applied in schema.
func pendingIn(ctx context.Context, db *sql.DB, schema string, migrations []Migration) ([]int64, error) {
	if err := ValidateSchemaName(schema); err != nil {
		return nil, err
	}
	applied, err := appliedVersions(ctx, db, schema)
	if err != nil {
		return nil, err
	}
	return notIn(versions(migrations), applied), nil
}

// migrateSchema brings one schema to the latest version and gives its role
// the grants, creating the role if it is missing, making it match the
// cluster and, on Citus, distributing the schema.
func migrateSchema(ctx context.Context, db *sql.DB, c Cluster, t tenantRow, migrations []Migration) (applied int, err error) {
	if err := ValidateSchemaName(t.schema); err != nil {
		return 0, err
	}
	if t.missingRole || t.fixRole {
		if err := restoreRole(ctx, db, c, t); err != nil {
			return 0, err
		}
	}
	if !t.upToDate(migrations) {
		p, err := newTenantProvider(db, c, t.schema, t.role, migrations)
		if err != nil {
			return 0, err
		}
		results, err := p.Up(ctx)
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			return len(partial.Applied), fmt.Errorf("version %d: %w", partial.Failed.Source.Version, partial.Err)
		}
		if err != nil {
			return len(results), err
		}
		applied = len(results)
	}
	if t.distribute {
		if err := distributeSchema(ctx, db, t.schema); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// distributeSchema makes schema a distributed schema of Citus
// (repository.DistributeSchemaQuery), under the schema's advisory lock.
// Its tables become single-shard tables on one node. Citus mode does
// without the version table's trigger (see Cluster), which
// repository.PrepareDistributionStmts drops first.
func distributeSchema(ctx context.Context, db *sql.DB, schema string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, repository.AdvisoryXactLockSQL, schemaLockID(schema)); err != nil {
		return err
	}
	var done bool
	q, args := repository.SchemaDistributedQuery(schema)
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&done); err != nil {
		return err
	}
	if !done {
		if err := execEachTx(ctx, tx, repository.PrepareDistributionStmts(schema)); err != nil {
			return err
		}
		q, args := repository.DistributeSchemaQuery(schema)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("distributing the schema: %w", err)
		}
	}
	return tx.Commit()
}

// restoreRole creates a tenant's missing role (a tenant from before roles
// existed, or one whose role was dropped by hand) with its grants, or
// makes an existing one match c (LOGIN or NOLOGIN, a member of the group
// role), under the schema's advisory lock so that concurrent runs do not
// race.
func restoreRole(ctx context.Context, db *sql.DB, c Cluster, t tenantRow) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, repository.AdvisoryXactLockSQL, schemaLockID(t.schema)); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, repository.RoleExistsSQL, t.role).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, c.roles().CreateStmt(t.role)); err != nil {
			return err
		}
		if err := grantExisting(ctx, tx, t.schema, t.role); err != nil {
			return err
		}
	} else if err := execEachTx(ctx, tx, c.roles().MatchStmts(t.role)); err != nil {
		return err
	}
	return tx.Commit()
}
