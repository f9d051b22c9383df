package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
)

// TestCitusModeChecksTheUserOnEveryRequest: on Citus the users table's
// change trigger fires on the worker that holds the tenant, so its
// notification never reaches strictmt. Here the triggers are dropped to
// stand for that: in Citus mode a user deactivated by hand in SQL is
// refused on the very next request, because nothing is remembered; on
// plain PostgreSQL, where the trigger is what makes remembering safe, the
// same request is still served from memory (the control: it shows what
// the Citus mode must not rely on).
func TestCitusModeChecksTheUserOnEveryRequest(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, citus string
		want        int
	}{
		{"CitusModeRefusesAtOnce", "on", http.StatusUnauthorized},
		{"PostgreSQLRemembersWithoutTheTrigger", "off", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := apptest.Config(t)
			cfg.Database.Citus = c.citus
			cfg.Tenancy.CacheTTL = time.Hour
			env := apptest.Start(t, cfg)
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			go env.App.Resolver.Listen(ctx, env.App.DirectURL, apptest.Logger(t))
			env.CreateTenant(t, "ck_a", "ck-a.localhost")
			access, _, id := env.Register(t, "ck-a.localhost", "checked")
			get := func() int {
				return env.Do(t, apptest.Request{Method: "GET", Host: "ck-a.localhost", Path: "/api/todos/", Token: access}).Status
			}
			// Served, and (where remembering is on) remembered once the
			// listener is up.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if s := get(); s != http.StatusOK {
					t.Fatalf("before the change: %d", s)
				}
				if c.citus == "on" || env.App.Resolver.Store().KnownUserCount() > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if c.citus == "on" && env.App.Resolver.Store().KnownUserCount() != 0 {
				t.Fatalf("Citus mode remembers %d users", env.App.Resolver.Store().KnownUserCount())
			}
			for _, q := range []string{
				"DROP TRIGGER users_changed ON ck_a.users",
				"DROP TRIGGER users_truncated ON ck_a.users",
				fmt.Sprintf("UPDATE ck_a.users SET is_active = false WHERE id = %d", id),
			} {
				if err := env.App.DB.Exec(q).Error; err != nil {
					t.Fatal(err)
				}
			}
			if s := get(); s != c.want {
				t.Fatalf("the request right after the deactivation: %d, want %d", s, c.want)
			}
		})
	}
}
