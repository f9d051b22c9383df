package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/internal/apptest"
)

// newUsageEnv starts an app with the admin API, and metrics when
// metrics is true (the per-instance request counts need them).
func newUsageEnv(t *testing.T, metrics bool) (*apptest.Env, config.Config) {
	t.Helper()
	cfg := apptest.Config(t)
	cfg.Admin.Token = adminToken
	cfg.Metrics.Enabled = metrics
	return apptest.Start(t, cfg), cfg
}

// usageSeeds are the tenants of TestAdminTenantUsage, the largest first.
var usageSeeds = apptest.UsageTenants("a")

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// results returns the schema names of a list answer, in order, and its
// results by schema.
func results(t *testing.T, r apptest.Response) ([]string, map[string]map[string]any) {
	t.Helper()
	var names []string
	by := map[string]map[string]any{}
	list, _ := r.Body["results"].([]any)
	for _, x := range list {
		m := x.(map[string]any)
		name := m["schema_name"].(string)
		names = append(names, name)
		by[name] = m
	}
	return names, by
}

// TestAdminTenantUsage: a tenant's usage answers pg_total_relation_size
// summed and count(*) of each table; the tenant list carries every
// tenant's summary, from the catalog, and sorts by it.
func TestAdminTenantUsage(t *testing.T) {
	t.Parallel()
	env, cfg := newUsageEnv(t, true)
	url := cfg.Database.URL
	truth := apptest.SeedUsageTenants(t, url, usageSeeds, func(schema, domain string) { env.CreateTenant(t, schema, domain) })

	t.Run("ExactFiguresOfOneTenant", func(t *testing.T) {
		for _, s := range usageSeeds {
			for _, path := range []string{"/admin/tenants/" + s.Schema + "/usage/", "/admin/tenants/" + s.Schema + "/usage"} {
				r := adminDo(t, env, "GET", path, nil)
				admWantStatus(t, r, http.StatusOK)
				want := truth[s.Schema]
				b := r.Body
				if b["schema_name"] != s.Schema || num(b["bytes"]) != want.ExactBytes || b["exact"] != true ||
					num(b["rows"]) != want.Sum() || num(b["users"]) != want.Rows["users"] {
					t.Errorf("%s: %s; want %d bytes, %d rows, %d users", path, r.Raw, want.ExactBytes, want.Sum(), want.Rows["users"])
				}
				var names []string
				for _, x := range b["tables"].([]any) {
					tbl := x.(map[string]any)
					names = append(names, tbl["name"].(string))
					if num(tbl["rows"]) != want.Rows[tbl["name"].(string)] {
						t.Errorf("%s: table %v, count(*) says %d", path, tbl, want.Rows[tbl["name"].(string)])
					}
				}
				if !slices.Equal(names, apptest.UsageTables) {
					t.Errorf("%s: tables %v, want %v", path, names, apptest.UsageTables)
				}
				// Metrics are on and no request reached the tenant.
				if b["last_request"] != nil || num(b["requests"]) != 0 || b["requests"] == nil || b["database_seconds"] != 0.0 || b["counted_since"] != nil {
					t.Errorf("%s: no request seen, got %s", path, r.Raw)
				}
			}
		}
	})
	t.Run("ErrUnknownTenant", func(t *testing.T) {
		for _, schema := range []string{"nobody", "Not-A-Schema", "pg_catalog", "public", "a_big%3Bdrop%20schema%20a_big", "a_big%22"} {
			r := adminDo(t, env, "GET", "/admin/tenants/"+schema+"/usage/", nil)
			admWantStatus(t, r, http.StatusNotFound)
		}
		if u := apptest.MeasureUsage(t, url, "a_big"); u.Sum() != truth["a_big"].Sum() {
			t.Errorf("a_big after the hostile names: %d rows, want %d", u.Sum(), truth["a_big"].Sum())
		}
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "localhost", Path: "/admin/tenants/a_big/usage/"})
		admWantStatus(t, r, http.StatusUnauthorized)
	})
	t.Run("ErrTenantHost", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "a-big.localhost", Path: "/admin/tenants/a_big/usage/", Token: adminToken})
		admWantStatus(t, r, http.StatusNotFound)
	})
	t.Run("ErrMethodNotAllowed", func(t *testing.T) {
		r := adminDo(t, env, "DELETE", "/admin/tenants/a_big/usage/", nil)
		admWantStatus(t, r, http.StatusMethodNotAllowed)
	})

	t.Run("ListCarriesUsage", func(t *testing.T) {
		r := adminDo(t, env, "GET", "/admin/tenants/", nil)
		admWantStatus(t, r, http.StatusOK)
		names, by := results(t, r)
		if want := []string{"a_big", "a_empty", "a_small"}; !slices.Equal(names, want) {
			t.Fatalf("tenants %v, want %v", names, want)
		}
		for name, m := range by {
			u, _ := m["usage"].(map[string]any)
			want := truth[name]
			if u == nil || num(u["bytes"]) != want.MainForkBytes || num(u["rows"]) != want.Sum() || num(u["users"]) != want.Rows["users"] ||
				u["last_request"] != nil || u["requests"] != 0.0 || m["domains"] == nil {
				t.Errorf("%s: %v; want %d bytes, %d rows, %d users", name, m, want.MainForkBytes, want.Sum(), want.Rows["users"])
			}
		}
	})
	t.Run("ListOrdering", func(t *testing.T) {
		cases := []struct {
			name, query string
			want        []string
			count       int64
		}{
			{"BytesDescending", "ordering=-bytes", []string{"a_big", "a_small", "a_empty"}, 3},
			{"Bytes", "ordering=bytes", []string{"a_empty", "a_small", "a_big"}, 3},
			{"Rows", "ordering=-rows", []string{"a_big", "a_small", "a_empty"}, 3},
			{"UsersThenSchema", "ordering=-users,schema_name", []string{"a_big", "a_small", "a_empty"}, 3},
			{"Schema", "ordering=schema_name", []string{"a_big", "a_empty", "a_small"}, 3},
			{"SchemaDescending", "ordering=-schema_name", []string{"a_small", "a_empty", "a_big"}, 3},
			{"LastRequestTiesBySchema", "ordering=-last_request", []string{"a_big", "a_empty", "a_small"}, 3},
			{"Page", "ordering=-bytes&limit=1&offset=1", []string{"a_small"}, 3},
			{"Search", "search=SMALL&ordering=-bytes", []string{"a_small"}, 1},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := adminDo(t, env, "GET", "/admin/tenants/?"+c.query, nil)
				admWantStatus(t, r, http.StatusOK)
				names, by := results(t, r)
				if !slices.Equal(names, c.want) || num(r.Body["count"]) != c.count {
					t.Errorf("%s: %v of %v, want %v of %d", c.query, names, r.Body["count"], c.want, c.count)
				}
				for name, m := range by {
					if u := m["usage"].(map[string]any); num(u["bytes"]) != truth[name].MainForkBytes {
						t.Errorf("%s: %s's usage %v", c.query, name, u)
					}
				}
			})
		}
		t.Run("PageLinksKeepTheOrdering", func(t *testing.T) {
			r := adminDo(t, env, "GET", "/admin/tenants/?ordering=-bytes&limit=1", nil)
			next, _ := r.Body["next"].(string)
			if !strings.Contains(next, "ordering=-bytes") || !strings.Contains(next, "offset=1") {
				t.Errorf("next %q", next)
			}
		})
		for _, q := range []string{"ordering=size", "ordering=-bytes,name", "ordering=bytes%3BDROP%20TABLE%20clients"} {
			t.Run("ErrOrdering", func(t *testing.T) {
				admWantField(t, adminDo(t, env, "GET", "/admin/tenants/?"+q, nil), "ordering")
			})
		}
	})
}

// TestAdminTenantUsageCountsRequests: the instance answering counts each
// tenant's requests, their database time and the last one's time, and
// the usage reads report them.
func TestAdminTenantUsageCountsRequests(t *testing.T) {
	t.Parallel()
	env, _ := newUsageEnv(t, true)
	env.CreateTenant(t, "act_a", "act-a.localhost")
	env.CreateTenant(t, "act_b", "act-b.localhost")
	usage := func(schema string) map[string]any {
		t.Helper()
		r := adminDo(t, env, "GET", "/admin/tenants/"+schema+"/usage/", nil)
		admWantStatus(t, r, http.StatusOK)
		return r.Body
	}
	at := func(v any) time.Time {
		t.Helper()
		s, _ := v.(string)
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("%v is not a time: %v", v, err)
		}
		return ts
	}

	before := time.Now()
	access, _, _ := env.Register(t, "act-a.localhost", "alice")
	for range 2 {
		if r := env.Do(t, apptest.Request{Method: "GET", Host: "act-a.localhost", Path: "/api/todos/", Token: access}); r.Status != 200 {
			t.Fatalf("GET /api/todos/: %d %s", r.Status, r.Raw)
		}
	}
	if r := env.Do(t, apptest.Request{Method: "GET", Host: "act-a.localhost", Path: "/api/todos/"}); r.Status != 401 {
		t.Fatalf("GET /api/todos/ without a token: %d", r.Status)
	}
	after := time.Now()

	a := usage("act_a")
	last, since := at(a["last_request"]), at(a["counted_since"])
	if num(a["requests"]) != 4 || a["database_seconds"].(float64) <= 0 || num(a["users"]) != 1 ||
		last.Before(before.Add(-time.Millisecond)) || last.After(after) || since.Before(before.Add(-time.Millisecond)) || since.After(last) {
		t.Errorf("act_a after 4 requests between %s and %s: %v", before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano), a)
	}
	if b := usage("act_b"); b["last_request"] != nil || num(b["requests"]) != 0 || b["database_seconds"] != 0.0 {
		t.Errorf("act_b, no request: %v", b)
	}

	t.Run("MoreRequestsMoveThem", func(t *testing.T) {
		dbBefore := a["database_seconds"].(float64)
		env.Do(t, apptest.Request{Method: "GET", Host: "act-a.localhost", Path: "/api/todos/", Token: access})
		again := usage("act_a")
		if num(again["requests"]) != 5 || at(again["last_request"]).Before(last) || again["database_seconds"].(float64) <= dbBefore ||
			again["counted_since"] != a["counted_since"] {
			t.Errorf("after one more request: %v (before: %v)", again, a)
		}
	})
	t.Run("ListSummaryAndOrdering", func(t *testing.T) {
		for _, q := range []string{"ordering=-last_request", "ordering=-requests", "ordering=-users"} {
			r := adminDo(t, env, "GET", "/admin/tenants/?"+q, nil)
			names, by := results(t, r)
			if len(names) != 2 || names[0] != "act_a" {
				t.Fatalf("%s: %v", q, names)
			}
			u := by["act_a"]["usage"].(map[string]any)
			if num(u["requests"]) != 5 || u["last_request"] == nil {
				t.Errorf("%s: act_a's summary %v", q, u)
			}
			if u := by["act_b"]["usage"].(map[string]any); u["last_request"] != nil || num(u["requests"]) != 0 {
				t.Errorf("%s: act_b's summary %v", q, u)
			}
		}
	})
	t.Run("AdminRequestsAreNoTenants", func(t *testing.T) {
		if n := num(usage("act_a")["requests"]); n != 5 {
			t.Errorf("act_a: %d requests after admin reads, want 5", n)
		}
	})
}

// TestAdminTenantUsageWithoutMetrics: without metrics the last request
// is still reported; the counts are null.
func TestAdminTenantUsageWithoutMetrics(t *testing.T) {
	t.Parallel()
	env, _ := newUsageEnv(t, false)
	env.CreateTenant(t, "quiet", "quiet.localhost")
	env.Register(t, "quiet.localhost", "alice")
	r := adminDo(t, env, "GET", "/admin/tenants/quiet/usage/", nil)
	admWantStatus(t, r, http.StatusOK)
	if r.Body["last_request"] == nil || r.Body["requests"] != nil || r.Body["database_seconds"] != nil || r.Body["counted_since"] != nil || num(r.Body["users"]) != 1 {
		t.Errorf("usage without metrics: %s", r.Raw)
	}
	r = adminDo(t, env, "GET", "/admin/tenants/", nil)
	_, by := results(t, r)
	if u := by["quiet"]["usage"].(map[string]any); u["last_request"] == nil || u["requests"] != nil {
		t.Errorf("list summary without metrics: %v", u)
	}
}
