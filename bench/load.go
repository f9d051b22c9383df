package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strictmt/strictmt/config"
)

func init() {
	register("load", "throughput and latency under load: strictmt (strict, prefix) vs a hand-written pgx server", runLoad)
}

// loadServerNames are the servers the load benchmark drives by default,
// in order.
var loadServerNames = []string{"strict", "prefix", "baseline"}

// analysisServerNames are servers driven only when -servers names them:
// the baseline talking to PostgreSQL with strictmt's round trips
// (BASELINE_ROUND_TRIPS), which splits strictmt's cost into round trips
// and its own code.
// strict-comments is strictmt strict with database.statement_comments on,
// which prices the /* tenant=… */ comment on every statement;
// strict-unprepared and prefix-unprepared run with
// database.prepared_statements 0, which prices the prepared statements.
var analysisServerNames = []string{"baseline-strict-rt", "baseline-prefix-rt", "strict-comments", "strict-unprepared", "prefix-unprepared"}

// loadServerTitles name the servers in the table.
var loadServerTitles = map[string]string{
	"strict":             "strictmt strict",
	"prefix":             "strictmt prefix",
	"baseline":           "baseline (net/http + pgx)",
	"baseline-strict-rt": "baseline, strict round trips",
	"baseline-prefix-rt": "baseline, prefix round trips",
	"strict-comments":    "strictmt strict, statement comments",
	"strict-unprepared":  "strictmt strict, nothing prepared",
	"prefix-unprepared":  "strictmt prefix, nothing prepared",
}

// loadServerTitle names the server called name in the table; NAME+keys
// is NAME with an Idempotency-Key on every create.
func loadServerTitle(name string) string {
	if base, ok := strings.CutSuffix(name, keyedSuffix); ok {
		return loadServerTitles[base] + ", Idempotency-Key on every create"
	}
	return loadServerTitles[name]
}

// startLoadServer starts the server called name (one of loadServerNames
// or analysisServerNames) on the database at url.
func startLoadServer(ctx context.Context, name, url, baselineBin string, pool int) (*runningServer, error) {
	switch name {
	case "strict":
		return startStrictmt(ctx, url, config.IsolationStrict, pool, nil)
	case "strict-comments":
		return startStrictmt(ctx, url, config.IsolationStrict, pool, func(c *config.Config) { c.Database.StatementComments = true })
	case "strict-unprepared":
		return startStrictmt(ctx, url, config.IsolationStrict, pool, unprepared)
	case "prefix":
		return startStrictmt(ctx, url, config.IsolationPrefix, pool, nil)
	case "prefix-unprepared":
		return startStrictmt(ctx, url, config.IsolationPrefix, pool, unprepared)
	case "baseline-strict-rt":
		return startBaseline(ctx, baselineBin, url, pool, "strict")
	case "baseline-prefix-rt":
		return startBaseline(ctx, baselineBin, url, pool, "prefix")
	default:
		return startBaseline(ctx, baselineBin, url, pool, "")
	}
}

// unprepared turns database.prepared_statements off.
func unprepared(c *config.Config) { c.Database.PreparedStatements = 0 }

// loadRun is one measured run of one server.
// keyedSuffix names the rows of a server driven with an Idempotency-Key
// on every create (-keys).
const keyedSuffix = "+keys"

type loadRun struct {
	server    string
	wrk       wrkResult
	serverCPU time.Duration
	pgCPU     time.Duration
	load1     float64 // 1-minute load average when the run started
}

// loadBench is one load benchmark: its flags, and what its runs share
// once the database is seeded.
type loadBench struct {
	tenants, todos, concurrency, pool, threads, rounds, count int
	duration, warmup                                          time.Duration
	names                                                     []string // servers to drive, in order
	posts                                                     []int    // percentages of creating requests, one workload each
	execMode, profileDir                                      string
	bouncer                                                   int
	keys                                                      bool // also drive each strictmt server with keyed creates

	dir         string // scratch directory: the baseline binary, the wrk scripts
	baselineBin string
	serverURL   string // what the servers connect to
	ts          []loadTenant
	pgCPU       func() time.Duration
	reference   *responses // the first server's answers, which the others must match
}

// runLoad seeds tenants × todos, then drives strictmt in strict mode,
// strictmt in prefix mode and the baseline (bench/baseline) in turn with
// the same wrk workload against the same database, and prints each one's
// throughput and latency and its ratios to the baseline.
func runLoad(ctx context.Context, args []string) error {
	b, err := parseLoadFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if err := checkWrk(); err != nil {
		return err
	}
	if b.profileDir != "" {
		if err := os.MkdirAll(b.profileDir, 0o755); err != nil {
			return err
		}
	}

	if b.dir, err = os.MkdirTemp("", "strictmt-load-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)
	if slices.ContainsFunc(b.names, func(n string) bool { return strings.HasPrefix(n, "baseline") }) {
		fmt.Fprintln(os.Stderr, "building bench/baseline")
		if b.baselineBin, err = buildBaseline(ctx, b.dir); err != nil {
			return err
		}
	}
	return b.run(ctx)
}

// parseLoadFlags reads the load benchmark's flags from args and checks
// them. It returns flag.ErrHelp when -help was asked for.
func parseLoadFlags(args []string) (*loadBench, error) {
	b := &loadBench{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.IntVar(&b.tenants, "tenants", 100, "tenants to seed")
	fs.IntVar(&b.todos, "todos", 1000, "todos per tenant")
	fs.IntVar(&b.concurrency, "concurrency", 64, "concurrent connections")
	fs.DurationVar(&b.duration, "duration", 20*time.Second, "length of each measured run")
	fs.DurationVar(&b.warmup, "warmup", 3*time.Second, "length of the warm-up run before each measured run")
	fs.IntVar(&b.pool, "pool", 16, "database connections of every server")
	fs.IntVar(&b.threads, "threads", runtime.NumCPU(), "wrk threads")
	postList := fs.String("post", "20", "percentage of requests that create a todo, the others list 20; a comma-separated list runs each workload in turn on the same seeded database")
	fs.IntVar(&b.rounds, "rounds", 1, "times to drive each server (in turn); medians are reported")
	fs.BoolVar(&b.keys, "keys", false, "also drive each strictmt server with an Idempotency-Key on every create (rows NAME+keys, alternating with NAME)")
	servers := fs.String("servers", strings.Join(loadServerNames, ","), "servers to drive, in order, of "+strings.Join(append(loadServerNames, analysisServerNames...), ", "))
	fs.StringVar(&b.execMode, "query-exec-mode", "", "pgx default_query_exec_mode of every server (cache_statement, cache_describe, describe_exec, exec, simple_protocol); empty: each server's own default")
	bouncer := pgbouncerFlag(fs)
	fs.IntVar(&b.count, "count", 50, "after the runs, send this many lists and creates one by one to each server through a counting proxy, for round trips and statements per request (0: skip)")
	fs.StringVar(&b.profileDir, "cpuprofile", "", "write a CPU profile of each in-process strictmt's last measured run into this directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	b.bouncer = *bouncer
	var err error
	if b.names, err = loadServers(*servers); err != nil {
		return nil, err
	}
	switch {
	case b.tenants < 1 || b.todos < 1 || b.pool < 1 || b.rounds < 1:
		return nil, fmt.Errorf("-tenants, -todos, -pool and -rounds must be at least 1")
	case b.threads < 1 || b.concurrency < b.threads:
		return nil, fmt.Errorf("-concurrency must be at least -threads (%d)", b.threads)
	}
	if b.posts, err = postPercents(*postList); err != nil {
		return nil, err
	}
	return b, nil
}

// loadServers returns the servers of -servers' comma-separated list.
func loadServers(list string) ([]string, error) {
	var names []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); !slices.Contains(loadServerNames, n) && !slices.Contains(analysisServerNames, n) {
			return nil, fmt.Errorf("-servers: unknown server %q", n)
		}
		names = append(names, n)
	}
	return names, nil
}

// postPercents returns the percentages of -post's comma-separated list.
func postPercents(list string) ([]int, error) {
	var posts []int
	for _, p := range strings.Split(list, ",") {
		var v int
		if _, err := fmt.Sscanf(strings.TrimSpace(p), "%d", &v); err != nil || v < 0 || v > 100 {
			return nil, fmt.Errorf("-post: want percentages between 0 and 100, got %q", p)
		}
		posts = append(posts, v)
	}
	return posts, nil
}

// run starts PostgreSQL and seeds it, measures every server on each
// workload in turn, then counts what reaches PostgreSQL per request.
func (b *loadBench) run(ctx context.Context) error {
	fmt.Fprintln(os.Stderr, "starting PostgreSQL")
	// Room for every pool, the catalog listener and the seeding
	// connections.
	db, err := startDatabase(ctx, 3*b.pool+50)
	if err != nil {
		return err
	}
	defer db.stop()
	fmt.Fprintf(os.Stderr, "seeding %d tenants × %d todos\n", b.tenants, b.todos)
	if b.ts, err = seedLoad(ctx, db.URL, b.tenants, b.todos, b.pool); err != nil {
		return err
	}
	serverURL := db.URL
	if b.execMode != "" {
		if serverURL, err = withConnParam(db.URL, "default_query_exec_mode", b.execMode); err != nil {
			return err
		}
	}
	serverURL, stopBouncer, err := viaPgBouncer(b.bouncer, serverURL, db.URL)
	if err != nil {
		return err
	}
	defer stopBouncer()
	b.serverURL = serverURL
	if b.pgCPU, err = postgresCPU(ctx, db.URL); err != nil {
		return err
	}

	for i, postPercent := range b.posts {
		if err := b.workload(ctx, i, postPercent); err != nil {
			return err
		}
	}
	if b.count > 0 {
		return printWireCounts(ctx, os.Stdout, b.names, b.serverURL, b.count, b.ts[0], func(name, url string) (*runningServer, error) {
			return startLoadServer(ctx, name, url, b.baselineBin, b.pool)
		})
	}
	return nil
}

// workload drives every server b.rounds times with the workload in which
// postPercent% of the requests create a todo, and prints its table; i is
// the workload's place in -post.
func (b *loadBench) workload(ctx context.Context, i, postPercent int) error {
	script, err := writeWrkScript(b.dir, b.ts, postPercent, false)
	if err != nil {
		return err
	}
	keyedScript, err := writeWrkScript(b.dir, b.ts, postPercent, true)
	if err != nil {
		return err
	}
	if i > 0 {
		fmt.Println()
	}
	names := b.names
	if b.keys {
		names = nil
		for _, name := range b.names {
			names = append(names, name)
			if name != "baseline" {
				names = append(names, name+keyedSuffix)
			}
		}
	}
	var runs []loadRun
	for round := 1; round <= b.rounds; round++ {
		for _, name := range names {
			server, sc := name, script
			if strings.HasSuffix(name, keyedSuffix) {
				server, sc = strings.TrimSuffix(name, keyedSuffix), keyedScript
			}
			run, err := b.measure(ctx, server, round, sc)
			if err != nil {
				return err
			}
			run.server = name
			runs = append(runs, run)
		}
	}

	b.printHeader(postPercent)
	printLoadTable(os.Stdout, names, runs)
	return nil
}

// measure starts the server called name, drives it with the wrk script in
// round round, stops it, and reports the run on stderr.
func (b *loadBench) measure(ctx context.Context, name string, round int, script string) (loadRun, error) {
	srv, err := startLoadServer(ctx, name, b.serverURL, b.baselineBin, b.pool)
	if err != nil {
		return loadRun{}, fmt.Errorf("%s: %w", name, err)
	}
	run, err := driveServer(ctx, name, srv, b.ts[0], &b.reference, script, b.threads, b.concurrency, b.warmup, b.duration, b.pgCPU,
		profilePath(b.profileDir, name, srv.inProcess && round == b.rounds))
	if stopErr := srv.stop(); err == nil && stopErr != nil {
		err = fmt.Errorf("stopping: %w", stopErr)
	}
	if err != nil {
		return loadRun{}, fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(os.Stderr, "  round %d %-18s %8.0f req/s  p50 %s  p99 %s  errors %d\n", round, name,
		run.wrk.RPS(), us(run.wrk.P50US), us(run.wrk.P99US), run.wrk.Errors())
	return run, nil
}

// printHeader prints what the table of the workload in which postPercent%
// of the requests create a todo measured, and on what.
func (b *loadBench) printHeader(postPercent int) {
	fmt.Printf("Load: %d tenants × %d todos; %d%% GET /api/todos/?limit=20, %d%% POST /api/todos/, random tenant per request\n",
		b.tenants, b.todos, 100-postPercent, postPercent)
	fmt.Printf("wrk: %d connections on %d threads, %s warm-up + %s measured per server, %d round(s)\n",
		b.concurrency, b.threads, b.warmup, b.duration, b.rounds)
	mode := "each server's default"
	if b.execMode != "" {
		mode = b.execMode
	}
	fmt.Printf("every server: a pool of %d PostgreSQL connections, query exec mode: %s; strictmt in-process, baseline as a child process\n", b.pool, mode)
	fmt.Printf("machine: %s; wrk, the servers and PostgreSQL share its CPUs\n\n", machine())
}

// printWireCounts starts each server on a counting proxy in front of the
// database and prints the round trips and statements of its list and
// create requests.
func printWireCounts(ctx context.Context, w io.Writer, names []string, dbURL string, n int, t loadTenant,
	start func(name, url string) (*runningServer, error)) error {
	p, proxied, err := startCountingProxy(dbURL)
	if err != nil {
		return err
	}
	defer p.close()
	fmt.Fprintf(w, "\nWhat reaches PostgreSQL per request (%d lists and %d creates sent one by one, counted on the wire by a proxy):\n\n", n, n)
	fmt.Fprintln(w, "| server | list: round trips | list: statements | create: round trips | create: statements |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, name := range names {
		srv, err := start(name, proxied)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		list, create, err := countRequests(ctx, p, srv.addr, t, n)
		if stopErr := srv.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		per := func(v int64) string { return fmt.Sprintf("%.2f", float64(v)/float64(n)) }
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", loadServerTitles[name], per(list.trips), per(list.stmts), per(create.trips), per(create.stmts))
	}
	return nil
}

// withConnParam returns the connection string u (a URL or key=value
// pairs) with the parameter key set to value.
func withConnParam(u, key, value string) (string, error) {
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return u + " " + key + "=" + value, nil
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := parsed.Query()
	q.Set(key, value)
	parsed.RawQuery = q.Encode()
	return parsed.String(), nil
}

func profilePath(dir, name string, want bool) string {
	if dir == "" || !want {
		return ""
	}
	return filepath.Join(dir, name+".pprof")
}

// driveServer checks that srv answers like the reference server, then
// warms it up and measures it.
func driveServer(ctx context.Context, name string, srv *runningServer, t loadTenant, reference **responses,
	script string, threads, conns int, warmup, d time.Duration, pgCPU func() time.Duration, profile string) (loadRun, error) {
	got, err := sample(ctx, srv.addr, t)
	if err != nil {
		return loadRun{}, err
	}
	got.server = name
	if *reference == nil {
		*reference = got
	} else if err := (*reference).match(got); err != nil {
		return loadRun{}, fmt.Errorf("answers unlike %s: %w", (*reference).server, err)
	}
	if warmup > 0 {
		w, err := runWrk(ctx, script, srv.addr, threads, conns, warmup)
		if err != nil {
			return loadRun{}, err
		}
		if w.Errors() > 0 {
			return loadRun{}, fmt.Errorf("%d errors during the warm-up (%+v)", w.Errors(), w)
		}
	}
	if srv.inProcess {
		runtime.GC()
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return loadRun{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return loadRun{}, err
		}
		defer pprof.StopCPUProfile()
	}
	run := loadRun{server: name, load1: loadAverage()}
	cpu0, pg0 := srv.cpu(), pgCPU()
	run.wrk, err = runWrk(ctx, script, srv.addr, threads, conns, d)
	run.serverCPU, run.pgCPU = srv.cpu()-cpu0, pgCPU()-pg0
	return run, err
}

// responses are a server's answers to the requests of the workload, with
// the parts that change from run to run left out.
type responses struct {
	server string
	one    any // GET /api/todos/1/
	list   any // shape of GET /api/todos/?limit=2
	create any // shape of POST /api/todos/
}

// sample sends one request of each kind to the server at addr as tenant t.
func sample(ctx context.Context, addr string, t loadTenant) (*responses, error) {
	r := &responses{}
	for _, q := range []struct {
		method, path, body string
		status             int
		into               *any
		shapeOnly          bool
	}{
		{"GET", "/api/todos/1/", "", http.StatusOK, &r.one, false},
		{"GET", "/api/todos/?limit=2", "", http.StatusOK, &r.list, true},
		{"POST", "/api/todos/", `{"title":"shape check","description":"d"}`, http.StatusCreated, &r.create, true},
	} {
		req, err := http.NewRequestWithContext(ctx, q.method, "http://"+addr+q.path, strings.NewReader(q.body))
		if err != nil {
			return nil, err
		}
		req.Host = t.Host
		req.Header.Set("Authorization", "Bearer "+t.Token)
		if q.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != q.status {
			return nil, fmt.Errorf("%s %s: status %d, want %d: %s", q.method, q.path, resp.StatusCode, q.status, body)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("%s %s: %w", q.method, q.path, err)
		}
		if q.shapeOnly {
			v = shape(v)
		}
		*q.into = v
	}
	return r, nil
}

// match reports how got differs from r.
func (r *responses) match(got *responses) error {
	for _, c := range []struct {
		what      string
		want, got any
	}{
		{"GET /api/todos/1/", r.one, got.one},
		{"the shape of GET /api/todos/?limit=2", r.list, got.list},
		{"the shape of POST /api/todos/", r.create, got.create},
	} {
		if !reflect.DeepEqual(c.want, c.got) {
			want, _ := json.Marshal(c.want)
			have, _ := json.Marshal(c.got)
			return fmt.Errorf("%s: got %s, want %s", c.what, have, want)
		}
	}
	return nil
}

// shape replaces the values in a decoded JSON document by their kinds,
// keeping object keys and nulls.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = shape(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = shape(e)
		}
		return out
	case nil:
		return nil
	default:
		return fmt.Sprintf("%T", v)
	}
}

// printLoadTable prints each server's median run and its ratios to the
// baseline's.
func printLoadTable(w io.Writer, names []string, runs []loadRun) {
	median := map[string]loadRun{}
	for _, name := range names {
		var rs []loadRun
		for _, r := range runs {
			if r.server == name {
				rs = append(rs, r)
			}
		}
		slices.SortFunc(rs, func(a, b loadRun) int {
			switch {
			case a.wrk.RPS() < b.wrk.RPS():
				return -1
			case a.wrk.RPS() > b.wrk.RPS():
				return 1
			}
			return 0
		})
		median[name] = rs[len(rs)/2]
	}
	base, haveBase := median["baseline"]
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "server\treq/s\tp50\tp99\terrors\treq/s vs baseline\tp99 vs baseline\tserver CPU/req\tPostgreSQL CPU/req\twrk CPU/req\tload avg before")
	for _, name := range names {
		r := median[name]
		ratio := func(a, b float64) string {
			if !haveBase || b == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx", a/b)
		}
		perReq := func(d time.Duration) string {
			if r.wrk.Requests == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(r.wrk.Requests))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%.2f\n", loadServerTitle(name),
			r.wrk.RPS(), us(r.wrk.P50US), us(r.wrk.P99US), r.wrk.Errors(),
			ratio(r.wrk.RPS(), base.wrk.RPS()), ratio(r.wrk.P99US, base.wrk.P99US),
			perReq(r.serverCPU), perReq(r.pgCPU), perReq(r.wrk.CPU), r.load1)
	}
	tw.Flush()
}

// us formats a latency given in microseconds.
func us(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}
