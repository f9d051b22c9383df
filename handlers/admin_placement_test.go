package handlers_test

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/strictmt/strictmt/handlers"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/tenants"
)

// notCitus is the detail of every placement answer on plain PostgreSQL.
const notCitus = "This database is not on Citus: every tenant schema is on this one PostgreSQL server."

// newPlacementEnv starts an app with the admin API and serves it through a
// router whose Deps.Placements is a tenants.PlacementService on db (the
// app's direct pool when nil); placements, when false, leaves it out. The
// router is built here, not by app.Handler, so that a test can give it a
// database of its own.
func newPlacementEnv(t *testing.T, db *sql.DB, placements bool) *apptest.Env {
	t.Helper()
	env := newAdminEnv(t)
	if db == nil {
		db = env.App.DirectSQL
	}
	d := handlers.Deps{
		Log: apptest.Logger(t), Tenants: env.App.Tenants, AdminToken: adminToken, PublicHosts: env.Config.Tenancy.PublicHosts,
		MaxBodyBytes: env.Config.HTTP.MaxBodyBytes, RequestTimeout: env.Config.HTTP.RequestTimeout, Ready: env.App.Ready,
	}
	if placements {
		d.Placements = tenants.PlacementService{DB: db}
	}
	srv := httptest.NewServer(handlers.NewRouter(d))
	t.Cleanup(srv.Close)
	return &apptest.Env{App: env.App, Server: srv, Config: env.Config}
}

func TestAdminPlacementsOnPlainPostgreSQL(t *testing.T) {
	t.Parallel()
	env := newPlacementEnv(t, nil, true)
	env.CreateTenant(t, "adm_place", "adm-place.localhost")

	cases := []struct {
		name         string
		method, path string
		body         any
		status       int
		detail       string // for a {"detail"} answer
		field        string // for a 400 {"field": [...]} answer
	}{
		{"ErrNotCitusAllTenants", "GET", "/admin/placements/", nil, 409, notCitus, ""},
		{"ErrNotCitusAllTenantsNoSlash", "GET", "/admin/placements", nil, 409, notCitus, ""},
		{"ErrNotCitusOneTenant", "GET", "/admin/tenants/adm_place/placement/", nil, 409, notCitus, ""},
		{"ErrNotCitusMove", "POST", "/admin/tenants/adm_place/move/", map[string]any{"node": "10.0.0.7:5432"}, 409, notCitus, ""},
		{"ErrNotCitusMoveBlockingWrites", "POST", "/admin/tenants/adm_place/move", map[string]any{"node": "worker-2:5432", "block_writes": true}, 409, notCitus, ""},
		{"ErrUnknownSchemaPlacement", "GET", "/admin/tenants/nobody/placement/", nil, 404, `No tenant with schema_name "nobody".`, ""},
		{"ErrUnknownSchemaMove", "POST", "/admin/tenants/nobody/move/", map[string]any{"node": "10.0.0.7:5432"}, 404, `No tenant with schema_name "nobody".`, ""},
		{"ErrNodeWithoutPort", "POST", "/admin/tenants/adm_place/move/", map[string]any{"node": "worker-2"}, 400, "", "node"},
		{"ErrNodePortOutOfRange", "POST", "/admin/tenants/adm_place/move/", map[string]any{"node": "worker-2:70000"}, 400, "", "node"},
		{"ErrNodeMissing", "POST", "/admin/tenants/adm_place/move/", map[string]any{}, 400, "", "node"},
		{"ErrNodeBlank", "POST", "/admin/tenants/adm_place/move/", map[string]any{"node": ""}, 400, "", "node"},
		{"ErrNodeNotAString", "POST", "/admin/tenants/adm_place/move/", map[string]any{"node": 5432}, 400, "", "node"},
		{"ErrBlockWritesNotABoolean", "POST", "/admin/tenants/adm_place/move/", map[string]any{"node": "w1:5432", "block_writes": "later"}, 400, "", "block_writes"},
		{"ErrBadLimit", "GET", "/admin/placements/?limit=0", nil, 400, "", "limit"},
		{"ErrPlacementsMethodNotAllowed", "DELETE", "/admin/placements/", nil, 405, `Method "DELETE" not allowed.`, ""},
		{"ErrMoveMethodNotAllowed", "GET", "/admin/tenants/adm_place/move/", nil, 405, `Method "GET" not allowed.`, ""},
		{"ErrPlacementMethodNotAllowed", "POST", "/admin/tenants/adm_place/placement/", map[string]any{}, 405, `Method "POST" not allowed.`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := adminDo(t, env, tc.method, tc.path, tc.body)
			if tc.field != "" {
				admWantField(t, r, tc.field)
				return
			}
			admWantStatus(t, r, tc.status)
			if admDetail(r) != tc.detail {
				t.Fatalf("detail %q, want %q", admDetail(r), tc.detail)
			}
		})
	}

	t.Run("ErrWithoutToken", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/admin/tenants/adm_place/move/", Body: map[string]any{"node": "w1:5432"}})
		admWantStatus(t, r, http.StatusUnauthorized)
	})
	t.Run("ErrOnTenantHost", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "adm-place.localhost", Path: "/admin/placements/", Token: adminToken})
		admWantStatus(t, r, http.StatusNotFound)
	})
}

// TestAdminPlacementRefusesHostileInputWithoutSQL serves the placement
// paths on a database that cannot be reached: an answer other than 500
// was given without running SQL.
func TestAdminPlacementRefusesHostileInputWithoutSQL(t *testing.T) {
	t.Parallel()
	env := newPlacementEnv(t, pgtest.Unreachable(t), true)
	hostile := `x"; DROP SCHEMA public --`
	escaped := "x%22%3B%20DROP%20SCHEMA%20public%20--"

	t.Run("ErrHostileSchemaPlacement", func(t *testing.T) {
		r := adminDo(t, env, "GET", "/admin/tenants/"+escaped+"/placement/", nil)
		admWantStatus(t, r, http.StatusNotFound)
		if want := `No tenant with schema_name "x\"; DROP SCHEMA public --".`; admDetail(r) != want {
			t.Fatalf("detail %q, want %q", admDetail(r), want)
		}
	})
	t.Run("ErrHostileSchemaMove", func(t *testing.T) {
		r := adminDo(t, env, "POST", "/admin/tenants/"+escaped+"/move/", map[string]any{"node": "10.0.0.7:5432"})
		admWantStatus(t, r, http.StatusNotFound)
	})
	t.Run("ErrHostileNode", func(t *testing.T) {
		r := adminDo(t, env, "POST", "/admin/tenants/acme/move/", map[string]any{"node": "w1:5432'; DROP SCHEMA public; --"})
		admWantField(t, r, "node")
	})
	t.Run("ErrHostileNodeQuoted", func(t *testing.T) {
		r := adminDo(t, env, "POST", "/admin/tenants/acme/move/", map[string]any{"node": hostile + ":5432"})
		admWantField(t, r, "node")
	})
	// The control: input that passes reaches the database, which fails.
	t.Run("ValidInputReachesTheDatabase", func(t *testing.T) {
		r := adminDo(t, env, "POST", "/admin/tenants/acme/move/", map[string]any{"node": "10.0.0.7:5432"})
		admWantStatus(t, r, http.StatusInternalServerError)
	})
	if !admSchemaExists(t, env, "public") {
		t.Fatal("the public schema is gone")
	}
}

func TestAdminPlacementPathsNeedPlacements(t *testing.T) {
	t.Parallel()
	env := newPlacementEnv(t, nil, false)
	for name, p := range map[string]string{
		"ErrNotFoundAllTenants": "/admin/placements/",
		"ErrNotFoundOneTenant":  "/admin/tenants/acme/placement/",
	} {
		t.Run(name, func(t *testing.T) {
			r := adminDo(t, env, "GET", p, nil)
			admWantStatus(t, r, http.StatusNotFound)
		})
	}
	t.Run("OtherAdminPathsServed", func(t *testing.T) {
		admWantStatus(t, adminDo(t, env, "GET", "/admin/tenants/", nil), http.StatusOK)
	})
}
