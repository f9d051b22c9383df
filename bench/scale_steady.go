package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/config"
)

// steadyMinWarmup is the fewest warm-up requests of a steady row, so
// that a row over few tenants warms up too.
const steadyMinWarmup = 2000

// steadyPoll is how often the steady phase reads its backends' CPU
// during the measured window.
const steadyPoll = 100 * time.Millisecond

// steadyRow is one measured row of the steady phase: k tenants served
// with bound as database.max_schemas_per_conn.
type steadyRow struct {
	bound                  string // "": strictmt's default
	k, warmup              int
	load                   loadResult
	pgCPU, serverCPU       time.Duration // over the measured window
	backends               int
	backendSum, backendMax int64 // kB of RssAnon, after the window
	conns                  connMetrics
	retired                int64 // during the window
}

// steady serves each row's first k tenants from a fresh child strictmt,
// once for every -bounds value: a warm-up of two rounds over the k
// tenants, then -steady-requests measured requests in a shuffled order.
func (s *scale) steady(ctx context.Context) error {
	if err := s.seed(ctx); err != nil {
		return err
	}
	if err := s.build(ctx); err != nil {
		return err
	}
	var rows []steadyRow
	for _, bound := range s.bounds {
		for _, k := range s.steadyTenants {
			progressf("steady state over %d tenants, database.max_schemas_per_conn %s", k, boundName(bound))
			r, err := s.steadyRun(ctx, bound, k)
			if err != nil {
				return fmt.Errorf("steady state over %d tenants: %w", k, err)
			}
			rows = append(rows, r)
		}
	}
	s.printSteady(rows)
	return nil
}

// steadyRun measures one row from a fresh child strictmt.
func (s *scale) steadyRun(ctx context.Context, bound string, k int) (steadyRow, error) {
	r := steadyRow{bound: bound, k: k, warmup: max(2*k, steadyMinWarmup)}
	metricsAddr, err := freeAddr()
	if err != nil {
		return r, err
	}
	env := []string{"STRICTMT_METRICS_ENABLED=true", "STRICTMT_METRICS_ADDR=" + metricsAddr}
	if bound != "" {
		env = append(env, "STRICTMT_DATABASE_MAX_SCHEMAS_PER_CONN="+bound)
	}
	env = append(env, s.childEnv...)
	c, err := s.startChild(ctx, app.DefaultQueryExecMode.String(), env...)
	if err != nil {
		return r, err
	}
	defer c.stop()
	do := func(host, token string) (int, error) { return c.list(ctx, host, token) }
	if _, err := s.load(do, r.warmup, roundRobin(k)); err != nil {
		return r, err
	}

	metricsURL := "http://" + metricsAddr + "/metrics"
	m0, err := scrapeConnMetrics(ctx, c.client, metricsURL)
	if err != nil {
		return r, err
	}
	cpu := &backendCPU{s: s, last: map[int]time.Duration{}}
	if err := cpu.poll(ctx); err != nil {
		return r, err
	}
	cpu.start = maps.Clone(cpu.last)
	server0 := procCPU(c.pid)
	stop, polled := cpu.follow(ctx)
	order := shuffled(k, s.steadyRequests)
	r.load, err = s.load(do, len(order), func(i int) int { return order[i] })
	stop()
	if err == nil {
		err = <-polled
	}
	if err == nil {
		err = cpu.poll(ctx)
	}
	if err != nil {
		return r, err
	}
	r.serverCPU, r.pgCPU = procCPU(c.pid)-server0, cpu.used()

	if r.backends, r.backendSum, r.backendMax, err = s.backendMemory(ctx); err != nil {
		return r, err
	}
	if r.conns, err = scrapeConnMetrics(ctx, c.client, metricsURL); err != nil {
		return r, err
	}
	r.retired = r.conns.retired - m0.retired
	return r, nil
}

// shuffled returns total tenant indexes, each of 0 to k-1 total/k times
// (the first total%k once more), in an order fixed by k and total.
func shuffled(k, total int) []int {
	order := make([]int, total)
	for i := range order {
		order[i] = i % k
	}
	rng := rand.New(rand.NewPCG(uint64(k), uint64(total)))
	rng.Shuffle(total, func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// backendCPU follows the CPU time of the child strictmt's PostgreSQL
// backends through a window in which some of them end (retired
// connections) and others start.
type backendCPU struct {
	s     *scale
	mu    sync.Mutex
	start map[int]time.Duration // by pid, at the window's start
	last  map[int]time.Duration // by pid, when last seen
}

// poll reads the CPU time of the child's backends now, and of those seen
// before that have not ended.
func (b *backendCPU) poll(ctx context.Context) error {
	pids, err := b.s.childBackends(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for pid := range b.last {
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if _, cpu, _, ok := procStat(pid); ok {
			b.last[pid] = cpu
		}
	}
	return nil
}

// follow polls every steadyPoll until stop is called; polled then yields
// the first error.
func (b *backendCPU) follow(ctx context.Context) (stop func(), polled <-chan error) {
	done, errc := make(chan struct{}), make(chan error, 1)
	go func() {
		t := time.NewTicker(steadyPoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				errc <- nil
				return
			case <-t.C:
				if err := b.poll(ctx); err != nil {
					errc <- err
					<-done
					return
				}
			}
		}
	}()
	return func() { close(done) }, errc
}

// used returns the CPU time the backends used since the window's start:
// a backend started since counts from zero, one that ended counts up to
// its last sample.
func (b *backendCPU) used() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sum time.Duration
	for pid, cpu := range b.last {
		sum += cpu - b.start[pid]
	}
	return sum
}

// connMetrics is what a child strictmt's /metrics says of its tenant
// connections.
type connMetrics struct {
	retired    int64 // strictmt_tenant_connections_retired_total
	maxSchemas int64 // the largest strictmt_tenant_connection_schemas
	sumSchemas int64 // their sum: schemas cached, counting each backend's copy
	hasSchemas bool  // whether that gauge is served at all
}

// scrapeConnMetrics reads the tenant connections' series from the
// Prometheus text at url.
func scrapeConnMetrics(ctx context.Context, client *http.Client, url string) (connMetrics, error) {
	var m connMetrics
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return m, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			continue
		}
		switch name {
		case "strictmt_tenant_connections_retired_total":
			m.retired = int64(v)
		case "strictmt_tenant_connection_schemas":
			m.hasSchemas = true
			m.maxSchemas = max(m.maxSchemas, int64(v))
			m.sumSchemas += int64(v)
		}
	}
	return m, sc.Err()
}

// boundName says which database.max_schemas_per_conn bound serves.
func boundName(bound string) string {
	switch bound {
	case "", "0":
		return strconv.Itoa(config.Default().SchemasPerConn()) + ", the default"
	case "-1":
		return "-1: no bound"
	}
	return bound
}

// printSteady prints the steady phase's table.
func (s *scale) printSteady(rows []steadyRow) {
	// The reference row: 1,000 tenants, or the largest row below that.
	ref := s.steadyTenants[0]
	for _, k := range s.steadyTenants {
		if k <= 1000 {
			ref = k
		}
	}
	cfg := config.Default()
	s.printf("#### Steady state: serving 1 to %d tenants with the same clients\n\n", slices.Max(s.steadyTenants))
	s.printf("`GET /api/todos/` (a page of 5 todos), each tenant on its own host with its token, %d concurrent clients, against a fresh `strictmt serve` child process for each row (query mode %s, default pool of %d connections in %d affinity groups, metrics on). "+
		"Warm-up first: every one of the row's first *k* tenants twice, tenant after tenant (at least %s requests). "+
		"Then the measured window: %s requests spread evenly over the *k* tenants in a shuffled order fixed by *k* (not the warm-up's order, so a tenant's requests come at random distances). "+
		"Over that window: req/s and latency; PostgreSQL CPU per request, from /proc/PID/stat (10 ms ticks) of every backend of the child (tenant connections and catalog pool), read every %d ms, so a backend that ends in the window (a retired connection) counts up to its last reading and one that starts counts from zero; strictmt CPU per request, of the child process. "+
		"After it: the backends, their private memory (`RssAnon`), and from the child's `/metrics` the most distinct schemas a tenant connection's backend has served (`strictmt_tenant_connection_schemas`, n/a where the child does not serve it), their sum over the connections divided by *k* (backends caching each schema, on average) and the connections retired in the window (`strictmt_tenant_connections_retired_total`).\n\n",
		s.clients, app.DefaultQueryExecMode, cfg.Database.MaxOpenConns, cfg.AffinityGroupCount(), thousands(steadyMinWarmup), thousands(s.steadyRequests), steadyPoll.Milliseconds())
	s.printf("| max schemas per conn | tenants served | req/s | req/s vs. %s tenants | p50 | p99 | PostgreSQL CPU per request | strictmt CPU per request | PG backends | backend memory, total | backend memory, largest | schemas per backend, max | backends per schema | retirements |\n", thousands(ref))
	s.printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		rps := float64(r.load.n) / r.load.elapsed.Seconds()
		ratio := "n/a"
		for _, o := range rows {
			if o.bound == r.bound && o.k == ref {
				ratio = fmt.Sprintf("%.2fx", rps/(float64(o.load.n)/o.load.elapsed.Seconds()))
			}
		}
		schemas, copies := "n/a", "n/a"
		if r.conns.hasSchemas {
			schemas = strconv.FormatInt(r.conns.maxSchemas, 10)
			copies = fmt.Sprintf("%.2f", float64(r.conns.sumSchemas)/float64(r.k))
		}
		perReq := func(d time.Duration) string { return us(float64(d.Microseconds()) / float64(r.load.n)) }
		s.printf("| %s | %s | %.0f | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %d |\n", boundName(r.bound), thousands(r.k), rps, ratio,
			ms(r.load.p50), ms(r.load.p99), perReq(r.pgCPU), perReq(r.serverCPU), r.backends, mb(r.backendSum), mb(r.backendMax), schemas, copies, r.retired)
	}
	s.printf("\n")
}

// thousands formats n with commas between thousands.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
