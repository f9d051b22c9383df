// Package apptest starts the real strictmt, on a fresh database of the
// test harness's PostgreSQL, behind an httptest server, and gives tests
// helpers that speak HTTP to it with real Host headers and tokens.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/tenants"
)

// Secret is the JWT secret of test apps.
const Secret = "test-secret-0123456789abcdef0123456789"

// Env is a running app and its HTTP server.
type Env struct {
	App    *app.App
	Server *httptest.Server
	Config config.Config
}

// Config returns the configuration tests start from: a fresh database,
// strict isolation, no demo tenant, quiet logs.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Database.URL = pgtest.NewDatabase(t)
	cfg.Database.MaxOpenConns = 10
	cfg.Database.MaxIdleConns = 10
	cfg.Auth.JWTSecret = Secret
	cfg.Dev.DemoTenant = false
	cfg.Tenancy.SpareSchemas = 0
	cfg.Log.Level = "error"
	// Parallel tests under -race on a small machine are slow; the
	// production default would turn slowness into 503s.
	cfg.HTTP.RequestTimeout = time.Minute
	// Every test client is 127.0.0.1: per-address throttling would make
	// tests of one tenant depend on each other's request counts. The
	// per-username rates stay as shipped; throttling tests set the others.
	cfg.Auth.Throttle.LoginAddress = ""
	cfg.Auth.Throttle.RegisterAddress = ""
	cfg.Auth.Throttle.Refresh = ""
	// Likewise a burst of one tenant's requests waits for its share of
	// the pool (tenancy.max_conns_per_tenant) rather than getting 503.
	cfg.Tenancy.MaxConnsWait = time.Minute
	cfg.Database.Citus = citusSetting(cfg.Database.Citus)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// EnvCitus names the environment variable that sets database.citus for
// every test app (auto, on or off), so that a suite runs in Citus mode on
// plain PostgreSQL too: `STRICTMT_TEST_CITUS=on go test ./handlers/`.
const EnvCitus = "STRICTMT_TEST_CITUS"

func citusSetting(def string) string {
	if v := os.Getenv(EnvCitus); v != "" {
		return v
	}
	return def
}

// ShippedConfig returns the configuration of the repository's config.yaml
// as `go run .` loads it, changed only where a test must: its own
// database, a JWT secret, no demo tenant, quiet logs, and the request
// timeout of Config (a busy machine running the race detector is slower
// than the shipped 10 s allows for a bcrypt login).
func ShippedConfig(t testing.TB) config.Config {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("apptest: cannot find the repository")
	}
	path := filepath.Join(filepath.Dir(file), "..", "..", "config.yaml")
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.Flags(fs)
	if err := fs.Parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{
		"STRICTMT_DATABASE_URL=" + pgtest.NewDatabase(t),
		"STRICTMT_AUTH_JWT_SECRET=" + Secret,
		"STRICTMT_DEV_DEMO_TENANT=false",
		"STRICTMT_LOG_LEVEL=error",
	}, fs)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	cfg.HTTP.RequestTimeout = time.Minute
	cfg.Database.Citus = citusSetting(cfg.Database.Citus)
	return cfg
}

// Logger returns a logger that writes to the test log at warn level and up.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Start opens the app on cfg (migrated) and serves it; both stop in
// t.Cleanup.
func Start(t testing.TB, cfg config.Config) *Env {
	t.Helper()
	return StartWith(t, cfg, nil)
}

// StartWith is Start, calling prepare (when not nil) on the opened app
// before its handler is built.
func StartWith(t testing.TB, cfg config.Config, prepare func(*app.App)) *Env {
	t.Helper()
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, Logger(t), app.MigrateOptions{Shared: true, Tenants: true})
	if err != nil {
		t.Fatalf("app.Open: %v", err)
	}
	if prepare != nil {
		prepare(a)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Close(ctx)
	})
	return &Env{App: a, Server: srv, Config: cfg}
}

// ListenCatalog has the app follow catalog changes made by other
// instances, as a served app does (app.Serve starts the same listener):
// its resolver forgets cached tenants on every change announced. It
// stops in t.Cleanup.
func (e *Env) ListenCatalog(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.App.Resolver.Listen(ctx, e.App.DirectURL, e.App.Log)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// New starts an app with the default test configuration.
func New(t testing.TB) *Env {
	t.Helper()
	return Start(t, Config(t))
}

// CreateTenant creates a tenant with one domain.
func (e *Env) CreateTenant(t testing.TB, schema, domain string) {
	t.Helper()
	_, err := e.App.Tenants.CreateTenant(context.Background(), tenants.CreateParams{
		Name: "Tenant " + schema, SchemaName: schema, Domains: []string{domain},
	})
	if err != nil {
		t.Fatalf("creating tenant %s: %v", schema, err)
	}
}

// Response is a decoded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
	List   []any
}

// Request describes one HTTP request to the app.
type Request struct {
	Method string
	Host   string
	Path   string
	Token  string
	Body   any    // encoded as JSON unless it is a string or []byte
	CT     string // Content-Type; default application/json when Body is set
	Header map[string]string
}

// Do sends r and decodes the JSON response.
func (e *Env) Do(t testing.TB, r Request) Response {
	t.Helper()
	var body io.Reader
	ct := r.CT
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(buf)
	}
	if body != nil && ct == "" {
		ct = "application/json"
	}
	req, err := http.NewRequest(r.Method, e.Server.URL+r.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = r.Host
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	validateResponse(t, req, resp, raw)
	out := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		if raw[0] == '[' {
			_ = json.Unmarshal(raw, &out.List)
		} else if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("%s %s: response is not JSON (%d): %s", r.Method, r.Path, resp.StatusCode, raw)
		}
	}
	return out
}

// Register creates a user on host and returns its access and refresh
// tokens and id.
func (e *Env) Register(t testing.TB, host, username string) (access, refresh string, id int64) {
	t.Helper()
	r := e.Do(t, Request{Method: "POST", Host: host, Path: "/api/register/", Body: map[string]string{
		"username": username, "email": username + "@example.com", "password": "correct-horse-battery",
	}})
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s on %s: %d %s", username, host, r.Status, r.Raw)
	}
	return r.Body["access"].(string), r.Body["refresh"].(string), int64(r.Body["user"].(map[string]any)["id"].(float64))
}

// Clock is a clock that moves only when told, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock standing at the current time.
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// StartWithThrottleClock starts an app on cfg whose throttles read the
// time from clock, so that tests of rates do not depend on how fast the
// machine answers.
func StartWithThrottleClock(t testing.TB, cfg config.Config, clock *Clock) *Env {
	t.Helper()
	return StartWith(t, cfg, func(a *app.App) {
		ts, err := app.NewThrottles(cfg.Auth.Throttle, clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		a.Throttles = ts
	})
}
