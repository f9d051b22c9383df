package datapath

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
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
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		cfg.RuntimeParams["application_name"] = app
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(n)
		t.Cleanup(func() { db.Close() })
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

// TestAffinityHomeGroup checks that every request of a tenant runs on a
// backend of its home group, and that the tenants' homes spread over the
// groups.
func TestAffinityHomeGroup(t *testing.T) {
	ctx := context.Background()
	store, catalog := affinityStore(t, 4, 2)
	used := map[string]bool{}
	for i := range 40 {
		schema := fmt.Sprintf("tenant_%d", i)
		tenant := store.NewTenant(Tenant{ID: int64(i + 1), Schema: schema})
		want := fmt.Sprintf("group%d", store.home(schema))
		for range 3 {
			if got := groupOf(t, ctx, catalog, NewReadOnlyScope(tenant, false)); got != want {
				t.Fatalf("a read of %s ran on %s, its home group is %s", schema, got, want)
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
}

// TestAffinityOverflow checks that a tenant whose home group is saturated
// is served by another group without waiting, and that a hot tenant can
// hold every connection of the pool at once.
func TestAffinityOverflow(t *testing.T) {
	ctx := context.Background()
	store, catalog := affinityStore(t, 3, 2)
	tenant := store.NewTenant(Tenant{ID: 1, Schema: "tenant_hot"})
	home := fmt.Sprintf("group%d", store.home(tenant.Schema))

	// Six concurrent transactions of one tenant: the whole pool. The
	// first two stay home, the others overflow.
	groups := map[string]int{}
	var ends []func()
	for i := range 6 {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		g, end := holdConn(t, hctx, catalog, tenant)
		cancel()
		if i < 2 && g != home {
			t.Errorf("transaction %d of the tenant ran on %s with its home %s free", i+1, g, home)
		}
		groups[g]++
		ends = append(ends, end)
	}
	if len(groups) != 3 || groups[home] != 2 {
		t.Errorf("6 concurrent transactions of one tenant ran on %v, want 2 on each of the 3 groups", groups)
	}
	for _, end := range ends {
		end()
	}

	// With its home group held by another tenant's transactions, a
	// read of the tenant is served by another group, within a
	// deadline shorter than any wait for the home group to free up.
	var other *Tenant
	for i := 0; other == nil; i++ {
		if s := fmt.Sprintf("tenant_%d", i); store.home(s) == store.home(tenant.Schema) {
			other = store.NewTenant(Tenant{ID: 2, Schema: s})
		}
	}
	for range 2 {
		g, end := holdConn(t, ctx, catalog, other)
		if g != home {
			t.Fatalf("a transaction of %s ran on %s, its home is %s", other.Schema, g, home)
		}
		defer end()
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if g := groupOf(t, rctx, catalog, NewReadOnlyScope(tenant, false)); g == home {
		t.Errorf("a read ran on its saturated home group %s", g)
	}
}

// TestAffinityGroupsPerTenant: with GroupsPerTenant 2 (Citus in strict
// isolation), a tenant's transactions take its home group, then its next
// group, and then wait rather than reach a third; another tenant whose
// groups are free is served meanwhile, not queued behind it.
func TestAffinityGroupsPerTenant(t *testing.T) {
	ctx := context.Background()
	store, catalog := affinityStore(t, 4, 2, StoreOptions{GroupsPerTenant: 2})
	tenant := store.NewTenant(Tenant{ID: 1, Schema: "tenant_hot"})
	h := store.home(tenant.Schema)
	mine := map[string]bool{fmt.Sprintf("group%d", h): true, fmt.Sprintf("group%d", (h+1)%4): true}
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
	var other *Tenant
	for i := 0; other == nil; i++ {
		s := fmt.Sprintf("tenant_%d", i)
		if g := store.home(s); g != h && g != (h+1)%4 && (g+1)%4 != h && (g+1)%4 != (h+1)%4 {
			other = store.NewTenant(Tenant{ID: 2, Schema: s})
		}
	}
	rctx, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	if g := groupOf(t, rctx, catalog, NewReadOnlyScope(other, false)); mine[g] {
		t.Errorf("another tenant ran on %s, one of the hot tenant's groups", g)
	}
}
