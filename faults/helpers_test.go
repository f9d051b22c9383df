package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/tenants"
	"golang.org/x/crypto/bcrypt"
)

// secret is the JWT secret of the apps these tests start.
const secret = "faults-secret-0123456789abcdef0123456789"

// testConfig is the configuration of an app on dbURL: strict isolation,
// no demo tenant, a short request timeout.
func testConfig(t *testing.T, dbURL string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Database.URL = dbURL
	cfg.Database.MaxOpenConns = 10
	cfg.Database.MaxIdleConns = 10
	cfg.Auth.JWTSecret = secret
	cfg.Dev.DemoTenant = false
	cfg.Log.Level = "warn"
	cfg.HTTP.RequestTimeout = 2 * time.Second
	cfg.HTTP.ShutdownTimeout = 5 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runningApp is the real app serving on a 127.0.0.1 port through
// app.Serve, so that the catalog listener runs as in production.
type runningApp struct {
	App *app.App
	URL string
	Log *testLog
}

// serveApp opens the app on cfg (migrated) and serves it until the test
// ends.
func serveApp(t *testing.T, cfg config.Config) *runningApp {
	t.Helper()
	tl := newTestLog(t)
	a, err := app.Open(context.Background(), cfg, tl.Logger(), app.MigrateOptions{Shared: true, Tenants: true})
	if err != nil {
		t.Fatalf("app.Open: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close(context.Background())
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("app.Serve: %v", err)
			}
		case <-time.After(cfg.HTTP.ShutdownTimeout + 5*time.Second):
			t.Errorf("app.Serve did not return after its context ended")
		}
		a.Close(context.Background())
		tl.close()
	})
	return &runningApp{App: a, URL: "http://" + ln.Addr().String(), Log: tl}
}

// createTenant creates a tenant with one domain through the app's service.
func (r *runningApp) createTenant(t *testing.T, schema, domain string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.App.Tenants.CreateTenant(ctx, tenants.CreateParams{
		Name: "Tenant " + schema, SchemaName: schema, Domains: []string{domain},
	}); err != nil {
		t.Fatalf("creating tenant %s: %v", schema, err)
	}
}

// testLog sends the app's log records to the test log, the first
// maxLines of them (an outage logs one error per request), and counts
// panics. Records written after the test ended are dropped.
type testLog struct {
	t      *testing.T
	mu     sync.Mutex
	lines  int
	closed bool
	panics atomic.Int64
}

const maxLines = 15

func newTestLog(t *testing.T) *testLog { return &testLog{t: t} }

func (l *testLog) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (l *testLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("msg=panic")) {
		l.panics.Add(1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines++
	if l.closed || l.lines > maxLines {
		return len(p), nil
	}
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// client speaks HTTP to a server with real Host headers and tokens.
type client struct {
	base string
	hc   *http.Client
}

// newClient returns a client of base whose requests give up after
// timeout: a request that takes longer has hung.
func newClient(base string, timeout time.Duration) *client {
	return &client{base: base, hc: &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32},
	}}
}

// result is the outcome of one request.
type result struct {
	Method, Host, Path string
	Start              time.Time
	Dur                time.Duration
	Status             int
	Body               []byte
	Err                error // transport error: no response at all
}

func (r result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s %s%s after %v: %v", r.Method, r.Host, r.Path, r.Dur.Round(time.Millisecond), r.Err)
	}
	return fmt.Sprintf("%s %s%s after %v: %d %s", r.Method, r.Host, r.Path, r.Dur.Round(time.Millisecond), r.Status, truncate(r.Body))
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// do sends one request; body, when not nil, is encoded as JSON.
func (c *client) do(ctx context.Context, method, host, path, token string, body any) result {
	return c.doWith(ctx, method, host, path, token, nil, body)
}

// doWith is do with extra request headers.
func (c *client) doWith(ctx context.Context, method, host, path, token string, headers map[string]string, body any) result {
	res := result{Method: method, Host: host, Path: path, Start: time.Now()}
	defer func() { res.Dur = time.Since(res.Start) }()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			res.Err = err
			return res
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		res.Err = err
		return res
	}
	req.Host = host
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		res.Err = err
		res.Dur = time.Since(res.Start)
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	res.Body, res.Err = io.ReadAll(resp.Body)
	res.Dur = time.Since(res.Start)
	return res
}

// mustDo sends one request and fails the test on a transport error or a
// status other than want.
func (c *client) mustDo(t *testing.T, method, host, path, token string, body any, want int) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := c.do(ctx, method, host, path, token, body)
	if r.Err != nil || r.Status != want {
		t.Fatalf("want %d: %v", want, r)
	}
	var out map[string]any
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("%v: not a JSON object: %v", r, err)
	}
	return out
}

// createUser adds a user to the tenant schema on dbURL and returns an
// access token of it issued by tokens. It writes the row directly, with a
// cheap password hash, so that set-up does not spend the short request
// timeout on bcrypt.
func createUser(t *testing.T, dbURL string, tokens *auth.Tokens, schema, username string) string {
	t.Helper()
	hash, err := auth.HashPasswordCost("correct-horse-battery", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	id := queryInt(t, dbURL, "INSERT INTO "+pgx.Identifier{schema, "users"}.Sanitize()+
		" (username, email, password_hash, is_active, date_joined) VALUES ($1, $2, $3, true, now()) RETURNING id",
		username, username+"@example.com", hash)
	tenantID := queryInt(t, dbURL, "SELECT id FROM public.clients WHERE schema_name = $1", schema)
	token, err := tokens.IssueAccess(id, auth.Tenant{ID: tenantID, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// createTodo creates a todo on host and returns its id.
func (c *client) createTodo(t *testing.T, host, token, title string) int64 {
	t.Helper()
	body := c.mustDo(t, "POST", host, "/api/todos/", token, map[string]any{"title": title, "description": "d"}, http.StatusCreated)
	return int64(body["id"].(float64))
}

// detailError returns an error unless r's body is a JSON object with a
// non-empty string "detail", the shape of every non-validation error.
func detailError(r result) error {
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return fmt.Errorf("body is not a JSON object: %w", err)
	}
	if d, ok := body["detail"].(string); !ok || d == "" {
		return errors.New(`body has no "detail" message`)
	}
	return nil
}

// load runs workers goroutines that each send the request next returns,
// one after another, until ctx ends or each has sent max requests, and
// returns every result.
func load(ctx context.Context, c *client, workers, max int, pause time.Duration, next func(worker, i int) (method, host, path, token string, body any)) []result {
	var mu sync.Mutex
	var all []result
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < max && ctx.Err() == nil; i++ {
				method, host, path, token, body := next(w, i)
				// A request must not outlive its own bound, but the end
				// of the load must not cut requests short either.
				r := c.do(context.WithoutCancel(ctx), method, host, path, token, body)
				mu.Lock()
				all = append(all, r)
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	wg.Wait()
	return all
}

// execSQL runs one statement on dbURL in its own connection.
func execSQL(t *testing.T, dbURL, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// queryInt runs a query returning one integer on dbURL.
func queryInt(t *testing.T, dbURL, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// eventually calls f every interval until it returns nil or within has
// passed, and returns f's last error.
func eventually(within, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}
