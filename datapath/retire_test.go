package datapath

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/internal/pgtest"
)

// TestConnectionRetiredPastMaxSchemas serves four schemas in turn on a
// pool of one connection: with MaxSchemasPerConn 2 the connection is
// closed after the scope that made it serve a third schema (its write
// committed first) and the next scope gets a new backend; with no bound
// one backend serves them all.
func TestConnectionRetiredPastMaxSchemas(t *testing.T) {
	t.Parallel()
	pool := openPool(t, pgtest.NewDatabase(t), nil)
	pool.SetMaxOpenConns(1)
	for i := range 4 {
		if _, err := pool.Exec(fmt.Sprintf("CREATE SCHEMA s%d; CREATE TABLE s%d.items (n int)", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	// serve writes a row in schema i in a scope of its own and returns
	// the backend that served it.
	serve := func(t *testing.T, st *Store, i int) int {
		t.Helper()
		scope := NewScope(st.NewTenant(Tenant{ID: int64(i + 1), Schema: fmt.Sprintf("s%d", i)}), false)
		sctx := NewContextWithScope(ctx, scope)
		var pid int
		err := Run(sctx,
			Stmt{SQL: fmt.Sprintf("INSERT INTO s%d.items VALUES (1)", i)},
			Stmt{SQL: "SELECT pg_backend_pid()", Row: func(r pgx.Row) error { return r.Scan(&pid) }})
		if err == nil {
			err = scope.End()
		}
		if err != nil {
			t.Fatalf("schema s%d: %v", i, err)
		}
		return pid
	}

	t.Run("Bound", func(t *testing.T) {
		st := NewStore(pool, StoreOptions{MaxSchemasPerConn: 2})
		var pids []int
		for i := range 4 {
			pids = append(pids, serve(t, st, i))
		}
		if pids[0] != pids[1] || pids[1] != pids[2] {
			t.Fatalf("backends %v: the first three scopes should share the one connection", pids)
		}
		if pids[3] == pids[2] {
			t.Fatalf("backends %v: the connection that served a third schema was not retired", pids)
		}
		if n := st.Retired(); n != 1 {
			t.Fatalf("Retired() = %d, want 1", n)
		}
		for i := range 3 {
			var n int
			if err := pool.QueryRow(fmt.Sprintf("SELECT count(*) FROM s%d.items", i)).Scan(&n); err != nil || n < 1 {
				t.Fatalf("s%d: the write of a scope on a retired connection is missing (%d, %v)", i, n, err)
			}
		}
	})
	t.Run("NoBound", func(t *testing.T) {
		st := NewStore(pool, StoreOptions{})
		first := serve(t, st, 0)
		for i := 1; i < 4; i++ {
			if pid := serve(t, st, i); pid != first {
				t.Fatalf("schema s%d on backend %d, want %d: a connection was retired with no bound", i, pid, first)
			}
		}
		if n := st.Retired(); n != 0 {
			t.Fatalf("Retired() = %d with no bound", n)
		}
	})
}
