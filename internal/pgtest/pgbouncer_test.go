package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strictmt/strictmt/internal/pgtest"
)

// TestPgBouncerTransactionPooling checks that the pooler runs in front of
// the harness server in transaction pooling with the pool size asked for:
// two clients with one server connection share one backend, and session
// state set by one is seen by the other.
func TestPgBouncerTransactionPooling(t *testing.T) {
	direct := pgtest.NewDatabase(t)
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolSize: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pooled := b.URL(direct)
	if pooled == direct {
		t.Fatalf("pooled URL = direct URL %s", direct)
	}
	c1, err := pgx.Connect(ctx, pooled)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close(ctx)
	c2, err := pgx.Connect(ctx, pooled)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	var pid1, pid2 int
	var db string
	if err := c1.QueryRow(ctx, "SELECT pg_backend_pid(), current_database()").Scan(&pid1, &db); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Exec(ctx, "SET application_name = 'leaked'"); err != nil {
		t.Fatal(err)
	}
	var app string
	if err := c2.QueryRow(ctx, "SELECT pg_backend_pid(), current_setting('application_name')").Scan(&pid2, &app); err != nil {
		t.Fatal(err)
	}
	if pid1 != pid2 {
		t.Errorf("two clients on a pool of 1 reached backends %d and %d", pid1, pid2)
	}
	if app != "leaked" {
		t.Errorf("session state did not travel between clients (application_name %q): not transaction pooling", app)
	}
	if int(c1.PgConn().PID()) == pid1 {
		t.Errorf("the client's backend key data names the real backend %d: not a pooler", pid1)
	}
	servers, err := b.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mine []pgtest.ServerConn
	for _, s := range servers {
		if s.Database == db {
			mine = append(mine, s)
		}
	}
	if len(mine) != 1 || mine[0].RemotePID != pid1 {
		t.Fatalf("SHOW SERVERS for %s = %+v, want one connection to backend %d", db, mine, pid1)
	}
}
