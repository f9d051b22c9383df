package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/strictmt/strictmt/tenants"
)

// UsageRefresh is how often, at most, the usage gauges are read anew:
// a scrape in between answers with the figures of the last read. One read
// of 10,000 tenants is one catalog query of about a second
// (docs/BENCHMARKS.md, "Scale: usage read"), so at most 0.3% of one
// database core.
const UsageRefresh = 5 * time.Minute

// usageWait is how long a scrape waits for a read it started before it
// answers with the figures it has (none before the first read); the read
// goes on, and the next scrape gets it.
const usageWait = 5 * time.Second

// usageTimeout bounds one read of the usage.
const usageTimeout = time.Minute

// UsageReader reads the usage of every tenant (tenants.Service).
type UsageReader interface {
	// UsageAll returns the usage of every tenant, ordered by sort
	// ("bytes": the largest first), at most top when top > 0.
	UsageAll(ctx context.Context, top int, sort string) ([]tenants.Usage, error)
}

var (
	usageBytesDesc = prometheus.NewDesc(Namespace+"_tenant_usage_bytes",
		"Bytes on disk of a tenant's tables, indexes and TOAST, as the catalog last counted them (refreshed at most every "+UsageRefresh.String()+"): the tenants with the most bytes have a series each, the others add up under tenant=\""+OtherTenants+"\".",
		[]string{"tenant"}, nil)
	usageRowsDesc = prometheus.NewDesc(Namespace+"_tenant_usage_rows",
		"Rows of a tenant's tables (live rows as the statistics count them), for the tenants of "+Namespace+"_tenant_usage_bytes.",
		[]string{"tenant"}, nil)
	usageReadDesc = prometheus.NewDesc(Namespace+"_tenant_usage_read_timestamp_seconds",
		"When the figures of the tenant usage gauges were read (Unix time); absent before the first read.",
		nil, nil)
)

// usageFigures are the gauges of one series.
type usageFigures struct {
	tenant      string
	bytes, rows int64
}

// usageGauges reports the usage of the top tenants by bytes, each under
// its own tenant label, and the sum of all the others under
// OtherTenants: top+1 series per gauge at most, whatever the number of
// tenants. The figures are read at most every refresh.
type usageGauges struct {
	reader  UsageReader
	top     int
	refresh time.Duration
	wait    time.Duration

	mu      sync.Mutex
	read    time.Time     // when the figures were read; zero before
	started time.Time     // when the last read began
	running chan struct{} // closed when the read in flight ends; nil when none
	series  []usageFigures
}

// SetUsage adds strictmt_tenant_usage_bytes{tenant} and
// strictmt_tenant_usage_rows{tenant} for the top_tenants tenants with the
// most bytes plus "(other)", read from r at most every UsageRefresh, when
// per-tenant metrics are on. Call it once.
func (m *Metrics) SetUsage(r UsageReader) {
	if m.tenants == nil {
		return
	}
	m.reg.MustRegister(&usageGauges{reader: r, top: m.tenants.max, refresh: UsageRefresh, wait: usageWait})
}

func (g *usageGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- usageBytesDesc
	ch <- usageRowsDesc
	ch <- usageReadDesc
}

func (g *usageGauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	if g.running == nil && time.Since(g.started) >= g.refresh {
		g.running = make(chan struct{})
		g.started = time.Now()
		go g.load(g.running)
	}
	running := g.running
	g.mu.Unlock()
	if running != nil {
		select {
		case <-running:
		case <-time.After(g.wait):
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.read.IsZero() {
		return
	}
	for _, s := range g.series {
		ch <- prometheus.MustNewConstMetric(usageBytesDesc, prometheus.GaugeValue, float64(s.bytes), s.tenant)
		ch <- prometheus.MustNewConstMetric(usageRowsDesc, prometheus.GaugeValue, float64(s.rows), s.tenant)
	}
	ch <- prometheus.MustNewConstMetric(usageReadDesc, prometheus.GaugeValue, float64(g.read.UnixNano())/1e9)
}

// load reads the usage and keeps the series, then closes done. A failed
// read keeps the figures of the last one; the next scrape after refresh
// tries again.
func (g *usageGauges) load(done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), usageTimeout)
	defer cancel()
	all, err := g.reader.UsageAll(ctx, 0, "bytes")
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running = nil
	if err != nil {
		return
	}
	series := make([]usageFigures, 0, min(len(all), g.top)+1)
	other := usageFigures{tenant: OtherTenants}
	for i, u := range all {
		if i < g.top {
			series = append(series, usageFigures{tenant: u.Schema, bytes: u.Bytes, rows: u.Rows})
			continue
		}
		other.bytes += u.Bytes
		other.rows += u.Rows
	}
	g.series = append(series, other)
	g.read = time.Now()
}
