package metrics_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/metrics"
	"github.com/strictmt/strictmt/tenants"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// scrape fetches /metrics on host and parses it.
func scrape(t *testing.T, env *apptest.Env, host string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, _ := http.NewRequest("GET", env.Server.URL+"/metrics", nil)
	req.Host = host
	resp, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return resp.StatusCode, fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestMetricsOffByDefault: without metrics.enabled there is no /metrics.
func TestMetricsOffByDefault(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	if status, _ := scrape(t, env, "localhost"); status != http.StatusNotFound {
		t.Fatalf("GET /metrics with metrics off: %d, want 404", status)
	}
}

// TestMetricsAfterTrafficOver50Tenants scrapes /metrics after traffic over
// 50 tenants with per-tenant series on: every series of the set is there
// with the counts the traffic made, per-tenant series are bounded to
// top_tenants plus "(other)" and add up to the tenant traffic, and tenant
// hosts do not serve /metrics.
func TestMetricsAfterTrafficOver50Tenants(t *testing.T) {
	t.Parallel()
	const top = 10
	cfg := apptest.Config(t)
	cfg.Metrics.Enabled = true
	cfg.Metrics.PerTenant = true
	cfg.Metrics.TopTenants = top
	env := apptest.Start(t, cfg)
	const n = 50
	for i := range n {
		env.CreateTenant(t, fmt.Sprintf("m_%02d", i), fmt.Sprintf("m%02d.localhost", i))
	}
	tenantRequests := 0
	logins := 0
	for i := range n {
		host := fmt.Sprintf("m%02d.localhost", i)
		for range i%5 + 1 {
			if r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/token/", Body: map[string]any{}}); r.Status != 400 {
				t.Fatalf("login without credentials on %s: %d", host, r.Status)
			}
			logins++
			tenantRequests++
		}
		if r := env.Do(t, apptest.Request{Method: "GET", Host: host, Path: "/api/todos/42/"}); r.Status != 401 {
			t.Fatalf("GET a todo without a token on %s: %d", host, r.Status)
		}
		tenantRequests++
	}
	if r := env.Do(t, apptest.Request{Method: "GET", Host: "nobody.localhost", Path: "/api/"}); r.Status != 404 {
		t.Fatalf("unknown host: %d", r.Status)
	}

	for _, host := range []string{"m00.localhost", "nobody.localhost"} {
		if status, _ := scrape(t, env, host); status != http.StatusNotFound {
			t.Errorf("GET /metrics on %s: %d, want 404 (public hosts only)", host, status)
		}
	}
	for schema, state := range map[string]string{"m_00": "read_only", "m_01": "suspended"} {
		if _, err := env.App.Tenants.SetState(context.Background(), schema, tenants.StateChange{State: state}); err != nil {
			t.Fatal(err)
		}
	}
	status, fams := scrape(t, env, "localhost")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics on localhost: %d", status)
	}

	value := func(name string, match func(*dto.Metric) bool) (float64, bool) {
		f := fams[name]
		if f == nil {
			return 0, false
		}
		sum, found := 0.0, false
		for _, m := range f.Metric {
			if match != nil && !match(m) {
				continue
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum, found
	}
	byLabels := func(kv ...string) func(*dto.Metric) bool {
		return func(m *dto.Metric) bool {
			for i := 0; i < len(kv); i += 2 {
				if label(m, kv[i]) != kv[i+1] {
					return false
				}
			}
			return true
		}
	}
	checks := []struct {
		name  string
		match func(*dto.Metric) bool
		ok    func(v float64) bool
		want  string
	}{
		{"strictmt_http_requests_total", byLabels("route", "/api/token", "method", "POST", "status", "400"), func(v float64) bool { return v == float64(logins) }, fmt.Sprint(logins)},
		{"strictmt_http_requests_total", byLabels("route", "/api/todos/:id", "method", "GET", "status", "401"), func(v float64) bool { return v == n }, fmt.Sprint(n)},
		{"strictmt_http_request_duration_seconds", byLabels("route", "/api/token", "method", "POST", "status", "400"), func(v float64) bool { return v == float64(logins) }, fmt.Sprint(logins) + " observations"},
		{"strictmt_http_requests_total", byLabels("route", "/api", "method", "GET", "status", "404"), func(v float64) bool { return v == 1 }, "1"},
		{"strictmt_host_cache_lookups_total", byLabels("result", "miss"), func(v float64) bool { return v >= n }, ">= 50"},
		{"strictmt_host_cache_lookups_total", byLabels("result", "hit"), func(v float64) bool { return v >= float64(tenantRequests-2*n) }, "most lookups"},
		{"strictmt_host_cache_invalidations_total", nil, func(v float64) bool { return v >= n }, ">= 50 (one per creation)"},
		{"strictmt_tenants", nil, func(v float64) bool { return v == n }, "50"},
		{"strictmt_tenants_by_state", byLabels("state", "active"), func(v float64) bool { return v == n-2 }, "48"},
		{"strictmt_tenants_by_state", byLabels("state", "read_only"), func(v float64) bool { return v == 1 }, "1"},
		{"strictmt_tenants_by_state", byLabels("state", "suspended"), func(v float64) bool { return v == 1 }, "1"},
		{"strictmt_spare_schemas_available", nil, func(v float64) bool { return v == 0 }, "0 (spare_schemas 0 in tests)"},
		{"strictmt_migration_duration_seconds", byLabels("scope", "shared"), func(v float64) bool { return v == 1 }, "1 run"},
		{"strictmt_migration_duration_seconds", byLabels("scope", "tenants"), func(v float64) bool { return v == 1 }, "1 run"},
		{"strictmt_tenant_provisioning_duration_seconds", nil, func(v float64) bool { return v == n }, "50 creations"},
		{"go_sql_max_open_connections", byLabels("db_name", "pooled"), func(v float64) bool { return v == float64(cfg.Database.MaxOpenConns) }, fmt.Sprint(cfg.Database.MaxOpenConns)},
		{"go_sql_in_use_connections", byLabels("db_name", "pooled"), func(v float64) bool { return v >= 0 }, "present"},
		// A read's connection may still be in use: it answers before it
		// ends its transaction.
		{"go_sql_idle_connections", byLabels("db_name", "pooled"), func(v float64) bool { return v >= 0 }, "present"},
		{"go_sql_open_connections", byLabels("db_name", "pooled"), func(v float64) bool { return v >= 1 }, ">= 1"},
	}
	for _, c := range checks {
		v, found := value(c.name, c.match)
		if !found || !c.ok(v) {
			t.Errorf("%s: %v (found %v), want %s", c.name, v, found, c.want)
		}
	}

	// Per-tenant series: bounded, the busiest tenants (i%5 == 4 made the
	// most requests) among those named, and adding up to the traffic.
	f := fams["strictmt_tenant_http_requests_total"]
	if f == nil {
		t.Fatal("no strictmt_tenant_http_requests_total")
	}
	sum := 0.0
	other := false
	for _, m := range f.Metric {
		name := label(m, "tenant")
		sum += m.Counter.GetValue()
		if name == metrics.OtherTenants {
			other = true
			continue
		}
		if tenants.ValidateSchemaName(name) != nil || !strings.HasPrefix(name, "m_") {
			t.Errorf("tenant series for %q", name)
		}
		var i int
		fmt.Sscanf(name, "m_%d", &i)
		if i%5 != 4 {
			t.Errorf("tenant %s (%d requests) has a series though it is not among the %d busiest", name, i%5+2, top)
		}
	}
	if len(f.Metric) != top+1 || !other {
		t.Errorf("%d per-tenant series (other present: %v), want %d + other", len(f.Metric), other, top)
	}
	if sum != float64(tenantRequests) {
		t.Errorf("per-tenant series add up to %v, want %d", sum, tenantRequests)
	}
	if total := len(fams["strictmt_tenant_http_requests_total"].Metric) + len(fams["strictmt_tenant_http_request_duration_seconds_total"].Metric); total > 2*(top+1) {
		t.Errorf("%d per-tenant series in all", total)
	}

	// Later traffic on a named tenant counts under its own series.
	before := 0.0
	for _, m := range f.Metric {
		if label(m, "tenant") == "m_04" {
			before = m.Counter.GetValue()
		}
	}
	env.Do(t, apptest.Request{Method: "POST", Host: "m04.localhost", Path: "/api/token/", Body: map[string]any{}})
	_, fams = scrape(t, env, "localhost")
	for _, m := range fams["strictmt_tenant_http_requests_total"].Metric {
		if label(m, "tenant") == "m_04" && m.Counter.GetValue() != before+1 {
			t.Errorf("m_04: %v after one more request, want %v", m.Counter.GetValue(), before+1)
		}
	}
}

// TestMetricsOnTheirOwnAddress: with metrics.addr, /metrics is served
// there (any Host) and not on http.addr.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := l.Addr().String()
	l.Close()
	cfg := apptest.Config(t)
	cfg.Metrics.Enabled = true
	cfg.Metrics.Addr = metricsAddr
	a, err := app.Open(context.Background(), cfg, apptest.Logger(t), app.MigrateOptions{Shared: true, Tenants: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, nil) }()
	defer func() { cancel(); <-done }()
	get := func(url string) int {
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = "localhost"
		for range 100 {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("GET %s: no answer", url)
		return 0
	}
	if s := get("http://" + ln.Addr().String() + "/metrics"); s != http.StatusNotFound {
		t.Errorf("/metrics on http.addr with metrics.addr set: %d, want 404", s)
	}
	if s := get("http://" + metricsAddr + "/metrics"); s != http.StatusOK {
		t.Errorf("/metrics on metrics.addr: %d, want 200", s)
	}
}
