package metrics_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
)

// TestRetiredConnectionsCounted registers a user in each of three
// tenants on a pool of two connections that may each serve one schema:
// some connection serves a second schema and is retired, and
// strictmt_tenant_connections_retired_total says so.
func TestRetiredConnectionsCounted(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Metrics.Enabled = true
	cfg.Database.MaxOpenConns = 2
	cfg.Database.MaxIdleConns = 2
	cfg.Database.MaxSchemasPerConn = 1
	env := apptest.Start(t, cfg)
	for i := range 3 {
		host := fmt.Sprintf("ret%d.localhost", i)
		env.CreateTenant(t, fmt.Sprintf("ret%d", i), host)
		env.Register(t, host, "alice")
	}
	status, fams := scrape(t, env, "localhost")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	f := fams["strictmt_tenant_connections_retired_total"]
	if f == nil || len(f.Metric) != 1 {
		t.Fatal("no strictmt_tenant_connections_retired_total")
	}
	if v := f.Metric[0].GetCounter().GetValue(); v < 1 {
		t.Fatalf("strictmt_tenant_connections_retired_total = %v, want >= 1", v)
	}
	g := fams["strictmt_tenant_connection_schemas"]
	if g == nil || len(g.Metric) != 2 {
		t.Fatalf("strictmt_tenant_connection_schemas: %v, want a series per tenant connection (2)", g)
	}
	for _, m := range g.Metric {
		if v := m.GetGauge().GetValue(); v < 0 || v > 1 {
			t.Errorf("strictmt_tenant_connection_schemas%v = %v: past the bound of 1 schema per connection", m.GetLabel(), v)
		}
	}
}
