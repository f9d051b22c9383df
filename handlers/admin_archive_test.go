package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/tenants"
)

// adminExport fetches path (an export) on host with token, returning the
// status, the headers and the raw body.
func adminExport(t *testing.T, env *apptest.Env, host, token, path string) (int, http.Header, []byte) {
	t.Helper()
	var header map[string]string
	if token != "" {
		header = map[string]string{"Authorization": "Bearer " + token}
	}
	resp, body := rawGet(t, env, host, path, header)
	return resp.StatusCode, resp.Header, body
}

// TestAdminExportRestoreClone takes a tenant out through the admin API
// and back in under another name, clones it, and refuses what must be
// refused with DRF bodies, leaving nothing behind.
func TestAdminExportRestoreClone(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	env.CreateTenant(t, "arc_src", "arc-src.localhost")
	access, _, _ := env.Register(t, "arc-src.localhost", "alice")
	if r := env.Do(t, apptest.Request{Method: "POST", Host: "arc-src.localhost", Path: "/api/todos/", Token: access, Body: map[string]any{"title": "kept"}}); r.Status != 201 {
		t.Fatalf("todo: %d %s", r.Status, r.Raw)
	}

	status, header, archive := adminExport(t, env, "localhost", adminToken, "/admin/tenants/arc_src/export/")
	if status != 200 || header.Get("Content-Type") != "application/gzip" || !strings.Contains(header.Get("Content-Disposition"), `filename="arc_src.strictmt.tar.gz"`) || len(archive) < 100 {
		t.Fatalf("export: %d %v %d bytes", status, header, len(archive))
	}

	restore := func(query string, body any, ct string) apptest.Response {
		return env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/admin/tenants/restore/" + query, Token: adminToken, Body: body, CT: ct})
	}
	r := restore("?schema=arc_copy&domain=arc-copy.localhost&name=Copy", archive, "application/gzip")
	admWantStatus(t, r, http.StatusCreated)
	if r.Body["schema_name"] != "arc_copy" || r.Body["name"] != "Copy" || r.Body["migrated_from"] == nil || len(r.Body["tables"].([]any)) != 6 {
		t.Fatalf("restore: %s", r.Raw)
	}
	tok := env.Do(t, apptest.Request{Method: "POST", Host: "arc-copy.localhost", Path: "/api/token/", Body: map[string]string{"username": "alice", "password": "correct-horse-battery"}})
	if tok.Status != 200 {
		t.Fatalf("login on the restored tenant: %d %s", tok.Status, tok.Raw)
	}
	if r := env.Do(t, apptest.Request{Method: "GET", Host: "arc-copy.localhost", Path: "/api/todos/", Token: tok.Body["access"].(string)}); r.Status != 200 || r.Body["count"] != 1.0 {
		t.Fatalf("todos on the restored tenant: %d %s", r.Status, r.Raw)
	}

	r = adminDo(t, env, "POST", "/admin/tenants/arc_src/clone/", map[string]any{"schema_name": "arc_clone", "domains": []string{"arc-clone.localhost"}, "without_users": true})
	admWantStatus(t, r, http.StatusCreated)
	if r.Body["name"] != "Tenant arc_src" || r.Body["migrated_from"] != nil {
		t.Fatalf("clone: %s", r.Raw)
	}

	before := admCounts(t, env, "arc_x", "arc_copy", "arc_src")
	t.Run("ErrRefused", func(t *testing.T) {
		for _, c := range []struct {
			name, query string
			body        any
			ct          string
			status      int
			field       string
		}{
			{"NotGzip", "?schema=arc_x&domain=arc-x.localhost", "not an archive", "application/octet-stream", 400, ""},
			{"Empty", "?schema=arc_x&domain=arc-x.localhost", []byte{}, "application/gzip", 400, ""},
			{"Truncated", "?schema=arc_x&domain=arc-x.localhost", archive[:len(archive)/2], "application/gzip", 400, ""},
			{"JSONBody", "?schema=arc_x&domain=arc-x.localhost", `{"a": 1}`, "application/json", 415, ""},
			{"SchemaTaken", "?domain=arc-x.localhost", archive, "application/gzip", 409, ""},
			{"DomainTaken", "?schema=arc_x", archive, "application/gzip", 409, ""},
			{"HostileSchema", "?schema=pg_catalog&domain=arc-x.localhost", archive, "application/gzip", 400, "schema"},
			{"QuotedSchema", "?schema=a%22%3B+drop+table+x&domain=arc-x.localhost", archive, "application/gzip", 400, "schema"},
			{"ReservedSchema", "?schema=restore&domain=arc-x.localhost", archive, "application/gzip", 400, "schema"},
			{"PublicHostDomain", "?schema=arc_x&domain=localhost", archive, "application/gzip", 400, "domain"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := restore(c.query, c.body, c.ct)
				if c.field != "" {
					admWantField(t, r, c.field)
				} else {
					admWantStatus(t, r, c.status)
					if admDetail(r) == "" {
						t.Fatalf("no detail: %s", r.Raw)
					}
				}
			})
		}
		for _, c := range []struct {
			name, path string
			body       any
			status     int
		}{
			{"CloneUnknown", "/admin/tenants/nobody/clone/", map[string]any{"schema_name": "arc_x", "domains": []string{"arc-x.localhost"}}, 404},
			{"CloneTaken", "/admin/tenants/arc_src/clone/", map[string]any{"schema_name": "arc_copy", "domains": []string{"arc-x.localhost"}}, 409},
			{"CloneNoDomains", "/admin/tenants/arc_src/clone/", map[string]any{"schema_name": "arc_x"}, 400},
			{"CloneHostile", "/admin/tenants/arc_src/clone/", map[string]any{"schema_name": "public", "domains": []string{"arc-x.localhost"}}, 400},
			{"CloneIntoItself", "/admin/tenants/arc_src/clone/", map[string]any{"schema_name": "arc_src", "domains": []string{"arc-x.localhost"}}, 409},
		} {
			t.Run(c.name, func(t *testing.T) { admWantStatus(t, adminDo(t, env, "POST", c.path, c.body), c.status) })
		}
		for _, path := range []string{"/admin/tenants/nobody/export/", "/admin/tenants/pg_catalog/export/", "/admin/tenants/public/export/", "/admin/tenants/restore/export/"} {
			if status, _, body := adminExport(t, env, "localhost", adminToken, path); status != 404 || !strings.Contains(string(body), `"detail"`) {
				t.Errorf("GET %s: %d %s", path, status, body)
			}
		}
		if after := admCounts(t, env, "arc_x", "arc_copy", "arc_src"); after != before {
			t.Fatalf("refusals left something behind: %+v, before %+v", after, before)
		}
	})
	t.Run("ErrNotOnTenantHostNorWithoutToken", func(t *testing.T) {
		for _, c := range []struct {
			host, token string
			status      int
		}{{"arc-src.localhost", adminToken, 404}, {"localhost", "", 401}, {"localhost", "wrong-token-0123456789", 401}} {
			if status, _, body := adminExport(t, env, c.host, c.token, "/admin/tenants/arc_src/export/"); status != c.status || strings.Contains(string(body), "PGCOPY") {
				t.Errorf("export on %s with %q: %d", c.host, c.token, status)
			}
			r := env.Do(t, apptest.Request{Method: "POST", Host: c.host, Path: "/admin/tenants/restore/?schema=arc_y&domain=arc-y.localhost", Token: c.token, Body: archive, CT: "application/gzip"})
			if r.Status != c.status {
				t.Errorf("restore on %s with %q: %d %s", c.host, c.token, r.Status, r.Raw)
			}
		}
		if admSchemaExists(t, env, "arc_y") {
			t.Fatal("an unauthorized restore created a schema")
		}
	})
}

// TestAdminRestoreTooLarge refuses an archive over admin.max_archive_bytes
// with 413 and creates nothing.
func TestAdminRestoreTooLarge(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Admin.Token = adminToken
	cfg.Admin.MaxArchiveBytes = 1024
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "big_src", "big-src.localhost")
	env.Register(t, "big-src.localhost", "alice")
	_, _, archive := adminExport(t, env, "localhost", adminToken, "/admin/tenants/big_src/export/")
	if len(archive) <= 1024 {
		t.Fatalf("the archive is only %d bytes", len(archive))
	}
	r := env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/admin/tenants/restore/?schema=big_copy&domain=big-copy.localhost", Token: adminToken, Body: archive, CT: "application/gzip"})
	admWantStatus(t, r, http.StatusRequestEntityTooLarge)
	if admSchemaExists(t, env, "big_copy") {
		t.Fatal("a refused restore created its schema")
	}
}

// admFootprint is what the database holds of tenants: catalog rows,
// domains, schemas, and the roles of the tenants of schemas (roles are
// shared by every database of the server, whose other tests make their
// own).
type admFootprint struct{ Clients, Domains, Schemas, Roles int64 }

func admCounts(t *testing.T, env *apptest.Env, schemas ...string) admFootprint {
	t.Helper()
	var dbName string
	if err := env.App.DB.Raw(`SELECT current_database()`).Scan(&dbName).Error; err != nil {
		t.Fatal(err)
	}
	roles := []string{""}
	for _, s := range schemas {
		roles = append(roles, tenants.RoleName(dbName, s))
	}
	var f admFootprint
	if err := env.App.DB.Raw(`SELECT (SELECT count(*) FROM public.clients) AS clients, (SELECT count(*) FROM public.domains) AS domains,
		(SELECT count(*) FROM pg_namespace) AS schemas, (SELECT count(*) FROM pg_roles WHERE rolname IN ?) AS roles`, roles).Scan(&f).Error; err != nil {
		t.Fatal(err)
	}
	return f
}
