package handlers_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/internal/pgtest"
)

// TestStrictModeWithoutSuperuser runs strictmt as an ordinary login role
// (CREATEROLE, owner of its database), as production should: tenants are
// created, requests run as the tenant role, and cross-tenant SQL is still
// refused.
func TestStrictModeWithoutSuperuser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	dbURL := pgtest.NewDatabase(t)
	u, _ := url.Parse(dbURL)
	dbName := strings.TrimPrefix(u.Path, "/")
	login := "app_" + strings.TrimPrefix(dbName, "t_")
	if len(login) > 63 {
		login = login[:63]
	}
	ident := pgx.Identifier{login}.Sanitize()
	for _, sql := range []string{
		"CREATE ROLE " + ident + " LOGIN CREATEROLE NOSUPERUSER",
		"ALTER DATABASE " + pgx.Identifier{dbName}.Sanitize() + " OWNER TO " + ident,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.AdminURL(t))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		// Tenant roles were made by the login role; drop them with it.
		rows, _ := c.Query(context.Background(), "SELECT rolname FROM pg_roles r JOIN pg_auth_members m ON m.roleid = r.oid JOIN pg_roles l ON l.oid = m.member WHERE l.rolname = $1", login)
		names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, n := range append(names, login) {
			c.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{n}.Sanitize())
		}
	})
	u.User = url.User(login)

	cfg := apptest.Config(t)
	cfg.Database.URL = u.String()
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "plain_a", "plain-a.localhost")
	env.CreateTenant(t, "plain_b", "plain-b.localhost")
	access, _, _ := env.Register(t, "plain-a.localhost", "alice")
	if r := env.Do(t, apptest.Request{Method: "POST", Host: "plain-a.localhost", Path: "/api/todos/", Token: access, Body: `{"title": "mine"}`}); r.Status != 201 {
		t.Fatalf("create todo as non-superuser: %d %s", r.Status, r.Raw)
	}

	var super bool
	env.App.DB.Raw("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super)
	if super {
		t.Fatal("the app is connected as a superuser; the test proves nothing")
	}
	sctx, s := scoped(t, env, "plain-a.localhost", true)
	defer s.Rollback()
	if err := runSQL(sctx, `SELECT count(*) FROM "plain_b".todos`); pgerr.Code(err) != "42501" {
		t.Fatalf("cross-tenant read as non-superuser: want 42501, got %v", err)
	}
	if err := env.App.Tenants.DeleteTenant(ctx, "plain_b", true); err != nil {
		t.Fatalf("delete tenant as non-superuser: %v", err)
	}
}
