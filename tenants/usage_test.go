package tenants_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/tenants"
)

// usageSeeds are the tenants of the usage tests, the largest first.
var usageSeeds = apptest.UsageTenants("u")

// seedUsage creates the tenants of usageSeeds with their rows, brings
// the catalog's figures up to date, and returns what PostgreSQL says of
// each (apptest.SeedUsageTenants).
func seedUsage(t *testing.T, env *apptest.Env) map[string]apptest.UsageTruth {
	t.Helper()
	return apptest.SeedUsageTenants(t, env.Config.Database.URL, usageSeeds, func(schema, domain string) { env.CreateTenant(t, schema, domain) })
}

func checkRows(t *testing.T, u tenants.Usage, want apptest.UsageTruth) {
	t.Helper()
	var names []string
	for _, tr := range u.Tables {
		names = append(names, tr.Name)
		if tr.Rows != want.Rows[tr.Name] {
			t.Errorf("%s.%s: %d rows, count(*) says %d", u.Schema, tr.Name, tr.Rows, want.Rows[tr.Name])
		}
	}
	if !slices.Equal(names, apptest.UsageTables) {
		t.Errorf("%s: tables %v, want %v", u.Schema, names, apptest.UsageTables)
	}
	if u.Rows != want.Sum() || u.Users != want.Rows["users"] {
		t.Errorf("%s: %d rows and %d users, want %d and %d", u.Schema, u.Rows, u.Users, want.Sum(), want.Rows["users"])
	}
}

// TestUsageFiguresEqualPostgreSQLs: one tenant's usage is
// pg_total_relation_size summed and count(*); every tenant's, read from
// the catalog, is the main forks' sizes and the rows once the catalog's
// figures are up to date.
func TestUsageFiguresEqualPostgreSQLs(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	svc := env.App.Tenants
	truth := seedUsage(t, env)

	t.Run("OneTenantExact", func(t *testing.T) {
		for _, s := range usageSeeds {
			u, err := svc.Usage(ctx, s.Schema)
			if err != nil {
				t.Fatal(err)
			}
			if !u.Exact || u.Bytes != truth[s.Schema].ExactBytes {
				t.Errorf("%s: %d bytes (exact %v), pg_total_relation_size says %d", s.Schema, u.Bytes, u.Exact, truth[s.Schema].ExactBytes)
			}
			checkRows(t, *u, truth[s.Schema])
		}
		if truth["u_big"].ExactBytes <= truth["u_big"].MainForkBytes {
			t.Errorf("u_big: the exact size %d is not above the main forks' %d: the test does not tell them apart", truth["u_big"].ExactBytes, truth["u_big"].MainForkBytes)
		}
	})
	t.Run("EveryTenantFromTheCatalog", func(t *testing.T) {
		all, err := svc.UsageAll(ctx, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, u := range all {
			order = append(order, u.Schema)
			if u.Exact || u.Bytes != truth[u.Schema].MainForkBytes {
				t.Errorf("%s: %d bytes (exact %v), the main forks are %d", u.Schema, u.Bytes, u.Exact, truth[u.Schema].MainForkBytes)
			}
			checkRows(t, u, truth[u.Schema])
		}
		if want := []string{"u_big", "u_small", "u_empty"}; !slices.Equal(order, want) {
			t.Errorf("by bytes: %v, want %v", order, want)
		}
	})
	t.Run("TopAndSort", func(t *testing.T) {
		cases := []struct {
			top  int
			sort string
			want []string
		}{
			{2, "bytes", []string{"u_big", "u_small"}},
			{0, "rows", []string{"u_big", "u_small", "u_empty"}},
			{1, "users", []string{"u_big"}},
			{0, "schema", []string{"u_big", "u_empty", "u_small"}},
			// No request seen: every tenant ties, by schema name.
			{0, "last_request", []string{"u_big", "u_empty", "u_small"}},
		}
		for _, c := range cases {
			all, err := svc.UsageAll(ctx, c.top, c.sort)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range all {
				got = append(got, u.Schema)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("top %d by %s: %v, want %v", c.top, c.sort, got, c.want)
			}
		}
	})
	t.Run("ErrUnknownSort", func(t *testing.T) {
		var e *apperr.Error
		if _, err := svc.UsageAll(ctx, 0, "size"); !errors.As(err, &e) || e.Code != apperr.EINVALID || e.Fields["sort"] == nil {
			t.Errorf("sort by size: %v", err)
		}
	})
	for name, schema := range map[string]string{"ErrUnknownTenant": "nobody", "ErrNotASchemaName": "a;drop schema u_big"} {
		t.Run(name, func(t *testing.T) {
			if _, err := svc.Usage(ctx, schema); !errors.Is(err, apperr.NotFound) {
				t.Errorf("usage of %q: %v, want ENOTFOUND", schema, err)
			}
		})
	}
	t.Run("ListWithUsage", func(t *testing.T) {
		cases := []struct {
			name  string
			p     tenants.ListParams
			order []tenants.UsageKey
			want  []string
			total int64
		}{
			{"BySchema", tenants.ListParams{}, nil, []string{"u_big", "u_empty", "u_small"}, 3},
			{"BySchemaPage", tenants.ListParams{Limit: 1, Offset: 1}, nil, []string{"u_empty"}, 3},
			{"ByBytesDescending", tenants.ListParams{}, []tenants.UsageKey{{Field: "bytes", Desc: true}}, []string{"u_big", "u_small", "u_empty"}, 3},
			{"ByRowsPage", tenants.ListParams{Limit: 1, Offset: 1}, []tenants.UsageKey{{Field: "rows"}}, []string{"u_small"}, 3},
			{"BySchemaDescending", tenants.ListParams{}, []tenants.UsageKey{{Field: "schema", Desc: true}}, []string{"u_small", "u_empty", "u_big"}, 3},
			{"SearchByUsers", tenants.ListParams{Search: "SMALL"}, []tenants.UsageKey{{Field: "users"}}, []string{"u_small"}, 1},
			{"PastTheEnd", tenants.ListParams{Offset: 5}, []tenants.UsageKey{{Field: "users"}}, nil, 3},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				list, total, err := svc.ListTenantsWithUsage(ctx, c.p, c.order)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, tw := range list {
					got = append(got, tw.Tenant.SchemaName)
					if tw.Usage.Schema != tw.Tenant.SchemaName || tw.Usage.Bytes != truth[tw.Usage.Schema].MainForkBytes ||
						tw.Usage.Rows != truth[tw.Usage.Schema].Sum() || len(tw.Tenant.Domains) != 1 {
						t.Errorf("%s: %+v, want %d bytes and %d rows", tw.Tenant.SchemaName, tw.Usage, truth[tw.Usage.Schema].MainForkBytes, truth[tw.Usage.Schema].Sum())
					}
				}
				if !slices.Equal(got, c.want) || total != c.total {
					t.Errorf("%v of %d, want %v of %d", got, total, c.want, c.total)
				}
			})
		}
	})
}
