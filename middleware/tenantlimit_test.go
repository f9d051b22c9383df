package middleware_test

import (
	"fmt"
	"testing"

	"github.com/strictmt/strictmt/middleware"
)

func TestTenantLimiterCapsEachTenantAlone(t *testing.T) {
	l := middleware.NewTenantLimiter(2, 0)
	r1 := l.Acquire("a", nil)
	r2 := l.Acquire("a", nil)
	if r1 == nil || r2 == nil {
		t.Fatal("the first two slots of tenant a were refused")
	}
	if r := l.Acquire("a", nil); r != nil {
		t.Fatal("a third concurrent request of tenant a got a slot, want none (cap 2)")
	}
	rb := l.Acquire("b", nil)
	if rb == nil {
		t.Fatal("tenant b was refused while only tenant a is at its cap")
	}
	if got := l.InUse("a"); got != 2 {
		t.Fatalf("tenant a uses %d slots, want 2", got)
	}
	r1()
	r1() // a second release gives nothing back twice
	if got := l.InUse("a"); got != 1 {
		t.Fatalf("after one release tenant a uses %d slots, want 1", got)
	}
	r3 := l.Acquire("a", nil)
	if r3 == nil {
		t.Fatal("a freed slot of tenant a was not handed out")
	}
	if r := l.Acquire("a", nil); r != nil {
		t.Fatal("the double release let tenant a exceed its cap")
	}
	r2()
	r3()
	rb()
	if n := l.Tracked(); n != 0 {
		t.Fatalf("%d tenants tracked with nothing in flight, want 0", n)
	}
}

func TestTenantLimiterMemoryIsBoundedByRequestsInFlight(t *testing.T) {
	l := middleware.NewTenantLimiter(1, 0)
	var releases []func()
	for i := range 10000 {
		r := l.Acquire(fmt.Sprintf("tenant_%d", i), nil)
		if r == nil {
			t.Fatalf("tenant_%d refused its first slot", i)
		}
		if i%2 == 0 {
			r()
		} else {
			releases = append(releases, r)
		}
	}
	if n := l.Tracked(); n != len(releases) {
		t.Fatalf("%d tenants tracked, want the %d with a request in flight", n, len(releases))
	}
	for _, r := range releases {
		r()
	}
	if n := l.Tracked(); n != 0 {
		t.Fatalf("%d tenants tracked after every request ended, want 0", n)
	}
}

func TestTenantLimiterWaiterGivesUpWhenDone(t *testing.T) {
	l := middleware.NewTenantLimiter(1, 1<<62) // waits "forever" unless done
	r := l.Acquire("a", nil)
	done := make(chan struct{})
	close(done)
	if got := l.Acquire("a", done); got != nil {
		t.Fatal("a waiter whose request ended got a slot")
	}
	r()
	if n := l.Tracked(); n != 0 {
		t.Fatalf("%d tenants tracked, want 0", n)
	}
}
