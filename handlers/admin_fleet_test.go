package handlers_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/tenants"
)

func TestAdminMakeDomainPrimary(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	admWantStatus(t, adminDo(t, env, "POST", "/admin/tenants/", map[string]any{
		"name": "Primary", "schema_name": "prim", "domains": []string{"prim-a.localhost", "prim-b.localhost"},
	}), 201)
	env.CreateTenant(t, "prim_other", "prim-other.localhost")
	primaries := func(t *testing.T, schema string) map[string]bool {
		t.Helper()
		r := adminDo(t, env, "GET", "/admin/tenants/"+schema+"/", nil)
		admWantStatus(t, r, 200)
		out := map[string]bool{}
		for _, d := range r.Body["domains"].([]any) {
			out[d.(map[string]any)["domain"].(string)] = d.(map[string]any)["is_primary"].(bool)
		}
		return out
	}

	t.Run("OK", func(t *testing.T) {
		r := adminDo(t, env, "PATCH", "/admin/domains/PRIM-B.localhost/", map[string]any{"is_primary": true})
		admWantStatus(t, r, 200)
		if want := map[string]any{"domain": "prim-b.localhost", "tenant": "prim", "is_primary": true}; !reflect.DeepEqual(r.Body, want) {
			t.Fatalf("answered %s", r.Raw)
		}
		if got, want := primaries(t, "prim"), map[string]bool{"prim-a.localhost": false, "prim-b.localhost": true}; !reflect.DeepEqual(got, want) {
			t.Errorf("domains %v, want %v", got, want)
		}
		tenant, err := env.App.Tenants.FindTenant(context.Background(), "prim")
		if err != nil || tenant.Domains[0].Domain != "prim-b.localhost" {
			t.Errorf("the catalog lists %v first (%v), want the new primary", tenant, err)
		}
	})
	t.Run("OKAlreadyPrimary", func(t *testing.T) {
		r := adminDo(t, env, "PATCH", "/admin/domains/prim-b.localhost", map[string]any{"is_primary": true})
		admWantStatus(t, r, 200)
		if got, want := primaries(t, "prim"), map[string]bool{"prim-a.localhost": false, "prim-b.localhost": true}; !reflect.DeepEqual(got, want) {
			t.Errorf("domains %v, want %v", got, want)
		}
	})
	t.Run("ErrFalse", func(t *testing.T) {
		admWantField(t, adminDo(t, env, "PATCH", "/admin/domains/prim-b.localhost/", map[string]any{"is_primary": false}), "is_primary")
	})
	t.Run("ErrMissing", func(t *testing.T) {
		admWantField(t, adminDo(t, env, "PATCH", "/admin/domains/prim-b.localhost/", map[string]any{}), "is_primary")
	})
	t.Run("ErrNotABoolean", func(t *testing.T) {
		admWantField(t, adminDo(t, env, "PATCH", "/admin/domains/prim-a.localhost/", map[string]any{"is_primary": "yes please"}), "is_primary")
	})
	t.Run("ErrUnknownDomain", func(t *testing.T) {
		admWantStatus(t, adminDo(t, env, "PATCH", "/admin/domains/nobody.localhost/", map[string]any{"is_primary": true}), 404)
	})
	t.Run("ErrTenantHost", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "PATCH", Host: "prim-a.localhost", Path: "/admin/domains/prim-a.localhost/", Token: adminToken, Body: map[string]any{"is_primary": true}})
		admWantStatus(t, r, 404)
	})
	t.Run("OtherTenantUntouched", func(t *testing.T) {
		if got := primaries(t, "prim_other"); !got["prim-other.localhost"] {
			t.Errorf("prim_other's domains %v", got)
		}
	})
}

func TestAdminFleet(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	ctx := context.Background()
	for _, s := range []string{"fleet_a", "fleet_b", "fleet_c", "fleet_d"} {
		env.CreateTenant(t, s, strings.ReplaceAll(s, "_", "-")+".localhost")
	}
	suspended, readOnly := "suspended", "read_only"
	for schema, state := range map[string]*string{"fleet_b": &suspended, "fleet_c": &readOnly, "fleet_d": &readOnly} {
		if _, err := env.App.Tenants.UpdateTenant(ctx, schema, tenants.UpdateParams{State: &tenants.StateChange{State: *state}}); err != nil {
			t.Fatal(err)
		}
	}

	r := adminDo(t, env, "GET", "/admin/fleet/", nil)
	admWantStatus(t, r, 200)
	if r.Body["tenants"] != float64(4) || r.Body["spare_schemas_ready"] != float64(0) {
		t.Errorf("fleet %s", r.Raw)
	}
	if want := map[string]any{"active": float64(1), "read_only": float64(2), "suspended": float64(1)}; !reflect.DeepEqual(r.Body["by_state"], want) {
		t.Errorf("by_state %v, want %v", r.Body["by_state"], want)
	}
	ms, _ := tenants.TenantMigrations()
	latest := ms[len(ms)-1].Version
	m := r.Body["migrations"].(map[string]any)
	if m["latest"] != float64(latest) || m["pending_count"] != float64(0) || len(m["pending"].([]any)) != 0 || m["unreadable_count"] != float64(0) {
		t.Errorf("migrations %v", m)
	}

	t.Run("PendingPerSchema", func(t *testing.T) {
		// A version deleted behind strictmt's back is pending again, as
		// migrate --dry-run would say.
		if err := env.App.DB.Exec(`DELETE FROM "fleet_c".goose_db_version WHERE version_id = ?`, latest).Error; err != nil {
			t.Fatal(err)
		}
		r := adminDo(t, env, "GET", "/admin/fleet", nil)
		admWantStatus(t, r, 200)
		m := r.Body["migrations"].(map[string]any)
		want := []any{map[string]any{"schema_name": "fleet_c", "versions": []any{float64(latest)}}}
		if m["pending_count"] != float64(1) || !reflect.DeepEqual(m["pending"], want) {
			t.Errorf("migrations %v, want fleet_c pending %d", m, latest)
		}
	})
	t.Run("ErrMethodNotAllowed", func(t *testing.T) {
		admWantStatus(t, adminDo(t, env, "POST", "/admin/fleet/", map[string]any{}), 405)
	})
}
