package handlers_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/internal/apptest"
)

func TestZZFootprintIdempotency(t *testing.T) {
	if os.Getenv("FOOTPRINT") == "" {
		t.Skip()
	}
	env := apptest.New(t)
	const n = 100
	for i := 0; i <= n; i++ {
		env.CreateTenant(t, fmt.Sprintf("fp_%03d", i), fmt.Sprintf("fp%03d.localhost", i))
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env.Config.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	mem := func() (int64, int64) {
		var total, used int64
		if err := conn.QueryRow(ctx, `SELECT sum(total_bytes), sum(total_bytes - free_bytes) FROM pg_backend_memory_contexts`).Scan(&total, &used); err != nil {
			t.Fatal(err)
		}
		return total, used
	}
	serve := func(i int, keyed bool) {
		s := fmt.Sprintf("fp_%03d", i)
		var role string
		if err := conn.QueryRow(ctx, `SELECT role_name FROM public.clients WHERE schema_name = $1`, s).Scan(&role); err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true)`, role); err != nil {
			t.Fatal(err)
		}
		if keyed {
			var got bool
			if err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended($1, 0))`, s+":1:k").Scan(&got); err != nil {
				t.Fatal(err)
			}
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT fingerprint, status, content_type, body FROM %q.idempotency_keys WHERE user_id = $1 AND key = $2 AND expires_at > now()`, s), 1, "k")
			if err != nil {
				t.Fatal(err)
			}
			rows.Close()
			if _, err := tx.Exec(ctx, fmt.Sprintf(`WITH pruned AS (
		DELETE FROM %[1]q.idempotency_keys WHERE (user_id, key) IN (SELECT user_id, key FROM %[1]q.idempotency_keys WHERE expires_at < now() AND NOT (user_id = $1 AND key = $2) ORDER BY expires_at LIMIT 2)
	)
	INSERT INTO %[1]q.idempotency_keys AS k (user_id, key, fingerprint, status, content_type, body, expires_at) VALUES ($1, $2, '\x00', 201, 'application/json', '{}', now() + interval '1 day')
	ON CONFLICT (user_id, key) DO UPDATE SET body = EXCLUDED.body`, s), 1, "k"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, keyed := range []bool{false, true} {
		serve(0, keyed)
		serve(0, keyed)
	}
	t0, u0 := mem()
	for i := 1; i <= n; i++ {
		serve(i, true)
	}
	t1, u1 := mem()
	t.Logf("keyed statements: %.1f KB total, %.1f KB used per schema", float64(t1-t0)/n/1024, float64(u1-u0)/n/1024)
}
