package e2e_test

import (
	"strings"
	"testing"

	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/internal/apptest"
)

// TestStartupConnectionsClosed: the connections start-up used for its
// work over every tenant (migrations, the spares) are closed once it is
// done, so their backends do not keep every tenant's catalog entries;
// the catalog pool serves on with new ones.
func TestStartupConnectionsClosed(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	first := apptest.Start(t, cfg)
	for _, s := range []string{"boot_a", "boot_b"} {
		first.CreateTenant(t, s, strings.ReplaceAll(s, "_", "-")+".localhost")
	}
	var closed int64
	env := apptest.StartWith(t, cfg, func(a *app.App) { closed = a.SQL.Stats().MaxIdleClosed })
	if closed < 1 {
		t.Fatalf("after start-up the catalog pool closed %d idle connections: the ones that migrated every tenant stay open", closed)
	}
	if _, _, id := env.Register(t, "boot-a.localhost", "alice"); id < 1 {
		t.Fatalf("register after start-up: user id %d", id)
	}
}
