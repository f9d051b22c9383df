// Package metrics exposes strictmt's Prometheus metrics: HTTP requests by
// route pattern, method and status; database pool gauges; the host
// cache's hits, misses and invalidations; the tenant count and the spare
// schemas ready; migration and provisioning durations; and, when asked
// for, per-tenant request counts bounded to the busiest tenants plus
// "other".
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/strictmt/strictmt/datapath"
)

// Namespace prefixes every strictmt metric name.
const Namespace = "strictmt"

// DefaultTopTenants is how many tenants get a series of their own when
// per-tenant metrics are on and Options.TopTenants is 0.
const DefaultTopTenants = 20

// Catalog reports what the catalog holds now; it is asked at every
// scrape.
type Catalog interface {
	// CountTenantsByState returns the number of tenants in each state.
	CountTenantsByState(ctx context.Context) (map[string]int64, error)
	// SparesReady returns the number of spare schemas ready to claim.
	SparesReady(ctx context.Context) (int64, error)
}

// Options configures New.
type Options struct {
	// PerTenant adds per-tenant request series, bounded by TopTenants.
	PerTenant bool
	// TopTenants is how many tenants get series of their own; the rest
	// count under tenant="other". 0 means DefaultTopTenants.
	TopTenants int
	// Pools are the database pools to report, by name.
	Pools map[string]*sql.DB
	// Catalog, when not nil, gives the tenant and spare gauges.
	Catalog Catalog
}

// Metrics holds the registry and the instruments strictmt updates.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	hostCache     *prometheus.CounterVec
	invalidations prometheus.Counter
	migrations    *prometheus.HistogramVec
	provisioning  prometheus.Histogram
	tenants       *tenantSeries // nil unless Options.PerTenant
}

// New returns a Metrics with its own registry (nothing is registered
// globally), including the Go runtime and process collectors.
func New(opts Options) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		hostCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "host_cache_lookups_total",
			Help: "Host to tenant lookups by result: hit (no database round trip) or miss.",
		}, []string{"result"}),
		invalidations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "host_cache_invalidations_total",
			Help: "Times the host cache was dropped: catalog changes here or announced by other processes, and listener reconnects.",
		}),
		migrations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "migration_duration_seconds",
			Help:    "Duration of migration runs by scope (shared or tenants).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"scope"}),
		provisioning: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "tenant_provisioning_duration_seconds",
			Help:    "Time to provision a created tenant's schema and role (a spare claimed, or built), in its creation transaction.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}),
	}
	// Known label values exist from the start, so a scrape shows them.
	m.hostCache.WithLabelValues("hit")
	m.hostCache.WithLabelValues("miss")
	reg.MustRegister(m.requests, m.duration, m.hostCache, m.invalidations, m.migrations, m.provisioning,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name, db := range opts.Pools {
		reg.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
	if opts.Catalog != nil {
		reg.MustRegister(&catalogCollector{catalog: opts.Catalog})
	}
	if opts.PerTenant {
		n := opts.TopTenants
		if n <= 0 {
			n = DefaultTopTenants
		}
		m.tenants = newTenantSeries(n)
		reg.MustRegister(m.tenants)
	}
	return m
}

// SetCatalog adds the tenant and spare gauges, read from c at every
// scrape. Call it once.
func (m *Metrics) SetCatalog(c Catalog) { m.reg.MustRegister(&catalogCollector{catalog: c}) }

// Connections is what the tenant connections' metrics read at scrape
// time (datapath.Store).
type Connections interface {
	// Retired counts the connections closed for having served more
	// schemas than database.max_schemas_per_conn.
	Retired() int64
	// ConnSchemas gives, per affinity group, the distinct schemas its
	// connection has served.
	ConnSchemas() []int64
}

// SetConnections adds strictmt_tenant_connections_retired_total and
// strictmt_tenant_connection_schemas{conn}, read from c at every scrape.
// Call it once.
func (m *Metrics) SetConnections(c Connections) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: Namespace + "_tenant_connections_retired_total",
		Help: "Tenant connections closed for having served more schemas than database.max_schemas_per_conn.",
	}, func() float64 { return float64(c.Retired()) }), &connCollector{conns: c})
}

// connCollector reads the distinct schemas per tenant connection at
// scrape time.
type connCollector struct{ conns Connections }

var connSchemasDesc = prometheus.NewDesc(Namespace+"_tenant_connection_schemas",
	"Distinct tenant schemas the affinity group's connection has served (whose catalog its PostgreSQL backend caches).",
	[]string{"conn"}, nil)

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) { ch <- connSchemasDesc }

func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	for i, n := range c.conns.ConnSchemas() {
		ch <- prometheus.MustNewConstMetric(connSchemasDesc, prometheus.GaugeValue, float64(n), strconv.Itoa(i))
	}
}

// Registry returns the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// Middleware counts and times every request by route pattern (the
// route's pattern, not the path, so ids do not make series; "unmatched"
// for paths no route serves), method and status, and by tenant when
// per-tenant metrics are on.
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := strconv.Itoa(c.Writer.Status())
		d := time.Since(start).Seconds()
		m.requests.WithLabelValues(route, c.Request.Method, status).Inc()
		m.duration.WithLabelValues(route, c.Request.Method, status).Observe(d)
		if m.tenants != nil {
			if t := datapath.TenantFromContext(c.Request.Context()); t != nil {
				m.tenants.observe(t.Schema, d)
			}
		}
	}
}

// CacheHit counts a host lookup answered from the cache.
func (m *Metrics) CacheHit() { m.hostCache.WithLabelValues("hit").Inc() }

// CacheMiss counts a host lookup that read the catalog.
func (m *Metrics) CacheMiss() { m.hostCache.WithLabelValues("miss").Inc() }

// CacheInvalidated counts a drop of the host cache.
func (m *Metrics) CacheInvalidated() { m.invalidations.Inc() }

// ObserveMigration records a migration run of scope ("shared" or
// "tenants") that took d.
func (m *Metrics) ObserveMigration(scope string, d time.Duration) {
	m.migrations.WithLabelValues(scope).Observe(d.Seconds())
}

// ObserveProvisioning records the provisioning of one created tenant.
func (m *Metrics) ObserveProvisioning(d time.Duration) { m.provisioning.Observe(d.Seconds()) }

// catalogCollector reads the tenant counts and the spares ready at
// scrape time.
type catalogCollector struct{ catalog Catalog }

var (
	tenantsDesc        = prometheus.NewDesc(Namespace+"_tenants", "Tenants in the catalog.", nil, nil)
	tenantsByStateDesc = prometheus.NewDesc(Namespace+"_tenants_by_state", "Tenants in the catalog by state (active, read_only, suspended).", []string{"state"}, nil)
	sparesDesc         = prometheus.NewDesc(Namespace+"_spare_schemas_available", "Spare tenant schemas ready to be claimed.", nil, nil)
)

func (c *catalogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tenantsDesc
	ch <- tenantsByStateDesc
	ch <- sparesDesc
}

func (c *catalogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if byState, err := c.catalog.CountTenantsByState(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(tenantsDesc, err)
		ch <- prometheus.NewInvalidMetric(tenantsByStateDesc, err)
	} else {
		var n int64
		for state, k := range byState {
			n += k
			ch <- prometheus.MustNewConstMetric(tenantsByStateDesc, prometheus.GaugeValue, float64(k), state)
		}
		ch <- prometheus.MustNewConstMetric(tenantsDesc, prometheus.GaugeValue, float64(n))
	}
	if n, err := c.catalog.SparesReady(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(sparesDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(sparesDesc, prometheus.GaugeValue, float64(n))
	}
}
