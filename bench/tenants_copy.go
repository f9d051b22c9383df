package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/archive"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
)

func init() {
	register("tenants-copy", "a tenant's export, restore and clone: rows/s against a bare COPY of the same rows", runTenantsCopy)
}

// copyTables are a tenant's tables in the order a load with its foreign
// keys in place must follow: each after the tables it references.
var copyTables = []string{"users", "todos", "projects", "tasks", "outstanding_tokens"}

// copySource is the schema of the tenant every round copies.
const copySource = "copy_src"

// The operations of the tenants-copy benchmark, as its tables name them.
const (
	opBareRead   = "bare COPY read (COPY TO, into memory)"
	opBareLoad   = "bare COPY load (COPY FROM + commit)"
	opExport     = "export (to io.Discard)"
	opRestore    = "restore (from memory)"
	opClone      = "clone"
	opCreate     = "tenant creation, empty (tenants service)"
	opGunzip     = "archive read in Go: gunzip + untar"
	opGunzipHash = "archive read in Go: gunzip + untar + SHA-256 ×2"
)

// The kinds of statements the server's time is summed by.
const (
	copyKindOther = "tenant creation, catalog and the rest"
	copyKindDrop  = "dropping indexes and keys before the load"
	copyKindClone = "INSERT … SELECT, all tables (clone)"
	copyKindIndex = "index builds after the load"
	copyKindKey   = "foreign keys added after the load"
	copyKindEnd   = "COMMIT"
)

// tenantsCopy is one run of the tenants-copy benchmark: a tenant filled
// with generate_series, and what each operation measured, by round.
type tenantsCopy struct {
	todos, projects, tasks, users, rounds int
	cpuProfile                            string // file prefix for CPU profiles of the restores
	args                                  []string

	db    *database
	a     *app.App
	conn  *pgx.Conn            // the benchmark's own session: the fill and the bare COPY
	cols  map[string][]string  // each table's columns, in order
	pgCPU func() time.Duration // the cluster's CPU time so far
	log   *statementLog        // nil on an external server

	archive []byte // the source's archive, for the restores
	runs    map[string][]copyRun
}

// copyRun is one measurement of one operation.
type copyRun struct {
	rows, bytes  int64
	wall         time.Duration
	goCPU, pgCPU time.Duration
	stmts        map[string]time.Duration // logged statement time by kind
}

// runTenantsCopy fills one tenant and measures, round after round, a bare
// COPY of its rows into an empty tenant (the baseline), its export, the
// restore of that export and its clone, and prints their medians.
func runTenantsCopy(ctx context.Context, args []string) error {
	b, err := parseTenantsCopyFlags(args)
	if err != nil {
		return err
	}
	if b.db, err = startDatabase(ctx, 20); err != nil {
		return err
	}
	defer b.db.stop()
	fmt.Fprintf(os.Stderr, "tenants-copy: PostgreSQL in %s\n", b.db.where())
	a, err := openApp(ctx, b.db.URL, config.IsolationStrict, 4)
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	b.a = a
	if b.conn, err = pgx.Connect(ctx, b.db.URL); err != nil {
		return err
	}
	defer b.conn.Close(context.WithoutCancel(ctx))
	if b.pgCPU, err = postgresCPU(ctx, b.db.URL); err != nil {
		return err
	}
	if b.db.Log != "" {
		if b.log, err = logStatements(ctx, b.conn, b.db.Log); err != nil {
			return err
		}
	}
	loadBefore := loadAvg()
	if err := b.fill(ctx); err != nil {
		return err
	}
	if err := b.measureRounds(ctx); err != nil {
		return err
	}
	if err := dropTenant(ctx, b.a.Tenants, copySource); err != nil {
		return err
	}
	return b.print(ctx, loadBefore)
}

// parseTenantsCopyFlags reads the benchmark's flags from args.
func parseTenantsCopyFlags(args []string) (*tenantsCopy, error) {
	fs := flag.NewFlagSet("tenants-copy", flag.ContinueOnError)
	b := &tenantsCopy{args: args, runs: map[string][]copyRun{}}
	fs.IntVar(&b.todos, "todos", 100000, "todos in the tenant")
	fs.IntVar(&b.projects, "projects", 1000, "projects in the tenant")
	fs.IntVar(&b.tasks, "tasks", 10000, "tasks in the tenant")
	fs.IntVar(&b.users, "users", 50, "users in the tenant")
	fs.IntVar(&b.rounds, "rounds", 3, "alternating measurement rounds; the table shows medians")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of each round's restore to this path followed by .ROUND")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if b.todos < 1 || b.projects < 1 || b.tasks < 1 || b.users < 1 || b.rounds < 1 {
		return nil, errors.New("tenants-copy: -todos, -projects, -tasks, -users and -rounds must be at least 1")
	}
	return b, nil
}

// fill creates the source tenant through the tenants service and fills
// it with generate_series (NULLs, ownerless todos, chained todos, text
// that COPY must carry as is), then VACUUM ANALYZE: every round then
// reads the same settled pages.
func (b *tenantsCopy) fill(ctx context.Context) error {
	if err := dropTenant(ctx, b.a.Tenants, copySource); err != nil {
		return err
	}
	if _, err := b.a.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "Copy source", SchemaName: copySource, Domains: []string{"copy-src.bench.localhost"}}); err != nil {
		return fmt.Errorf("creating the source tenant: %w", err)
	}
	hash, err := auth.HashPassword("copy-password-1")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "tenants-copy: filling %s with %d users, %d todos, %d projects, %d tasks\n", copySource, b.users, b.todos, b.projects, b.tasks)
	start := time.Now()
	t := func(table string) string { return repository.ImportTable(copySource, table) }
	for _, s := range []string{
		fmt.Sprintf(`INSERT INTO %s (username, email, password_hash, is_active, date_joined)
			SELECT 'user' || g, 'user' || g || '@example.com', $1::text, g %% 7 <> 0, now() - g * interval '1 day'
			FROM generate_series(1, %d) g`, t("users"), b.users),
		fmt.Sprintf(`INSERT INTO %s (title, description, completed, recurrence_interval, created_at, completion_time, due_at, owner_id)
			SELECT 'tâche ' || g || E' \t\\ ✓', repeat('d', g %% 40), g %% 3 = 0, nullif(g %% 7, 0), now() - g * interval '1 minute',
			       CASE WHEN g %% 3 = 0 THEN now() - g * interval '1 second' END, CASE WHEN g %% 5 = 0 THEN now() + g * interval '1 hour' END,
			       CASE WHEN g %% 10 = 0 THEN NULL ELSE 1 + g %% %d END
			FROM generate_series(1, %d) g`, t("todos"), b.users, b.todos),
		fmt.Sprintf(`UPDATE %s SET previous_id = id - 1 WHERE id %% 100 = 0`, t("todos")),
		fmt.Sprintf(`INSERT INTO %s (name, description, owner_id, created_at)
			SELECT 'project ' || g, repeat('p', g %% 30), 1 + g %% %d, now() - g * interval '1 hour' FROM generate_series(1, %d) g`, t("projects"), b.users, b.projects),
		fmt.Sprintf(`INSERT INTO %s (project_id, todo_id, assigned_user_id, due_date)
			SELECT 1 + g %% %d, 1 + (g * 7) %% %d, CASE WHEN g %% 5 = 0 THEN NULL ELSE 1 + g %% %d END, date '2025-01-01' + g %% 400
			FROM generate_series(1, %d) g`, t("tasks"), b.projects, b.todos, b.users, b.tasks),
	} {
		var args []any
		if strings.Contains(s, "$1") {
			args = append(args, hash)
		}
		if _, err := b.conn.Exec(ctx, s, args...); err != nil {
			return fmt.Errorf("filling the source tenant: %w", err)
		}
	}
	for _, table := range copyTables {
		if _, err := b.conn.Exec(ctx, "VACUUM ANALYZE "+t(table)); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "tenants-copy: filled in %s\n", time.Since(start).Round(time.Millisecond))
	if err := b.readColumns(ctx); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := b.a.Archives.Export(ctx, copySource, func(*archive.Manifest) (io.Writer, error) { return &buf, nil }, archive.ExportOptions{}); err != nil {
		return fmt.Errorf("exporting the archive the restores read: %w", err)
	}
	b.archive = buf.Bytes()
	return nil
}

// readColumns reads the columns of the source's tables, which must be
// copyTables.
func (b *tenantsCopy) readColumns(ctx context.Context) error {
	rows, err := b.conn.Query(ctx, repository.ArchiveColumnsSQL, copySource)
	if err != nil {
		return err
	}
	b.cols = map[string][]string{}
	for rows.Next() {
		var table, col, typ string
		var null bool
		if err := rows.Scan(&table, &col, &typ, &null); err != nil {
			rows.Close()
			return err
		}
		b.cols[table] = append(b.cols[table], col)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(b.cols) != len(copyTables) {
		return fmt.Errorf("tenants-copy: a tenant has %d tables, the benchmark copies %v", len(b.cols), copyTables)
	}
	for _, t := range copyTables {
		if len(b.cols[t]) == 0 {
			return fmt.Errorf("tenants-copy: a tenant has no table %q", t)
		}
	}
	return nil
}

// measureRounds runs every operation once per round, starting each round
// one operation further, so that none always runs first.
func (b *tenantsCopy) measureRounds(ctx context.Context) error {
	ops := []func(ctx context.Context, round int) error{b.bareCopy, b.export, b.restore, b.clone}
	for r := 1; r <= b.rounds; r++ {
		fmt.Fprintf(os.Stderr, "tenants-copy: round %d of %d (load average %s)\n", r, b.rounds, loadAvg())
		for i := range ops {
			if err := ops[(r-1+i)%len(ops)](ctx, r); err != nil {
				return err
			}
		}
		if err := b.readArchive(); err != nil {
			return err
		}
	}
	return nil
}

// measure lets the server settle (untimed), then times fn and records
// its time, the CPU time this process and the cluster used meanwhile and
// the statements the server logged, as one run of op.
func (b *tenantsCopy) measure(ctx context.Context, op string, fn func() (rows, bytes int64, err error)) error {
	if err := settle(ctx, b.a.SQL); err != nil {
		return err
	}
	if err := b.log.mark(); err != nil {
		return err
	}
	pg0 := b.pgCPU()
	go0 := selfCPU()
	start := time.Now()
	rows, n, err := fn()
	wall := time.Since(start)
	goCPU := selfCPU() - go0
	pgCPU := b.pgCPU() - pg0
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	stmts, err := b.log.read()
	if err != nil {
		return err
	}
	b.runs[op] = append(b.runs[op], copyRun{rows: rows, bytes: n, wall: wall, goCPU: goCPU, pgCPU: pgCPU, stmts: classifyStatements(stmts)})
	return nil
}

// bareCopy is the baseline: the source's rows read with COPY TO into
// memory, then, into an empty tenant created (timed apart) through the
// tenants service, loaded with COPY FROM, every index and foreign key in
// place, in one transaction.
func (b *tenantsCopy) bareCopy(ctx context.Context, round int) error {
	data := make([][]byte, len(copyTables))
	err := b.measure(ctx, opBareRead, func() (rows, n int64, err error) {
		tx, err := b.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return 0, 0, err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		for i, t := range copyTables {
			var buf bytes.Buffer
			tag, err := b.conn.PgConn().CopyTo(ctx, &buf, "COPY (SELECT "+columnList(b.cols[t])+" FROM "+repository.ImportTable(copySource, t)+") TO STDOUT (FORMAT binary)")
			if err != nil {
				return 0, 0, err
			}
			data[i] = buf.Bytes()
			rows += tag.RowsAffected()
			n += int64(buf.Len())
		}
		return rows, n, tx.Commit(ctx)
	})
	if err != nil {
		return err
	}
	dst := fmt.Sprintf("copy_bare_%d", round)
	if err := dropTenant(ctx, b.a.Tenants, dst); err != nil {
		return err
	}
	err = b.measure(ctx, opCreate, func() (int64, int64, error) {
		_, err := b.a.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "Bare COPY", SchemaName: dst, Domains: []string{hostOf(dst)}})
		return 0, 0, err
	})
	if err != nil {
		return err
	}
	err = b.measure(ctx, opBareLoad, func() (rows, n int64, err error) {
		tx, err := b.conn.Begin(ctx)
		if err != nil {
			return 0, 0, err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		for i, t := range copyTables {
			tag, err := b.conn.PgConn().CopyFrom(ctx, bytes.NewReader(data[i]), repository.ImportCopySQL(dst, t, b.cols[t]))
			if err != nil {
				return 0, 0, err
			}
			rows += tag.RowsAffected()
			n += int64(len(data[i]))
		}
		return rows, n, tx.Commit(ctx)
	})
	if err != nil {
		return err
	}
	return dropTenant(ctx, b.a.Tenants, dst)
}

// columnList quotes each column name and joins them with commas.
func columnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// hostOf is the domain of a tenant the benchmark creates.
func hostOf(schema string) string {
	return strings.ReplaceAll(schema, "_", "-") + ".bench.localhost"
}

// byteCounter counts what is written to it and keeps none of it.
type byteCounter struct{ n int64 }

func (c *byteCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// export times the source's export into a writer that only counts.
func (b *tenantsCopy) export(ctx context.Context, _ int) error {
	return b.measure(ctx, opExport, func() (rows, n int64, err error) {
		var w byteCounter
		var m *archive.Manifest
		_, err = b.a.Archives.Export(ctx, copySource, func(mm *archive.Manifest) (io.Writer, error) { m = mm; return &w, nil }, archive.ExportOptions{})
		if err != nil {
			return 0, 0, err
		}
		for _, t := range m.Tables {
			rows += t.Rows
		}
		return rows, w.n, nil
	})
}

// restore times the restore of the source's archive, from memory, into
// a new tenant, under the CPU profile if one was asked for.
func (b *tenantsCopy) restore(ctx context.Context, round int) error {
	dst := fmt.Sprintf("copy_restore_%d", round)
	if err := dropTenant(ctx, b.a.Tenants, dst); err != nil {
		return err
	}
	err := b.measure(ctx, opRestore, func() (rows, n int64, err error) {
		if b.cpuProfile != "" {
			f, err := os.Create(b.cpuProfile + "." + strconv.Itoa(round))
			if err != nil {
				return 0, 0, err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return 0, 0, err
			}
			defer pprof.StopCPUProfile()
		}
		res, err := b.a.Archives.Restore(ctx, bytes.NewReader(b.archive), archive.RestoreParams{Schema: dst, Name: "Restored", Domains: []string{hostOf(dst)}})
		if err != nil {
			return 0, 0, err
		}
		for _, t := range res.Tables {
			rows += t.Rows
		}
		return rows, int64(len(b.archive)), nil
	})
	if err != nil {
		return err
	}
	return dropTenant(ctx, b.a.Tenants, dst)
}

// clone times a clone of the source into a new tenant.
func (b *tenantsCopy) clone(ctx context.Context, round int) error {
	dst := fmt.Sprintf("copy_clone_%d", round)
	if err := dropTenant(ctx, b.a.Tenants, dst); err != nil {
		return err
	}
	err := b.measure(ctx, opClone, func() (rows, n int64, err error) {
		c, err := b.a.Archives.Clone(ctx, archive.CloneParams{Source: copySource, Schema: dst, Name: "Clone", Domains: []string{hostOf(dst)}})
		if err != nil {
			return 0, 0, err
		}
		for _, t := range c.Tables {
			rows += t.Rows
		}
		return rows, 0, nil
	})
	if err != nil {
		return err
	}
	return dropTenant(ctx, b.a.Tenants, dst)
}

// readArchive times, without the database, what a restore does to the
// archive's bytes besides loading them: gunzip and untar, then the same
// with the two SHA-256 a restore computes over the data (each table's
// and the whole's).
func (b *tenantsCopy) readArchive() error {
	for _, op := range []string{opGunzip, opGunzipHash} {
		go0, start := selfCPU(), time.Now()
		n, err := untar(b.archive, op == opGunzipHash)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		b.runs[op] = append(b.runs[op], copyRun{bytes: n, wall: time.Since(start), goCPU: selfCPU() - go0})
	}
	return nil
}

// untar reads every entry of the gzip'd tar data, hashing it twice when
// hash, and returns how many bytes its entries hold.
func untar(data []byte, hash bool) (int64, error) {
	gz, err := gzip.NewReader(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return 0, err
	}
	tr := tar.NewReader(gz)
	var w io.Writer = io.Discard
	if hash {
		w = io.MultiWriter(sha256.New(), sha256.New())
	}
	var total int64
	for {
		if _, err := tr.Next(); errors.Is(err, io.EOF) {
			return total, nil
		} else if err != nil {
			return 0, err
		}
		n, err := io.Copy(w, tr)
		if err != nil {
			return 0, err
		}
		total += n
	}
}

// dropTenant deletes the tenant schema, with its schema, if there is
// one.
func dropTenant(ctx context.Context, ts *tenants.Service, schema string) error {
	err := ts.DeleteTenant(ctx, schema, true)
	if errors.Is(err, apperr.NotFound) {
		return nil
	}
	return err
}

// medianOf is the median of the runs' values of f.
func medianOf(runs []copyRun, f func(copyRun) time.Duration) time.Duration {
	ds := make([]time.Duration, len(runs))
	for i, r := range runs {
		ds[i] = f(r)
	}
	return percentile(ds, 50)
}

// print writes the benchmark's tables: the operations against the bare
// COPY, the parts of a restore measured apart, and the server's statement
// time by kind.
func (b *tenantsCopy) print(ctx context.Context, loadBefore string) error {
	var pg string
	if err := b.conn.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&pg); err != nil {
		return err
	}
	fmt.Printf("Measured %s on %s, %d cores, %s RAM; %s, PostgreSQL %s on the same machine (durable settings: fsync on) in %s. Load average %s before, %s after.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), cpuModel(), runtime.NumCPU(), memTotal(), runtime.Version(), pg, b.db.where(), loadBefore, loadAvg())
	fmt.Printf("Command: `%s`\n\n", strings.Join(append([]string{"go run ./bench tenants-copy"}, b.args...), " "))
	fmt.Printf("One tenant of %d users, %d todos, %d projects and %d tasks (the archive: %d bytes); medians of %d rounds. CPU per 100,000 rows: this process (strictmt in-process; getrusage) and the whole PostgreSQL cluster (/proc, 10 ms ticks).\n\n",
		b.users, b.todos, b.projects, b.tasks, len(b.archive), b.rounds)

	base := b.runs[opBareLoad]
	baseRate := float64(base[0].rows) / medianOf(base, func(r copyRun) time.Duration { return r.wall }).Seconds()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\trows\tseconds (median)\trows/s\tvs bare COPY load\tstrictmt CPU s/100k rows\tPostgreSQL CPU s/100k rows\tbytes\t")
	for _, op := range []string{opBareRead, opBareLoad, opExport, opRestore, opClone} {
		runs := b.runs[op]
		rows := runs[0].rows
		wall := medianOf(runs, func(r copyRun) time.Duration { return r.wall })
		per100k := func(f func(copyRun) time.Duration) string {
			return fmt.Sprintf("%.3f", medianOf(runs, f).Seconds()/float64(rows)*1e5)
		}
		n := "-"
		if runs[0].bytes > 0 {
			n = strconv.FormatInt(runs[0].bytes, 10)
		}
		rate := float64(rows) / wall.Seconds()
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.0f\t%.2fx\t%s\t%s\t%s\t\n", op, rows, wall.Seconds(), rate, rate/baseRate,
			per100k(func(r copyRun) time.Duration { return r.goCPU }), per100k(func(r copyRun) time.Duration { return r.pgCPU }), n)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	restore := b.runs[opRestore]
	restoreRate := float64(restore[0].rows) / medianOf(restore, func(r copyRun) time.Duration { return r.wall }).Seconds()
	fmt.Printf("\nrestore / bare COPY: %.2fx (target >= 0.5x)\n\n", restoreRate/baseRate)
	fmt.Println("rows: every table's (the clone leaves out outstanding_tokens, which holds none here); bytes: the binary COPY data (bare COPY), the archive (export, restore).")
	fmt.Println()

	fmt.Println("Parts of a restore, measured apart (medians; CPU in seconds, not per 100k rows):")
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "part\tseconds\tstrictmt CPU s\tPostgreSQL CPU s\tbytes out\t")
	for _, op := range []string{opCreate, opGunzip, opGunzipHash} {
		runs := b.runs[op]
		pgCPU := "-"
		if op == opCreate {
			pgCPU = fmt.Sprintf("%.3f", medianOf(runs, func(r copyRun) time.Duration { return r.pgCPU }).Seconds())
		}
		n := "-"
		if runs[0].bytes > 0 {
			n = strconv.FormatInt(runs[0].bytes, 10)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%s\t%s\t\n", op, medianOf(runs, func(r copyRun) time.Duration { return r.wall }).Seconds(),
			medianOf(runs, func(r copyRun) time.Duration { return r.goCPU }).Seconds(), pgCPU, n)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if b.log != nil {
		b.printStatements()
	}
	return nil
}

// printStatements prints, for each operation, the server's time in its
// statements by kind (log_min_duration_statement), and the rest of its
// time: the client's work and the round trips. A COPY FROM's time runs
// while the client sends its data, so it holds whatever makes the client
// slower than the server.
func (b *tenantsCopy) printStatements() {
	ops := []string{opBareRead, opBareLoad, opExport, opRestore, opClone}
	fmt.Println("\nServer time in statements, by kind (seconds, median of each cell over the rounds; logged with log_min_duration_statement = 0):")
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "statements\t")
	for _, op := range ops {
		fmt.Fprintf(tw, "%s\t", strings.SplitN(op, " (", 2)[0])
	}
	fmt.Fprintln(tw)
	kinds := []string{copyKindOther, copyKindDrop}
	for _, t := range copyTables {
		kinds = append(kinds, "COPY "+t)
	}
	kinds = append(kinds, copyKindClone, copyKindIndex, copyKindKey, copyKindEnd)
	row := func(name string, f func(copyRun) time.Duration) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, op := range ops {
			fmt.Fprintf(tw, "%.3f\t", medianOf(b.runs[op], f).Seconds())
		}
		fmt.Fprintln(tw)
	}
	for _, k := range kinds {
		row(k, func(r copyRun) time.Duration { return r.stmts[k] })
	}
	sum := func(r copyRun) time.Duration {
		var s time.Duration
		for _, d := range r.stmts {
			s += d
		}
		return s
	}
	row("all statements", sum)
	row("outside statements (client, round trips)", func(r copyRun) time.Duration { return r.wall - sum(r) })
	row("wall", func(r copyRun) time.Duration { return r.wall })
	_ = tw.Flush()
}

// statementLog reads the statements a cluster logs with their durations
// (log_min_duration_statement = 0) from its server log.
type statementLog struct {
	path string
	off  int64
}

// loggedStatement is a statement (or a protocol step of one: parse,
// bind, execute) the server logged, with its duration.
type loggedStatement struct {
	text string
	d    time.Duration
}

// logStatements makes the cluster log every statement with its duration
// (in every session, from its next statement on) and returns the reader
// of that log.
func logStatements(ctx context.Context, conn *pgx.Conn, path string) (*statementLog, error) {
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET log_min_duration_statement = 0"); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return nil, err
	}
	return &statementLog{path: path}, nil
}

// mark remembers where the log ends now; read returns what follows.
func (l *statementLog) mark() error {
	if l == nil {
		return nil
	}
	fi, err := os.Stat(l.path)
	if err != nil {
		return err
	}
	l.off = fi.Size()
	return nil
}

// read returns the statements logged since mark.
func (l *statementLog) read() ([]loggedStatement, error) {
	if l == nil {
		return nil, nil
	}
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return nil, err
	}
	var out []loggedStatement
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		const marker = "LOG:  duration: "
		line := sc.Text()
		i := strings.Index(line, marker)
		if i < 0 {
			continue
		}
		num, rest, ok := strings.Cut(line[i+len(marker):], " ms  ")
		if !ok {
			continue
		}
		ms, err := strconv.ParseFloat(num, 64)
		if err != nil {
			continue
		}
		// "statement: TEXT", or "parse|bind|execute NAME: TEXT".
		_, text, _ := strings.Cut(rest, ": ")
		out = append(out, loggedStatement{text: text, d: time.Duration(ms * float64(time.Millisecond))})
	}
	return out, sc.Err()
}

// classifyStatements sums the statements' time by kind: the COPY of each
// table, the clone's one INSERT … SELECT, the indexes and foreign keys
// built after the load (the load is the last COPY FROM or INSERT …
// SELECT; those before it are the empty schema's), the indexes and keys
// dropped before it, the commit, and the rest.
func classifyStatements(stmts []loggedStatement) map[string]time.Duration {
	out := map[string]time.Duration{}
	last := -1
	for i, s := range stmts {
		if k := statementKind(s.text, false); k == copyKindClone || strings.HasPrefix(k, "COPY ") && strings.Contains(strings.ToUpper(s.text), "FROM STDIN") {
			last = i
		}
	}
	for i, s := range stmts {
		out[statementKind(s.text, last >= 0 && i > last)] += s.d
	}
	return out
}

// statementKind is the kind of the statement text; afterLoad says it ran
// after the rows were loaded.
func statementKind(text string, afterLoad bool) string {
	t := strings.TrimSpace(text)
	up := strings.ToUpper(t)
	switch {
	case strings.HasPrefix(up, "COPY "):
		if i := slices.IndexFunc(copyTables, func(table string) bool { return strings.Contains(t, `."`+table+`"`) }); i >= 0 {
			return "COPY " + copyTables[i]
		}
	case strings.HasPrefix(up, "WITH ") && strings.Contains(up, " AS (INSERT INTO "):
		return copyKindClone
	case afterLoad && (strings.HasPrefix(up, "CREATE INDEX ") || strings.HasPrefix(up, "CREATE UNIQUE INDEX ")):
		return copyKindIndex
	case afterLoad && strings.HasPrefix(up, "ALTER TABLE ") && strings.Contains(up, " FOREIGN KEY "):
		return copyKindKey
	case strings.HasPrefix(up, "ALTER TABLE ") && strings.Contains(up, " DROP CONSTRAINT "),
		strings.HasPrefix(up, "DROP INDEX ") && strings.Contains(t, "."): // the migrations' own drops are unqualified
		return copyKindDrop
	case up == "COMMIT":
		return copyKindEnd
	}
	return copyKindOther
}
