package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/tenants"
)

// live is a strictmt served by app.Serve itself on a loopback port, with
// the http.Server and its timeouts production uses (apptest's httptest
// server has none).
type live struct {
	app    *app.App
	addr   string
	client *http.Client
}

func serveLive(t *testing.T, cfg config.Config) *live {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, cfg, apptest.Logger(t), app.MigrateOptions{Shared: true, Tenants: true})
	if err != nil {
		cancel()
		t.Fatalf("app.Open: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close(ctx)
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, nil) }()
	l := &live{app: a, addr: ln.Addr().String(), client: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		a.Close(context.Background())
	})
	return l
}

func (l *live) createTenant(t *testing.T, schema, host string) {
	t.Helper()
	if _, err := l.app.Tenants.CreateTenant(context.Background(), tenants.CreateParams{
		Name: "Tenant " + schema, SchemaName: schema, Domains: []string{host},
	}); err != nil {
		t.Fatal(err)
	}
}

// do sends one request and reads the whole response.
func (l *live) do(t testing.TB, method, host, path, token string, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+l.addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, host, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
}

func (l *live) register(t *testing.T, host, username string) string {
	t.Helper()
	r := l.do(t, "POST", host, "/api/register/", "", []byte(`{"username": "`+username+`", "email": "`+username+`@example.com", "password": "correct-horse-battery"}`))
	if r.Status != http.StatusCreated {
		t.Fatalf("register on %s: %d %s", host, r.Status, r.Raw)
	}
	return r.object(t)["access"].(string)
}

// dial opens a raw connection to the server; it is closed at cleanup.
func (l *live) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", l.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// idleInTransaction counts this database's backends that have sat idle
// inside a transaction for longer than a request's own statements ever
// leave one: such a backend is waiting on its client.
func (l *live) idleInTransaction(t *testing.T) int {
	t.Helper()
	var n int
	err := l.app.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'
		AND state_change < now() - interval '2 seconds'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// p99 of ds (sorted in place).
func p99(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[(len(ds)*99+99)/100-1]
}

// measure sends n GET /api/todos/ requests of host over clients
// connections and returns their p99; every one must answer 200.
func (l *live) measure(t *testing.T, host, token string, clients, n int) time.Duration {
	t.Helper()
	var mu sync.Mutex
	var ds []time.Duration
	var failed []string
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / clients {
				req, _ := http.NewRequest("GET", "http://"+l.addr+"/api/todos/", nil)
				req.Host = host
				req.Header.Set("Authorization", "Bearer "+token)
				start := time.Now()
				resp, err := l.client.Do(req)
				var status int
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				d := time.Since(start)
				mu.Lock()
				ds = append(ds, d)
				if err != nil || status != http.StatusOK {
					failed = append(failed, fmt.Sprintf("status %d err %v", status, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d requests of %s failed under load, e.g. %s", len(failed), len(ds), host, failed[0])
	}
	return p99(ds)
}

// TestSlowClientsOfOneTenantLeaveOthersServed is the slow-body and
// slow-reader attack: 40 connections send POST /api/todos/ on tenant A
// with a valid token, Content-Length: 100 and only "{" of the body, and 8
// connections ask for a multi-megabyte page of A's todos and never read
// it. Tenant B's p99 must stay within 2x of its p99 without the attack
// (measured in the same test, against the same server), and no backend
// may sit idle in a transaction waiting on a client. Timing noise of a
// busy machine is absorbed by comparing up to three rounds of unloaded
// and loaded samples and passing when one round is within bounds; a
// server that lets slow clients hold pooled connections fails every
// round (B's requests queue behind the pool, or time out).
func TestSlowClientsOfOneTenantLeaveOthersServed(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.HTTP.BodyTimeout = 90 * time.Second // the slow bodies outlast the test
	cfg.HTTP.ReadTimeout = 90 * time.Second
	cfg.HTTP.WriteTimeout = 90 * time.Second // and so do the slow readers
	l := serveLive(t, cfg)
	l.createTenant(t, "slow_a", "a.localhost")
	l.createTenant(t, "slow_b", "b.localhost")
	tokA := l.register(t, "a.localhost", "alice")
	tokB := l.register(t, "b.localhost", "bob")
	big := strings.Repeat("x", 900_000)
	for i := range 6 {
		r := l.do(t, "POST", "a.localhost", "/api/todos/", tokA, []byte(fmt.Sprintf(`{"title": "big %d", "description": %q}`, i, big)))
		if r.Status != http.StatusCreated {
			t.Fatalf("creating a big todo: %d %s", r.Status, r.Raw)
		}
	}
	for i := range 5 {
		if r := l.do(t, "POST", "b.localhost", "/api/todos/", tokB, []byte(fmt.Sprintf(`{"title": "b %d"}`, i))); r.Status != http.StatusCreated {
			t.Fatalf("creating a todo of B: %d %s", r.Status, r.Raw)
		}
	}
	const clients, samples = 2, 200
	l.measure(t, "b.localhost", tokB, clients, samples) // warm up

	ok := false
	for round := 0; round < 3 && !ok; round++ {
		unloaded := l.measure(t, "b.localhost", tokB, clients, samples)
		started := time.Now()
		stop := l.slowClients(t, tokA, 40, 8)
		loaded := l.measure(t, "b.localhost", tokB, clients, samples)
		ok = loaded <= 2*unloaded
		t.Logf("round %d: tenant B p99 %v without the attack, %v under it (%.2fx)", round, unloaded, loaded, float64(loaded)/float64(unloaded))
		// Every slow client has waited on the server for longer than
		// idleInTransaction's threshold before the database is asked.
		time.Sleep(time.Until(started.Add(3 * time.Second)))
		if n := l.idleInTransaction(t); n != 0 {
			t.Fatalf("%d backends idle in transaction while slow clients wait on the server", n)
		}
		stop()
	}
	if !ok {
		t.Fatal("tenant B's p99 under tenant A's slow clients exceeded 2x its p99 without them in each of 3 rounds")
	}
}

// slowClients opens bodies connections that send POST /api/todos/ on
// tenant A with Content-Length: 100 and only "{", and readers connections
// that ask for a page of A's todos of over 5 MB and read only its status
// line. stop closes them all.
func (l *live) slowClients(t *testing.T, tokA string, bodies, readers int) (stop func()) {
	t.Helper()
	var conns []net.Conn
	for range bodies {
		c := l.dial(t)
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /api/todos/ HTTP/1.1\r\nHost: a.localhost\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", tokA)
	}
	for range readers {
		c := l.dial(t)
		conns = append(conns, c)
		_ = c.SetReadBuffer(4096)
		fmt.Fprintf(c, "GET /api/todos/?limit=500 HTTP/1.1\r\nHost: a.localhost\r\nAuthorization: Bearer %s\r\n\r\n", tokA)
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := bufio.NewReaderSize(c, 16).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("slow reader: %q, %v", line, err)
		}
	}
	return func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// TestSlowBodyIsRefusedBeforeTheDatabase: with a pool of one connection,
// five slow bodies on tenant A (valid token, Content-Length: 100, only
// "{" sent) take nothing from the database: tenant B is answered while
// all five still wait for their bodies (where authentication took the
// connection first, B waited for it until the slow bodies failed), and
// each slow body then gets 408 JSON and a closed connection.
func TestSlowBodyIsRefusedBeforeTheDatabase(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.Database.MaxOpenConns = 1
	cfg.Database.MaxIdleConns = 1
	cfg.HTTP.BodyTimeout = 20 * time.Second
	cfg.HTTP.ReadTimeout = time.Minute
	l := serveLive(t, cfg)
	l.createTenant(t, "body_a", "a.localhost")
	l.createTenant(t, "body_b", "b.localhost")
	tokA := l.register(t, "a.localhost", "alice")
	tokB := l.register(t, "b.localhost", "bob")
	before := l.do(t, "GET", "a.localhost", "/api/todos/", tokA, nil)

	var conns []*net.TCPConn
	for range 5 {
		c := l.dial(t)
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /api/todos/ HTTP/1.1\r\nHost: a.localhost\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", tokA)
	}
	// Give the server the heads; where authentication ran before the
	// body, one of them holds the only connection by now.
	time.Sleep(500 * time.Millisecond)
	if r := l.do(t, "GET", "b.localhost", "/api/todos/", tokB, nil); r.Status != http.StatusOK {
		t.Fatalf("tenant B while A's bodies are slow: %d %s", r.Status, r.Raw)
	}
	for i, c := range conns {
		// Nothing may have come back yet: B was answered while every
		// slow body was still pending.
		_ = c.SetReadDeadline(time.Now())
		var one [1]byte
		if n, err := c.Read(one[:]); n > 0 || err == nil {
			t.Fatalf("slow body %d was answered before tenant B was", i)
		}
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the answer to a slow body: %v", err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
		wantDetail(t, r, http.StatusRequestTimeout)
		if !resp.Close {
			t.Error("the connection of a slow body stays open after 408")
		}
	}
	if after := l.do(t, "GET", "a.localhost", "/api/todos/", tokA, nil); !bytes.Equal(after.Raw, before.Raw) {
		t.Fatalf("A's todos changed: %s, was %s", after.Raw, before.Raw)
	}
}

// TestTenantConnectionCap: with tenancy.max_conns_per_tenant 2, two
// requests of tenant A that are stuck in the database (a lock the test
// holds on A's todos) fill A's share; a third waits max_conns_wait and
// gets 503 {"detail"} with Retry-After, without reaching the database,
// while tenant B is served. Once the lock goes, the stuck requests
// finish and A is served again; the limiter then tracks no tenant.
func TestTenantConnectionCap(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.Tenancy.MaxConnsPerTenant = 2
	cfg.Tenancy.MaxConnsWait = 200 * time.Millisecond
	l := serveLive(t, cfg)
	l.createTenant(t, "cap_a", "a.localhost")
	l.createTenant(t, "cap_b", "b.localhost")
	tokA := l.register(t, "a.localhost", "alice")
	tokB := l.register(t, "b.localhost", "bob")

	ctx := context.Background()
	lock, err := l.app.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	for _, q := range []string{"BEGIN", `LOCK TABLE "cap_a"."todos" IN ACCESS EXCLUSIVE MODE`} {
		if _, err := lock.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	stuck := make(chan response, 4)
	for range 2 {
		go func() {
			stuck <- l.do(t, "GET", "a.localhost", "/api/todos/", tokA, nil)
		}()
	}
	waiting := func() int {
		var n int
		if err := l.app.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(time.Minute); waiting() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the two requests of A never reached the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := l.app.TenantLimiter.InUse("cap_a"); got != 2 {
		t.Fatalf("tenant A holds %d slots, want 2", got)
	}

	over := l.do(t, "GET", "a.localhost", "/api/todos/", tokA, nil)
	wantDetail(t, over, http.StatusServiceUnavailable)
	if over.Header.Get("Retry-After") == "" {
		t.Error("503 over the tenant's share has no Retry-After")
	}
	if n := waiting(); n != 2 {
		t.Fatalf("%d requests wait in the database, want A's 2: the third went past the cap", n)
	}
	post := l.do(t, "POST", "a.localhost", "/api/todos/", tokA, []byte(`{"title": "over the cap"}`))
	wantDetail(t, post, http.StatusServiceUnavailable)
	if r := l.do(t, "GET", "b.localhost", "/api/todos/", tokB, nil); r.Status != http.StatusOK {
		t.Fatalf("tenant B while A is at its cap: %d %s", r.Status, r.Raw)
	}

	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := <-stuck; r.Status != http.StatusOK {
			t.Fatalf("a stuck request of A after the lock went: %d %s", r.Status, r.Raw)
		}
	}
	if r := l.do(t, "GET", "a.localhost", "/api/todos/", tokA, nil); r.Status != http.StatusOK {
		t.Fatalf("tenant A after its requests finished: %d %s", r.Status, r.Raw)
	}
	var todos int
	if err := l.app.SQL.QueryRow(`SELECT count(*) FROM "cap_a"."todos"`).Scan(&todos); err != nil || todos != 0 {
		t.Fatalf("A has %d todos (%v): the refused POST wrote", todos, err)
	}
	if n := l.app.TenantLimiter.Tracked(); n != 0 {
		t.Fatalf("the limiter tracks %d tenants with no request in flight", n)
	}
}

// TestAbsoluteFormRequestLineRefused sends the admin API's path in an
// absolute-form request line whose host disagrees with the Host header
// ("GET http://localhost/admin/tenants/ HTTP/1.1" with "Host:
// a.localhost" and the admin token), raw over TCP, and the same trick on
// the tenant API, docs and health routes and on an unknown path: every
// one is refused with 400 JSON. The same admin request in origin form on
// a public host is answered, so the refusal is the request line's doing.
func TestAbsoluteFormRequestLineRefused(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.Admin.Token = adminToken
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "abs_a", "a.localhost")
	access, _, _ := env.Register(t, "a.localhost", "alice")
	for _, tc := range []struct{ name, target, host, token string }{
		{"AdminViaTenantHost", "http://localhost/admin/tenants/", "a.localhost", adminToken},
		{"AdminViaPublicHostHeader", "http://a.localhost/admin/tenants/", "localhost", adminToken},
		{"AdminSameHostBothPlaces", "http://localhost/admin/tenants/", "localhost", adminToken},
		{"TenantAPI", "http://a.localhost/api/todos/", "localhost", access},
		{"Register", "http://a.localhost/api/register/", "b.localhost", ""},
		{"Health", "http://localhost/healthz", "a.localhost", ""},
		{"UnknownPath", "http://localhost/nowhere", "a.localhost", ""},
		{"HTTPS", "https://localhost/admin/tenants/", "a.localhost", adminToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := "GET " + tc.target + " HTTP/1.1\r\nHost: " + tc.host + "\r\n"
			if tc.token != "" {
				raw += "Authorization: Bearer " + tc.token + "\r\n"
			}
			r := rawRequest(t, env, raw+"Connection: close\r\n\r\n")
			wantDetail(t, r, http.StatusBadRequest)
			if strings.Contains(string(r.Raw), "abs_a") {
				t.Fatalf("the refusal names a tenant: %s", r.Raw)
			}
		})
	}
	t.Run("OriginFormControl", func(t *testing.T) {
		r := rawRequest(t, env, "GET /admin/tenants/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "+adminToken+"\r\nConnection: close\r\n\r\n")
		if r.Status != http.StatusOK || !strings.Contains(string(r.Raw), "abs_a") {
			t.Fatalf("origin-form admin request: %d %s", r.Status, r.Raw)
		}
	})
}

// TestSecurityHeaders: every response carries X-Content-Type-Options:
// nosniff; responses that carry tokens (register, token, refresh) and
// every authenticated response (and every other API answer) carry
// Cache-Control: no-store, errors included. The public API documentation
// keeps its own revalidating cache policy.
func TestSecurityHeaders(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.Admin.Token = adminToken
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "hdr_a", "a.localhost")
	reg := send(t, env, request{Method: "POST", Host: "a.localhost", Path: "/api/register/", CT: "application/json",
		Body: []byte(`{"username": "testuser", "email": "testuser@example.com", "password": "correct-horse-battery"}`)})
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	body := reg.object(t)
	access, refresh := body["access"].(string), body["refresh"].(string)
	for _, tc := range []struct {
		name    string
		r       response
		status  int
		noStore bool
	}{
		{"Register", reg, 201, true},
		{"Token", send(t, env, request{Method: "POST", Host: "a.localhost", Path: "/api/token/", CT: "application/json",
			Body: []byte(`{"username": "testuser", "password": "correct-horse-battery"}`)}), 200, true},
		{"TokenWrongPassword", send(t, env, request{Method: "POST", Host: "a.localhost", Path: "/api/token/", CT: "application/json",
			Body: []byte(`{"username": "testuser", "password": "wrong"}`)}), 401, true},
		{"Refresh", send(t, env, request{Method: "POST", Host: "a.localhost", Path: "/api/token/refresh/", CT: "application/json",
			Body: []byte(`{"refresh": "` + refresh + `"}`)}), 200, true},
		{"AuthenticatedList", send(t, env, request{Method: "GET", Host: "a.localhost", Path: "/api/todos/", Token: access}), 200, true},
		{"AuthenticatedCreate", send(t, env, request{Method: "POST", Host: "a.localhost", Path: "/api/todos/", Token: access, CT: "application/json",
			Body: []byte(`{"title": "t"}`)}), 201, true},
		{"AuthenticatedNotFound", send(t, env, request{Method: "GET", Host: "a.localhost", Path: "/api/todos/999/", Token: access}), 404, true},
		{"NoToken", send(t, env, request{Method: "GET", Host: "a.localhost", Path: "/api/todos/"}), 401, true},
		{"Admin", send(t, env, request{Method: "GET", Host: "localhost", Path: "/admin/tenants/", Token: adminToken}), 200, true},
		{"Index", send(t, env, request{Method: "GET", Host: "a.localhost", Path: "/api/"}), 200, true},
		{"UnknownHost", send(t, env, request{Method: "GET", Host: "nobody.localhost", Path: "/api/"}), 404, true},
		{"UnknownPath", send(t, env, request{Method: "GET", Host: "a.localhost", Path: "/nowhere"}), 404, true},
		{"Health", send(t, env, request{Method: "GET", Host: "localhost", Path: "/healthz"}), 200, true},
		{"Docs", send(t, env, request{Method: "GET", Host: "a.localhost", Path: "/api/openapi.json"}), 200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", tc.r.Status, tc.status, tc.r.Raw)
			}
			if got := tc.r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			cc := tc.r.Header.Get("Cache-Control")
			if tc.noStore && cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if !tc.noStore && (cc == "" || strings.Contains(cc, "public")) {
				t.Errorf("documentation Cache-Control %q", cc)
			}
		})
	}
}

// TestDatetimeRangeAfterUTC: a completion_time inside years 1 to 9999 as
// written but outside them in UTC is refused with 400 naming the field,
// in create, update and partial update, and nothing is written; the
// limits themselves are stored exactly.
func TestDatetimeRangeAfterUTC(t *testing.T) {
	env := apptest.New(t)
	env.CreateTenant(t, "dt_a", "a.localhost")
	access, _, _ := env.Register(t, "a.localhost", "alice")
	post := func(body string) response {
		return send(t, env, request{Method: "POST", Host: "a.localhost", Path: "/api/todos/", Token: access, CT: "application/json", Body: []byte(body)})
	}
	ok := post(`{"title": "edge", "completed": true, "completion_time": "2024-11-15T15:05:00Z"}`)
	if ok.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", ok.Status, ok.Raw)
	}
	id := fmt.Sprint(ok.object(t)["id"])
	snap := snapshot(t, env, "dt_a")
	for _, v := range []string{
		"0001-01-01T00:00:00+14:00", "0001-01-01T13:59:59+14:00", "0001-01-01T00:00:00.000001+00:01",
		"9999-12-31T23:59:59-14:00", "9999-12-31T23:00:00-01:00", "9999-12-31T23:59:59.999999-00:01",
	} {
		body := `{"title": "x", "completed": true, "completion_time": "` + v + `"}`
		for _, r := range []response{
			post(body),
			send(t, env, request{Method: "PUT", Host: "a.localhost", Path: "/api/todos/" + id + "/", Token: access, CT: "application/json", Body: []byte(body)}),
			send(t, env, request{Method: "PATCH", Host: "a.localhost", Path: "/api/todos/" + id + "/", Token: access, CT: "application/json", Body: []byte(`{"completion_time": "` + v + `"}`)}),
		} {
			m := wantError(t, r, http.StatusBadRequest)
			if len(m) != 1 || m["completion_time"] == nil {
				t.Fatalf("%s: want an error naming completion_time only, got %s", v, r.Raw)
			}
		}
	}
	if got := snapshot(t, env, "dt_a"); got != snap {
		t.Fatal("a refused datetime changed the tenant's rows")
	}
	for v, want := range map[string]string{
		"0001-01-01T00:00:00-01:00": "0001-01-01T01:00:00Z",
		"0001-01-01T14:00:00+14:00": "0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59+01:00": "9999-12-31T22:59:59Z",
		"9999-12-31T09:59:59-14:00": "9999-12-31T23:59:59Z",
	} {
		r := post(`{"title": "edge", "completed": true, "completion_time": "` + v + `"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("%s: %d %s", v, r.Status, r.Raw)
		}
		got := fmt.Sprint(r.object(t)["completion_time"])
		if !strings.HasPrefix(got, strings.TrimSuffix(want, "Z")) {
			t.Errorf("%s stored as %s, want %s", v, got, want)
		}
	}
}
