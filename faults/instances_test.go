package faults_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/pgtest"
)

// catalogBound is how soon a catalog change made through one instance
// must show on another in this test. The documented bound is "as soon as
// the notification arrives, at most tenancy.cache_ttl should one be
// missed"; cache_ttl is set far above this bound, so only the LISTEN path
// can meet it.
const catalogBound = 10 * time.Second

// TestTwoInstancesThroughPgBouncer runs two strictmt processes on one
// database, both through PgBouncer in transaction pooling with
// database.direct_url for LISTEN, migrations and provisioning. A tenant
// created, changed (paid_until, domains) and deleted through the admin API
// of one is served, refused with 402, or 404 by the other within
// catalogBound, though the other had cached the old answer. Tenants
// created through both at once each get a schema of their own (the spare
// schemas both keep are never claimed twice), and together the two keep
// exactly the target number of spares.
func TestTwoInstancesThroughPgBouncer(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	direct := pgtest.NewDatabase(t)
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolSize: 4})
	const adminToken = "instances-admin-token-0123"
	const spares = 3
	env := append(environWithout("STRICTMT_"),
		"STRICTMT_DATABASE_URL="+b.URL(direct),
		"STRICTMT_DATABASE_DIRECT_URL="+direct,
		"STRICTMT_DATABASE_MAX_OPEN_CONNS=8",
		"STRICTMT_AUTH_JWT_SECRET="+secret,
		"STRICTMT_ADMIN_TOKEN="+adminToken,
		"STRICTMT_DEV_DEMO_TENANT=false",
		"STRICTMT_TENANCY_CACHE_TTL=1h",
		"STRICTMT_TENANCY_ENFORCE_PAID_UNTIL=true",
		"STRICTMT_TENANCY_SPARE_SCHEMAS="+strconv.Itoa(spares),
		"STRICTMT_HTTP_REQUEST_TIMEOUT=30s",
		"STRICTMT_LOG_LEVEL=warn",
	)
	var clients [2]*client
	var procs [2]*process
	for i := range procs {
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		procs[i] = startProcess(t, bin, t.TempDir(), append(env, "STRICTMT_HTTP_ADDR="+addr))
		clients[i] = newClient("http://"+addr, 30*time.Second)
	}
	for i, c := range clients {
		if err := eventually(60*time.Second, 100*time.Millisecond, func() error {
			select {
			case <-procs[i].exited:
				return fmt.Errorf("instance %d exited: %v\n%s", i, procs[i].err, procs[i].log.String())
			default:
			}
			r := c.do(context.Background(), "GET", "localhost", "/readyz", "", nil)
			if r.Err != nil || r.Status != 200 {
				return fmt.Errorf("instance %d not ready: %v", i, r)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	one, other := clients[0], clients[1]
	admin := func(c *client, method, path string, body any, want int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if r := c.do(ctx, method, "localhost", path, adminToken, body); r.Err != nil || r.Status != want {
			t.Fatalf("admin %s %s: want %d, got %v", method, path, want, r)
		}
	}
	// within waits until a login with no credentials on host through c
	// answers want: 400 from a tenant that is served, 402 from one past
	// paid_until, 404 where no tenant is.
	within := func(c *client, host string, want int, what string) {
		t.Helper()
		start := time.Now()
		var last result
		err := eventually(catalogBound, 20*time.Millisecond, func() error {
			last = c.do(context.Background(), "POST", host, "/api/token/", "", map[string]any{})
			if last.Err != nil || last.Status != want {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: the other instance still answers %v after %s, want %d", what, last, catalogBound, want)
		}
		t.Logf("%s: seen by the other instance after %s", what, time.Since(start).Round(time.Millisecond))
	}

	// The other instance caches "no tenant" for the host first.
	within(other, "inst.localhost", 404, "unknown host")
	admin(one, "POST", "/admin/tenants/", map[string]any{
		"name": "Inst", "schema_name": "inst", "domains": []string{"inst.localhost"}, "on_trial": true,
	}, 201)
	within(other, "inst.localhost", 400, "tenant created")

	admin(one, "PATCH", "/admin/tenants/inst/", map[string]any{"paid_until": "2000-01-01", "on_trial": false}, 200)
	within(other, "inst.localhost", 402, "tenant past paid_until")
	admin(one, "PATCH", "/admin/tenants/inst/", map[string]any{"on_trial": true}, 200)
	within(other, "inst.localhost", 400, "tenant back on trial")

	admin(one, "POST", "/admin/tenants/inst/domains/", map[string]any{"domain": "inst2.localhost", "is_primary": true}, 201)
	within(other, "inst2.localhost", 400, "domain added")
	admin(one, "DELETE", "/admin/domains/inst.localhost/", nil, 204)
	within(other, "inst.localhost", 404, "domain removed")

	admin(one, "DELETE", "/admin/tenants/inst/", nil, 204)
	within(other, "inst2.localhost", 404, "tenant deleted")

	// Creations through both instances at once, while both keep spares:
	// the first ones claim the spares ready now.
	readySpares := func() error {
		got := queryInt(t, direct, `SELECT count(*) FROM pg_namespace n
			WHERE starts_with(n.nspname, 'strictmt-spare-') AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = n.nspname)`)
		if got != spares {
			return fmt.Errorf("%d spare schemas ready, want %d", got, spares)
		}
		return nil
	}
	if err := eventually(60*time.Second, 100*time.Millisecond, readySpares); err != nil {
		t.Fatal(err)
	}
	const perInstance = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*perInstance)
	for i, c := range clients {
		for k := range perInstance {
			wg.Add(1)
			go func() {
				defer wg.Done()
				schema := fmt.Sprintf("par_%d_%d", i, k)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				r := c.do(ctx, "POST", "localhost", "/admin/tenants/", adminToken, map[string]any{
					"name": schema, "schema_name": schema, "domains": []string{strings.ReplaceAll(schema, "_", "-") + ".localhost"}, "on_trial": true,
				})
				if r.Err != nil || r.Status != 201 {
					errs <- fmt.Errorf("create %s through instance %d: %v", schema, i, r)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// Each tenant is served by the instance that did not create it, and
	// its role reaches its own schema only.
	for i := range clients {
		for k := range perInstance {
			schema := fmt.Sprintf("par_%d_%d", i, k)
			within(clients[1-i], strings.ReplaceAll(schema, "_", "-")+".localhost", 400, "tenant "+schema)
		}
	}
	n := queryInt(t, direct, `SELECT count(*) FROM public.clients c
		WHERE has_schema_privilege(c.role_name, c.schema_name, 'USAGE')
		  AND (SELECT count(*) FROM pg_namespace n WHERE has_schema_privilege(c.role_name, n.oid, 'USAGE')
		       AND n.nspname NOT IN ('public', 'pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%') = 1`)
	if n != 2*perInstance {
		t.Errorf("%d of %d tenants have a role that reaches exactly its own schema", n, 2*perInstance)
	}
	// Both keepers refill to the target together, not to twice it.
	if err := eventually(60*time.Second, 200*time.Millisecond, readySpares); err != nil {
		t.Error(err)
	}
	for i, p := range procs {
		if s := p.log.String(); strings.Contains(s, "level=ERROR") {
			t.Errorf("instance %d logged errors:\n%s", i, s)
		}
	}
}
