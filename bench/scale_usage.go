package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
)

// usageRuns is how many times the usage phase reads every tenant's usage.
const usageRuns = 5

// usageExactSQL sums pg_total_relation_size over the tables of every
// tenant, a row per tenant: the exact bytes that the usage read of every
// tenant does not compute, measured for comparison.
const usageExactSQL = `
SELECT count(*), sum(b)::bigint FROM (
	SELECT c.schema_name, sum(pg_catalog.pg_total_relation_size(r.oid)) AS b
	FROM public.clients c
	JOIN pg_catalog.pg_namespace n ON n.nspname = c.schema_name
	JOIN pg_catalog.pg_class r ON r.relnamespace = n.oid AND r.relkind IN ('r', 'p')
	GROUP BY c.schema_name) s`

// usage times the usage reads at the run's tenant count, every tenant
// holding one user and five todos: every tenant's (tenants.Service
// UsageAll, one catalog query), the first on a connection of its own as
// an operator's first call finds it, then again; the admin API's tenant
// list, a page by schema name and a page by bytes; one tenant's exact
// usage. Then, each on a new connection, the same catalog query and the
// exact sum of pg_total_relation_size over every tenant, with the memory
// the backend holds after each.
func (s *scale) usage(ctx context.Context) error {
	if err := s.seed(ctx); err != nil {
		return err
	}
	progressf("usage: reading the usage of %d tenants", s.n)
	// The service reads on the pool: empty it, so the first read opens a
	// backend whose catalog caches are cold.
	s.a.SQL.SetMaxIdleConns(0)
	s.a.SQL.SetMaxIdleConns(s.a.Config.Database.MaxIdleConns)
	var all []time.Duration
	var total, bytes int64
	for range usageRuns {
		t0 := time.Now()
		us, err := s.a.Tenants.UsageAll(ctx, 0, "bytes")
		if err != nil {
			return err
		}
		all = append(all, time.Since(t0))
		if len(us) != s.n {
			return fmt.Errorf("usage: %d tenants read, want %d", len(us), s.n)
		}
		total, bytes = int64(len(us)), 0
		for _, u := range us {
			bytes += u.Bytes
		}
	}
	type timed struct {
		name string
		d    time.Duration
	}
	var rows []timed
	for _, r := range []struct {
		name  string
		order []tenants.UsageKey
	}{
		{"the admin API's tenant list: a page of 50 by schema name, with their usage", nil},
		{"the admin API's tenant list: a page of 50 by bytes (`?ordering=-bytes`)", []tenants.UsageKey{{Field: "bytes", Desc: true}}},
	} {
		t0 := time.Now()
		list, n, err := s.a.Tenants.ListTenantsWithUsage(ctx, tenants.ListParams{Limit: 50}, r.order)
		if err != nil {
			return err
		}
		if len(list) != min(50, s.n) || n != int64(s.n) {
			return fmt.Errorf("usage: a page of %d of %d tenants", len(list), n)
		}
		rows = append(rows, timed{r.name, time.Since(t0)})
	}
	t0 := time.Now()
	if _, err := s.a.Tenants.Usage(ctx, s.schemas[len(s.schemas)/2]); err != nil {
		return err
	}
	rows = append(rows, timed{"one tenant, exact (`GET /admin/tenants/{schema}/usage/`): pg_total_relation_size and count(*)", time.Since(t0)})

	progressf("usage: the same query and the exact sizes, each on a new connection")
	est, err := s.usageOnNewConn(ctx, repository.UsageAllSQL, nil)
	if err != nil {
		return err
	}
	exact, err := s.usageOnNewConn(ctx, usageExactSQL)
	if err != nil {
		return err
	}

	s.printf("#### Usage read over %d tenants\n\n", s.n)
	s.printf("Every tenant holds one user and five todos. `UsageAll`: every tenant's usage in one catalog query (`repository.UsageAllSQL`: relpages and the statistics' live rows, JIT off), run %d times; the first on a new connection.\n\n", usageRuns)
	s.printf("| read | time |\n|---|---:|\n")
	for i, d := range all {
		s.printf("| `UsageAll`, run %d | %s |\n", i+1, ms(d))
	}
	s.printf("| `UsageAll`: median of %d | %s |\n", usageRuns, ms(percentile(all, 50)))
	for _, r := range rows {
		s.printf("| %s | %s |\n", r.name, ms(r.d))
	}
	s.printf("\nEach on a new connection, and what the backend holds after it (`pg_backend_memory_contexts`):\n\n")
	s.printf("| query | time | bytes of every tenant | backend memory after |\n|---|---:|---:|---:|\n")
	s.printf("| `repository.UsageAllSQL` (the usage read: the catalog's figures) | %s | %s | %s |\n", ms(est.d), mb(est.bytes/1024), mb(est.mem/1024))
	s.printf("| pg_total_relation_size of every table, summed (exact; not used) | %s | %s | %s |\n\n", ms2(exact.d), mb(exact.bytes/1024), mb(exact.mem/1024))
	if total != int64(s.n) || bytes != est.bytes {
		s.printf("(The service's last read counted %d tenants and %d bytes.)\n\n", total, bytes)
	}
	return nil
}

// usageProbe is one query's time, the bytes it summed and the memory of
// its backend after it.
type usageProbe struct {
	d          time.Duration
	bytes, mem int64
}

// usageOnNewConn runs sql (with JIT off, as the usage read runs) on a new
// connection and sums its bytes: the second column of every row for
// repository.UsageAllSQL, the second of its one row for usageExactSQL.
func (s *scale) usageOnNewConn(ctx context.Context, sql string, args ...any) (usageProbe, error) {
	var p usageProbe
	conn, err := pgx.Connect(ctx, s.db.URL)
	if err != nil {
		return p, err
	}
	defer conn.Close(ctx)
	t0 := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return p, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, repository.UsageJITOffSQL); err != nil {
		return p, err
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return p, err
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return p, err
		}
		if b, ok := vals[1].(int64); ok {
			p.bytes += b
		}
	}
	if err := rows.Err(); err != nil {
		return p, err
	}
	p.d = time.Since(t0)
	err = tx.QueryRow(ctx, "SELECT sum(total_bytes)::bigint FROM pg_catalog.pg_backend_memory_contexts").Scan(&p.mem)
	return p, err
}
