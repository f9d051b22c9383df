package datapath

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/strictmt/strictmt/internal/pgtest"
)

// affinityStore returns a Store with groups affinity groups of share
// connections each on a fresh database. Each group's connections carry
// application_name "group<i>", so pg_stat_activity tells which group a
// backend belongs to.
func affinityStore(t *testing.T, groups, share int, opts ...StoreOptions) (*Store, *sql.DB) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	open := func(app string, n int) *sql.DB {
		db := openPool(t, url, func(cfg *pgx.ConnConfig) {
			cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
			cfg.RuntimeParams["application_name"] = app
		})
		db.SetMaxOpenConns(n)
		return db
	}
	catalog := open("catalog", 4)
	var pools []*sql.DB
	for i := range groups {
		pools = append(pools, open(fmt.Sprintf("group%d", i), share))
	}
	o := StoreOptions{}
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Groups = pools
	return NewStore(catalog, o), catalog
}

// groupOf returns the group whose connection runs a read of t's, as
// pg_stat_activity names it.
func groupOf(t *testing.T, ctx context.Context, catalog *sql.DB, scope *Scope) string {
	t.Helper()
	var pid int
	ctx = NewContextWithScope(ctx, scope)
	if err := Run(ctx, Stmt{SQL: "SELECT pg_backend_pid()", Row: func(r pgx.Row) error { return r.Scan(&pid) }}); err != nil {
		t.Fatal(err)
	}
	var app string
	if err := catalog.QueryRowContext(ctx, "SELECT application_name FROM pg_stat_activity WHERE pid = $1", pid).Scan(&app); err != nil {
		t.Fatal(err)
	}
	return app
}

// holdConn opens a writing scope of tenant and begins its transaction,
// which holds one connection until the returned function ends it. It
// returns the group of that connection.
func holdConn(t *testing.T, ctx context.Context, catalog *sql.DB, tenant *Tenant) (string, func()) {
	t.Helper()
	scope := NewScope(tenant, false)
	sctx := NewContextWithScope(ctx, scope)
	var pid int
	if err := Run(sctx, Stmt{SQL: "SELECT pg_backend_pid()", Row: func(r pgx.Row) error { return r.Scan(&pid) }}); err != nil {
		t.Fatal(err)
	}
	var app string
	if err := catalog.QueryRowContext(ctx, "SELECT application_name FROM pg_stat_activity WHERE pid = $1", pid).Scan(&app); err != nil {
		t.Fatal(err)
	}
	return app, scope.Rollback
}

// group returns the application_name of group g's connections.
func group(g int) string { return fmt.Sprintf("group%d", g) }

// tenantWhere returns a new tenant of store whose group order satisfies
// ok.
func tenantWhere(store *Store, id int64, ok func(order []int) bool) *Tenant {
	for i := 0; ; i++ {
		if t := store.NewTenant(Tenant{ID: id, Schema: fmt.Sprintf("tenant_%d_%d", id, i)}); ok(t.order) {
			return t
		}
	}
}

// TestAffinityHomeGroup checks that every request of a tenant runs on a
// backend of its home group, that the tenants' homes spread over the
// groups, and that a group's connection reports the schemas it served.
func TestAffinityHomeGroup(t *testing.T) {
	ctx := context.Background()
	store, catalog := affinityStore(t, 4, 2)
	used := map[string]bool{}
	for i := range 40 {
		tenant := store.NewTenant(Tenant{ID: int64(i + 1), Schema: fmt.Sprintf("tenant_%d", i)})
		want := group(tenant.order[0])
		for range 3 {
			if got := groupOf(t, ctx, catalog, NewReadOnlyScope(tenant, false)); got != want {
				t.Fatalf("a read of %s ran on %s, its home group is %s", tenant.Schema, got, want)
			}
		}
		used[want] = true
	}
	if len(used) != 4 {
		t.Errorf("40 tenants have their homes in %d of 4 groups", len(used))
	}
	if st := store.Stats(); st.MaxOpenConnections != 8 {
		t.Errorf("the store may open %d connections, want 8", st.MaxOpenConnections)
	}
	var sum int64
	for _, n := range store.ConnSchemas() {
		sum += n
	}
	if sum < 40 || sum > 80 {
		t.Errorf("ConnSchemas() = %v: 40 tenants served one after the other by their home groups of 2 connections", store.ConnSchemas())
	}
}

// TestAffinityHomeWait checks that a read whose home is busy waits for
// it rather than take another connection, up to HomeWait; past it, the
// read takes its tenant's first fallback, and with that busy too it
// waits for those two, however many other groups are free.
func TestAffinityHomeWait(t *testing.T) {
	ctx := context.Background()
	t.Run("HomeFreesInTime", func(t *testing.T) {
		store, catalog := affinityStore(t, 4, 1, StoreOptions{HomeWait: 5 * time.Second})
		tenant := store.NewTenant(Tenant{ID: 1, Schema: "tenant_a"})
		other := tenantWhere(store, 2, func(o []int) bool { return o[0] == tenant.order[0] })
		_, end := holdConn(t, ctx, catalog, other)
		time.AfterFunc(200*time.Millisecond, end)
		if g := groupOf(t, ctx, catalog, NewReadOnlyScope(tenant, false)); g != group(tenant.order[0]) {
			t.Errorf("a read ran on %s while its home %s was busy for less than HomeWait", g, group(tenant.order[0]))
		}
	})
	t.Run("Fallback", func(t *testing.T) {
		store, catalog := affinityStore(t, 4, 1, StoreOptions{HomeWait: 20 * time.Millisecond})
		tenant := store.NewTenant(Tenant{ID: 1, Schema: "tenant_a"})
		home, fallback := tenant.order[0], tenant.order[1]
		_, end := holdConn(t, ctx, catalog, tenantWhere(store, 2, func(o []int) bool { return o[0] == home }))
		defer end()
		if g := groupOf(t, ctx, catalog, NewReadOnlyScope(tenant, false)); g != group(fallback) {
			t.Errorf("with its home busy a read ran on %s, its first fallback is %s", g, group(fallback))
		}
		_, end2 := holdConn(t, ctx, catalog, tenantWhere(store, 3, func(o []int) bool { return o[0] == fallback }))
		defer end2()
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err := Run(NewContextWithScope(wctx, NewReadOnlyScope(tenant, false)), Stmt{SQL: "SELECT 1", Exec: func(pgconn.CommandTag) error { return nil }})
		if err == nil {
			t.Fatal("a read was served with its home and fallback busy: it went to a group outside its own")
		}
		// The cancelled wait left nothing reserved: both free groups
		// still serve.
		for _, g := range tenant.order[2:] {
			if got := groupOf(t, ctx, catalog, NewReadOnlyScope(tenantWhere(store, 4, func(o []int) bool { return o[0] == g }), false)); got != group(g) {
				t.Errorf("a tenant homed on the free %s ran on %s", group(g), got)
			}
		}
	})
}

// TestAffinityHotTenant checks that a tenant with n scopes in flight
// spreads over the first n groups of its order, up to the whole pool.
func TestAffinityHotTenant(t *testing.T) {
	ctx := context.Background()
	store, catalog := affinityStore(t, 4, 1, StoreOptions{HomeWait: 10 * time.Second})
	tenant := store.NewTenant(Tenant{ID: 1, Schema: "tenant_hot"})
	var ends []func()
	for i := range 4 {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		g, end := holdConn(t, hctx, catalog, tenant)
		cancel()
		if g != group(tenant.order[i]) {
			t.Errorf("transaction %d of the tenant ran on %s, want %s (its order %v)", i+1, g, group(tenant.order[i]), tenant.order)
		}
		ends = append(ends, end)
	}
	for _, end := range ends {
		end()
	}
	r := store.route
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.inflight) != 0 || len(r.queue) != 0 || !slices.Equal(r.free, []int{1, 1, 1, 1}) {
		t.Errorf("after the transactions ended: in flight %v, queue %d, free %v", r.inflight, len(r.queue), r.free)
	}
}

// TestAffinityGuestsDoNotBlockHomes: a hot tenant spread over other
// tenants' homes does not make them wait: a tenant whose home is held by
// the hot tenant's guest scope takes its next connection at once, however
// long HomeWait, while a home held by a tenant of its own still makes it
// wait.
func TestAffinityGuestsDoNotBlockHomes(t *testing.T) {
	ctx := context.Background()
	store, catalog := affinityStore(t, 4, 1, StoreOptions{HomeWait: 10 * time.Second})
	hot := store.NewTenant(Tenant{ID: 1, Schema: "tenant_hot"})
	for range 2 {
		_, end := holdConn(t, ctx, catalog, hot)
		defer end()
	}
	// hot holds its home and, as a guest, its second connection.
	guestHeld, homeHeld := hot.order[1], hot.order[0]
	other := tenantWhere(store, 2, func(o []int) bool { return o[0] == guestHeld && o[1] != homeHeld })
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if g := groupOf(t, rctx, catalog, NewReadOnlyScope(other, false)); g != group(other.order[1]) {
		t.Errorf("with its home held by another tenant's guest scope a read ran on %s, want its next connection %s", g, group(other.order[1]))
	}
	cohomed := tenantWhere(store, 3, func(o []int) bool { return o[0] == homeHeld })
	wctx, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	err := Run(NewContextWithScope(wctx, NewReadOnlyScope(cohomed, false)), Stmt{SQL: "SELECT 1", Exec: func(pgconn.CommandTag) error { return nil }})
	if err == nil {
		t.Error("a read whose home is held by a tenant homed there did not wait for it")
	}
}

// TestAffinityGroupsPerTenant: with GroupsPerTenant 2 (Citus in strict
// isolation), a tenant's transactions take its home group, then its next
// group, and then wait rather than reach a third; another tenant whose
// groups are free is served meanwhile, not queued behind it.
func TestAffinityGroupsPerTenant(t *testing.T) {
	ctx := context.Background()
	store, catalog := affinityStore(t, 4, 2, StoreOptions{GroupsPerTenant: 2, HomeWait: time.Millisecond})
	tenant := store.NewTenant(Tenant{ID: 1, Schema: "tenant_hot"})
	mine := map[string]bool{group(tenant.order[0]): true, group(tenant.order[1]): true}
	groups := map[string]int{}
	for range 4 {
		g, end := holdConn(t, ctx, catalog, tenant)
		defer end()
		groups[g]++
	}
	for g, n := range groups {
		if !mine[g] || n != 2 {
			t.Errorf("4 concurrent transactions of one tenant ran on %v, want 2 on each of its groups %v", groups, mine)
			break
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	scope := NewReadOnlyScope(tenant, false)
	err := Run(NewContextWithScope(wctx, scope), Stmt{SQL: "SELECT 1", Exec: func(pgconn.CommandTag) error { return nil }})
	if err == nil {
		t.Fatal("a fifth transaction of the tenant was served with its two groups held: it overflowed to another group")
	}
	other := tenantWhere(store, 2, func(o []int) bool { return !mine[group(o[0])] })
	rctx, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	if g := groupOf(t, rctx, catalog, NewReadOnlyScope(other, false)); g != group(other.order[0]) {
		t.Errorf("another tenant ran on %s, not its free home %s", g, group(other.order[0]))
	}
}
