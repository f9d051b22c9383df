package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmt/strictmt/cli"
	"github.com/strictmt/strictmt/internal/apptest"
)

// stateBound is how soon a state set through one instance is enforced by
// another (README, "Tenant states"): the catalog change is announced by
// NOTIFY, and each instance drops its cached resolutions on it.
const stateBound = 2 * time.Second

// twoInstances starts two strictmt instances, with the admin API, on one
// database, each following the catalog changes of the other.
func twoInstances(t *testing.T) (one, two *apptest.Env) {
	t.Helper()
	one = newAdminEnv(t)
	two = apptest.Start(t, one.Config)
	one.ListenCatalog(t)
	two.ListenCatalog(t)
	return one, two
}

// checksums returns a digest of every row of every table of schema.
func checksums(t *testing.T, env *apptest.Env, schema string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range []string{"users", "todos", "projects", "tasks", "outstanding_tokens"} {
		var sum string
		q := fmt.Sprintf(`SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x.id)), '') FROM %q.%q x`, schema, table)
		if err := env.App.DB.Raw(q).Scan(&sum).Error; err != nil {
			t.Fatal(err)
		}
		out[table] = sum
	}
	return out
}

// waitFor polls probe until it answers want and returns how long that
// took; it fails the test after stateBound.
func waitFor(t *testing.T, what string, want int, probe func() int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := probe()
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > stateBound {
			t.Fatalf("%s: still %d after %v, want %d", what, got, stateBound, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestTenantStatesAcrossInstances sets each state through one instance
// and checks that the other enforces it within stateBound: read_only
// serves reads and refuses writes with 503 and Retry-After, suspended
// refuses everything but the API's description with 403 (tokens too),
// and a suspended tenant's rows are unchanged when it is active again.
func TestTenantStatesAcrossInstances(t *testing.T) {
	t.Parallel()
	one, two := twoInstances(t)
	one.CreateTenant(t, "st_a", "st-a.localhost")
	access, refresh, _ := one.Register(t, "st-a.localhost", "alice")
	do := func(env *apptest.Env, method, path string, body any) apptest.Response {
		return env.Do(t, apptest.Request{Method: method, Host: "st-a.localhost", Path: path, Token: access, Body: body})
	}
	if r := do(one, "POST", "/api/todos/", map[string]any{"title": "before"}); r.Status != 201 {
		t.Fatalf("todo: %d %s", r.Status, r.Raw)
	}
	if r := do(two, "GET", "/api/todos/", nil); r.Status != 200 { // the second instance has the tenant cached
		t.Fatalf("GET on the second instance: %d %s", r.Status, r.Raw)
	}
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r := adminDo(t, one, "PATCH", "/admin/tenants/st_a/", map[string]any{"state": "read_only", "state_reason": "moving it", "state_until": until})
	admWantStatus(t, r, 200)
	if r.Body["state"] != "read_only" || r.Body["state_reason"] != "moving it" || r.Body["state_until"] != until {
		t.Fatalf("PATCH read_only: %s", r.Raw)
	}
	took := waitFor(t, "a write on the second instance after read_only", 503, func() int {
		return do(two, "PATCH", "/api/todos/1/", map[string]any{"title": "refused"}).Status
	})
	t.Logf("read_only enforced by the other instance after %v", took)
	// The probe's writes that reached the second instance before the
	// change did were committed; from here on nothing may change.
	before := checksums(t, one, "st_a")
	t.Run("ReadOnly", func(t *testing.T) {
		for _, env := range []*apptest.Env{one, two} {
			for _, c := range []struct {
				method, path string
				body         any
				token        string
				status       int
			}{
				{"GET", "/api/todos/", nil, access, 200},
				{"GET", "/api/todos/1/", nil, access, 200},
				{"POST", "/api/todos/", map[string]any{"title": "refused"}, access, 503},
				{"PUT", "/api/todos/1/", map[string]any{"title": "refused"}, access, 503},
				{"DELETE", "/api/todos/1/", nil, access, 503},
				{"POST", "/api/register/", map[string]any{"username": "bob", "email": "b@example.com", "password": "correct-horse-battery"}, "", 503},
				{"POST", "/api/token/", map[string]any{"username": "alice", "password": "correct-horse-battery"}, "", 503},
				{"POST", "/api/token/blacklist/", map[string]any{"refresh": refresh}, "", 503},
				{"POST", "/api/token/verify/", map[string]any{"token": access}, "", 200},
				{"POST", "/api/token/refresh/", map[string]any{"refresh": refresh}, "", 200}, // refresh tokens are not rotated here
			} {
				r := env.Do(t, apptest.Request{Method: c.method, Host: "st-a.localhost", Path: c.path, Token: c.token, Body: c.body})
				if r.Status != c.status {
					t.Errorf("%s %s: %d %s", c.method, c.path, r.Status, r.Raw)
				}
				if c.status == 503 {
					if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" || admDetail(r) == "" {
						t.Errorf("%s %s: Retry-After %q, %s", c.method, c.path, ra, r.Raw)
					}
				}
			}
		}
	})

	r = adminDo(t, two, "PATCH", "/admin/tenants/st_a/", map[string]any{"state": "suspended", "state_reason": "unpaid"})
	admWantStatus(t, r, 200)
	waitFor(t, "a read on the first instance after suspended", 403, func() int { return do(one, "GET", "/api/todos/", nil).Status })
	t.Run("Suspended", func(t *testing.T) {
		for _, env := range []*apptest.Env{one, two} {
			for _, c := range []struct {
				method, path string
				body         any
				status       int
			}{
				{"GET", "/api/todos/", nil, 403},
				{"GET", "/api/projects/", nil, 403},
				{"POST", "/api/todos/", map[string]any{"title": "refused"}, 403},
				{"POST", "/api/token/", map[string]any{"username": "alice", "password": "correct-horse-battery"}, 403},
				{"POST", "/api/token/refresh/", map[string]any{"refresh": refresh}, 403},
				{"POST", "/api/register/", map[string]any{"username": "bob", "email": "b@example.com", "password": "correct-horse-battery"}, 403},
				{"GET", "/api/", nil, 200},
			} {
				if r := do(env, c.method, c.path, c.body); r.Status != c.status || c.status == 403 && strings.Contains(string(r.Raw), "unpaid") {
					t.Errorf("%s %s: %d %s", c.method, c.path, r.Status, r.Raw)
				}
			}
			if status, _ := fetchStatus(t, env, "/api/openapi.json"); status != 200 {
				t.Errorf("openapi.json: %d", status)
			}
		}
	})

	admWantStatus(t, adminDo(t, one, "PATCH", "/admin/tenants/st_a/", map[string]any{"state": "active"}), 200)
	waitFor(t, "a read on the second instance after active", 200, func() int { return do(two, "GET", "/api/todos/", nil).Status })
	if after := checksums(t, one, "st_a"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rows changed across the states:\nbefore %v\nafter  %v", before, after)
	}
	if r := do(two, "POST", "/api/todos/", map[string]any{"title": "after"}); r.Status != 201 {
		t.Fatalf("a write once active again: %d %s", r.Status, r.Raw)
	}
	if r := adminDo(t, one, "GET", "/admin/tenants/st_a/", nil); r.Body["state"] != "active" || r.Body["state_reason"] != "" || r.Body["state_until"] != nil {
		t.Fatalf("active again: %s", r.Raw)
	}
}

// fetchStatus gets path on the tenant host without decoding the answer.
func fetchStatus(t *testing.T, env *apptest.Env, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", env.Server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "st-a.localhost"
	resp, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// TestReadOnlyRacingWrites switches a tenant to read_only through one
// instance while clients write through the other: every write is either
// answered 201 and committed whole (its todo and its task), or refused
// with 503 and nothing of it written.
func TestReadOnlyRacingWrites(t *testing.T) {
	t.Parallel()
	one, two := twoInstances(t)
	one.CreateTenant(t, "race_a", "race-a.localhost")
	access, _, _ := one.Register(t, "race-a.localhost", "alice")
	if r := two.Do(t, apptest.Request{Method: "POST", Host: "race-a.localhost", Path: "/api/projects/", Token: access, Body: map[string]any{"name": "p"}}); r.Status != 201 {
		t.Fatalf("project: %d %s", r.Status, r.Raw)
	}
	type outcome struct {
		title  string
		status int
	}
	var mu sync.Mutex
	var outcomes []outcome
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				title := fmt.Sprintf("w%d-%d", w, i)
				r := two.Do(t, apptest.Request{Method: "POST", Host: "race-a.localhost", Path: "/api/todos/", Token: access, Body: map[string]any{"title": title}})
				mu.Lock()
				outcomes = append(outcomes, outcome{title, r.Status})
				mu.Unlock()
				if r.Status == 503 {
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	admWantStatus(t, adminDo(t, one, "PATCH", "/admin/tenants/race_a/", map[string]any{"state": "read_only"}), 200)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stateBound + 5*time.Second):
		close(stop)
		<-done
		t.Fatal("writers were not refused")
	}
	var committed, refused int
	for _, o := range outcomes {
		var n int64
		if err := one.App.DB.Raw(`SELECT count(*) FROM race_a.todos WHERE title = ?`, o.title).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		switch {
		case o.status == 201 && n == 1:
			committed++
		case o.status == 503 && n == 0:
			refused++
		default:
			t.Errorf("%s: answered %d, %d rows", o.title, o.status, n)
		}
	}
	if committed == 0 || refused != 6 {
		t.Fatalf("%d committed, %d refused", committed, refused)
	}
}

// TestStateRefusals: an unknown state, a reason over the limit, an end in
// the past, a purge date on a tenant that is not suspended, through the
// admin API and the CLI: each a clear error, and nothing changes.
func TestStateRefusals(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	env.CreateTenant(t, "ref_a", "ref-a.localhost")
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"state": "frozen"}, "state"},
		{map[string]any{"state": ""}, "state"},
		{map[string]any{"state": 3}, "state"},
		{map[string]any{"state": "suspended", "state_reason": strings.Repeat("x", 501)}, "state_reason"},
		{map[string]any{"state": "read_only", "state_until": past}, "state_until"},
		{map[string]any{"state": "read_only", "state_until": "tomorrow"}, "state_until"},
		{map[string]any{"state": "read_only", "purge_after": future}, "purge_after"},
		{map[string]any{"state": "suspended", "purge_after": past}, "purge_after"},
		{map[string]any{"state_reason": "no state"}, "state"},
	} {
		admWantField(t, adminDo(t, env, "PATCH", "/admin/tenants/ref_a/", c.body), c.field)
	}
	if r := adminDo(t, env, "GET", "/admin/tenants/ref_a/", nil); r.Body["state"] != "active" || r.Body["state_reason"] != "" {
		t.Fatalf("changed by refused requests: %s", r.Raw)
	}
	for _, args := range [][]string{
		{"tenants", "set-state", "ref_a", "frozen"},
		{"tenants", "set-state", "ref_a", "read_only", "--until", "2001-01-01T00:00:00Z"},
		{"tenants", "set-state", "ref_a", "read_only", "--until", "someday"},
		{"tenants", "set-state", "ref_a", "active", "--purge-after", "1h"},
		{"tenants", "set-state", "nobody", "suspended"},
		{"tenants", "purge", "ref_a"},
	} {
		code, _, stderr := runCLI(t, env, args...)
		if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "strictmt: ") {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
	if r := adminDo(t, env, "GET", "/admin/tenants/ref_a/", nil); r.Body["state"] != "active" {
		t.Fatalf("changed by refused commands: %s", r.Raw)
	}
}

// runCLI runs strictmt on env's database.
func runCLI(t *testing.T, env *apptest.Env, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, []string{
		"STRICTMT_DATABASE_URL=" + env.Config.Database.URL,
		"STRICTMT_AUTH_JWT_SECRET=" + apptest.Secret,
		"STRICTMT_LOG_LEVEL=error",
		"STRICTMT_DEV_DEMO_TENANT=false",
	}, &out, &errb)
	return code, out.String(), errb.String()
}

// TestPurgeOnlyDue purges with due, not yet due, suspended without a
// date, and active tenants: only the due one goes, schema, role, catalog
// rows and domains; naming a tenant that is not due purges nothing.
func TestPurgeOnlyDue(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	for _, s := range []string{"pu_due", "pu_later", "pu_kept", "pu_active"} {
		env.CreateTenant(t, s, strings.ReplaceAll(s, "_", "-")+".localhost")
	}
	set := time.Now()
	for _, args := range [][]string{
		{"tenants", "set-state", "pu_due", "suspended", "--reason", "gone", "--purge-after", "3s"},
		{"tenants", "set-state", "pu_later", "suspended", "--purge-after", "720h"},
		{"tenants", "set-state", "pu_kept", "suspended"},
	} {
		if code, _, stderr := runCLI(t, env, args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	code, out, _ := runCLI(t, env, "tenants", "purge", "--dry-run")
	if time.Since(set) < 3*time.Second && (code != 0 || !strings.Contains(out, "no tenant is due")) {
		t.Fatalf("dry run before the date: %d %s", code, out)
	}
	time.Sleep(3*time.Second - time.Since(set) + 100*time.Millisecond)
	if code, out, _ := runCLI(t, env, "tenants", "purge", "--dry-run"); code != 0 || !strings.Contains(out, "would purge tenant pu_due") || strings.Count(out, "\n") != 1 {
		t.Fatalf("dry run: %d %s", code, out)
	}
	if !admSchemaExists(t, env, "pu_due") {
		t.Fatal("a dry run purged")
	}
	if code, _, stderr := runCLI(t, env, "tenants", "purge", "pu_due", "pu_later"); code != 1 || !strings.Contains(stderr, "pu_later") {
		t.Fatalf("naming a tenant not due: %d %s", code, stderr)
	}
	if !admSchemaExists(t, env, "pu_due") {
		t.Fatal("a refused purge deleted a tenant")
	}
	code, out, stderr := runCLI(t, env, "tenants", "purge")
	if code != 0 || !strings.Contains(out, "purged tenant pu_due") || strings.Count(out, "\n") != 1 {
		t.Fatalf("purge: %d %s %s", code, out, stderr)
	}
	var clients, domains, roles int64
	if err := env.App.DB.Raw(`SELECT (SELECT count(*) FROM public.clients WHERE schema_name = 'pu_due'), (SELECT count(*) FROM public.domains WHERE domain = 'pu-due.localhost'),
		(SELECT count(*) FROM pg_roles WHERE rolname LIKE 'pu\_due\_t%')`).Row().Scan(&clients, &domains, &roles); err != nil {
		t.Fatal(err)
	}
	if admSchemaExists(t, env, "pu_due") || clients+domains+roles != 0 {
		t.Fatalf("left of pu_due: schema %v, %d clients, %d domains, %d roles", admSchemaExists(t, env, "pu_due"), clients, domains, roles)
	}
	for _, s := range []string{"pu_later", "pu_kept", "pu_active"} {
		if !admSchemaExists(t, env, s) || adminDo(t, env, "GET", "/admin/tenants/"+s+"/", nil).Status != 200 {
			t.Errorf("%s was purged", s)
		}
	}
}

// TestReadOnlyRotatingRefresh: with refresh tokens rotated, a refresh
// records the new token, so a read-only tenant refuses it.
func TestReadOnlyRotatingRefresh(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Admin.Token = adminToken
	cfg.Auth.RotateRefreshTokens = true
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "rot_a", "rot-a.localhost")
	_, refresh, _ := env.Register(t, "rot-a.localhost", "alice")
	admWantStatus(t, adminDo(t, env, "PATCH", "/admin/tenants/rot_a/", map[string]any{"state": "read_only"}), 200)
	r := env.Do(t, apptest.Request{Method: "POST", Host: "rot-a.localhost", Path: "/api/token/refresh/", Body: map[string]any{"refresh": refresh}})
	if r.Status != 503 || r.Header.Get("Retry-After") != "60" {
		t.Fatalf("a rotating refresh of a read-only tenant: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
}
