package metrics

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// collectTenants returns the request count of every tenant series.
func collectTenants(t *testing.T, s *tenantSeries) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 10000)
	s.Collect(ch)
	close(ch)
	out := map[string]float64{}
	for m := range ch {
		if m.Desc() != tenantRequestsDesc {
			continue
		}
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		out[pb.Label[0].GetValue()] = pb.Counter.GetValue()
	}
	return out
}

// TestTenantSeriesBounded: 10,000 tenants make at most max+1 series; the
// busiest take the slots; every request is counted once; no series ever
// goes down.
func TestTenantSeriesBounded(t *testing.T) {
	s := newTenantSeries(10)
	total := 0
	for i := range 10000 {
		n := 1
		if i%1000 == 0 {
			n = 50 // ten busy tenants
		}
		for range n {
			s.observe(fmt.Sprintf("t%05d", i), 0.001)
			total++
		}
	}
	first := collectTenants(t, s)
	if len(first) != 11 || first[OtherTenants] != float64(total) {
		t.Fatalf("after the first scrape: %d series, other = %v (want 11 and %d)", len(first), first[OtherTenants], total)
	}
	for i := 0; i < 10000; i += 1000 {
		if _, ok := first[fmt.Sprintf("t%05d", i)]; !ok {
			t.Errorf("busy tenant t%05d has no series: %v", i, first)
		}
	}
	for i := range 10000 {
		s.observe(fmt.Sprintf("t%05d", i), 0.001)
		total++
	}
	second := collectTenants(t, s)
	sum := 0.0
	for name, v := range second {
		sum += v
		if v < first[name] {
			t.Errorf("series %s went down: %v -> %v", name, first[name], v)
		}
	}
	if len(second) != 11 || sum != float64(total) {
		t.Errorf("after more traffic: %d series summing to %v, want 11 summing to %d", len(second), sum, total)
	}
	if len(s.candidates) != 0 {
		t.Errorf("%d candidates still tracked with every slot taken", len(s.candidates))
	}
}
