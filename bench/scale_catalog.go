package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/strictmt/strictmt/app"
)

// catalogPass is what one backend spent on a sequence of requests.
type catalogPass struct {
	name        string
	n           int
	pg, server  time.Duration // CPU of the backend, of the strictmt process
	elapsed     time.Duration
	backendGrow int64 // kB of RssAnon the backend grew by
}

// catalog measures what a backend's catalog caches cost: one client sends
// GET /api/todos/ to a child strictmt with a single tenant connection, so
// that one PostgreSQL backend serves every request: first to each of k
// tenants once (each request is the backend's first for its schema),
// then to the same tenants again, then to one tenant k times. The
// difference between the first and the second pass is what a schema new
// to a backend costs it, in CPU and in memory that it keeps for as long as
// it lives.
func (s *scale) catalog(ctx context.Context, k int) error {
	if err := s.seed(ctx); err != nil {
		return err
	}
	if err := s.build(ctx); err != nil {
		return err
	}
	k = min(k, len(s.schemas)-1)
	if k < 1 {
		return fmt.Errorf("catalog: needs at least 2 tenants")
	}
	progressf("one backend: %d tenants' first requests, again, and one tenant %d times", k, k)
	c, err := s.startChild(ctx, app.DefaultQueryExecMode.String(),
		"STRICTMT_DATABASE_MAX_OPEN_CONNS=1", "STRICTMT_DATABASE_AFFINITY_GROUPS=1")
	if err != nil {
		return err
	}
	defer c.stop()
	p := &catalogProbe{s: s, c: c, k: k}
	// Tenant 0 opens the connection. Every backend of the child is
	// counted: the tenant connection, and the catalog pool's, which
	// resolves each new host once.
	if err := p.get(ctx, 0); err != nil {
		return err
	}
	if p.pids, err = s.childBackends(ctx); err != nil {
		return err
	}
	passes, err := p.passes(ctx)
	if err != nil {
		return err
	}
	s.printCatalog(passes, k, len(p.pids))
	return nil
}

// catalogProbe sends the catalog phase's requests to one child strictmt
// and watches its PostgreSQL backends.
type catalogProbe struct {
	s    *scale
	c    *child
	k    int   // requests per pass
	pids []int // the child's backends, found after its first request
}

// get sends GET /api/todos/ to the child as tenant i.
func (p *catalogProbe) get(ctx context.Context, i int) error {
	code, err := p.c.list(ctx, p.s.schemas[i]+".scale.localhost", p.s.tokens[i])
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET /api/todos/ on %s: status %d", p.s.schemas[i], code)
	}
	return err
}

// sum returns the CPU and the private memory (RssAnon, in kB) of the
// child's backends together.
func (p *catalogProbe) sum() (cpu time.Duration, anon int64, err error) {
	for _, pid := range p.pids {
		kb, err := procStatus("/proc/"+strconv.Itoa(pid)+"/status", "RssAnon")
		if err != nil {
			return 0, 0, fmt.Errorf("catalog: backend %d ended during the run", pid)
		}
		cpu += procCPU(pid)
		anon += kb
	}
	return cpu, anon, nil
}

// passes runs the three passes: k tenants' first requests, the same
// tenants again, and one tenant k times.
func (p *catalogProbe) passes(ctx context.Context) ([]catalogPass, error) {
	var passes []catalogPass
	for _, step := range []struct {
		name   string
		tenant func(j int) int
	}{
		{fmt.Sprintf("%d tenants, each one's first request on this backend", p.k), func(j int) int { return 1 + j }},
		{fmt.Sprintf("the same %d tenants again", p.k), func(j int) int { return 1 + j }},
		{fmt.Sprintf("one tenant, %d times", p.k), func(int) int { return 0 }},
	} {
		pass, err := p.pass(ctx, step.name, step.tenant)
		if err != nil {
			return nil, err
		}
		passes = append(passes, pass)
	}
	return passes, nil
}

// pass sends k requests, the jth as tenant tenant(j), and returns what the
// child and its backends spent on them. It fails if the child's backends
// changed meanwhile.
func (p *catalogProbe) pass(ctx context.Context, name string, tenant func(j int) int) (catalogPass, error) {
	r := catalogPass{name: name, n: p.k}
	pg0, rss0, err := p.sum()
	if err != nil {
		return r, err
	}
	srv0, t0 := procCPU(p.c.pid), time.Now()
	for j := range p.k {
		if err := p.get(ctx, tenant(j)); err != nil {
			return r, err
		}
	}
	r.elapsed, r.server = time.Since(t0), procCPU(p.c.pid)-srv0
	pg1, rss1, err := p.sum()
	r.pg, r.backendGrow = pg1-pg0, rss1-rss0
	if now, err2 := p.s.childBackends(ctx); err == nil && (err2 != nil || !slices.Equal(now, p.pids)) {
		err = fmt.Errorf("catalog: the child's backends changed during the run (%v, then %v)", p.pids, now)
	}
	return r, err
}

// printCatalog prints the catalog phase's table of passes, k requests
// each, measured on nBackends backends.
func (s *scale) printCatalog(passes []catalogPass, k, nBackends int) {
	s.printf("#### One backend: what a schema new to it costs\n\n")
	s.printf("`GET /api/todos/` (a page of 5 todos) from one client to a child strictmt with one tenant connection (`database.max_open_conns` 1, query mode %s), so that one PostgreSQL backend serves every tenant request. CPU per request from /proc/PID/stat (10 ms ticks) of the child's PostgreSQL backends (that one and the catalog pool's, which resolves each new host once) and of the strictmt process; memory is the private memory (`RssAnon`) of those backends, which a backend keeps until it ends. %d backends.\n\n", app.DefaultQueryExecMode, nBackends)
	s.printf("| requests | PostgreSQL CPU per request | strictmt CPU per request | time per request | backends' memory added |\n")
	s.printf("|---|---:|---:|---:|---:|\n")
	for _, p := range passes {
		s.printf("| %s | %s | %s | %s | %s (%.1f KB a request) |\n", p.name, us(float64(p.pg.Microseconds())/float64(p.n)),
			us(float64(p.server.Microseconds())/float64(p.n)), us(float64(p.elapsed.Microseconds())/float64(p.n)),
			mb(p.backendGrow), float64(p.backendGrow)/float64(p.n))
	}
	first, again := passes[0], passes[1]
	if again.pg > 0 {
		s.printf("\nA schema's first request costs the backend %.1fx the PostgreSQL CPU of a request to a schema it has served (%s more) and %.1f KB it keeps.\n\n",
			float64(first.pg)/float64(again.pg), us(float64((first.pg-again.pg).Microseconds())/float64(k)), float64(first.backendGrow-again.backendGrow)/float64(k))
	}
}
