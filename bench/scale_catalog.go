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
	get := func(i int) error {
		code, err := c.list(ctx, s.schemas[i]+".scale.localhost", s.tokens[i])
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("GET /api/todos/ on %s: status %d", s.schemas[i], code)
		}
		return err
	}
	// Tenant 0 opens the connection. Every backend of the child is
	// counted: the tenant connection, and the catalog pool's, which
	// resolves each new host once.
	if err := get(0); err != nil {
		return err
	}
	pids, err := s.childBackends(ctx)
	if err != nil {
		return err
	}
	sum := func() (cpu time.Duration, anon int64, err error) {
		for _, pid := range pids {
			kb, err := procStatus("/proc/"+strconv.Itoa(pid)+"/status", "RssAnon")
			if err != nil {
				return 0, 0, fmt.Errorf("catalog: backend %d ended during the run", pid)
			}
			cpu += procCPU(pid)
			anon += kb
		}
		return cpu, anon, nil
	}
	run := func(name string, tenant func(j int) int) (catalogPass, error) {
		p := catalogPass{name: name, n: k}
		pg0, rss0, err := sum()
		if err != nil {
			return p, err
		}
		srv0, t0 := procCPU(c.pid), time.Now()
		for j := range k {
			if err := get(tenant(j)); err != nil {
				return p, err
			}
		}
		p.elapsed, p.server = time.Since(t0), procCPU(c.pid)-srv0
		pg1, rss1, err := sum()
		p.pg, p.backendGrow = pg1-pg0, rss1-rss0
		if now, err2 := s.childBackends(ctx); err == nil && (err2 != nil || !slices.Equal(now, pids)) {
			err = fmt.Errorf("catalog: the child's backends changed during the run (%v, then %v)", pids, now)
		}
		return p, err
	}
	var passes []catalogPass
	for _, step := range []struct {
		name   string
		tenant func(j int) int
	}{
		{fmt.Sprintf("%d tenants, each one's first request on this backend", k), func(j int) int { return 1 + j }},
		{fmt.Sprintf("the same %d tenants again", k), func(j int) int { return 1 + j }},
		{fmt.Sprintf("one tenant, %d times", k), func(int) int { return 0 }},
	} {
		p, err := run(step.name, step.tenant)
		if err != nil {
			return err
		}
		passes = append(passes, p)
	}

	s.printf("#### One backend: what a schema new to it costs\n\n")
	s.printf("`GET /api/todos/` (a page of 5 todos) from one client to a child strictmt with one tenant connection (`database.max_open_conns` 1, query mode %s), so that one PostgreSQL backend serves every tenant request. CPU per request from /proc/PID/stat (10 ms ticks) of the child's PostgreSQL backends (that one and the catalog pool's, which resolves each new host once) and of the strictmt process; memory is the private memory (`RssAnon`) of those backends, which a backend keeps until it ends. %d backends.\n\n", app.DefaultQueryExecMode, len(pids))
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
	return nil
}
