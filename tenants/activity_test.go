package tenants_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/strictmt/strictmt/tenants"
)

// TestActivityBounded: past its bound an Activity forgets the tenants
// seen least recently, one for each new one, and keeps counting the
// others; a tenant forgotten and seen again counts anew from then.
func TestActivityBounded(t *testing.T) {
	t.Parallel()
	const max = 100
	a := tenants.NewActivity(max, true)
	t0 := time.Date(2024, 11, 15, 9, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	// t000 is seen at every step: it stays the most recently seen.
	for i := range 1000 {
		a.Seen(fmt.Sprintf("t%03d", i), at(i), time.Millisecond)
		a.Seen("t000", at(i), time.Millisecond)
	}
	kept, forgotten := a.Len()
	if kept != max || forgotten != 1000-max {
		t.Fatalf("kept %d, forgot %d; want %d and %d", kept, forgotten, max, 1000-max)
	}
	got, ok := a.Of("t000")
	if !ok || got.Requests != 1001 || got.DatabaseTime != 1001*time.Millisecond || !got.LastRequest.Equal(at(999)) || !got.Since.Equal(at(0)) {
		t.Errorf("t000, seen throughout: %+v (kept %v)", got, ok)
	}
	// The 99 others kept are the last 99 seen.
	for i := 1; i < 1000; i++ {
		got, ok := a.Of(fmt.Sprintf("t%03d", i))
		if want := i >= 1000-(max-1); ok != want {
			t.Fatalf("t%03d kept = %v, want %v", i, ok, want)
		}
		if ok && (got.Requests != 1 || !got.LastRequest.Equal(at(i))) {
			t.Errorf("t%03d: %+v", i, got)
		}
	}
	t.Run("ForgottenCountsAnew", func(t *testing.T) {
		a.Seen("t001", at(2000), time.Second)
		got, ok := a.Of("t001")
		if !ok || got.Requests != 1 || got.DatabaseTime != time.Second || !got.Since.Equal(at(2000)) {
			t.Errorf("t001 seen again: %+v", got)
		}
		if kept, _ := a.Len(); kept != max {
			t.Errorf("kept %d, want %d", kept, max)
		}
	})
	t.Run("NotSeen", func(t *testing.T) {
		got, ok := a.Of("nobody")
		if ok || !got.LastRequest.IsZero() || got.Requests != 0 || !got.Counted {
			t.Errorf("a tenant never seen: %+v, %v", got, ok)
		}
	})
}

// TestActivityWithoutCounting: without counting only the last request is
// kept.
func TestActivityWithoutCounting(t *testing.T) {
	t.Parallel()
	a := tenants.NewActivity(10, false)
	now := time.Now()
	a.Seen("acme", now, time.Second)
	a.Seen("acme", now.Add(-time.Minute), time.Second) // a slow request that arrived earlier
	got, _ := a.Of("acme")
	if got.Counted || got.Requests != 0 || got.DatabaseTime != 0 || !got.LastRequest.Equal(now) {
		t.Errorf("%+v", got)
	}
}

// TestActivityConcurrent: requests of many tenants recorded at once are
// all counted (run with -race).
func TestActivityConcurrent(t *testing.T) {
	t.Parallel()
	a := tenants.NewActivity(50, true)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				a.Seen(fmt.Sprintf("t%02d", (w+i)%40), time.Now(), 0)
			}
		}()
	}
	wg.Wait()
	total := int64(0)
	for i := range 40 {
		got, _ := a.Of(fmt.Sprintf("t%02d", i))
		total += got.Requests
	}
	if total != 8000 {
		t.Errorf("%d requests counted, want 8000", total)
	}
}

// TestActivityMemory measures what an Activity holds at its bound, and
// checks that seeing many more tenants than that adds nothing: the bound
// of its memory that ActivityTenants's comment states.
func TestActivityMemory(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// Each name is made as a request would bring it: the Activity keeps
	// it, and it counts.
	name := func(i int) string { return fmt.Sprintf("tenant_%06d", i) }
	before := heap()
	a := tenants.NewActivity(tenants.ActivityTenants, true)
	for i := range tenants.ActivityTenants {
		a.Seen(name(i), time.Now(), time.Millisecond)
	}
	full := heap()
	const more = 4 * tenants.ActivityTenants
	for i := range more {
		a.Seen(name(tenants.ActivityTenants+i), time.Now(), time.Millisecond)
	}
	after := heap()
	runtime.KeepAlive(a)
	perTenant := float64(full-before) / tenants.ActivityTenants
	t.Logf("%d tenants: %.0f bytes each, %.1f MB; after %d more: %+.1f MB",
		tenants.ActivityTenants, perTenant, float64(full-before)/1e6, more, (float64(after)-float64(full))/1e6)
	if perTenant > 300 {
		t.Errorf("%.0f bytes a tenant, want at most 300", perTenant)
	}
	if after > full+full/10 && after-full > 1<<20 {
		t.Errorf("the heap grew from %d to %d bytes past the bound", full, after)
	}
}
