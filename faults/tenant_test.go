package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/pgtest"
)

// TestTenantDeletedInFlight deletes a tenant, schema and all, while its
// requests (reads and writes) are in flight: each of them either
// completes or fails cleanly (404 or 503 JSON, never a 500 or a hang);
// every request sent after the deletion returned gets 404; nothing of the
// tenant is left (catalog rows, schema, role); and the other tenant's
// requests all succeed throughout.
func TestTenantDeletedInFlight(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	cfg := testConfig(t, dbURL)
	ra := serveApp(t, cfg)
	maxDur := cfg.HTTP.RequestTimeout + time.Second
	c := newClient(ra.URL, cfg.HTTP.RequestTimeout+5*time.Second)

	const hostX, hostY = "x.faults.localhost", "y.faults.localhost"
	ra.createTenant(t, "x", hostX)
	ra.createTenant(t, "y", hostY)
	var roleName string
	{
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		client, err := ra.App.Tenants.FindTenant(ctx, "x")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		roleName = client.RoleName
	}
	tokX := createUser(t, dbURL, ra.App.Tokens, "x", "alice")
	tokY := createUser(t, dbURL, ra.App.Tokens, "y", "bob")
	var idsX []int64
	for i := range 5 {
		idsX = append(idsX, c.createTodo(t, hostX, tokX, fmt.Sprintf("x %d", i)))
		c.createTodo(t, hostY, tokY, fmt.Sprintf("y %d", i))
	}

	// Workers 0-3 read and write tenant x, workers 4-5 tenant y.
	const workersX, workersY = 4, 2
	next := func(w, i int) (string, string, string, string, any) {
		if w >= workersX {
			if i%4 == 3 {
				return "POST", hostY, "/api/todos/", tokY, map[string]any{"title": fmt.Sprintf("y w%d i%d", w, i)}
			}
			return "GET", hostY, "/api/todos/", tokY, nil
		}
		id := idsX[(w+i)%len(idsX)]
		switch i % 4 {
		case 0:
			return "GET", hostX, "/api/todos/", tokX, nil
		case 1:
			return "GET", hostX, fmt.Sprintf("/api/todos/%d/", id), tokX, nil
		case 2:
			return "PATCH", hostX, fmt.Sprintf("/api/todos/%d/", id), tokX, map[string]any{"completed": i%8 == 2}
		default:
			return "POST", hostX, "/api/todos/", tokX, map[string]any{"title": fmt.Sprintf("x w%d i%d", w, i)}
		}
	}
	loadCtx, stopLoad := context.WithTimeout(context.Background(), time.Minute)
	defer stopLoad()
	loaded := make(chan []result, 1)
	go func() { loaded <- load(loadCtx, c, workersX+workersY, 2000, 2*time.Millisecond, next) }()

	time.Sleep(500 * time.Millisecond)
	delCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deleting := time.Now()
	delErr := ra.App.Tenants.DeleteTenant(delCtx, "x", true)
	deleted := time.Now()
	t.Logf("DeleteTenant took %v", deleted.Sub(deleting).Round(time.Millisecond))
	time.Sleep(700 * time.Millisecond)
	stopLoad()
	results := <-loaded
	if delErr != nil {
		t.Fatalf("DeleteTenant under load: %v", delErr)
	}

	var okX, goneX, okY int
	overlapping := map[int]int{} // status of tenant x requests running during DeleteTenant
	for _, r := range results {
		if r.Host == hostX && r.Start.Before(deleted) && r.Start.Add(r.Dur).After(deleting) {
			overlapping[r.Status]++
		}
		if r.Err != nil {
			t.Errorf("transport error (hang or dropped connection): %v", r)
			continue
		}
		if r.Dur > maxDur {
			t.Errorf("took more than %v: %v", maxDur, r)
		}
		if r.Host == hostY {
			if r.Status != http.StatusOK && r.Status != http.StatusCreated {
				t.Errorf("other tenant, want 200 or 201: %v", r)
			}
			okY++
			continue
		}
		switch r.Status {
		case http.StatusOK, http.StatusCreated:
			okX++
			if !r.Start.Before(deleted) {
				t.Errorf("sent after the deletion, want 404: %v", r)
			}
		case http.StatusNotFound, http.StatusServiceUnavailable:
			if err := detailError(r); err != nil {
				t.Errorf("%v: %v", r, err)
			}
			if r.Start.After(deleted) && r.Status != http.StatusNotFound {
				t.Errorf("sent after the deletion, want 404: %v", r)
			}
			if r.Start.After(deleted) {
				goneX++
			}
		default:
			t.Errorf("deleted tenant, want 2xx, 404 or 503: %v", r)
		}
	}
	t.Logf("%d requests: tenant x %d succeeded, %d got 404 after the deletion; tenant y %d succeeded; "+
		"statuses of tenant x requests running during the deletion: %v", len(results), okX, goneX, okY, overlapping)
	if okX == 0 || goneX == 0 || okY == 0 {
		t.Errorf("want tenant x requests before and after the deletion and tenant y requests; got %d, %d, %d", okX, goneX, okY)
	}
	if n := ra.Log.panics.Load(); n > 0 {
		t.Errorf("%d panics logged", n)
	}

	t.Run("NothingLeft", func(t *testing.T) {
		for _, q := range []struct{ name, sql, arg string }{
			{"catalog row", "SELECT count(*) FROM public.clients WHERE schema_name = $1", "x"},
			{"domain", "SELECT count(*) FROM public.domains WHERE domain = $1", hostX},
			{"schema", "SELECT count(*) FROM pg_namespace WHERE nspname = $1", "x"},
			{"role", "SELECT count(*) FROM pg_roles WHERE rolname = $1", roleName},
		} {
			if n := queryInt(t, dbURL, q.sql, q.arg); n != 0 {
				t.Errorf("%s of the deleted tenant left: %d", q.name, n)
			}
		}
		c.mustDo(t, "GET", hostX, "/api/todos/", tokX, nil, http.StatusNotFound)
	})

	t.Run("OtherTenantIntact", func(t *testing.T) {
		var created int64
		for _, r := range results {
			if r.Host == hostY && r.Status == http.StatusCreated {
				created++
			}
		}
		body := c.mustDo(t, "GET", hostY, "/api/todos/", tokY, nil, http.StatusOK)
		if want := float64(5 + created); body["count"] != want {
			t.Errorf("tenant y has %v todos, want %v", body["count"], want)
		}
		if n := queryInt(t, dbURL, "SELECT count(*) FROM y.todos"); n != 5+created {
			t.Errorf("y.todos has %d rows, want %d", n, 5+created)
		}
	})
}
