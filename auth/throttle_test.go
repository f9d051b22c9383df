package auth

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want Rate
	}{
		{"10/min", Rate{10, time.Minute}},
		{"10/m", Rate{10, time.Minute}},
		{"10/minute", Rate{10, time.Minute}},
		{"5/s", Rate{5, time.Second}},
		{"5/second", Rate{5, time.Second}},
		{"100/hour", Rate{100, time.Hour}},
		{"100/h", Rate{100, time.Hour}},
		{"1000/day", Rate{1000, 24 * time.Hour}},
		{" 3 / d ", Rate{3, 24 * time.Hour}},
		{"", Rate{}},
	} {
		got, err := ParseRate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"10", "x/min", "0/min", "-1/min", "10/fortnight", "10/", "/min", "1.5/min", "10001/day"} {
		if r, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", bad, r)
		}
	}
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestThrottleAllow(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	th, err := NewThrottle(Rate{10, time.Minute}, 100, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if ok, _ := th.Allow("t1\x00alice"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, wait := th.Allow("t1\x00alice")
	if ok || wait != time.Minute {
		t.Fatalf("11th request: ok %v wait %v; want refused for a minute", ok, wait)
	}
	// Refused requests are not counted: hammering does not push the
	// wait further out.
	for range 50 {
		th.Allow("t1\x00alice")
	}
	clock.now = start.Add(45 * time.Second)
	if ok, w := th.Allow("t1\x00alice"); ok || w != 15*time.Second {
		t.Fatalf("after 45s: ok %v wait %v, want refused for 15s more", ok, w)
	}
	// Other keys have their own budget.
	if ok, _ := th.Allow("t1\x00bob"); !ok {
		t.Fatal("another username was throttled")
	}
	if ok, _ := th.Allow("t2\x00alice"); !ok {
		t.Fatal("the same username in another tenant was throttled")
	}
	clock.now = start.Add(time.Minute)
	for i := range 10 {
		if ok, _ := th.Allow("t1\x00alice"); !ok {
			t.Fatalf("a minute later, request %d refused", i+1)
		}
	}
	if ok, _ := th.Allow("t1\x00alice"); ok {
		t.Fatal("11 requests allowed in the second minute")
	}
	var nilThrottle *Throttle
	if ok, _ := nilThrottle.Allow("x"); !ok {
		t.Fatal("a nil throttle refused")
	}
}

// TestThrottleSpreadOut: ten requests spread over 54 seconds leave no room
// for an 11th in that minute, as with DRF (a token bucket would have
// refilled nine).
func TestThrottleSpreadOut(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	th, err := NewThrottle(Rate{10, time.Minute}, 100, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	step := 5400 * time.Millisecond
	for i := range 10 {
		clock.now = start.Add(time.Duration(i) * step)
		if ok, _ := th.Allow("k"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	clock.now = start.Add(10 * step) // 54s after the first
	if ok, wait := th.Allow("k"); ok || wait != 6*time.Second {
		t.Fatalf("11th request within the minute: ok %v wait %v, want refused for 6s", ok, wait)
	}
	clock.now = start.Add(time.Minute)
	if ok, _ := th.Allow("k"); !ok {
		t.Fatal("refused once the first request is a minute old")
	}
	if ok, wait := th.Allow("k"); ok || wait != step {
		t.Fatalf("next: ok %v wait %v, want refused until the second is a minute old", ok, wait)
	}
}

func TestThrottledMessage(t *testing.T) {
	t.Parallel()
	if got := ThrottledMessage(WaitSeconds(5100 * time.Millisecond)); got != "Request was throttled. Expected available in 6 seconds." {
		t.Errorf("got %q", got)
	}
	if got := ThrottledMessage(WaitSeconds(time.Millisecond)); got != "Request was throttled. Expected available in 1 second." {
		t.Errorf("got %q", got)
	}
}

// TestThrottleMemoryBound tries 100,000 distinct usernames of 1,000 bytes
// each: the throttle keeps at most maxKeys buckets, and the heap it holds
// does not depend on how long the usernames were.
func TestThrottleMemoryBound(t *testing.T) {
	const (
		maxKeys   = 10_000
		usernames = 100_000
	)
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	th, err := NewThrottle(Rate{10, time.Minute}, maxKeys, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 1000)
	for i := range usernames {
		if ok, _ := th.Allow(fmt.Sprintf("tenant\x00%s%d", pad, i)); !ok {
			t.Fatalf("first request of username %d refused", i)
		}
	}
	if n := th.Len(); n != maxKeys {
		t.Fatalf("throttle holds %d buckets after %d usernames, want %d", n, usernames, maxKeys)
	}
	after := heap()
	perKey := float64(int64(after)-int64(before)) / maxKeys
	t.Logf("%d usernames tried, %d buckets kept, %.0f bytes of heap per bucket", usernames, th.Len(), perKey)
	// Keeping the usernames themselves would cost over 1,000 bytes each;
	// a key holds its SHA-256 and ten times.
	if perKey > 700 {
		t.Fatalf("%.0f bytes per bucket: the throttle keeps more than a fixed-size bucket per key", perKey)
	}
	runtime.KeepAlive(th)
	// The most recent keys are the ones kept, with their counts.
	for range 9 {
		th.Allow(fmt.Sprintf("tenant\x00%s%d", pad, usernames-1))
	}
	if ok, _ := th.Allow(fmt.Sprintf("tenant\x00%s%d", pad, usernames-1)); ok {
		t.Fatal("the newest key lost its count")
	}
}
