package datapath

import (
	"context"
	"database/sql"
	"hash/fnv"
	"slices"
	"sync"
	"time"
)

// A PostgreSQL backend keeps the catalog entries of every schema it has
// served (about 50 KB a schema of this shape) until it exits. So that each
// schema is cached by one backend and not by every backend of the pool,
// the store routes a tenant's scopes to connection groups in an order of
// the tenant's own (rendezvous hashing of its schema name over the
// groups, so every process and every pool size agree on it, and a group
// added or removed moves only the tenants it gains or loses):
//
//   - a scope takes the tenant's home group (first in its order) when
//     the home has a connection free;
//   - when the home is busy it waits for it, HomeWait at most, and only
//     then takes its home or its fallback, the second of its order,
//     whichever frees first (fallbackGroups; fixed per tenant, never
//     whichever group is freest);
//   - a tenant with n scopes holding or waiting for a connection may
//     take any of its first n groups at once: a hot tenant spreads over
//     as much of the pool as it has requests in flight
//     (tenancy.max_conns_per_tenant bounds those), up to
//     StoreOptions.GroupsPerTenant when that is set;
//   - a group whose connections are all held, one of them by a guest (a
//     scope of a tenant whose home it is not), does not count among a
//     tenant's groups: the tenant goes on down its order instead of
//     waiting for it, so a hot tenant spread over others' homes does not
//     make their tenants wait (still within GroupsPerTenant).
//
// Scopes that wait are served first come first served: a freed
// connection goes to the longest-waiting scope that may take it.

// DefaultHomeWait is how long a scope waits for its tenant's busy home
// connection before it may take a fallback: far longer than a request
// holds a connection on a loaded machine, so that only a home held by
// something slow makes its tenants spill. Over 1,000 tenants at steady
// state, 5 ms left each schema cached by 1.68 backends on average, 20 ms
// by 1.25 and 50 ms by 1.06, with less PostgreSQL CPU per request the
// fewer the copies (docs/BENCHMARKS.md "Scale").
const DefaultHomeWait = 50 * time.Millisecond

// fallbackGroups is how many groups of its order a tenant whose home is
// busy past the wait may take, its home included.
const fallbackGroups = 2

// lease is a tenant connection a scope holds, with the group it came
// from.
type lease struct {
	*sql.Conn
	group int
}

// router hands the store's connection groups to tenant scopes (see
// above). Its state is small and its critical sections a few
// comparisons, so one mutex serves it.
type router struct {
	groups   []*sql.DB
	wait     time.Duration // HomeWait
	limit    int           // most groups of its order a tenant may take
	fallback int           // groups a tenant may take after the wait

	mu       sync.Mutex
	free     []int          // connections each group may still open or hand out
	guests   []int          // connections of each group held by guests
	queue    []*waiter      // scopes waiting, oldest first
	inflight map[string]int // scopes holding or waiting for a connection, by schema
}

// waiter is a scope waiting for a connection.
type waiter struct {
	schema string
	order  []int
	width  int      // groups of order it may take, besides its in-flight count
	got    chan int // the group granted; buffered
	served bool     // got has its group (under router.mu)
}

func newRouter(groups []*sql.DB, wait time.Duration, limit int) *router {
	r := &router{groups: groups, wait: wait, limit: len(groups), inflight: map[string]int{}}
	if limit > 0 && limit < len(groups) {
		r.limit = limit
	}
	r.fallback = min(fallbackGroups, r.limit)
	for _, g := range groups {
		r.free = append(r.free, g.Stats().MaxOpenConnections)
	}
	r.guests = make([]int, len(groups))
	return r
}

// order returns the groups in the order schema's scopes take them:
// highest rendezvous score first.
func (r *router) order(schema string) []int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(schema))
	key := h.Sum64()
	scores := make([]uint64, len(r.groups))
	order := make([]int, len(r.groups))
	for g := range r.groups {
		scores[g] = mix(key ^ uint64(g+1)*0x9e3779b97f4a7c15)
		order[g] = g
	}
	slices.SortFunc(order, func(a, b int) int {
		if scores[a] > scores[b] {
			return -1
		}
		if scores[a] < scores[b] {
			return 1
		}
		return a - b
	})
	return order
}

// mix is splitmix64's finaliser: it spreads a key's bits over the result.
func mix(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// conn returns a connection for a scope of the tenant of schema, whose
// group order is order.
func (r *router) conn(ctx context.Context, schema string, order []int) (*lease, error) {
	g, err := r.acquire(ctx, schema, order)
	if err != nil {
		return nil, err
	}
	c, err := r.groups[g].Conn(ctx)
	if err != nil {
		r.release(g, schema, order)
		return nil, err
	}
	return &lease{Conn: c, group: g}, nil
}

// acquire reserves a connection of one of the groups schema's scope may
// take, waiting as the rules above say.
func (r *router) acquire(ctx context.Context, schema string, order []int) (int, error) {
	r.mu.Lock()
	r.inflight[schema]++
	w := &waiter{schema: schema, order: order, width: 1, got: make(chan int, 1)}
	if g := r.take(w); g >= 0 {
		r.mu.Unlock()
		return g, nil
	}
	r.queue = append(r.queue, w)
	r.mu.Unlock()

	timer := time.NewTimer(r.wait)
	defer timer.Stop()
	for {
		select {
		case g := <-w.got:
			return g, nil
		case <-timer.C:
			r.mu.Lock()
			if !w.served {
				w.width = r.fallback
				if g := r.take(w); g >= 0 {
					r.dequeue(w)
					r.mu.Unlock()
					return g, nil
				}
			}
			r.mu.Unlock()
		case <-ctx.Done():
			r.mu.Lock()
			if w.served {
				r.mu.Unlock()
				r.release(<-w.got, schema, order)
				return -1, ctx.Err()
			}
			r.dequeue(w)
			r.done(schema)
			r.mu.Unlock()
			return -1, ctx.Err()
		}
	}
}

// allowed returns how many groups of its order w may take now.
func (r *router) allowed(w *waiter) int {
	return min(r.limit, max(w.width, r.inflight[w.schema]))
}

// take reserves the first group w may take that has a connection free,
// or returns -1. Called with r.mu held.
func (r *router) take(w *waiter) int {
	g := -1
	r.window(w, func(h int) bool {
		if r.free[h] > 0 {
			g = h
			return true
		}
		return false
	})
	if g >= 0 {
		r.hold(g, w.order)
	}
	return g
}

// window calls f with the groups w may take now, in its order, until f
// returns true: its first allowed(w) groups, not counting those held
// whole with a guest among them, and no further than r.limit groups.
// Called with r.mu held.
func (r *router) window(w *waiter, f func(g int) bool) {
	n := r.allowed(w)
	for _, g := range w.order[:r.limit] {
		if f(g) {
			return
		}
		if r.free[g] == 0 && r.guests[g] > 0 {
			continue
		}
		if n--; n == 0 {
			return
		}
	}
}

// hold counts a connection of group g as taken by a scope whose group
// order is order. Called with r.mu held.
func (r *router) hold(g int, order []int) {
	r.free[g]--
	if g != order[0] {
		r.guests[g]++
	}
}

// dequeue removes w from the queue. Called with r.mu held.
func (r *router) dequeue(w *waiter) {
	if i := slices.Index(r.queue, w); i >= 0 {
		r.queue = slices.Delete(r.queue, i, i+1)
	}
}

// done counts a scope of schema out of its tenant's in-flight scopes.
// Called with r.mu held.
func (r *router) done(schema string) {
	if r.inflight[schema]--; r.inflight[schema] <= 0 {
		delete(r.inflight, schema)
	}
}

// release gives back group g's connection that a scope of schema, whose
// group order is order, held: to the longest-waiting scope that may take
// it, or to the group.
func (r *router) release(g int, schema string, order []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done(schema)
	r.free[g]++
	if g != order[0] {
		r.guests[g]--
	}
	for i, w := range r.queue {
		may := false
		r.window(w, func(h int) bool {
			may = h == g
			return may
		})
		if may {
			r.queue = slices.Delete(r.queue, i, i+1)
			r.hold(g, w.order)
			w.served = true
			w.got <- g
			return
		}
	}
}
