package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/importer"
	"github.com/strictmt/strictmt/tenants"
)

func init() {
	register("import", "import from django-tenants: rows/s against a bare COPY of the same rows", runImport)
}

// importBench is one import benchmark: a generated django-tenants source
// database, and strictmt's database it is imported into.
type importBench struct {
	tenants, todos, projects, tasks, users, workers int
	src, dst                                        string
	skipBaseline                                    bool   // run the import only
	cpuProfile                                      string // file for a CPU profile of the import
}

// runImport generates a django-tenants database (tenants × todos,
// projects and tasks, and shared users), imports it with importer.Run
// (what `strictmt import django-tenants` runs), and, as the baseline,
// copies the same rows with bare COPY ... TO STDOUT / COPY ... FROM STDIN
// into schemas with the same tables and indexes, one transaction per
// tenant, the same number of tenants at once: the cost of moving the bytes,
// without tenant creation, checks, users per tenant or sequences.
func runImport(ctx context.Context, args []string) error {
	b, err := parseImportFlags(args)
	if err != nil {
		return err
	}
	db, err := startDatabase(ctx, 50)
	if err != nil {
		return err
	}
	defer db.stop()
	b.dst = db.URL
	if err := b.generateSource(ctx); err != nil {
		return err
	}

	a, err := openApp(ctx, b.dst, "strict", b.workers+4)
	if err != nil {
		return err
	}
	defer a.Close(ctx)
	var pg string
	if err := a.SQL.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&pg); err != nil {
		return err
	}

	var base baselineResult
	if !b.skipBaseline {
		if err := settle(ctx, a.SQL); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "import: baseline (bare COPY)")
		if base, err = b.baseline(ctx); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	rep, cpBefore, err := b.runImporter(ctx, a)
	if err != nil {
		return err
	}

	b.printTable(pg, db.where(), base, rep)
	if cpAfter, err := checkpoints(ctx, a.SQL); err == nil {
		fmt.Printf("checkpoints the server started during the import: %d (requested by WAL volume: %d)\n", cpAfter.all()-cpBefore.all(), cpAfter.req-cpBefore.req)
	}
	return nil
}

// parseImportFlags reads the import benchmark's flags from args.
func parseImportFlags(args []string) (*importBench, error) {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	b := &importBench{}
	fs.IntVar(&b.tenants, "tenants", 200, "tenants in the source")
	fs.IntVar(&b.todos, "todos", 5000, "todos per tenant")
	fs.IntVar(&b.projects, "projects", 20, "projects per tenant")
	fs.IntVar(&b.tasks, "tasks", 1000, "tasks per tenant")
	fs.IntVar(&b.users, "users", 50, "users in the source, shared by all tenants (each is created in every tenant)")
	fs.IntVar(&b.workers, "workers", importer.DefaultWorkers, "tenants imported at once, by both runs")
	fs.BoolVar(&b.skipBaseline, "skip-baseline", false, "run the import only (the table then has no baseline row)")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of the import (not of the baseline) to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if b.workers <= 0 {
		b.workers = importer.DefaultWorkers
	}
	return b, nil
}

// generateSource creates the source database beside b.dst and generates
// the django-tenants data in it.
func (b *importBench) generateSource(ctx context.Context) error {
	var err error
	if b.src, err = sibling(ctx, b.dst, "bench_import_source"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "import: generating %d tenants × %d todos, %d projects, %d tasks, %d users\n", b.tenants, b.todos, b.projects, b.tasks, b.users)
	genStart := time.Now()
	if err := b.generate(ctx); err != nil {
		return fmt.Errorf("generating the source: %w", err)
	}
	fmt.Fprintf(os.Stderr, "import: generated in %s\n", time.Since(genStart).Round(time.Millisecond))
	return nil
}

// runImporter imports the source into a with importer.Run, under the CPU
// profile if one was asked for, and returns its report and the server's
// checkpoint counters from before it.
func (b *importBench) runImporter(ctx context.Context, a *app.App) (*importer.Report, checkpointCount, error) {
	if err := settle(ctx, a.SQL); err != nil {
		return nil, checkpointCount{}, err
	}
	fmt.Fprintln(os.Stderr, "import: strictmt import django-tenants")
	if b.cpuProfile != "" {
		f, err := os.Create(b.cpuProfile)
		if err != nil {
			return nil, checkpointCount{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, checkpointCount{}, err
		}
	}
	cpBefore, err := checkpoints(ctx, a.SQL)
	if err != nil {
		return nil, checkpointCount{}, err
	}
	rep, err := importer.Run(ctx, importer.Target{DB: a.DB, Tenants: a.Tenants}, importer.Options{
		Source: b.src, Workers: b.workers, PublicHosts: a.Config.Tenancy.PublicHosts,
	})
	if b.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, checkpointCount{}, err
	}
	if f := rep.Failed(); len(f) > 0 {
		return nil, checkpointCount{}, fmt.Errorf("%d tenant(s) failed, first %s: %v", len(f), f[0], rep.Tenants[0].Err)
	}
	return rep, cpBefore, nil
}

// printTable prints where the benchmark ran (PostgreSQL pg, in where), the
// command that repeats it, and the rates of the baseline and the import.
func (b *importBench) printTable(pg, where string, base baselineResult, rep *importer.Report) {
	fmt.Printf("Measured %s on %s, %d cores; %s, PostgreSQL %s on the same machine (durable settings: fsync on) in %s, source and target databases on one server.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), runtime.Version(), pg, where)
	fmt.Printf("Command: `go run ./bench import -tenants %d -todos %d -projects %d -tasks %d -users %d -workers %d`\n\n",
		b.tenants, b.todos, b.projects, b.tasks, b.users, b.workers)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\ttenants\trows\ttime\trows/s\tvs bare COPY\t")
	baseRate := float64(base.rows) / base.elapsed.Seconds()
	rate := float64(rep.Rows()) / rep.Elapsed.Seconds()
	vs := "-"
	if !b.skipBaseline {
		fmt.Fprintf(tw, "bare COPY (baseline)\t%d\t%d\t%s\t%.0f\t1.00\t\n", b.tenants, base.rows, base.elapsed.Round(time.Millisecond), baseRate)
		vs = fmt.Sprintf("%.2f", rate/baseRate)
	}
	fmt.Fprintf(tw, "strictmt import\t%d\t%d\t%s\t%.0f\t%s\t\n", rep.Count(importer.Imported), rep.Rows(), rep.Elapsed.Round(time.Millisecond), rate, vs)
	_ = tw.Flush()
	fmt.Printf("\nrows: per tenant %d users + %d todos + %d projects + %d tasks in strictmt; the baseline copies the users once per tenant too.\n",
		b.users, b.todos, b.projects, b.tasks)
}

// checkpointCount is what pg_stat_bgwriter counts of checkpoints.
type checkpointCount struct{ timed, req int64 }

func (c checkpointCount) all() int64 { return c.timed + c.req }

// checkpoints reads the server's checkpoint counters.
func checkpoints(ctx context.Context, db *sql.DB) (checkpointCount, error) {
	var c checkpointCount
	err := db.QueryRowContext(ctx, "SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter").Scan(&c.timed, &c.req)
	return c, err
}

// settle lets the server finish what the previous step left it before a
// timed run: a CHECKPOINT writes out the dirty pages of the rows just
// written, and the run waits (up to a minute) until no autovacuum worker
// is busy with the tables just filled, so that neither lands inside the
// next run's time.
func settle(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var busy int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'").Scan(&busy); err != nil {
			return err
		}
		if busy == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "bench: autovacuum still busy after a minute; measuring anyway")
	return nil
}

// sibling creates (afresh) the database name on the server of rawURL and
// returns its URL.
func sibling(ctx context.Context, rawURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	q := tenants.QuoteIdent(name)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+q); err != nil {
		return "", err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func benchSchema(i int) string { return fmt.Sprintf("tenant_%04d", i) }

// generate writes the source: the Django application's tables, shaped as
// in its dump, filled with generate_series.
func (b *importBench) generate(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.src)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf(`
CREATE TABLE tenants_client (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name varchar(100) NOT NULL,
	paid_until date NOT NULL, on_trial boolean NOT NULL, schema_name varchar(100) NOT NULL UNIQUE);
CREATE TABLE tenants_domain (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, domain varchar(255) NOT NULL UNIQUE,
	is_primary boolean NOT NULL, tenant_id bigint NOT NULL REFERENCES tenants_client);
CREATE TABLE auth_user (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, password varchar(128) NOT NULL,
	last_login timestamptz, is_superuser boolean NOT NULL, username varchar(150) NOT NULL UNIQUE,
	first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL, email varchar(254) NOT NULL,
	is_staff boolean NOT NULL, is_active boolean NOT NULL, date_joined timestamptz NOT NULL);
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
	SELECT 'pbkdf2_sha256$870000$salt' || g || '$' || encode(sha256(g::text::bytea), 'base64'), false, 'user' || g, '', '',
		'user' || g || '@example.com', false, true, now() - g * interval '1 day'
	FROM generate_series(1, %d) g;`, b.users))
	if err != nil {
		return err
	}
	for i := 1; i <= b.tenants; i++ {
		s := pgx.Identifier{benchSchema(i)}.Sanitize()
		_, err := conn.Exec(ctx, fmt.Sprintf(`BEGIN;
INSERT INTO tenants_client (id, name, paid_until, on_trial, schema_name) VALUES (%[2]d, 'Tenant %[2]d', '2030-01-01', false, '%[3]s');
INSERT INTO tenants_domain (domain, is_primary, tenant_id) VALUES ('t%[2]d.localhost', true, %[2]d);
CREATE SCHEMA %[1]s;
CREATE TABLE %[1]s.todo_todo (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, title varchar(255) NOT NULL,
	description text NOT NULL, completed boolean NOT NULL, recurrence_interval integer, created_at timestamptz NOT NULL,
	completion_time timestamptz, client_id bigint NOT NULL);
CREATE TABLE %[1]s.project_management_project (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name varchar(255) NOT NULL,
	description text NOT NULL, client_id bigint NOT NULL, owner_id integer NOT NULL);
CREATE TABLE %[1]s.project_management_task (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, due_date date NOT NULL,
	assigned_user_id integer, client_id bigint NOT NULL, project_id bigint NOT NULL REFERENCES %[1]s.project_management_project,
	todo_id bigint NOT NULL REFERENCES %[1]s.todo_todo);
INSERT INTO %[1]s.todo_todo (title, description, completed, recurrence_interval, created_at, completion_time, client_id)
	SELECT 'todo ' || g, 'description of todo ' || g, g %% 3 = 0, CASE WHEN g %% 10 = 0 THEN 7 END,
		now() - g * interval '1 minute', CASE WHEN g %% 3 = 0 THEN now() - g * interval '30 seconds' END, %[2]d
	FROM generate_series(1, %[4]d) g;
INSERT INTO %[1]s.project_management_project (name, description, client_id, owner_id)
	SELECT 'project ' || g, 'description of project ' || g, %[2]d, 1 + g %% %[7]d FROM generate_series(1, %[5]d) g;
INSERT INTO %[1]s.project_management_task (due_date, assigned_user_id, client_id, project_id, todo_id)
	SELECT current_date + g %% 60 - 30, CASE WHEN g %% 4 <> 0 THEN 1 + g %% %[7]d END, %[2]d, 1 + g %% %[5]d, 1 + g %% %[4]d
	FROM generate_series(1, %[6]d) g;
COMMIT;`, s, i, benchSchema(i), b.todos, b.projects, b.tasks, b.users))
		if err != nil {
			return err
		}
	}
	_, err = conn.Exec(ctx, "VACUUM ANALYZE")
	return err
}

// copySpec is one table of the baseline: the source query and the COPY
// target.
type copySpec struct{ from, into string }

type baselineResult struct {
	rows    int64
	elapsed time.Duration
}

// baseline copies every tenant's rows with bare COPY into schemas made
// beforehand (untimed) with strictmt's tenant tables, b.workers tenants
// at once, each in one transaction on each side.
func (b *importBench) baseline(ctx context.Context) (baselineResult, error) {
	if err := b.baselineSchemas(ctx); err != nil {
		return baselineResult{}, err
	}
	jobs := make(chan int)
	var tally copyTally
	var wg sync.WaitGroup
	start := time.Now()
	for range b.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.copyTenants(ctx, jobs, &tally); err != nil {
				tally.fail(err)
				for range jobs { // drain
				}
			}
		}()
	}
	for i := 1; i <= b.tenants; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return baselineResult{rows: tally.rows, elapsed: time.Since(start)}, tally.err
}

// baselineSchemas creates, for every tenant, the schema the baseline
// copies it into, with strictmt's tenant tables.
func (b *importBench) baselineSchemas(ctx context.Context) error {
	ms, err := tenants.TenantMigrations()
	if err != nil {
		return err
	}
	var ddl strings.Builder
	for _, m := range ms {
		ddl.WriteString(m.SQL + "\n;\n")
	}
	dst, err := pgx.Connect(ctx, b.dst)
	if err != nil {
		return err
	}
	for i := 1; i <= b.tenants; i++ {
		s := pgx.Identifier{"base_" + benchSchema(i)}.Sanitize()
		if _, err := dst.Exec(ctx, "BEGIN; CREATE SCHEMA "+s+"; SET LOCAL search_path TO "+s+";\n"+ddl.String()+"COMMIT;"); err != nil {
			dst.Close(ctx)
			return err
		}
	}
	dst.Close(ctx)
	return nil
}

// baselineSpecs returns the tables the baseline copies of tenant i, from
// its source schema into its baseline schema.
func baselineSpecs(i int) []copySpec {
	src, to := pgx.Identifier{benchSchema(i)}.Sanitize(), pgx.Identifier{"base_" + benchSchema(i)}.Sanitize()
	return []copySpec{
		{"SELECT id::bigint, username, email, password::text, is_active, date_joined FROM public.auth_user",
			to + ".users (id, username, email, password_hash, is_active, date_joined)"},
		{"SELECT id, title, description, completed, recurrence_interval, created_at, completion_time FROM " + src + ".todo_todo",
			to + ".todos (id, title, description, completed, recurrence_interval, created_at, completion_time)"},
		{"SELECT id, name, description, owner_id::bigint FROM " + src + ".project_management_project",
			to + ".projects (id, name, description, owner_id)"},
		{"SELECT id, project_id, todo_id, assigned_user_id::bigint, due_date FROM " + src + ".project_management_task",
			to + ".tasks (id, project_id, todo_id, assigned_user_id, due_date)"},
	}
}

// copyTally is what the baseline's workers have copied: the rows, and the
// first error.
type copyTally struct {
	mu   sync.Mutex
	rows int64
	err  error
}

// add counts n more rows copied.
func (t *copyTally) add(n int64) {
	t.mu.Lock()
	t.rows += n
	t.mu.Unlock()
}

// fail keeps err if it is the first error.
func (t *copyTally) fail(err error) {
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.mu.Unlock()
}

// copyTenants is one worker of the baseline: on its own connections to the
// source and the target, it copies each tenant it receives on jobs and
// counts the rows in tally, until jobs is closed or a copy fails.
func (b *importBench) copyTenants(ctx context.Context, jobs <-chan int, tally *copyTally) error {
	src, err := pgx.Connect(ctx, b.src)
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	dst, err := pgx.Connect(ctx, b.dst)
	if err != nil {
		return err
	}
	defer dst.Close(ctx)
	for i := range jobs {
		n, err := copyTenant(ctx, src, dst, baselineSpecs(i))
		if err != nil {
			return err
		}
		tally.add(n)
	}
	return nil
}

// copyTenant streams each spec's rows from src to dst through a pipe (in
// PostgreSQL's binary format, so the source query casts each column to
// the target's type), in
// one read-only repeatable-read transaction on src and one transaction
// on dst.
func copyTenant(ctx context.Context, src, dst *pgx.Conn, specs []copySpec) (int64, error) {
	if _, err := src.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return 0, err
	}
	defer src.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	tx, err := dst.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var total int64
	for _, s := range specs {
		r, w := io.Pipe()
		errc := make(chan error, 1)
		go func() {
			_, err := src.PgConn().CopyTo(ctx, w, "COPY ("+s.from+") TO STDOUT (FORMAT binary)")
			w.CloseWithError(err)
			errc <- err
		}()
		tag, err := dst.PgConn().CopyFrom(ctx, r, "COPY "+s.into+" FROM STDIN (FORMAT binary)")
		r.CloseWithError(err)
		if werr := <-errc; werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			return 0, err
		}
		total += tag.RowsAffected()
	}
	return total, tx.Commit(ctx)
}
