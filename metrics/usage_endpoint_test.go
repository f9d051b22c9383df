package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/metrics"
)

// TestUsageGaugesOfTheLargestTenants scrapes the real server over 6
// tenants with top_tenants 2: the usage gauges name the 2 largest
// tenants and "(other)" only, with the figures of the usage read.
func TestUsageGaugesOfTheLargestTenants(t *testing.T) {
	t.Parallel()
	const top, n = 2, 6
	cfg := apptest.Config(t)
	cfg.Metrics.Enabled = true
	cfg.Metrics.PerTenant = true
	cfg.Metrics.TopTenants = top
	env := apptest.Start(t, cfg)
	for i := range n {
		schema := fmt.Sprintf("g_%d", i)
		env.CreateTenant(t, schema, fmt.Sprintf("g%d.localhost", i))
		apptest.SeedUsage(t, cfg.Database.URL, schema, apptest.UsageSeed{Users: i, Todos: 100 * i, LargeTodos: i})
		apptest.RefreshCatalog(t, cfg.Database.URL, schema)
	}
	all, err := env.App.Tenants.UsageAll(context.Background(), 0, "bytes")
	if err != nil {
		t.Fatal(err)
	}
	status, fams := scrape(t, env, "localhost")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, name := range []string{"strictmt_tenant_usage_bytes", "strictmt_tenant_usage_rows"} {
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s", name)
		}
		got := map[string]float64{}
		for _, m := range f.Metric {
			got[label(m, "tenant")] = m.Gauge.GetValue()
		}
		want := map[string]float64{metrics.OtherTenants: 0}
		for i, u := range all {
			v := float64(u.Bytes)
			if name == "strictmt_tenant_usage_rows" {
				v = float64(u.Rows)
			}
			if i < top {
				want[u.Schema] = v
			} else {
				want[metrics.OtherTenants] += v
			}
		}
		if len(got) != top+1 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	if all[0].Schema != "g_5" || all[1].Schema != "g_4" {
		t.Errorf("the largest tenants: %s, %s", all[0].Schema, all[1].Schema)
	}
	if fams["strictmt_tenant_usage_read_timestamp_seconds"] == nil {
		t.Error("no strictmt_tenant_usage_read_timestamp_seconds")
	}
}
