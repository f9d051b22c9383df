package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strictmt/strictmt/cli"
	"github.com/strictmt/strictmt/internal/apptest"
)

// recycle creates, empties and re-creates the tenant "recycled": first at
// old.localhost, then, after deleting it with its schema, at
// new.localhost. Each incarnation registers a user, who is user 1 of its
// tenant both times. It returns the old user's tokens and the new user's
// access token.
func recycle(t *testing.T, env *apptest.Env, create, drop func(t *testing.T, domain string)) (oldAccess, oldRefresh, newAccess string) {
	t.Helper()
	create(t, "old.localhost")
	oldAccess, oldRefresh, oldID := env.Register(t, "old.localhost", "first_customer")
	if r := env.Do(t, apptest.Request{Method: "POST", Host: "old.localhost", Path: "/api/todos/", Token: oldAccess, Body: `{"title": "old customer's todo"}`}); r.Status != http.StatusCreated {
		t.Fatalf("old tenant's todo: %d %s", r.Status, r.Raw)
	}
	drop(t, "old.localhost")
	create(t, "new.localhost")
	newAccess, _, newID := env.Register(t, "new.localhost", "second_customer")
	if oldID != 1 || newID != 1 {
		t.Fatalf("user ids %d and %d: the attack needs both to be 1", oldID, newID)
	}
	if r := env.Do(t, apptest.Request{Method: "POST", Host: "new.localhost", Path: "/api/todos/", Token: newAccess, Body: `{"title": "new customer's secret"}`}); r.Status != http.StatusCreated {
		t.Fatalf("new tenant's todo: %d %s", r.Status, r.Raw)
	}
	return oldAccess, oldRefresh, newAccess
}

// attackRecycled presents the deleted tenant's tokens to its successor:
// every use is refused, and the new customer's data is not shown.
func attackRecycled(t *testing.T, env *apptest.Env, oldAccess, oldRefresh, newAccess string) {
	t.Helper()
	post := func(path, field, token string) apptest.Response {
		return env.Do(t, apptest.Request{Method: "POST", Host: "new.localhost", Path: path, Body: map[string]string{field: token}})
	}
	for name, r := range map[string]apptest.Response{
		"ErrOldAccessReadsTodos":     env.Do(t, apptest.Request{Method: "GET", Host: "new.localhost", Path: "/api/todos/", Token: oldAccess}),
		"ErrOldAccessWritesTodos":    env.Do(t, apptest.Request{Method: "POST", Host: "new.localhost", Path: "/api/todos/", Token: oldAccess, Body: `{"title": "planted"}`}),
		"ErrOldRefreshMintsAccess":   post("/api/token/refresh/", "refresh", oldRefresh),
		"ErrOldAccessVerifies":       post("/api/token/verify/", "token", oldAccess),
		"ErrOldRefreshVerifies":      post("/api/token/verify/", "token", oldRefresh),
		"ErrOldRefreshBlacklistable": post("/api/token/blacklist/", "refresh", oldRefresh),
	} {
		t.Run(name, func(t *testing.T) {
			if r.Status != http.StatusUnauthorized || r.Body["detail"] != "Given token not valid for this tenant" {
				t.Fatalf("want 401 Given token not valid for this tenant, got %d %s", r.Status, r.Raw)
			}
			if strings.Contains(string(r.Raw), "secret") {
				t.Fatalf("the new tenant's data leaked: %s", r.Raw)
			}
		})
	}
	t.Run("NewCustomersTokenWorks", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "new.localhost", Path: "/api/todos/", Token: newAccess})
		if r.Status != http.StatusOK || r.Body["count"] != 1.0 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	var n int64
	env.App.DB.Raw(`SELECT count(*) FROM recycled.todos`).Scan(&n)
	if n != 1 {
		t.Fatalf("the new tenant holds %d todos, want its own 1", n)
	}
}

// TestRecycledTenantTokens: a tenant deleted with its schema and created
// again under the same schema name is another customer; no token of the
// first one works for the second (tokens carry the catalog id, which is
// never reused).
func TestRecycledTenantTokens(t *testing.T) {
	t.Parallel()
	t.Run("AdminAPI", func(t *testing.T) {
		t.Parallel()
		cfg := apptest.Config(t)
		cfg.Admin.Token = adminToken
		env := apptest.Start(t, cfg)
		admin := func(t *testing.T, method, path string, body any) apptest.Response {
			t.Helper()
			return env.Do(t, apptest.Request{Method: method, Host: "localhost", Path: path, Token: adminToken, Body: body})
		}
		create := func(t *testing.T, domain string) {
			t.Helper()
			if r := admin(t, "POST", "/admin/tenants/", map[string]any{"name": "Recycled", "schema_name": "recycled", "domains": []string{domain}}); r.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.Status, r.Raw)
			}
		}
		drop := func(t *testing.T, _ string) {
			t.Helper()
			if r := admin(t, "DELETE", "/admin/tenants/recycled/?drop_schema=true", nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.Status, r.Raw)
			}
		}
		oldAccess, oldRefresh, newAccess := recycle(t, env, create, drop)
		attackRecycled(t, env, oldAccess, oldRefresh, newAccess)
	})
	t.Run("CLI", func(t *testing.T) {
		t.Parallel()
		env := apptest.New(t)
		cliEnv := []string{
			"STRICTMT_DATABASE_URL=" + env.Config.Database.URL,
			"STRICTMT_AUTH_JWT_SECRET=" + apptest.Secret,
			"STRICTMT_LOG_LEVEL=error",
			"STRICTMT_DEV_DEMO_TENANT=false",
		}
		run := func(t *testing.T, args ...string) {
			t.Helper()
			var out, errb bytes.Buffer
			if code := cli.Run(context.Background(), args, cliEnv, &out, &errb); code != 0 {
				t.Fatalf("strictmt %q: exit %d\nstdout: %s\nstderr: %s", args, code, out.String(), errb.String())
			}
		}
		create := func(t *testing.T, domain string) {
			run(t, "tenants", "create", "--name", "Recycled", "--schema", "recycled", "--domain", domain)
		}
		drop := func(t *testing.T, _ string) {
			run(t, "tenants", "delete", "recycled", "--drop-schema", "--yes")
		}
		oldAccess, oldRefresh, newAccess := recycle(t, env, create, drop)
		attackRecycled(t, env, oldAccess, oldRefresh, newAccess)
	})
}

// TestUsernameLookalikes registers names that look like "alice" or "bob"
// to a person: NFKC makes the full-width one "alice" (taken), and the
// invisible and direction characters are not letters, digits or @.+-_.
// Nothing is written, and none of them can log in as alice either.
func TestUsernameLookalikes(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "looks", "looks.localhost")
	_, _, aliceID := env.Register(t, "looks.localhost", "alice")
	env.Register(t, "looks.localhost", "bob")
	const invalid = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
	for _, tt := range []struct {
		name, username, msg string
	}{
		{"ErrFullWidth", "ａｌｉｃｅ", "A user with that username already exists."},
		{"ErrFullWidthUpper", "ＡＬＩＣＥ", "A user with that username already exists."},
		{"ErrZeroWidthSpace", "alice\u200b", invalid},
		{"ErrRightToLeftOverride", "\u202eecila", invalid},
		{"ErrByteOrderMark", "alice\ufeff", invalid},
		{"ErrSoftHyphen", "al\u00adice", invalid},
		{"ErrWordJoiner", "bob\u2060", invalid},
		{"ErrZeroWidthJoiner", "bo\u200db", invalid},
		{"ErrCombiningOverlay", "alice\u0338", invalid},
		{"ErrSpace", "ali ce", invalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := env.Do(t, apptest.Request{Method: "POST", Host: "looks.localhost", Path: "/api/register/", Body: map[string]string{
				"username": tt.username, "email": "mallory@example.com", "password": "correct-horse-battery",
			}})
			msgs, _ := r.Body["username"].([]any)
			if r.Status != http.StatusBadRequest || len(msgs) != 1 || msgs[0] != tt.msg {
				t.Fatalf("want 400 {\"username\": [%q]}, got %d %s", tt.msg, r.Status, r.Raw)
			}
		})
	}
	var users []string
	env.App.DB.Raw(`SELECT username FROM looks.users ORDER BY id`).Scan(&users)
	if fmt.Sprint(users) != "[alice bob]" {
		t.Fatalf("users %q, want only alice and bob", users)
	}
	t.Run("LoginComparesNormalisedForms", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: "looks.localhost", Path: "/api/token/", Body: map[string]string{"username": "ａｌｉｃｅ", "password": "correct-horse-battery"}})
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		me := env.Do(t, apptest.Request{Method: "POST", Host: "looks.localhost", Path: "/api/todos/", Token: r.Body["access"].(string), Body: `{"title": "mine"}`})
		if me.Status != http.StatusCreated || me.Body["owner"] != float64(aliceID) {
			t.Fatalf("logged in as someone else: %d %s", me.Status, me.Raw)
		}
	})
	t.Run("ErrInvisibleCharacterLogin", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: "looks.localhost", Path: "/api/token/", Body: map[string]string{"username": "alice\u200b", "password": "correct-horse-battery"}})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("UnicodeLettersAreUsernames", func(t *testing.T) {
		// Django's validator allows letters of any script; NFKC composes
		// "e" + combining diaeresis into "ë".
		r := env.Do(t, apptest.Request{Method: "POST", Host: "looks.localhost", Path: "/api/register/", Body: map[string]string{
			"username": "zoe\u0308_Ωμέγα", "email": "zoe@example.com", "password": "correct-horse-battery",
		}})
		if r.Status != http.StatusCreated || r.Body["user"].(map[string]any)["username"] != "zo\u00eb_Ωμέγα" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
}

var throttledDetail = regexp.MustCompile(`^Request was throttled\. Expected available in ([0-9]+) seconds?\.$`)

// wantThrottled asserts DRF's 429 with a Retry-After that agrees with
// the message.
func wantThrottled(t *testing.T, r apptest.Response) {
	t.Helper()
	m := throttledDetail.FindStringSubmatch(fmt.Sprint(r.Body["detail"]))
	if r.Status != http.StatusTooManyRequests || m == nil || len(r.Body) != 1 {
		t.Fatalf("want 429 Request was throttled, got %d %s", r.Status, r.Raw)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || strconv.Itoa(secs) != m[1] || secs < 1 {
		t.Fatalf("Retry-After %q with detail %q", r.Header.Get("Retry-After"), r.Body["detail"])
	}
}

// TestLoginBruteForce is the probe's attack: wrong passwords, then the
// right one. With the shipped rate (10/min per tenant and username) the
// 11th attempt within a minute and the right password after it get 429,
// however the attempts are spread over that minute; another username and
// the same username on another tenant are not affected. The throttles
// read a clock the test moves, so a slow machine cannot stretch the
// minute.
func TestLoginBruteForce(t *testing.T) {
	t.Parallel()
	clock := apptest.NewClock()
	env := apptest.StartWithThrottleClock(t, apptest.Config(t), clock)
	env.CreateTenant(t, "brute_a", "brute-a.localhost")
	env.CreateTenant(t, "brute_b", "brute-b.localhost")
	for _, host := range []string{"brute-a.localhost", "brute-b.localhost"} {
		env.Register(t, host, "victim")
		env.Register(t, host, "bystander")
	}
	login := func(host, username, password string) apptest.Response {
		return env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/token/", Body: map[string]string{"username": username, "password": password}})
	}
	for i := range 10 {
		if r := login("brute-a.localhost", "victim", fmt.Sprintf("guess-%d-wrong", i)); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i+1, r.Status, r.Raw)
		}
		clock.Advance(5 * time.Second) // ten guesses over 50 seconds
	}
	r := login("brute-a.localhost", "victim", "guess-11-wrong")
	wantThrottled(t, r)
	if r.Header.Get("Retry-After") != "10" {
		t.Fatalf("Retry-After %q, want 10: the first guess is a minute old in 10 s", r.Header.Get("Retry-After"))
	}
	// The right password does not get through either, nor does another
	// spelling of the same name.
	wantThrottled(t, login("brute-a.localhost", "victim", "correct-horse-battery"))
	wantThrottled(t, login("brute-a.localhost", "VICTIM", "correct-horse-battery"))
	wantThrottled(t, login("brute-a.localhost", "ｖｉｃｔｉｍ", "correct-horse-battery"))
	if r := login("brute-a.localhost", "bystander", "correct-horse-battery"); r.Status != http.StatusOK {
		t.Fatalf("another username was throttled: %d %s", r.Status, r.Raw)
	}
	if r := login("brute-b.localhost", "victim", "correct-horse-battery"); r.Status != http.StatusOK {
		t.Fatalf("the same username on another tenant was throttled: %d %s", r.Status, r.Raw)
	}
	// Once the first guess is a minute old, one attempt is allowed again.
	clock.Advance(10 * time.Second)
	if r := login("brute-a.localhost", "victim", "correct-horse-battery"); r.Status != http.StatusOK {
		t.Fatalf("after the wait: %d %s", r.Status, r.Raw)
	}
	wantThrottled(t, login("brute-a.localhost", "victim", "correct-horse-battery"))
}
