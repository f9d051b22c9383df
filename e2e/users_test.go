package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
)

// TestKnownUsersForgottenEverywhere runs two instances on one database,
// each LISTENing as a served process does. Both remember a user once its
// token was checked (the next requests send no check); then an operator
// deletes, deactivates, renames or truncates the user's row by hand, and
// within a bound both instances refuse the token. Without a listener
// nothing is remembered.
func TestKnownUsersForgottenEverywhere(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	one := apptest.Start(t, cfg)
	if one.App.Cluster.Citus {
		t.Skip("Citus mode remembers no user (STRICTMT_TEST_CITUS): see TestCitusModeChecksTheUserOnEveryRequest")
	}
	two := apptest.Start(t, cfg) // as if another process
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	for _, env := range []*apptest.Env{one, two} {
		go env.App.Resolver.Listen(ctx, env.App.DirectURL, apptest.Logger(t))
	}
	listening := func(env *apptest.Env) bool {
		// A user remembered shows the listener is up.
		return env.App.Resolver.Store().KnownUserCount() > 0
	}
	one.CreateTenant(t, "ku_a", "ku-a.localhost")
	get := func(env *apptest.Env, token string) int {
		return env.Do(t, apptest.Request{Method: "GET", Host: "ku-a.localhost", Path: "/api/todos/", Token: token}).Status
	}

	// Wait for both listeners: until then a check is not remembered.
	warm, _, _ := one.Register(t, "ku-a.localhost", "warm")
	deadline := time.Now().Add(10 * time.Second)
	for !(listening(one) && listening(two)) {
		if time.Now().After(deadline) {
			t.Fatal("the instances never remembered a checked user: no listener?")
		}
		get(one, warm)
		get(two, warm)
		time.Sleep(10 * time.Millisecond)
	}

	refused := func(env *apptest.Env, access, _ string) (bool, int) {
		s := get(env, access)
		return s == http.StatusUnauthorized, s
	}
	// A renamed user keeps its token; what the instances remembered of
	// it (the owner name a created todo reports) follows the rename.
	renamed := func(env *apptest.Env, access, username string) (bool, int) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: "ku-a.localhost", Path: "/api/todos/", Token: access, Body: `{"title": "x"}`})
		return r.Status == http.StatusCreated && r.Body["owner_name"] == username+"_new", r.Status
	}
	changes := []struct {
		name string
		sql  string
		done func(env *apptest.Env, access, username string) (bool, int)
		ok   int // the status while not done
	}{
		{"Deleted", `DELETE FROM ku_a.users WHERE id = %d`, refused, http.StatusOK},
		{"Deactivated", `UPDATE ku_a.users SET is_active = false WHERE id = %d`, refused, http.StatusOK},
		{"Renamed", `UPDATE ku_a.users SET username = username || '_new' WHERE id = %d`, renamed, http.StatusCreated},
		{"Truncated", `TRUNCATE ku_a.users CASCADE`, refused, http.StatusOK},
	}
	for i, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			username := fmt.Sprintf("user%d", i)
			access, _, id := one.Register(t, "ku-a.localhost", username)
			before := [2]int{one.App.Resolver.Store().KnownUserCount(), two.App.Resolver.Store().KnownUserCount()}
			for _, env := range []*apptest.Env{one, two} {
				if s := get(env, access); s != http.StatusOK {
					t.Fatalf("before the change: %d", s)
				}
			}
			if one.App.Resolver.Store().KnownUserCount() <= before[0] || two.App.Resolver.Store().KnownUserCount() <= before[1] {
				t.Fatal("a checked user was not remembered")
			}
			sql := c.sql
			if c.name != "Truncated" {
				sql = fmt.Sprintf(c.sql, id)
			}
			if err := one.App.DB.Exec(sql).Error; err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			for n, env := range []*apptest.Env{one, two} {
				for {
					done, s := c.done(env, access, username)
					if done {
						t.Logf("instance %d saw the change %v after the commit", n+1, time.Since(changed).Round(time.Microsecond))
						break
					}
					if s != c.ok {
						t.Fatalf("instance %d: %d", n+1, s)
					}
					if time.Since(changed) > 2*time.Second {
						t.Fatalf("instance %d still acts on the user as it was 2 s after the commit (%s)", n+1, c.name)
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
	}

	t.Run("NothingRememberedWithoutListener", func(t *testing.T) {
		stop()
		deadline := time.Now().Add(10 * time.Second)
		for listening(one) || listening(two) {
			if time.Now().After(deadline) {
				t.Fatal("users still believed after the listeners stopped")
			}
			time.Sleep(10 * time.Millisecond)
		}
		access, _, id := one.Register(t, "ku-a.localhost", "late")
		if s := get(one, access); s != http.StatusOK {
			t.Fatalf("before the change: %d", s)
		}
		if err := one.App.DB.Exec(`DELETE FROM ku_a.users WHERE id = ?`, id).Error; err != nil {
			t.Fatal(err)
		}
		// No wait: with nothing remembered the very next request checks.
		if s := get(one, access); s != http.StatusUnauthorized {
			t.Fatalf("deleted user's token without a listener: %d", s)
		}
	})
}
