package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/cli"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/tenants"
)

// adminToken is the admin.token of the admin API tests.
const adminToken = "admin-token-0123456789abcdef"

// newAdminEnv starts an app with the admin API enabled.
func newAdminEnv(t *testing.T) *apptest.Env {
	t.Helper()
	cfg := apptest.Config(t)
	cfg.Admin.Token = adminToken
	return apptest.Start(t, cfg)
}

// adminDo sends an authenticated admin request on the public host.
func adminDo(t *testing.T, env *apptest.Env, method, path string, body any) apptest.Response {
	t.Helper()
	return env.Do(t, apptest.Request{Method: method, Host: "localhost", Path: path, Token: adminToken, Body: body})
}

func admWantStatus(t *testing.T, r apptest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
}

// admWantField asserts a 400 whose DRF body has messages for field.
func admWantField(t *testing.T, r apptest.Response, field string) {
	t.Helper()
	admWantStatus(t, r, http.StatusBadRequest)
	msgs, ok := r.Body[field].([]any)
	if !ok || len(msgs) == 0 {
		t.Fatalf("want messages for %q, got %s", field, r.Raw)
	}
}

func admDetail(r apptest.Response) string { s, _ := r.Body["detail"].(string); return s }

func admSchemaExists(t *testing.T, env *apptest.Env, schema string) bool {
	t.Helper()
	var exists bool
	if err := env.App.DB.Raw("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)", schema).Scan(&exists).Error; err != nil {
		t.Fatal(err)
	}
	return exists
}

func admRoleExists(t *testing.T, env *apptest.Env, role string) bool {
	t.Helper()
	var exists bool
	if err := env.App.DB.Raw("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?)", role).Scan(&exists).Error; err != nil {
		t.Fatal(err)
	}
	return exists
}

func TestAdminAuthentication(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	env.CreateTenant(t, "adm_auth", "tenant.localhost")

	cases := []struct {
		name   string
		host   string
		header map[string]string
		status int
		detail string
	}{
		{"ErrMissingToken", "localhost", nil, 401, "Authentication credentials were not provided."},
		{"ErrWrongToken", "localhost", map[string]string{"Authorization": "Bearer " + adminToken + "x"}, 401, "Invalid admin token."},
		{"ErrTokenPrefix", "localhost", map[string]string{"Authorization": "Bearer " + adminToken[:16]}, 401, "Invalid admin token."},
		{"ErrEmptyBearer", "localhost", map[string]string{"Authorization": "Bearer "}, 401, "Authorization header must contain two space-delimited values: Bearer <token>."},
		{"ErrOtherScheme", "localhost", map[string]string{"Authorization": "Token " + adminToken}, 401, "Authorization header must contain two space-delimited values: Bearer <token>."},
		{"ErrBasicScheme", "localhost", map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}, 401, "Authorization header must contain two space-delimited values: Bearer <token>."},
		{"ErrTenantAccessToken", "localhost", map[string]string{"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"}, 401, "Invalid admin token."},
		{"ErrTenantHostWithToken", "tenant.localhost", map[string]string{"Authorization": "Bearer " + adminToken}, 404, "Not found."},
		{"ErrTenantHostWithoutToken", "tenant.localhost", nil, 404, "Not found."},
		{"ErrUnknownHost", "elsewhere.example.com", map[string]string{"Authorization": "Bearer " + adminToken}, 404, "Not found."},
		{"OKPublicHost", "localhost", map[string]string{"Authorization": "Bearer " + adminToken}, 200, ""},
		{"OKPublicHostWithPort", "LOCALHOST:8080", map[string]string{"Authorization": "bearer " + adminToken}, 200, ""},
		{"OKLoopbackAddress", "127.0.0.1:8080", map[string]string{"Authorization": "Bearer " + adminToken}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := env.Do(t, apptest.Request{Method: "GET", Host: tc.host, Path: "/admin/tenants/", Header: tc.header})
			admWantStatus(t, r, tc.status)
			if tc.detail != "" && admDetail(r) != tc.detail {
				t.Errorf("detail %q, want %q", admDetail(r), tc.detail)
			}
			if tc.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.status == 200 && r.Body["count"] != float64(1) {
				t.Errorf("want the one tenant, got %s", r.Raw)
			}
		})
	}

	// A tenant host cannot tell admin paths from missing ones, whatever
	// the method.
	t.Run("ErrTenantHostOtherMethod", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "PUT", Host: "tenant.localhost", Path: "/admin/tenants/adm_auth/", Token: adminToken, Body: map[string]any{}})
		admWantStatus(t, r, 404)
	})
	t.Run("ErrMethodNotAllowed", func(t *testing.T) {
		r := adminDo(t, env, "PUT", "/admin/tenants/adm_auth/", map[string]any{})
		admWantStatus(t, r, 405)
	})
	t.Run("ErrNoCreationWithoutToken", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/admin/tenants/", Body: map[string]any{
			"name": "Sneaky", "schema_name": "sneaky", "domains": []string{"sneaky.localhost"},
		}})
		admWantStatus(t, r, 401)
		if admSchemaExists(t, env, "sneaky") {
			t.Error("an unauthenticated request created a schema")
		}
	})
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	for _, r := range []apptest.Request{
		{Method: "GET", Host: "localhost", Path: "/admin/tenants/"},
		{Method: "GET", Host: "localhost", Path: "/admin/tenants/", Token: adminToken},
		{Method: "GET", Host: "localhost", Path: "/admin/tenants/", Header: map[string]string{"Authorization": "Bearer "}},
		{Method: "POST", Host: "localhost", Path: "/admin/tenants/", Body: map[string]any{"name": "X", "schema_name": "x", "domains": []string{"x.localhost"}}},
		{Method: "DELETE", Host: "127.0.0.1", Path: "/admin/domains/x.localhost/"},
	} {
		t.Run("ErrNotFound_"+r.Method, func(t *testing.T) {
			resp := env.Do(t, r)
			admWantStatus(t, resp, 404)
			if admDetail(resp) != "Not found." {
				t.Errorf("body %s", resp.Raw)
			}
		})
	}
}

func TestAdminTenantLifecycle(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)

	r := adminDo(t, env, "POST", "/admin/tenants/", map[string]any{
		"name": "  Acme Corp ", "schema_name": "acme", "domains": []string{"Acme.Example.com", "www.acme.localhost:8080"},
		"paid_until": "2031-06-30", "on_trial": true,
	})
	admWantStatus(t, r, 201)
	want := map[string]any{
		"name": "Acme Corp", "schema_name": "acme", "paid_until": "2031-06-30", "on_trial": true,
		"domains": []any{
			map[string]any{"domain": "acme.example.com", "is_primary": true},
			map[string]any{"domain": "acme.localhost", "is_primary": false},
		},
		"state": "active", "state_reason": "", "state_until": nil, "purge_after": nil,
	}
	created := r.Body
	if created["created_on"] == nil {
		t.Errorf("no created_on: %s", r.Raw)
	}
	delete(created, "created_on")
	if !reflect.DeepEqual(created, want) {
		t.Fatalf("created %v\nwant %v", created, want)
	}
	admWantStatus(t, adminDo(t, env, "POST", "/admin/tenants/", map[string]any{
		"name": "Beta", "schema_name": "beta", "domains": []string{"beta.localhost"},
	}), 201)

	t.Run("List", func(t *testing.T) {
		r := adminDo(t, env, "GET", "/admin/tenants/", nil)
		admWantStatus(t, r, 200)
		if r.Body["count"] != float64(2) || len(r.Body["results"].([]any)) != 2 {
			t.Fatalf("list %s", r.Raw)
		}
		first := r.Body["results"].([]any)[0].(map[string]any)
		if first["schema_name"] != "acme" {
			t.Errorf("not ordered by schema name: %s", r.Raw)
		}
	})
	t.Run("ListPaginated", func(t *testing.T) {
		r := adminDo(t, env, "GET", "/admin/tenants/?limit=1", nil)
		admWantStatus(t, r, 200)
		next, _ := r.Body["next"].(string)
		if r.Body["count"] != float64(2) || len(r.Body["results"].([]any)) != 1 || !strings.Contains(next, "/admin/tenants/?limit=1&offset=1") {
			t.Fatalf("page %s", r.Raw)
		}
		admWantStatus(t, adminDo(t, env, "GET", "/admin/tenants/?limit=-1", nil), 400)
	})
	t.Run("ListSearch", func(t *testing.T) {
		for _, q := range []string{"acme", "ACME", "corp", "cm"} {
			r := adminDo(t, env, "GET", "/admin/tenants/?search="+q, nil)
			admWantStatus(t, r, 200)
			if r.Body["count"] != float64(1) || r.Body["results"].([]any)[0].(map[string]any)["schema_name"] != "acme" {
				t.Errorf("search %q: %s", q, r.Raw)
			}
		}
		r := adminDo(t, env, "GET", "/admin/tenants/?search=%25", nil)
		if r.Body["count"] != float64(0) {
			t.Errorf("%% is a wildcard: %s", r.Raw)
		}
	})
	t.Run("Get", func(t *testing.T) {
		r := adminDo(t, env, "GET", "/admin/tenants/acme", nil)
		admWantStatus(t, r, 200)
		delete(r.Body, "created_on")
		if !reflect.DeepEqual(r.Body, want) {
			t.Errorf("got %v\nwant %v", r.Body, want)
		}
	})
	t.Run("ServesItsAPI", func(t *testing.T) {
		admWantStatus(t, env.Do(t, apptest.Request{Method: "GET", Host: "acme.localhost", Path: "/api/"}), 200)
		access, _, _ := env.Register(t, "acme.example.com", "alice")
		admWantStatus(t, env.Do(t, apptest.Request{Method: "GET", Host: "acme.example.com", Path: "/api/todos/", Token: access}), 200)
	})
	t.Run("Patch", func(t *testing.T) {
		r := adminDo(t, env, "PATCH", "/admin/tenants/acme/", map[string]any{"name": "Acme Inc", "on_trial": false})
		admWantStatus(t, r, 200)
		if r.Body["name"] != "Acme Inc" || r.Body["on_trial"] != false || r.Body["paid_until"] != "2031-06-30" {
			t.Fatalf("patched %s", r.Raw)
		}
		r = adminDo(t, env, "PATCH", "/admin/tenants/acme/", map[string]any{"paid_until": nil})
		admWantStatus(t, r, 200)
		if r.Body["paid_until"] != nil || r.Body["name"] != "Acme Inc" {
			t.Fatalf("clearing paid_until: %s", r.Raw)
		}
		r = adminDo(t, env, "PATCH", "/admin/tenants/acme/", map[string]any{"paid_until": "2032-01-01"})
		admWantStatus(t, r, 200)
		if r.Body["paid_until"] != "2032-01-01" {
			t.Fatalf("setting paid_until: %s", r.Raw)
		}
	})
	t.Run("AddDomain", func(t *testing.T) {
		r := adminDo(t, env, "POST", "/admin/tenants/acme/domains/", map[string]any{"domain": "ACME2.localhost", "is_primary": true})
		admWantStatus(t, r, 201)
		if !reflect.DeepEqual(r.Body, map[string]any{"domain": "acme2.localhost", "tenant": "acme", "is_primary": true}) {
			t.Fatalf("added %s", r.Raw)
		}
		r = adminDo(t, env, "GET", "/admin/tenants/acme/", nil)
		domains := r.Body["domains"].([]any)
		if len(domains) != 3 || domains[0].(map[string]any)["domain"] != "acme2.localhost" || domains[0].(map[string]any)["is_primary"] != true {
			t.Fatalf("after adding a primary domain: %s", r.Raw)
		}
		admWantStatus(t, env.Do(t, apptest.Request{Method: "GET", Host: "acme2.localhost", Path: "/api/"}), 200)
	})
	t.Run("RemoveDomain", func(t *testing.T) {
		admWantStatus(t, adminDo(t, env, "DELETE", "/admin/domains/acme2.localhost/", nil), 204)
		r := adminDo(t, env, "GET", "/admin/tenants/acme/", nil)
		domains := r.Body["domains"].([]any)
		if len(domains) != 2 || domains[0].(map[string]any)["is_primary"] != true {
			t.Fatalf("after removing the primary domain: %s", r.Raw)
		}
		admWantStatus(t, env.Do(t, apptest.Request{Method: "GET", Host: "acme2.localhost", Path: "/api/"}), 404)
		admWantStatus(t, adminDo(t, env, "DELETE", "/admin/domains/acme2.localhost/", nil), 404)
	})
	t.Run("DeleteKeepingSchema", func(t *testing.T) {
		admWantStatus(t, adminDo(t, env, "DELETE", "/admin/tenants/beta/", nil), 204)
		if !admSchemaExists(t, env, "beta") {
			t.Error("the schema was dropped without drop_schema")
		}
		if admRoleExists(t, env, tenants.RoleName(admDBName(t, env), "beta")) {
			t.Error("the role survived")
		}
		admWantStatus(t, adminDo(t, env, "GET", "/admin/tenants/beta/", nil), 404)
	})
	t.Run("DeleteDroppingSchema", func(t *testing.T) {
		role := tenants.RoleName(admDBName(t, env), "acme")
		if !admSchemaExists(t, env, "acme") || !admRoleExists(t, env, role) {
			t.Fatal("acme's schema or role is missing before the deletion")
		}
		admWantStatus(t, adminDo(t, env, "DELETE", "/admin/tenants/acme/?drop_schema=maybe", nil), 400)
		admWantStatus(t, adminDo(t, env, "DELETE", "/admin/tenants/acme/?drop_schema=true", nil), 204)
		if admSchemaExists(t, env, "acme") {
			t.Error("the schema survived drop_schema=true")
		}
		if admRoleExists(t, env, role) {
			t.Error("the role survived")
		}
		admWantStatus(t, adminDo(t, env, "GET", "/admin/tenants/acme/", nil), 404)
		admWantStatus(t, env.Do(t, apptest.Request{Method: "GET", Host: "acme.example.com", Path: "/api/"}), 404)
		admWantStatus(t, adminDo(t, env, "DELETE", "/admin/tenants/acme/?drop_schema=true", nil), 404)
		r := adminDo(t, env, "GET", "/admin/tenants/", nil)
		if r.Body["count"] != float64(0) {
			t.Errorf("tenants left: %s", r.Raw)
		}
	})
}

func admDBName(t *testing.T, env *apptest.Env) string {
	t.Helper()
	var name string
	if err := env.App.DB.Raw("SELECT current_database()").Scan(&name).Error; err != nil {
		t.Fatal(err)
	}
	return name
}

func TestAdminValidation(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	admWantStatus(t, adminDo(t, env, "POST", "/admin/tenants/", map[string]any{
		"name": "Taken", "schema_name": "taken", "domains": []string{"taken.localhost"},
	}), 201)

	valid := func(change map[string]any) map[string]any {
		body := map[string]any{"name": "New", "schema_name": "fresh", "domains": []string{"fresh.localhost"}}
		for k, v := range change {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return body
	}
	hostile := []string{
		"", "Robert'); DROP TABLE public.clients;--", `acme"; DROP SCHEMA public CASCADE; --`, "tenant a", "Tenant_A",
		"1tenant", "tenant-a", "pg_catalog", "pg_temp", "public", "information_schema", "select", "user",
		strings.Repeat("a", 64), "tenant\x00a", "ténant", "../etc",
	}
	for _, name := range hostile {
		t.Run("ErrSchemaName_"+strings.ToValidUTF8(name, "?"), func(t *testing.T) {
			admWantField(t, adminDo(t, env, "POST", "/admin/tenants/", valid(map[string]any{"schema_name": name})), "schema_name")
		})
	}

	fieldCases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"ErrMissingName", valid(map[string]any{"name": nil}), "name"},
		{"ErrBlankName", valid(map[string]any{"name": "   "}), "name"},
		{"ErrNameTooLong", valid(map[string]any{"name": strings.Repeat("n", 101)}), "name"},
		{"ErrNameNotString", valid(map[string]any{"name": true}), "name"},
		{"ErrMissingSchemaName", valid(map[string]any{"schema_name": nil}), "schema_name"},
		{"ErrSchemaNameNotString", valid(map[string]any{"schema_name": []string{"a"}}), "schema_name"},
		{"ErrMissingDomains", valid(map[string]any{"domains": nil}), "domains"},
		{"ErrNoDomains", valid(map[string]any{"domains": []string{}}), "domains"},
		{"ErrDomainsNotList", valid(map[string]any{"domains": "fresh.localhost"}), "domains"},
		{"ErrDomainNotString", valid(map[string]any{"domains": []any{1}}), "domains"},
		{"ErrBadDomain", valid(map[string]any{"domains": []string{"bad domain!.com"}}), "domains"},
		{"ErrDomainLabelTooLong", valid(map[string]any{"domains": []string{strings.Repeat("x", 64) + ".com"}}), "domains"},
		{"ErrPublicHostDomain", valid(map[string]any{"domains": []string{"LocalHost:80"}}), "domains"},
		{"ErrPaidUntilFormat", valid(map[string]any{"paid_until": "31/12/2030"}), "paid_until"},
		{"ErrOnTrialType", valid(map[string]any{"on_trial": "maybe"}), "on_trial"},
	}
	for _, tc := range fieldCases {
		t.Run(tc.name, func(t *testing.T) {
			admWantField(t, adminDo(t, env, "POST", "/admin/tenants/", tc.body), tc.field)
		})
	}

	t.Run("ErrSeveralFields", func(t *testing.T) {
		r := adminDo(t, env, "POST", "/admin/tenants/", map[string]any{"name": "", "schema_name": "pg_x", "domains": []string{"-bad-"}})
		for _, f := range []string{"name", "schema_name", "domains"} {
			admWantField(t, r, f)
		}
	})
	t.Run("ErrMalformedJSON", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/admin/tenants/", Token: adminToken, Body: `{"name": `})
		admWantStatus(t, r, 400)
		if !strings.HasPrefix(admDetail(r), "JSON parse error - ") {
			t.Errorf("body %s", r.Raw)
		}
	})
	t.Run("ErrUnsupportedMediaType", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/admin/tenants/", Token: adminToken, Body: "name=x", CT: "application/x-www-form-urlencoded"})
		admWantStatus(t, r, 415)
	})
	t.Run("ErrBodyTooLarge", func(t *testing.T) {
		big := `{"name": "` + strings.Repeat("x", int(env.Config.HTTP.MaxBodyBytes)) + `"}`
		admWantStatus(t, env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/admin/tenants/", Token: adminToken, Body: big}), 413)
	})

	conflicts := []struct {
		name string
		body map[string]any
	}{
		{"ErrDuplicateSchemaName", valid(map[string]any{"schema_name": "taken"})},
		{"ErrDuplicateDomain", valid(map[string]any{"schema_name": "dup_domain", "domains": []string{"fresh2.localhost", "www.TAKEN.localhost"}})},
	}
	for _, tc := range conflicts {
		t.Run(tc.name, func(t *testing.T) {
			r := adminDo(t, env, "POST", "/admin/tenants/", tc.body)
			admWantStatus(t, r, 409)
			if admDetail(r) == "" {
				t.Errorf("409 without detail: %s", r.Raw)
			}
		})
	}
	t.Run("ErrDuplicateLeavesNothing", func(t *testing.T) {
		if admSchemaExists(t, env, "dup_domain") {
			t.Error("a failed creation left its schema behind")
		}
		if admRoleExists(t, env, tenants.RoleName(admDBName(t, env), "dup_domain")) {
			t.Error("a failed creation left its role behind")
		}
		admWantStatus(t, env.Do(t, apptest.Request{Method: "GET", Host: "fresh2.localhost", Path: "/api/"}), 404)
	})

	t.Run("ErrAddDomain", func(t *testing.T) {
		admWantField(t, adminDo(t, env, "POST", "/admin/tenants/taken/domains/", map[string]any{"domain": "not a domain"}), "domain")
		admWantField(t, adminDo(t, env, "POST", "/admin/tenants/taken/domains/", map[string]any{"domain": "127.0.0.1"}), "domain")
		admWantField(t, adminDo(t, env, "POST", "/admin/tenants/taken/domains/", map[string]any{}), "domain")
		admWantField(t, adminDo(t, env, "POST", "/admin/tenants/taken/domains/", map[string]any{"domain": "ok.localhost", "is_primary": "perhaps"}), "is_primary")
		admWantStatus(t, adminDo(t, env, "POST", "/admin/tenants/taken/domains/", map[string]any{"domain": "taken.localhost"}), 409)
		admWantStatus(t, adminDo(t, env, "POST", "/admin/tenants/absent/domains/", map[string]any{"domain": "absent.localhost"}), 404)
		admWantStatus(t, adminDo(t, env, "POST", "/admin/tenants/pg_catalog/domains/", map[string]any{"domain": "x.localhost"}), 404)
	})
	t.Run("ErrRemoveLastDomain", func(t *testing.T) {
		r := adminDo(t, env, "DELETE", "/admin/domains/taken.localhost/", nil)
		admWantStatus(t, r, 400)
		if admDetail(r) == "" {
			t.Errorf("body %s", r.Raw)
		}
		admWantStatus(t, env.Do(t, apptest.Request{Method: "GET", Host: "taken.localhost", Path: "/api/"}), 200)
	})
	t.Run("ErrPatch", func(t *testing.T) {
		admWantField(t, adminDo(t, env, "PATCH", "/admin/tenants/taken/", map[string]any{"name": ""}), "name")
		admWantField(t, adminDo(t, env, "PATCH", "/admin/tenants/taken/", map[string]any{"paid_until": "soon"}), "paid_until")
		admWantField(t, adminDo(t, env, "PATCH", "/admin/tenants/taken/", map[string]any{"on_trial": nil}), "on_trial")
		admWantStatus(t, adminDo(t, env, "PATCH", "/admin/tenants/absent/", map[string]any{"name": "X"}), 404)
		r := adminDo(t, env, "GET", "/admin/tenants/taken/", nil)
		if r.Body["name"] != "Taken" {
			t.Errorf("a refused PATCH changed the tenant: %s", r.Raw)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for _, p := range []string{"/admin/tenants/absent/", "/admin/tenants/Robert%27%3B%20DROP%20TABLE%20x%3B--/", "/admin/tenants/pg_catalog/"} {
			admWantStatus(t, adminDo(t, env, "GET", p, nil), 404)
			admWantStatus(t, adminDo(t, env, "DELETE", p+"?drop_schema=true", nil), 404)
		}
		admWantStatus(t, adminDo(t, env, "DELETE", "/admin/domains/absent.localhost/", nil), 404)
		if !admSchemaExists(t, env, "pg_catalog") {
			t.Fatal("pg_catalog is gone")
		}
	})
}

// TestTenantCreationCLIAndAdminAPIAgree creates one tenant with the CLI
// and one with the admin API, on the same database, and checks they are
// alike: catalog rows, schema, tables, migrations, role and grants, and
// both serve their API.
func TestTenantCreationCLIAndAdminAPIAgree(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	ctx := context.Background()

	var out, errb bytes.Buffer
	cliEnv := []string{
		"STRICTMT_DATABASE_URL=" + env.Config.Database.URL,
		"STRICTMT_AUTH_JWT_SECRET=" + apptest.Secret,
		"STRICTMT_LOG_LEVEL=error",
		"STRICTMT_DEV_DEMO_TENANT=false",
	}
	code := cli.Run(ctx, []string{"tenants", "create", "--name", "Via CLI", "--schema", "via_cli",
		"--domain", "cli.localhost", "--domain", "cli2.localhost", "--paid-until", "2030-01-31", "--on-trial"}, cliEnv, &out, &errb)
	if code != 0 {
		t.Fatalf("cli: %d\n%s\n%s", code, out.String(), errb.String())
	}
	r := adminDo(t, env, "POST", "/admin/tenants/", map[string]any{
		"name": "Via API", "schema_name": "via_api", "domains": []string{"api.localhost", "api2.localhost"},
		"paid_until": "2030-01-31", "on_trial": true,
	})
	admWantStatus(t, r, 201)

	t.Run("SameJSON", func(t *testing.T) {
		out.Reset()
		if code := cli.Run(ctx, []string{"tenants", "list", "--json"}, cliEnv, &out, &errb); code != 0 {
			t.Fatalf("cli list: %s", errb.String())
		}
		var fromCLI []any
		if err := json.Unmarshal(out.Bytes(), &fromCLI); err != nil {
			t.Fatalf("cli list output: %v\n%s", err, out.String())
		}
		fromAPI := adminDo(t, env, "GET", "/admin/tenants/", nil).Body["results"].([]any)
		// Both list by schema name: via_api, via_cli.
		if !reflect.DeepEqual(fromCLI, fromAPI) {
			t.Fatalf("CLI %v\nAPI %v", fromCLI, fromAPI)
		}
		a, c := fromAPI[0].(map[string]any), fromAPI[1].(map[string]any)
		for _, k := range []string{"paid_until", "on_trial", "created_on"} {
			if a[k] != c[k] {
				t.Errorf("%s: API %v, CLI %v", k, a[k], c[k])
			}
		}
	})

	db := admDBName(t, env)
	type tenantFacts struct {
		RoleName string
		Tables   []string
		Versions []int64
		CanUse   bool
		CanWrite bool
	}
	facts := func(t *testing.T, schema string) tenantFacts {
		t.Helper()
		var f tenantFacts
		if err := env.App.DB.Raw("SELECT role_name FROM public.clients WHERE schema_name = ?", schema).Scan(&f.RoleName).Error; err != nil {
			t.Fatal(err)
		}
		if f.RoleName != tenants.RoleName(db, schema) {
			t.Errorf("%s: role %q, want %q", schema, f.RoleName, tenants.RoleName(db, schema))
		}
		if !admRoleExists(t, env, f.RoleName) {
			t.Errorf("%s: role %q does not exist", schema, f.RoleName)
		}
		if err := env.App.DB.Raw("SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name", schema).Scan(&f.Tables).Error; err != nil {
			t.Fatal(err)
		}
		if err := env.App.DB.Raw(`SELECT version_id FROM ` + tenants.QuoteIdent(schema) + `.` + tenants.VersionTable + ` ORDER BY version_id`).Scan(&f.Versions).Error; err != nil {
			t.Fatal(err)
		}
		if err := env.App.DB.Raw("SELECT has_schema_privilege(?, ?, 'USAGE')", f.RoleName, schema).Scan(&f.CanUse).Error; err != nil {
			t.Fatal(err)
		}
		if err := env.App.DB.Raw("SELECT has_table_privilege(?, ?, 'SELECT,INSERT,UPDATE,DELETE')", f.RoleName, tenants.QuoteIdent(schema)+".todos").Scan(&f.CanWrite).Error; err != nil {
			t.Fatal(err)
		}
		f.RoleName = ""
		return f
	}
	t.Run("SameSchemaTablesAndRole", func(t *testing.T) {
		fc, fa := facts(t, "via_cli"), facts(t, "via_api")
		if !reflect.DeepEqual(fc, fa) {
			t.Fatalf("CLI tenant %+v\nAPI tenant %+v", fc, fa)
		}
		if !fc.CanUse || !fc.CanWrite || !slices.Contains(fc.Tables, "todos") || len(fc.Versions) < 2 {
			t.Errorf("incomplete tenant: %+v", fc)
		}
	})
	t.Run("NeitherRoleReachesTheOther", func(t *testing.T) {
		for _, pair := range [][2]string{{"via_cli", "via_api"}, {"via_api", "via_cli"}} {
			var can bool
			if err := env.App.DB.Raw("SELECT has_schema_privilege(?, ?, 'USAGE')", tenants.RoleName(db, pair[0]), pair[1]).Scan(&can).Error; err != nil {
				t.Fatal(err)
			}
			if can {
				t.Errorf("role of %s can use schema %s", pair[0], pair[1])
			}
		}
	})
	t.Run("BothServeTheirAPI", func(t *testing.T) {
		for _, host := range []string{"cli.localhost", "cli2.localhost", "api.localhost", "api2.localhost"} {
			admWantStatus(t, env.Do(t, apptest.Request{Method: "GET", Host: host, Path: "/api/"}), 200)
		}
		for _, host := range []string{"cli.localhost", "api.localhost"} {
			access, _, _ := env.Register(t, host, "bob")
			r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/todos/", Token: access, Body: map[string]any{"title": "on " + host}})
			admWantStatus(t, r, 201)
			if r.Body["client_name"] == nil {
				t.Errorf("no client_name: %s", r.Raw)
			}
			list := env.Do(t, apptest.Request{Method: "GET", Host: host, Path: "/api/todos/", Token: access})
			admWantStatus(t, list, 200)
			if list.Body["count"] != float64(1) {
				t.Errorf("%s sees %v todos", host, list.Body["count"])
			}
		}
	})
}
