package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/tenants"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"
)

func init() {
	register("scale", "tenant creation, migrations, serving and memory at 1 to 20,000 tenants", runScale)
}

// scaleAppName is the application_name of the served strictmt's
// connections, so its PostgreSQL backends can be found.
const scaleAppName = "strictmt-scale"

// scale is one scale run: a database filling up with tenants, a strictmt
// opened in-process to create and migrate them, and a built strictmt
// binary served as a child process.
type scale struct {
	args                                               []string // the command's flags, for the header
	n, sample, rounds, clients, workers, createWorkers int
	phases                                             map[string]bool
	modes                                              []string // pgx default_query_exec_mode values the serve phase compares
	catalogTenants                                     int      // tenants the catalog phase sends one backend
	steadyTenants                                      []int    // tenants served in the steady phase's rows
	steadyRequests                                     int      // measured requests of a steady row
	bounds                                             []string // database.max_schemas_per_conn values the steady phase compares ("": strictmt's default)
	childEnv                                           []string // -env: more settings of the served children

	db      *database
	a       *app.App
	dir     string // scratch directory: the binary, the child's logs
	bin     string
	quiet   *slog.Logger
	schemas []string // the n tenants left after the creation phase
	tokens  []string // an access token per tenant, same order
	out     strings.Builder
}

// runScale creates -tenants tenants timing each creation, migrates them
// (no-op, then one added column and index), serves requests spread evenly
// over them from a child strictmt under each pgx query mode and in a
// steady state over 1 to all of them, and prints the results as a
// Markdown section for docs/BENCHMARKS.md.
func runScale(ctx context.Context, args []string) error {
	s, err := parseScaleFlags(args)
	if err != nil {
		return err
	}
	s.quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	if s.dir, err = os.MkdirTemp("", "strictmt-scale-"); err != nil {
		return err
	}
	defer os.RemoveAll(s.dir)
	if s.db, err = startDatabase(ctx, 200); err != nil {
		return err
	}
	defer s.db.stop()
	if s.a, err = openApp(ctx, s.db.URL, config.IsolationStrict, 4); err != nil {
		return err
	}
	defer s.a.Close(context.WithoutCancel(ctx))

	// Whatever was measured is printed, even when a later phase fails,
	// with the machine's load: other jobs may share it.
	load0 := loadAvg()
	defer func() {
		s.printf("Load average (1 min) of the machine: %s at the start, %s at the end.\n", load0, loadAvg())
		_, _ = io.WriteString(os.Stdout, s.out.String())
	}()
	return s.runPhases(ctx)
}

// scalePhases are the phases of a scale run, in the order they run.
var scalePhases = []string{"create", "migrate", "serve", "steady", "catalog", "usage", "memory", "column"}

// parseScaleFlags reads the scale benchmark's flags from args into a new
// scale.
func parseScaleFlags(args []string) (*scale, error) {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	n := fs.Int("tenants", 1000, "tenants to create, migrate and serve")
	sample := fs.Int("sample", 100, "creations timed at 0, half and all tenants existing")
	rounds := fs.Int("rounds", 5, "requests per tenant in each serving run")
	clients := fs.Int("clients", 8, "concurrent HTTP clients in the serving runs")
	workers := fs.Int("workers", 0, "tenant migration workers (0: CPU count)")
	createWorkers := fs.Int("create-workers", 2, "untimed tenant creations run at once (the timed ones run alone)")
	modes := fs.String("modes", "cache_statement,cache_describe,exec",
		"pgx default_query_exec_mode values compared in the serving runs")
	phases := fs.String("phases", "create,migrate,serve,steady,usage,memory,column", "phases to run (create is always run; catalog only when named)")
	catalogN := fs.Int("catalog-tenants", 1000, "tenants the catalog phase sends one backend (at most -tenants - 1)")
	steadyN := fs.String("steady-tenants", "1,1000,10000,20000", "tenants served in the steady phase's rows (by default those up to -tenants, and -tenants)")
	steadyReqs := fs.Int("steady-requests", 50000, "measured requests of each steady row")
	childEnv := fs.String("env", "", "more settings of the served strictmt children, as space-separated KEY=VALUE environment variables (e.g. STRICTMT_DATABASE_HOME_WAIT=20ms)")
	bounds := fs.String("bounds", "", "database.max_schemas_per_conn values the steady phase serves with, one after the other (empty or 0: strictmt's default; -1: no bound)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *n < 2 || *sample < 1 || *createWorkers < 1 || *steadyReqs < 1 {
		return nil, errors.New("scale: -tenants must be at least 2, and -sample, -create-workers and -steady-requests at least 1")
	}
	s := &scale{args: args, n: *n, sample: *sample, rounds: *rounds, clients: *clients, workers: *workers, createWorkers: *createWorkers,
		phases: map[string]bool{}, modes: strings.Split(*modes, ","), catalogTenants: *catalogN, steadyRequests: *steadyReqs}
	for _, p := range strings.Split(*phases, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(scalePhases, p) {
			return nil, fmt.Errorf("scale: -phases: no phase %q (phases: %s)", p, strings.Join(scalePhases, ", "))
		}
		s.phases[p] = true
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "steady-tenants" })
	var err error
	if s.steadyTenants, err = steadyCounts(*steadyN, s.n, explicit); err != nil {
		return nil, err
	}
	s.childEnv = strings.Fields(*childEnv)
	for _, b := range strings.Split(*bounds, ",") {
		b = strings.TrimSpace(b)
		if v, err := strconv.Atoi(b); b != "" && (err != nil || v < -1) {
			return nil, fmt.Errorf("scale: -bounds: %q is not -1 (no bound), 0 (the default) or a bound", b)
		}
		s.bounds = append(s.bounds, b)
	}
	return s, nil
}

// steadyCounts returns the steady phase's rows from the -steady-tenants
// list: as given when explicit, otherwise those up to n, and n.
func steadyCounts(list string, n int, explicit bool) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(list, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 || (explicit && k > n) {
			return nil, fmt.Errorf("scale: -steady-tenants: %q is not a number from 1 to -tenants (%d)", f, n)
		}
		if k <= n {
			counts = append(counts, k)
		}
	}
	if !explicit {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	return slices.Compact(counts), nil
}

// runPhases prints the header and runs the creation phase, then each
// phase of -phases in a fixed order.
func (s *scale) runPhases(ctx context.Context) error {
	if err := s.header(ctx); err != nil {
		return err
	}
	if err := s.create(ctx); err != nil {
		return err
	}
	if s.phases["migrate"] {
		if err := s.noopMigrate(ctx); err != nil {
			return err
		}
	}
	if s.phases["serve"] {
		if err := s.serve(ctx, s.modes); err != nil {
			return err
		}
	}
	if s.phases["steady"] {
		if err := s.steady(ctx); err != nil {
			return err
		}
	}
	if s.phases["catalog"] {
		if err := s.catalog(ctx, s.catalogTenants); err != nil {
			return err
		}
	}
	if s.phases["usage"] {
		if err := s.usage(ctx); err != nil {
			return err
		}
	}
	if s.phases["memory"] {
		s.handleMemory()
	}
	if s.phases["column"] {
		if err := s.columnMigration(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *scale) printf(format string, args ...any) { fmt.Fprintf(&s.out, format, args...) }

// progressf tells the operator how far the run is, on stderr.
func progressf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scale: "+format+"\n", args...)
}

func (s *scale) header(ctx context.Context) error {
	var pg string
	if err := s.a.SQL.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&pg); err != nil {
		return err
	}
	s.printf("Measured %s on %s, %d cores, %s RAM; %s, PostgreSQL %s on the same machine (durable settings: fsync on) in %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), memTotal(), runtime.Version(), pg, s.db.where())
	s.printf("Command: `%s`\n\n", strings.Join(append([]string{"go run ./bench scale"}, s.args...), " "))
	return nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func memTotal() string {
	kb, err := procStatus("/proc/meminfo", "MemTotal")
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.0f GB", float64(kb)/(1<<20))
}

// create fills the database with n tenants and times sample creations
// at 0, n/2 and n existing tenants on each path: claiming a spare schema
// (one is built, untimed, before each) and the full provisioning DDL (no
// spare ready). The timed creations run one at a time with nothing else
// running; the untimed ones that fill the database in between run
// createWorkers at a time. The tenants made beyond n are deleted again.
func (s *scale) create(ctx context.Context) error {
	var created atomic.Int64
	createOne := func(i int) (time.Duration, error) {
		schema := fmt.Sprintf("t%05d", i)
		t0 := time.Now()
		_, err := s.a.Tenants.CreateTenant(ctx, tenants.CreateParams{
			Name: "Tenant " + schema, SchemaName: schema, Domains: []string{schema + ".scale.localhost"},
		})
		d := time.Since(t0)
		if err != nil {
			return 0, fmt.Errorf("creating tenant %d: %w", i, err)
		}
		if c := created.Add(1); c%200 == 0 {
			progressf("created %d tenants", c)
		}
		return d, nil
	}
	count := 0 // tenants t00000 to t{count-1} exist
	var bulkN int
	var bulkSum atomic.Int64 // ns
	var bulkWall time.Duration
	fill := func(at int) error {
		t0 := time.Now()
		var next atomic.Int64
		next.Store(int64(count))
		var g errgroup.Group
		for range s.createWorkers {
			g.Go(func() error {
				for i := int(next.Add(1) - 1); i < at; i = int(next.Add(1) - 1) {
					d, err := createOne(i)
					if err != nil {
						next.Store(int64(at))
						return err
					}
					bulkSum.Add(int64(d))
				}
				return nil
			})
		}
		err := g.Wait()
		bulkN, bulkWall, count = bulkN+max(at-count, 0), bulkWall+time.Since(t0), max(at, count)
		return err
	}
	type window struct {
		at          int
		claim, full []time.Duration
	}
	measure := func() (window, error) {
		w := window{at: count}
		for j := range 2 * s.sample {
			if j < s.sample {
				if _, err := s.a.Tenants.FillSpares(ctx, 1); err != nil {
					return w, err
				}
			}
			d, err := createOne(count)
			if err != nil {
				return w, err
			}
			count++
			if j < s.sample {
				w.claim = append(w.claim, d)
			} else {
				w.full = append(w.full, d)
			}
		}
		return w, nil
	}
	var windows []window
	for _, at := range []int{0, s.n / 2, s.n} {
		if err := fill(at); err != nil {
			return err
		}
		w, err := measure()
		if err != nil {
			return err
		}
		windows = append(windows, w)
	}
	s.printf("#### Tenant creation\n\n")
	s.printf("`CreateTenant`: catalog rows, schema with every migration and its version table, role and grants, in one transaction. %d creations timed on each path at each point, one at a time with nothing else running. *Spare*: a spare schema is ready (built untimed just before), the creation renames it and its role. *Full DDL*: no spare is ready, the whole provisioning script runs (one round trip).\n\n", s.sample)
	s.printf("| existing tenants | spare: p50 | spare: p99 | full DDL: p50 | full DDL: p99 |\n|---:|---:|---:|---:|---:|\n")
	for _, w := range windows {
		s.printf("| %d | %s | %s | %s | %s |\n", w.at, ms(percentile(w.claim, 50)), ms(percentile(w.claim, 99)), ms(percentile(w.full, 50)), ms(percentile(w.full, 99)))
	}
	s.printf("\nThe %d untimed creations in between (full DDL, %d at a time) took %s each on average, %.1f tenants/s.\n\n",
		bulkN, s.createWorkers, ms(time.Duration(bulkSum.Load())/time.Duration(max(bulkN, 1))), float64(bulkN)/max(bulkWall.Seconds(), 1e-9))
	for i := range count {
		schema := fmt.Sprintf("t%05d", i)
		if i < s.n {
			s.schemas = append(s.schemas, schema)
		} else if err := s.a.Tenants.DeleteTenant(ctx, schema, true); err != nil {
			return err
		}
	}
	return nil
}

// noopMigrate migrates n up-to-date tenants, in-process and through the
// CLI.
func (s *scale) noopMigrate(ctx context.Context) error {
	s.printf("#### No-op migrate over %d tenants\n\nA schema is up to date without its version table being read when the catalog's copy of its versions (`public.tenant_versions_current`) vouches for it.\n\n| run | time | vouched for by the catalog |\n|---|---:|---:|\n", s.n)
	for i := range 3 {
		rep, err := tenants.MigrateTenants(ctx, s.a.SQL, s.quiet, tenants.MigrateOptions{Tenants: true, Workers: s.workers})
		if err != nil {
			return err
		}
		if rep.UpToDate != s.n {
			return fmt.Errorf("no-op migrate: %d of %d up to date", rep.UpToDate, s.n)
		}
		s.printf("| `tenants.MigrateTenants`, run %d | %s | %d |\n", i+1, ms(rep.Elapsed), rep.Vouched)
	}
	if err := s.build(ctx); err != nil {
		return err
	}
	start := time.Now()
	out, err := s.command(ctx, s.db.URL, "migrate").CombinedOutput()
	if err != nil {
		return fmt.Errorf("strictmt migrate: %w: %s", err, out)
	}
	s.printf("| `strictmt migrate` (process start, connect, shared + tenant schemas) | %s | |\n\n", ms(time.Since(start)))
	return nil
}

// build compiles the strictmt binary once.
func (s *scale) build(ctx context.Context) error {
	if s.bin != "" {
		return nil
	}
	bin := filepath.Join(s.dir, "strictmt")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/strictmt/strictmt")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building strictmt: %w", err)
	}
	s.bin = bin
	return nil
}

// command returns the strictmt binary run with args on dbURL, from the
// scratch directory so that no config.yaml is read.
func (s *scale) command(ctx context.Context, dbURL string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir = s.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"STRICTMT_DATABASE_URL="+dbURL,
		"STRICTMT_AUTH_JWT_SECRET="+benchSecret,
		"STRICTMT_DEV_DEMO_TENANT=false",
		"STRICTMT_LOG_LEVEL=error",
	)
	return cmd
}

// seed gives every tenant a user with five todos and mints its token.
func (s *scale) seed(ctx context.Context) error {
	if s.tokens != nil {
		return nil
	}
	hash, err := auth.HashPasswordCost("bench-password-1", bcrypt.MinCost)
	if err != nil {
		return err
	}
	toks, err := auth.NewTokens([]byte(benchSecret), 24*time.Hour, 24*time.Hour)
	if err != nil {
		return err
	}
	for _, schema := range s.schemas {
		q := tenants.QuoteIdent(schema)
		var id int64
		if err := s.a.SQL.QueryRowContext(ctx, "INSERT INTO "+q+".users (username, email, password_hash) VALUES ('bench', 'bench@example.com', $1) RETURNING id", hash).Scan(&id); err != nil {
			return err
		}
		if _, err := s.a.SQL.ExecContext(ctx, "INSERT INTO "+q+".todos (title, owner_id) SELECT 'todo ' || g, $1 FROM generate_series(1, 5) g", id); err != nil {
			return err
		}
		var tenantID int64
		if err := s.a.SQL.QueryRowContext(ctx, "SELECT id FROM public.clients WHERE schema_name = $1", schema).Scan(&tenantID); err != nil {
			return err
		}
		tok, err := toks.IssueAccess(id, auth.Tenant{ID: tenantID, Schema: schema})
		if err != nil {
			return err
		}
		s.tokens = append(s.tokens, tok)
	}
	return nil
}

// withParams returns rawURL with the query parameters kv added.
func withParams(rawURL string, kv ...string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

type serveResult struct {
	mode                         string
	load                         loadResult
	idleRSS, rss, hwm, anon      int64 // kB, of the server process
	backends                     int
	backendSum, backendMax       int64 // kB of private memory (RssAnon) of its PostgreSQL backends
	prepared                     []int // server-side prepared statements per connection (in-process run)
	inproc                       loadResult
	inprocHeapBefore, inprocHeap uint64
}

// serve runs the child server once per query mode and the same load
// in-process, where the pool's connections can be inspected.
func (s *scale) serve(ctx context.Context, modes []string) error {
	if err := s.seed(ctx); err != nil {
		return err
	}
	if err := s.build(ctx); err != nil {
		return err
	}
	var results []serveResult
	for _, mode := range modes {
		mode = strings.TrimSpace(mode)
		progressf("serving %d tenants, query mode %s", s.n, mode)
		r, err := s.serveChild(ctx, mode)
		if err != nil {
			return fmt.Errorf("mode %s: %w", mode, err)
		}
		if err := s.serveInProcess(ctx, mode, &r); err != nil {
			return fmt.Errorf("mode %s in-process: %w", mode, err)
		}
		results = append(results, r)
	}
	s.printf("#### Serving %d tenants\n\n", s.n)
	s.printf("`GET /api/todos/` (a page of 5 todos) on each tenant's own host with its token, %d rounds over every tenant, %d concurrent clients, against the built binary as a child process (`strictmt serve`, default pool of %d connections). Memory is read from `/proc/PID/status` after the load; PostgreSQL backends' memory is their private `RssAnon`. Prepared statements are counted in `pg_prepared_statements` on every connection of an in-process strictmt after the same load.\n\n",
		s.rounds, s.clients, config.Default().Database.MaxOpenConns)
	s.printf("| query mode | req/s | p50 | p99 | server RSS idle | server RSS after load | server peak RSS | PG backends | backend memory, total | backend memory, max | prepared statements per connection | in-process Go heap growth |\n")
	s.printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range results {
		if r.mode == app.DefaultQueryExecMode.String() {
			r.mode += " (strictmt's default)"
		}
		s.printf("| %s | %.0f | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s |\n", r.mode,
			float64(r.load.n)/r.load.elapsed.Seconds(), ms(r.load.p50), ms(r.load.p99),
			mb(r.idleRSS), mb(r.rss), mb(r.hwm), r.backends, mb(r.backendSum), mb(r.backendMax), ints(r.prepared),
			mb((int64(r.inprocHeap)-int64(r.inprocHeapBefore))/1024))
	}
	s.printf("\n")
	return nil
}

// child is a strictmt serve process of a scale run.
type child struct {
	addr   string
	pid    int
	client *http.Client
	stop   func()
}

// startChild starts a child strictmt in query mode mode with env added to
// its environment, and waits until it is ready.
func (s *scale) startChild(ctx context.Context, mode string, env ...string) (*child, error) {
	dbURL := withParams(s.db.URL, "application_name", scaleAppName, "default_query_exec_mode", mode)
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := s.command(ctx, dbURL, "serve")
	cmd.Env = append(append(cmd.Env, "STRICTMT_HTTP_ADDR="+addr), env...)
	logf, err := os.Create(filepath.Join(s.dir, "serve-"+mode+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := &child{addr: addr, pid: cmd.Process.Pid,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: s.clients, MaxConnsPerHost: s.clients}, Timeout: 30 * time.Second}}
	c.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	}
	if err := waitReady(ctx, c.client, "http://"+addr+"/readyz", exited); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w (log: %s)", err, logf.Name())
	}
	return c, nil
}

// list sends GET /api/todos/ to host with token.
func (c *child) list(ctx context.Context, host, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+c.addr+"/api/todos/", nil)
	if err != nil {
		return 0, err
	}
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// serveChild serves rounds requests to every tenant, tenant after
// tenant, from a fresh child strictmt in query mode mode, and reads its
// memory and its PostgreSQL backends' afterwards.
func (s *scale) serveChild(ctx context.Context, mode string) (serveResult, error) {
	r := serveResult{mode: mode}
	c, err := s.startChild(ctx, mode)
	if err != nil {
		return r, err
	}
	defer c.stop()
	status := "/proc/" + strconv.Itoa(c.pid) + "/status"
	if r.idleRSS, err = procStatus(status, "VmRSS"); err != nil {
		return r, err
	}
	do := func(host, token string) (int, error) { return c.list(ctx, host, token) }
	if r.load, err = s.load(do, s.rounds*len(s.schemas), roundRobin(len(s.schemas))); err != nil {
		return r, err
	}
	for key, dst := range map[string]*int64{"VmRSS": &r.rss, "VmHWM": &r.hwm, "RssAnon": &r.anon} {
		if *dst, err = procStatus(status, key); err != nil {
			return r, err
		}
	}
	r.backends, r.backendSum, r.backendMax, err = s.backendMemory(ctx)
	return r, err
}

// backendMemory returns how many PostgreSQL backends the child strictmt
// has and their private memory (RssAnon, kB): the total and the largest.
func (s *scale) backendMemory(ctx context.Context) (n int, sum, largest int64, err error) {
	pids, err := s.childBackends(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, pid := range pids {
		kb, err := procStatus("/proc/"+strconv.Itoa(pid)+"/status", "RssAnon")
		if err != nil {
			continue // the backend ended meanwhile
		}
		n++
		sum += kb
		largest = max(largest, kb)
	}
	return n, sum, largest, nil
}

// childBackends returns the pids of the PostgreSQL backends of the child
// strictmt (found by its application_name), in order.
func (s *scale) childBackends(ctx context.Context) ([]int, error) {
	rows, err := s.a.SQL.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend' ORDER BY pid", scaleAppName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		pids = append(pids, pid)
	}
	return pids, rows.Err()
}

// serveInProcess runs the same load through an in-process strictmt with
// the server's default pool, then counts the server-side prepared
// statements of each of its connections.
func (s *scale) serveInProcess(ctx context.Context, mode string, r *serveResult) error {
	dbURL := withParams(s.db.URL, "default_query_exec_mode", mode)
	maxConns := config.Default().Database.MaxOpenConns
	a, err := openApp(ctx, dbURL, config.IsolationStrict, maxConns)
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	h := a.Handler()
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	do := func(host, token string) (int, error) {
		req := httptest.NewRequest("GET", "/api/todos/", nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, nil
	}
	if r.inproc, err = s.load(do, s.rounds*len(s.schemas), roundRobin(len(s.schemas))); err != nil {
		return err
	}
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	r.inprocHeapBefore, r.inprocHeap = m0.HeapInuse, m1.HeapInuse

	// Hold every open connection at once, so each is inspected.
	open := a.SQL.Stats().OpenConnections
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for range open {
		c, err := a.SQL.Conn(cctx)
		if err != nil {
			break
		}
		defer c.Close()
		var n int
		if err := c.QueryRowContext(cctx, "SELECT count(*) FROM pg_prepared_statements").Scan(&n); err != nil {
			return err
		}
		r.prepared = append(r.prepared, n)
	}
	slices.Sort(r.prepared)
	slices.Reverse(r.prepared)
	return nil
}

type loadResult struct {
	n        int
	elapsed  time.Duration
	p50, p99 time.Duration
}

// roundRobin sends request i to tenant i mod k: tenant after tenant.
func roundRobin(k int) func(i int) int { return func(i int) int { return i % k } }

// load sends total requests from clients goroutines at once, request i
// as tenant tenant(i).
func (s *scale) load(do func(host, token string) (int, error), total int, tenant func(i int) int) (loadResult, error) {
	lat := make([]time.Duration, total)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range s.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				k := tenant(i)
				t0 := time.Now()
				code, err := do(s.schemas[k]+".scale.localhost", s.tokens[k])
				lat[i] = time.Since(t0)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("GET /api/todos/ on %s: status %d", s.schemas[k], code)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(total))
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return loadResult{}, firstErr
	}
	return loadResult{n: total, elapsed: time.Since(start), p50: percentile(lat, 50), p99: percentile(lat, 99)}, nil
}

func waitReady(ctx context.Context, c *http.Client, u string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("strictmt serve exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("strictmt serve was not ready after 60s")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// procStatus returns the kB value of key in a /proc status-style file.
func procStatus(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// handleMemory measures what the resolver keeps per tenant: a GORM handle
// whose table prefix is the schema, with the four tenant models parsed, as
// after a request of every kind.
func (s *scale) handleMemory() {
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	handles := make([]*datapath.Tenant, len(s.schemas))
	start := time.Now()
	for i, schema := range s.schemas {
		handles[i] = s.a.Resolver.Store().NewTenant(datapath.Tenant{Name: schema, Schema: schema, Role: schema})
	}
	build := time.Since(start)
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(handles)
	delta := int64(m1.HeapInuse) - int64(m0.HeapInuse)
	s.printf("#### Tenant handles\n\n")
	s.printf("The resolver keeps one `*datapath.Tenant` per tenant, on one shared `datapath.Store` whose models are parsed once; %d handles hold %s of heap, %.1f KB each; building and parsing one takes %.0f µs.\n\n",
		len(handles), mb(delta/1024), float64(delta)/1024/float64(len(handles)), float64(build.Microseconds())/float64(len(handles)))
}

// columnMigration adds a column and an index to every tenant's todos,
// supplied as an extra migration, after a dry run.
func (s *scale) columnMigration(ctx context.Context) error {
	shipped, err := tenants.TenantMigrations()
	if err != nil {
		return err
	}
	v := shipped[len(shipped)-1].Version + 1
	ms := append(slices.Clone(shipped), tenants.Migration{
		Version: v,
		Name:    fmt.Sprintf("%05d_bench_priority.sql", v),
		SQL:     "ALTER TABLE todos ADD COLUMN bench_priority integer NOT NULL DEFAULT 0;\nCREATE INDEX todos_bench_priority_idx ON todos (bench_priority);\n",
	})
	opts := tenants.MigrateOptions{Tenants: true, Workers: s.workers, Migrations: ms}
	s.printf("#### One new migration over %d tenants\n\n", s.n)
	s.printf("`ALTER TABLE todos ADD COLUMN bench_priority integer NOT NULL DEFAULT 0; CREATE INDEX … ON todos (bench_priority)` supplied through `MigrateOptions.Migrations`, %d workers (each tenant's todos hold 5 rows when the serve phase ran).\n\n", workersOf(s.workers))
	s.printf("| step | time | schemas |\n|---|---:|---:|\n")

	dry := opts
	dry.DryRun = true
	rep, err := tenants.MigrateTenants(ctx, s.a.SQL, s.quiet, dry)
	if err != nil {
		return err
	}
	s.printf("| `--dry-run` (lists pending) | %s | %d pending |\n", ms2(rep.Elapsed), len(rep.Pending))
	progressf("migrating %d tenants: add a column and an index", s.n)
	rep, err = tenants.MigrateTenants(ctx, s.a.SQL, s.quiet, opts)
	if err != nil {
		return err
	}
	s.printf("| migrate | %s | %d migrated |\n", ms2(rep.Elapsed), rep.Migrated)
	rep, err = tenants.MigrateTenants(ctx, s.a.SQL, s.quiet, opts)
	if err != nil {
		return err
	}
	s.printf("| no-op migrate afterwards | %s | %d up to date |\n\n", ms2(rep.Elapsed), rep.UpToDate)
	var cols int
	if err := s.a.SQL.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'bench_priority'").Scan(&cols); err != nil {
		return err
	}
	if cols != s.n {
		return fmt.Errorf("column migration: %d of %d schemas have the column (%+v)", cols, s.n, *rep)
	}
	return nil
}

func workersOf(w int) int {
	if w <= 0 {
		return runtime.NumCPU()
	}
	return w
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func ms2(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return ms(d)
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func ints(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ", ")
}
