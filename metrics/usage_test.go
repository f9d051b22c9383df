package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/strictmt/strictmt/tenants"
)

// fakeUsage is a UsageReader over n tenants, tenant i of i*1000 bytes and
// i rows, that counts its reads; a read waits for release when it is not
// nil.
type fakeUsage struct {
	n       int
	reads   atomic.Int64
	release chan struct{}
	fail    atomic.Bool
}

func (f *fakeUsage) UsageAll(_ context.Context, top int, sort string) ([]tenants.Usage, error) {
	f.reads.Add(1)
	if f.release != nil {
		<-f.release
	}
	if f.fail.Load() {
		return nil, errors.New("the database is down")
	}
	if top != 0 || sort != "bytes" {
		return nil, fmt.Errorf("asked for top %d by %q", top, sort)
	}
	out := make([]tenants.Usage, f.n)
	for i := range out {
		k := f.n - i // the largest first
		out[i] = tenants.Usage{Schema: fmt.Sprintf("t%05d", k), Bytes: int64(k) * 1000, Rows: int64(k)}
	}
	return out, nil
}

// gatherUsage scrapes reg and returns the usage gauges by tenant label.
func gatherUsage(t *testing.T, reg *prometheus.Registry) (bytes, rows map[string]float64, read bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	bytes, rows = map[string]float64{}, map[string]float64{}
	for _, f := range fams {
		var into map[string]float64
		switch f.GetName() {
		case "strictmt_tenant_usage_bytes":
			into = bytes
		case "strictmt_tenant_usage_rows":
			into = rows
		case "strictmt_tenant_usage_read_timestamp_seconds":
			read = true
			continue
		default:
			continue
		}
		for _, m := range f.Metric {
			into[m.Label[0].GetValue()] = m.Gauge.GetValue()
		}
	}
	return bytes, rows, read
}

// TestUsageGaugesBounded: with 10,000 tenants a registry holds usage
// series for the top_tenants largest and "(other)" only, with the
// others' sum, and scrapes within UsageRefresh read the usage once.
func TestUsageGaugesBounded(t *testing.T) {
	const n, top = 10000, 5
	m := New(Options{PerTenant: true, TopTenants: top})
	f := &fakeUsage{n: n}
	m.SetUsage(f)
	for range 3 {
		bytes, rows, read := gatherUsage(t, m.Registry())
		if len(bytes) != top+1 || len(rows) != top+1 || !read {
			t.Fatalf("%d byte series, %d row series (read time: %v), want %d + other", len(bytes), len(rows), read, top)
		}
		for k := n; k > n-top; k-- {
			if name := fmt.Sprintf("t%05d", k); bytes[name] != float64(k)*1000 || rows[name] != float64(k) {
				t.Errorf("%s: %v bytes, %v rows", name, bytes[name], rows[name])
			}
		}
		rest := (n - top) * (n - top + 1) / 2 // 1 + 2 + … + (n-top)
		if bytes[OtherTenants] != float64(rest)*1000 || rows[OtherTenants] != float64(rest) {
			t.Errorf("other: %v bytes, %v rows, want %d and %d", bytes[OtherTenants], rows[OtherTenants], rest*1000, rest)
		}
	}
	if r := f.reads.Load(); r != 1 {
		t.Errorf("3 scrapes read the usage %d times, want once within %s", r, UsageRefresh)
	}
}

// TestUsageGaugesOffWithoutPerTenant: without per-tenant metrics there
// is no usage series and no read.
func TestUsageGaugesOffWithoutPerTenant(t *testing.T) {
	m := New(Options{})
	f := &fakeUsage{n: 3}
	m.SetUsage(f)
	if bytes, _, read := gatherUsage(t, m.Registry()); len(bytes) != 0 || read || f.reads.Load() != 0 {
		t.Errorf("%d series, read time %v, %d reads", len(bytes), read, f.reads.Load())
	}
}

// TestUsageGaugesSlowRead: a scrape waits for a slow read only so long,
// answers with the figures it has, and a later one gets the new ones; a
// failed read keeps the last figures.
func TestUsageGaugesSlowRead(t *testing.T) {
	f := &fakeUsage{n: 3, release: make(chan struct{})}
	g := &usageGauges{reader: f, top: 2, refresh: time.Hour, wait: 10 * time.Millisecond}
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	if bytes, _, read := gatherUsage(t, reg); len(bytes) != 0 || read {
		t.Fatalf("before the first read ends: %v", bytes)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); gatherUsage(t, reg) }() // joins the read in flight
	close(f.release)
	wg.Wait()
	if bytes, _, _ := gatherUsage(t, reg); len(bytes) != 3 || bytes["t00003"] != 3000 || bytes[OtherTenants] != 1000 {
		t.Errorf("after the read: %v", bytes)
	}
	if r := f.reads.Load(); r != 1 {
		t.Errorf("%d reads, want 1", r)
	}

	f.fail.Store(true)
	g.mu.Lock()
	g.started = time.Time{} // due again
	g.mu.Unlock()
	if bytes, _, _ := gatherUsage(t, reg); len(bytes) != 3 || bytes["t00003"] != 3000 {
		t.Errorf("after a failed read: %v, want the last figures", bytes)
	}
}
