package e2e_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/tenants"
)

// pooledConfig returns the test configuration on a fresh database reached
// through a new PgBouncer in transaction pooling with poolSize server
// connections, with database.direct_url set to the database itself.
func pooledConfig(t *testing.T, poolSize int) (config.Config, *pgtest.PgBouncer) {
	t.Helper()
	cfg := apptest.Config(t)
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolSize: poolSize})
	cfg.Database.DirectURL = cfg.Database.URL
	cfg.Database.URL = b.URL(cfg.Database.URL)
	return cfg, b
}

// TestPoolerWithoutDirectURLRefusesToStart: through a transaction pooler
// with no direct URL the program does not start with a silently stale
// host cache; it says what to set.
func TestPoolerWithoutDirectURLRefusesToStart(t *testing.T) {
	t.Parallel()
	cfg, _ := pooledConfig(t, 1)
	direct := cfg.Database.DirectURL
	cfg.Database.DirectURL = ""
	a, err := app.Open(context.Background(), cfg, apptest.Logger(t), app.MigrateOptions{Shared: true, Tenants: true})
	if err == nil {
		a.Close(context.Background())
		t.Fatal("app.Open through PgBouncer without database.direct_url succeeded")
	}
	for _, want := range []string{"pooler", "database.direct_url", "STRICTMT_DATABASE_DIRECT_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}

	for _, c := range []struct {
		url    string
		pooled bool
	}{{direct, false}, {cfg.Database.URL, true}} {
		db, err := sql.Open("pgx", c.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := app.DetectPooler(context.Background(), db)
		db.Close()
		if err != nil || got != c.pooled {
			t.Errorf("DetectPooler(%s) = %v, %v; want %v", c.url, got, err, c.pooled)
		}
	}
}

// TestQueryModesThroughPgBouncer shows which pgx query modes survive
// transaction pooling without PgBouncer's prepared-statement support
// (max_prepared_statements, PgBouncer 1.21+; Debian 12 ships 1.18): two
// clients share one server connection and take turns on the same query,
// outside transactions.
func TestQueryModesThroughPgBouncer(t *testing.T) {
	t.Parallel()
	direct := pgtest.NewDatabase(t)
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolSize: 1})
	for _, c := range []struct {
		mode string
		safe bool
	}{
		{"exec", true},            // strictmt's default: unnamed statement, one round trip
		{"simple_protocol", true}, // no statement at all
		// A named statement per connection, prepared on whichever
		// server connection the client had then.
		{"cache_statement", false},
	} {
		t.Run(c.mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			u := b.URL(direct) + "&default_query_exec_mode=" + c.mode
			var conns [2]*pgx.Conn
			for i := range conns {
				conn, err := pgx.Connect(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				conns[i] = conn
			}
			var firstErr error
			for i := range 20 {
				var n int
				err := conns[i%2].QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&n)
				if err == nil && n != i+1 {
					err = fmt.Errorf("got %d, want %d", n, i+1)
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
			}
			if c.safe && firstErr != nil {
				t.Fatalf("mode %s through PgBouncer: %v", c.mode, firstErr)
			}
			if !c.safe && firstErr == nil {
				t.Fatalf("mode %s worked through transaction pooling; the README says it does not", c.mode)
			}
			if firstErr != nil {
				t.Logf("mode %s through PgBouncer fails as documented: %v", c.mode, firstErr)
			}
		})
	}
}

// TestNoLeakThroughPgBouncer runs thousands of interleaved requests of two
// tenants and two users each, writes and reads, with requests aborted
// mid-transaction (client disconnects during a statement, statement
// timeouts, panics, errors after a write, client deadlines at random
// points), through PgBouncer in transaction pooling with 1 and 2 server
// connections, in strict and prefix isolation. Every response holds its
// own tenant's rows only, nothing an aborted request wrote survives, and
// afterwards every server connection PgBouncer holds has its role,
// search_path and other session state at their defaults.
func TestNoLeakThroughPgBouncer(t *testing.T) {
	for _, poolSize := range []int{1, 2} {
		for _, isolation := range []string{config.IsolationStrict, config.IsolationPrefix} {
			t.Run(fmt.Sprintf("pool%d/%s", poolSize, isolation), func(t *testing.T) {
				t.Parallel()
				leakRun(t, poolSize, isolation)
			})
		}
	}
}

// leakTenant is one tenant of the leak test and its two users.
type leakTenant struct {
	schema, host string
	tokens       [2]string
}

func leakRun(t *testing.T, poolSize int, isolation string) {
	const (
		requests = 1200
		workers  = 8
	)
	cfg, b := pooledConfig(t, poolSize)
	cfg.Tenancy.Isolation = isolation
	env := apptest.Start(t, cfg)
	ts := []*leakTenant{{schema: "leak_a", host: "a.leak.test"}, {schema: "leak_b", host: "b.leak.test"}}
	for _, lt := range ts {
		env.CreateTenant(t, lt.schema, lt.host)
		for i, name := range []string{"ann", "bob"} {
			lt.tokens[i], _, _ = env.Register(t, lt.host, name)
		}
	}
	aborts := startAbortServer(t, env, isolation == config.IsolationStrict)

	created := map[*leakTenant]*atomic.Int64{ts[0]: {}, ts[1]: {}}
	cut := map[*leakTenant]*atomic.Int64{ts[0]: {}, ts[1]: {}}
	var failures atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	client := env.Server.Client()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= requests || failures.Load() > 10 {
					return
				}
				lt := ts[i%2]
				token := lt.tokens[(i/2)%2]
				switch k := i % 20; {
				case k < 9: // write
					title := fmt.Sprintf("%s-%d", lt.schema, i)
					status, body := leakDo(client, env.Server.URL, "POST", lt.host, "/api/todos/", token, `{"title":"`+title+`"}`, 0)
					if status != http.StatusCreated || !strings.Contains(body, `"`+title+`"`) {
						fail("create %s on %s: %d %s", title, lt.host, status, body)
					} else {
						created[lt].Add(1)
					}
				case k < 17: // read
					status, body := leakDo(client, env.Server.URL, "GET", lt.host, "/api/todos/", token, "", 0)
					if status != http.StatusOK {
						fail("list on %s: %d %s", lt.host, status, body)
					}
					for _, other := range ts {
						if other != lt && strings.Contains(body, `"`+other.schema+"-") {
							fail("list on %s holds a row of %s: %s", lt.host, other.schema, body)
						}
					}
					if strings.Contains(body, "abort-") {
						fail("list on %s holds a row an aborted request wrote: %s", lt.host, body)
					}
				case k == 17: // a real write cut off at a random point by the client
					title := fmt.Sprintf("%s-cut-%d", lt.schema, i)
					cut[lt].Add(1)
					leakDo(client, env.Server.URL, "POST", lt.host, "/api/todos/", token, `{"title":"`+title+`"}`, time.Duration(i%7)*300*time.Microsecond)
				default: // aborted mid-transaction
					kind := abortKinds[(i/20)%len(abortKinds)]
					if err := aborts.abort(lt.host, kind, i); err != nil {
						fail("%s on %s: %v", kind, lt.host, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Data: nothing an aborted request wrote survives, and each schema
	// holds only its own tenant's rows.
	direct, err := sql.Open("pgx", cfg.Database.DirectURL)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	for _, lt := range ts {
		var own, foreign, aborted int
		q := `SELECT count(*) FILTER (WHERE starts_with(title, $1)), count(*) FILTER (WHERE NOT starts_with(title, $1)),
			count(*) FILTER (WHERE starts_with(title, 'abort-')) FROM ` + tenants.QuoteIdent(lt.schema) + `.todos`
		if err := direct.QueryRow(q, lt.schema+"-").Scan(&own, &foreign, &aborted); err != nil {
			t.Fatal(err)
		}
		// Every acknowledged write, and of the writes the client cut off
		// those that committed before it hung up.
		lo, hi := int(created[lt].Load()), int(created[lt].Load()+cut[lt].Load())
		if own < lo || own > hi || foreign != 0 || aborted != 0 {
			t.Errorf("%s holds %d own rows (want %d..%d), %d foreign, %d from aborted requests", lt.schema, own, lo, hi, foreign, aborted)
		}
	}
	if n := aborts.done.Load(); n < requests/20*2-workers {
		t.Errorf("only %d aborted requests ran", n)
	}

	// Pooled connection state: stop the app so that nothing else holds a
	// server connection, then reach every one PgBouncer holds.
	env.Server.Close()
	aborts.srv.Close()
	env.App.Close(context.Background())
	checkServerConnections(t, b, cfg.Database.URL, poolSize)
}

// leakDo sends one request and returns the status and body; with cut > 0
// the client gives up after cut (the status is then 0).
func leakDo(client *http.Client, base, method, host, path, token, body string, cut time.Duration) (int, string) {
	ctx := context.Background()
	if cut > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cut)
		defer cancel()
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return 0, err.Error()
	}
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

var abortKinds = []string{"disconnect", "statement_timeout", "panic", "error"}

// abortServer serves handlers behind the real Tenant and Scope middleware,
// on the app's own resolver and pools, that write a row and then fail in
// the ways a request can fail mid-transaction.
type abortServer struct {
	srv     *httptest.Server
	started sync.Map // request number → chan struct{}, closed once its slow statement runs
	done    atomic.Int64
}

func startAbortServer(t *testing.T, env *apptest.Env, strict bool) *abortServer {
	log := apptest.Logger(t)
	quiet := slog.New(slog.DiscardHandler) // the panics are on purpose
	a := &abortServer{}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(middleware.Recovery(quiet), middleware.Timeout(time.Minute))
	g := r.Group("/abort", middleware.Tenant(log, env.App.Resolver, middleware.TenantHeader{}), middleware.Scope(log, strict))
	g.POST("/:kind", func(c *gin.Context) {
		ctx := c.Request.Context()
		defer a.done.Add(1)
		exec := func(sql string, args ...any) error { return datapath.Run(ctx, datapath.Stmt{SQL: sql, Args: args}) }
		schema := tenants.QuoteIdent(datapath.TenantFromContext(ctx).Schema)
		if err := exec(`INSERT INTO `+schema+`.todos (title, owner_id) SELECT 'abort-' || $1, min(id) FROM `+schema+`.users`, c.Query("n")); err != nil {
			middleware.Error(c, log, err)
			return
		}
		var err error
		switch c.Param("kind") {
		case "disconnect":
			if ch, ok := a.started.Load(c.Query("n")); ok {
				close(ch.(chan struct{}))
			}
			// The client hangs up while this runs: the driver abandons
			// the connection to the pooler mid-transaction.
			err = exec("SELECT pg_sleep(30)")
		case "statement_timeout":
			if err = exec("SET LOCAL statement_timeout = '20ms'"); err == nil {
				err = exec("SELECT pg_sleep(5)")
				if err == nil {
					err = errors.New("pg_sleep outlived statement_timeout")
				}
			}
		case "panic":
			panic("abort test: panic after a write")
		case "error":
			c.JSON(http.StatusBadRequest, gin.H{"detail": "refused after a write"})
			return
		}
		if err != nil {
			quietError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"detail": "not aborted"})
	})
	a.srv = httptest.NewServer(r)
	t.Cleanup(a.srv.Close)
	return a
}

// abort sends one aborted request and checks its outcome.
func (a *abortServer) abort(host, kind string, n int) error {
	key := fmt.Sprint(n)
	path := "/abort/" + kind + "?n=" + key
	if kind != "disconnect" {
		status, body := leakDo(a.srv.Client(), a.srv.URL, "POST", host, path, "", "", 0)
		if status < 400 {
			return fmt.Errorf("status %d: %s", status, body)
		}
		return nil
	}
	started := make(chan struct{})
	a.started.Store(key, started)
	defer a.started.Delete(key)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", a.srv.URL+path, nil)
		req.Host = host
		resp, err := a.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("got a response (%d) though the client hung up", resp.StatusCode)
		} else if errors.Is(err, context.Canceled) {
			err = nil
		}
		errc <- err
	}()
	select {
	case <-started:
	case err := <-errc:
		return fmt.Errorf("request ended before its slow statement: %v", err)
	case <-time.After(30 * time.Second):
		return errors.New("slow statement never started")
	}
	cancel()
	return <-errc
}

// checkServerConnections holds a transaction on poolSize clients of the
// pooler at once, which puts each on its own server connection, checks
// that together they are every server connection PgBouncer holds for the
// database, and that each has the session state of a fresh one.
func checkServerConnections(t *testing.T, b *pgtest.PgBouncer, pooledURL string, poolSize int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cc, err := pgx.ParseConfig(pooledURL)
	if err != nil {
		t.Fatal(err)
	}
	// The simple protocol, so that the check itself prepares nothing.
	cc.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	servers, err := b.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := map[int]bool{}
	for _, s := range servers {
		if s.Database == cc.Database {
			held[s.RemotePID] = true
		}
	}
	if len(held) == 0 || len(held) > poolSize {
		t.Fatalf("PgBouncer holds %d server connections for %s after the run, want 1..%d", len(held), cc.Database, poolSize)
	}
	seen := map[int]bool{}
	for range len(held) {
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		var st struct {
			pid                                    int
			currentUser, sessionUser, role, path   string
			timeout, appName                       string
			listening, advisory, prepared, cursors int
		}
		err = tx.QueryRow(ctx, `SELECT pg_backend_pid(), current_user, session_user,
			current_setting('role'), current_setting('search_path'), current_setting('statement_timeout'),
			current_setting('application_name'),
			(SELECT count(*) FROM pg_listening_channels()),
			(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
			(SELECT count(*) FROM pg_prepared_statements),
			(SELECT count(*) FROM pg_cursors WHERE name <> '')`).Scan(&st.pid, &st.currentUser, &st.sessionUser, &st.role, &st.path,
			&st.timeout, &st.appName, &st.listening, &st.advisory, &st.prepared, &st.cursors)
		if err != nil {
			t.Fatal(err)
		}
		seen[st.pid] = true
		if st.currentUser != cc.User || st.sessionUser != cc.User || st.role != "none" ||
			st.path != `"$user", public` || st.timeout != "0" || st.listening != 0 || st.advisory != 0 ||
			st.prepared != 0 || st.cursors != 0 {
			t.Errorf("server connection %d left with state %+v; want user %s, role none, default search_path, "+
				"no statement_timeout, listens, advisory locks, prepared statements or cursors", st.pid, st, cc.User)
		}
	}
	for pid := range held {
		if !seen[pid] {
			t.Errorf("server connection %d held by PgBouncer was not inspected (saw %v)", pid, seen)
		}
	}
}

// quietError answers an expected database failure without logging it.
func quietError(c *gin.Context, err error) {
	c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"detail": "aborted: " + err.Error()})
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" database/sql driver
