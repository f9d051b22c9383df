package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/embedpg"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// TestDatabaseRestartUnderLoad stops PostgreSQL under load and starts it
// again on the same data directory and port, without restarting the app:
// while it is down /readyz and the API answer 503 JSON at once (never a
// 500, a panic or a hang past the request timeout); once it is back,
// requests succeed again within seconds, on fresh connections, and the
// catalog listener has reconnected.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	execSQL(t, srv.URL("postgres"), "CREATE DATABASE strictmt")
	dbURL := srv.URL("strictmt")
	cfg := testConfig(t, dbURL)
	// Only catalog notifications refresh the resolver's cache now.
	cfg.Tenancy.CacheTTL = time.Hour
	ra := serveApp(t, cfg)
	timeout := cfg.HTTP.RequestTimeout
	// A request that is still unanswered past this has hung.
	maxDur := timeout + time.Second
	c := newClient(ra.URL, timeout+5*time.Second)

	const hostX, hostY = "x.faults.localhost", "y.faults.localhost"
	ra.createTenant(t, "x", hostX)
	token := createUser(t, dbURL, ra.App.Tokens, "x", "alice")
	for i := range 3 {
		c.createTodo(t, hostX, token, fmt.Sprintf("todo %d", i))
	}
	c.mustDo(t, "GET", "127.0.0.1", "/readyz", "", nil, http.StatusOK)
	// Cache a miss for hostY; the cache keeps it for an hour unless a
	// notification drops it.
	c.mustDo(t, "GET", hostY, "/api/", "", nil, http.StatusNotFound)

	loadCtx, stopLoad := context.WithTimeout(context.Background(), time.Minute)
	defer stopLoad()
	loaded := make(chan []result, 1)
	go func() {
		loaded <- load(loadCtx, c, 4, 5000, 5*time.Millisecond, func(int, int) (string, string, string, string, any) {
			return "GET", hostX, "/api/todos/", token, nil
		})
	}()
	time.Sleep(300 * time.Millisecond)

	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Stop(stopCtx); err != nil {
		stopLoad()
		<-loaded
		t.Fatalf("stopping PostgreSQL: %v", err)
	}
	stopped := time.Now()

	t.Run("ReadyzUnavailable", func(t *testing.T) {
		r := c.do(context.Background(), "GET", "127.0.0.1", "/readyz", "", nil)
		if r.Err != nil || r.Status != http.StatusServiceUnavailable {
			t.Fatalf("want 503: %v", r)
		}
		if err := detailError(r); err != nil {
			t.Errorf("%v: %v", r, err)
		}
		if r.Dur > maxDur {
			t.Errorf("/readyz took %v, more than %v", r.Dur, maxDur)
		}
	})

	// Keep the database down under load for a while.
	time.Sleep(1500 * time.Millisecond)
	restarting := time.Now()
	srv2, err := embedpg.Start(stopCtx, embedpg.Options{DataDir: srv.DataDir(), Port: srv.Port(), Fast: true})
	if err != nil {
		stopLoad()
		<-loaded
		t.Fatalf("restarting PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv2.Stop(ctx); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	restarted := time.Now()

	if err := eventually(5*time.Second, 50*time.Millisecond, func() error {
		r := c.do(context.Background(), "GET", "127.0.0.1", "/readyz", "", nil)
		if r.Err != nil || r.Status != http.StatusOK {
			return fmt.Errorf("%v", r)
		}
		return nil
	}); err != nil {
		t.Errorf("/readyz after the restart: %v", err)
	}
	var recovered time.Time
	if err := eventually(5*time.Second, 50*time.Millisecond, func() error {
		r := c.do(context.Background(), "GET", hostX, "/api/todos/", token, nil)
		if r.Err != nil || r.Status != http.StatusOK {
			return fmt.Errorf("%v", r)
		}
		recovered = r.Start
		return nil
	}); err != nil {
		stopLoad()
		<-loaded
		t.Fatalf("the API did not recover within 5s of the restart: %v", err)
	}
	t.Logf("database down for %v; API recovered %v after the restart finished",
		restarted.Sub(stopped).Round(time.Millisecond), recovered.Sub(restarted).Round(time.Millisecond))
	// Every pooled connection is used several times over under load.
	time.Sleep(2 * time.Second)
	stopLoad()
	results := <-loaded

	var before, down, after int
	var slowestDown time.Duration
	for _, r := range results {
		switch {
		case r.Err != nil:
			t.Errorf("transport error (hang or dropped connection): %v", r)
			continue
		case r.Status != http.StatusOK && r.Status != http.StatusServiceUnavailable:
			t.Errorf("want 200 or 503: %v", r)
		case r.Status == http.StatusServiceUnavailable:
			if err := detailError(r); err != nil {
				t.Errorf("%v: %v", r, err)
			}
		}
		if r.Dur > maxDur {
			t.Errorf("took more than %v: %v", maxDur, r)
		}
		switch {
		case r.Start.Before(stopped):
		case r.Start.Before(restarting):
			down++
			slowestDown = max(slowestDown, r.Dur)
			if r.Status != http.StatusServiceUnavailable {
				t.Errorf("database down, want 503: %v", r)
			}
		case !r.Start.Before(recovered):
			after++
			// Dead connections must not reach a request once the pool
			// has recovered.
			if r.Status != http.StatusOK {
				t.Errorf("after the recovery, want 200: %v", r)
			}
		}
		if r.Start.Before(stopped) && r.Start.Add(r.Dur).Before(stopped) {
			before++
		}
	}
	t.Logf("%d requests: %d before the stop, %d while down (slowest answered in %v), %d after the recovery",
		len(results), before, down, slowestDown.Round(time.Millisecond), after)
	if before == 0 || down == 0 || after == 0 {
		t.Errorf("want requests before the stop, while down and after the recovery; got %d, %d, %d", before, down, after)
	}
	if n := ra.Log.panics.Load(); n > 0 {
		t.Errorf("%d panics logged", n)
	}
	if stats := ra.App.SQL.Stats(); stats.OpenConnections > cfg.Database.MaxOpenConns {
		t.Errorf("%d open connections, more than the %d allowed", stats.OpenConnections, cfg.Database.MaxOpenConns)
	}

	t.Run("DataIntact", func(t *testing.T) {
		body := c.mustDo(t, "GET", hostX, "/api/todos/", token, nil, http.StatusOK)
		if body["count"] != float64(3) {
			t.Errorf("count = %v, want 3", body["count"])
		}
	})

	parent := t
	t.Run("QuickRestartIdlePool", func(t *testing.T) {
		// Fill the pool with connections used a moment ago, restart
		// PostgreSQL at once, and use them again: the dead connections
		// must be replaced, not handed to requests.
		burst := func() []result { return burst(c, cfg.Database.MaxOpenConns, hostX, token) }
		for _, r := range burst() {
			if r.Err != nil || r.Status != http.StatusOK {
				t.Fatalf("before the restart: %v", r)
			}
		}
		t.Logf("pool before the restart: %+v", ra.App.SQL.Stats())
		restartStart := time.Now()
		if err := srv2.Stop(stopCtx); err != nil {
			t.Fatal(err)
		}
		srv3, err := embedpg.Start(stopCtx, embedpg.Options{DataDir: srv.DataDir(), Port: srv.Port(), Fast: true})
		if err != nil {
			t.Fatalf("restarting PostgreSQL: %v", err)
		}
		parent.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := srv3.Stop(ctx); err != nil {
				parent.Errorf("stopping PostgreSQL: %v", err)
			}
		})
		t.Logf("restarted in %v", time.Since(restartStart).Round(time.Millisecond))
		for i := range 3 {
			for _, r := range burst() {
				if r.Err != nil || r.Status != http.StatusOK {
					t.Errorf("burst %d after the restart: %v", i, r)
				}
			}
		}
	})

	t.Run("CatalogListenerReconnected", func(t *testing.T) {
		// The listener retries with backoff; wait until it listens again.
		if err := eventually(20*time.Second, 100*time.Millisecond, func() error {
			n := queryInt(t, dbURL, "SELECT count(*) FROM pg_stat_activity WHERE query = $1", "LISTEN "+tenants.CatalogChannel)
			if n == 0 {
				return fmt.Errorf("no connection listens on %s", tenants.CatalogChannel)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Cache the miss again after the reconnection, then create the
		// tenant from another process's point of view: only the
		// notification can tell this app.
		c.mustDo(t, "GET", hostY, "/api/", "", nil, http.StatusNotFound)
		other := otherService(t, dbURL)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := other.CreateTenant(ctx, tenants.CreateParams{Name: "Tenant y", SchemaName: "y", Domains: []string{hostY}}); err != nil {
			t.Fatal(err)
		}
		if err := eventually(5*time.Second, 50*time.Millisecond, func() error {
			r := c.do(context.Background(), "GET", hostY, "/api/", "", nil)
			if r.Err != nil || r.Status != http.StatusOK {
				return fmt.Errorf("%v", r)
			}
			return nil
		}); err != nil {
			t.Errorf("the new tenant is not served: %v", err)
		}
	})
}

// otherService returns a tenant service on its own pool, as another
// strictmt process would have: its changes reach the app only through
// catalog notifications.
func otherService(t *testing.T, dbURL string) *tenants.Service {
	t.Helper()
	db, err := gorm.Open(postgres.Open(dbURL), &gorm.Config{Logger: logger.Discard, TranslateError: true})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	svc, err := tenants.NewService(context.Background(), db, []string{"localhost", "127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// burst sends n concurrent GET /api/todos/ and returns the results.
func burst(c *client, n int, host, token string) []result {
	out := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = c.do(context.Background(), "GET", host, "/api/todos/", token, nil) })
	}
	wg.Wait()
	return out
}

// TestDeadPooledConnections kills every backend of the app's pool (as an
// administrator, a failover or an idle-session killer would) and uses the
// pool again at once: requests must get live connections, not the dead
// ones, while the database is up.
func TestDeadPooledConnections(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	cfg := testConfig(t, dbURL)
	ra := serveApp(t, cfg)
	c := newClient(ra.URL, cfg.HTTP.RequestTimeout+5*time.Second)
	const host = "x.faults.localhost"
	ra.createTenant(t, "x", host)
	token := createUser(t, dbURL, ra.App.Tokens, "x", "alice")
	c.createTodo(t, host, token, "todo")

	for round := range 3 {
		// Use every pooled connection at least twice first: the driver
		// checks a connection only when it has been idle for a second.
		for range 3 {
			for _, r := range burst(c, cfg.Database.MaxOpenConns, host, token) {
				if r.Err != nil || r.Status != http.StatusOK {
					t.Fatalf("round %d, before killing the backends: %v", round, r)
				}
			}
		}
		killed := queryInt(t, dbURL, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "+
			"WHERE datname = current_database() AND pid <> pg_backend_pid()")
		for _, r := range burst(c, cfg.Database.MaxOpenConns, host, token) {
			if r.Err != nil || r.Status != http.StatusOK {
				t.Errorf("round %d, %d backends killed: %v", round, killed, r)
			}
		}
	}
	if n := ra.Log.panics.Load(); n > 0 {
		t.Errorf("%d panics logged", n)
	}
}
