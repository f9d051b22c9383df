package tenants

import (
	"sync"
	"time"
)

// ActivityTenants is how many tenants an Activity keeps figures for: past
// it, the tenant seen least recently is forgotten to make room. Its
// memory is bounded whatever the number of tenants: 168 bytes a tenant
// with schema names of 13 characters (TestActivityMemory), so 1.7 MB at
// the bound, and under 2.5 MB with the longest names.
const ActivityTenants = 10000

// Activity is what this process has seen of each tenant's requests: the
// time of its last request and, when counting, how many requests it
// served and the time they spent in the database, since the process
// started. It keeps at most max tenants, forgetting the one seen least
// recently to make room for another; a tenant forgotten and seen again
// starts counting anew (TenantActivity.Since says when). Safe for
// concurrent use.
type Activity struct {
	max      int
	counting bool

	mu        sync.Mutex
	tenants   map[string]*activityEntry
	head      *activityEntry // seen most recently
	tail      *activityEntry // seen least recently, the next to go
	forgotten int64
}

// activityEntry is one tenant's figures, in a list from the most to the
// least recently seen.
type activityEntry struct {
	schema     string
	fig        TenantActivity
	prev, next *activityEntry
}

// TenantActivity is what an Activity saw of one tenant.
type TenantActivity struct {
	// LastRequest is when its last request arrived; zero when this
	// process has not seen one (or has forgotten it).
	LastRequest time.Time
	// Counted says that Requests and DatabaseTime are counted (metrics
	// are on).
	Counted bool
	// Requests is the number of its requests served.
	Requests int64
	// DatabaseTime is the time they spent in their round trips to
	// PostgreSQL (see datapath.DatabaseTime).
	DatabaseTime time.Duration
	// Since is when this process began counting the tenant: its first
	// request, or the first after it was forgotten.
	Since time.Time
}

// NewActivity returns an Activity that keeps at most max tenants
// (ActivityTenants when max <= 0); counting adds the number of requests
// and their database time to the time of the last request.
func NewActivity(max int, counting bool) *Activity {
	if max <= 0 {
		max = ActivityTenants
	}
	return &Activity{max: max, counting: counting, tenants: map[string]*activityEntry{}}
}

// Counting reports whether a counts requests and their database time.
func (a *Activity) Counting() bool { return a.counting }

// Seen records a request of the tenant whose schema is schema, which
// arrived at at and spent db in the database.
func (a *Activity) Seen(schema string, at time.Time, db time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.tenants[schema]
	switch {
	case e != nil:
		a.unlink(e)
	case len(a.tenants) < a.max:
		e = &activityEntry{}
	default:
		// The least recently seen tenant makes room; its entry is
		// reused.
		e = a.tail
		a.unlink(e)
		delete(a.tenants, e.schema)
		a.forgotten++
	}
	if e.schema != schema {
		e.schema = schema
		e.fig = TenantActivity{Counted: a.counting, Since: at}
		a.tenants[schema] = e
	}
	if at.After(e.fig.LastRequest) {
		e.fig.LastRequest = at
	}
	if a.counting {
		e.fig.Requests++
		e.fig.DatabaseTime += db
	}
	a.pushFront(e)
}

// Of returns what a saw of the tenant whose schema is schema; false when
// nothing (not seen, or forgotten).
func (a *Activity) Of(schema string) (TenantActivity, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.tenants[schema]; e != nil {
		return e.fig, true
	}
	return TenantActivity{Counted: a.counting}, false
}

// Len returns the number of tenants a keeps, and how many it has
// forgotten to make room for others since it was made.
func (a *Activity) Len() (kept int, forgotten int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.tenants), a.forgotten
}

func (a *Activity) unlink(e *activityEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		a.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		a.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (a *Activity) pushFront(e *activityEntry) {
	e.next = a.head
	if a.head != nil {
		a.head.prev = e
	}
	a.head = e
	if a.tail == nil {
		a.tail = e
	}
}
