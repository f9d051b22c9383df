package metrics

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// OtherTenants is the tenant label value of the requests of every tenant
// without a series of its own. No schema name can be it (schema names have
// no parentheses).
const OtherTenants = "(other)"

// maxCandidates bounds the tenants whose traffic is tracked while they
// wait for a series of their own.
const maxCandidates = 10000

var (
	tenantRequestsDesc = prometheus.NewDesc(Namespace+"_tenant_http_requests_total",
		"HTTP requests by tenant schema: the busiest tenants have a series each, the others count under tenant=\""+OtherTenants+"\".",
		[]string{"tenant"}, nil)
	tenantSecondsDesc = prometheus.NewDesc(Namespace+"_tenant_http_request_duration_seconds_total",
		"Time spent serving HTTP requests by tenant schema, grouped like "+Namespace+"_tenant_http_requests_total.",
		[]string{"tenant"}, nil)
)

// tenantSeries counts requests per tenant with at most max tenants having
// series of their own, so that a scrape stays small however many tenants
// there are. Each request counts once, under its tenant's series when the
// tenant has one and under OtherTenants otherwise, so every series only
// grows (as Prometheus counters must). Tenants without a series are
// tracked, up to maxCandidates, and at each scrape the busiest of them
// take the free slots; a tenant keeps its series for the life of the
// process.
type tenantSeries struct {
	max int

	mu         sync.Mutex
	labeled    map[string]*tenantCount
	other      tenantCount
	candidates map[string]int64
}

type tenantCount struct {
	n       int64
	seconds float64
}

func newTenantSeries(max int) *tenantSeries {
	return &tenantSeries{max: max, labeled: map[string]*tenantCount{}, candidates: map[string]int64{}}
}

func (s *tenantSeries) observe(tenant string, seconds float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.labeled[tenant]; ok {
		c.n++
		c.seconds += seconds
		return
	}
	s.other.n++
	s.other.seconds += seconds
	if len(s.labeled) < s.max {
		if _, ok := s.candidates[tenant]; ok || len(s.candidates) < maxCandidates {
			s.candidates[tenant]++
		}
	}
}

// promoteLocked gives the busiest candidates the free slots.
func (s *tenantSeries) promoteLocked() {
	free := s.max - len(s.labeled)
	if free <= 0 || len(s.candidates) == 0 {
		return
	}
	names := make([]string, 0, len(s.candidates))
	for n := range s.candidates {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		ci, cj := s.candidates[names[i]], s.candidates[names[j]]
		return ci > cj || ci == cj && names[i] < names[j]
	})
	for _, n := range names[:min(free, len(names))] {
		// Their traffic so far stays under OtherTenants: moving it would
		// make that series go down.
		s.labeled[n] = &tenantCount{}
		delete(s.candidates, n)
	}
	if len(s.labeled) >= s.max {
		s.candidates = map[string]int64{}
	}
}

func (s *tenantSeries) Describe(ch chan<- *prometheus.Desc) {
	ch <- tenantRequestsDesc
	ch <- tenantSecondsDesc
}

func (s *tenantSeries) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.promoteLocked()
	emit := func(name string, c tenantCount) {
		ch <- prometheus.MustNewConstMetric(tenantRequestsDesc, prometheus.CounterValue, float64(c.n), name)
		ch <- prometheus.MustNewConstMetric(tenantSecondsDesc, prometheus.CounterValue, c.seconds, name)
	}
	for name, c := range s.labeled {
		emit(name, *c)
	}
	emit(OtherTenants, s.other)
}
