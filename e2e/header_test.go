package e2e_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
)

// TestTenantByHeader covers tenancy.identify_by: [host, header]: on a
// public host the X-Tenant header (a domain of the tenant) selects the
// tenant; on a tenant's own host it must agree with the host (400
// otherwise); an unknown value is 404; tokens stay bound to their tenant.
func TestTenantByHeader(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Tenancy.IdentifyBy = []string{"host", "header"}
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "hdr_a", "a.hdr.test")
	env.CreateTenant(t, "hdr_b", "b.hdr.test")
	if _, err := env.App.Tenants.AddDomain(context.Background(), "hdr_a", "a2.hdr.test", false); err != nil {
		t.Fatal(err)
	}
	hdr := func(v string) map[string]string { return map[string]string{"X-Tenant": v} }

	// Registered through the header alone: the user is tenant A's.
	r := env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/api/register/", Header: hdr("a.hdr.test"), Body: map[string]string{
		"username": "testuser", "email": "testuser@example.com", "password": "correct-horse-battery",
	}})
	if r.Status != http.StatusCreated {
		t.Fatalf("register through the header: %d %s", r.Status, r.Raw)
	}
	tokenA := r.Body["access"].(string)
	tokenB, _, _ := env.Register(t, "b.hdr.test", "testuser")
	countA := func() int64 {
		var n int64
		if err := env.App.DB.Raw(`SELECT count(*) FROM hdr_a.todos`).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("HeaderOnly", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/api/todos/", Token: tokenA, Header: hdr("a.hdr.test"),
			Body: map[string]any{"title": "via header"}})
		if r.Status != http.StatusCreated {
			t.Fatalf("create through the header: %d %s", r.Status, r.Raw)
		}
		// Case, port and a leading www. are ignored as in Host.
		r = env.Do(t, apptest.Request{Method: "GET", Host: "127.0.0.1", Path: "/api/todos/", Token: tokenA, Header: hdr("WWW.A.hdr.test:443")})
		if r.Status != http.StatusOK || r.Body["count"] != 1.0 {
			t.Fatalf("list through the header: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("HostOnly", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "a.hdr.test", Path: "/api/todos/", Token: tokenA})
		if r.Status != http.StatusOK || r.Body["count"] != 1.0 {
			t.Fatalf("list on the tenant host: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("BothAgree", func(t *testing.T) {
		for _, v := range []string{"a.hdr.test", "a2.hdr.test"} {
			r := env.Do(t, apptest.Request{Method: "GET", Host: "a.hdr.test", Path: "/api/todos/", Token: tokenA, Header: hdr(v)})
			if r.Status != http.StatusOK || r.Body["count"] != 1.0 {
				t.Fatalf("host a.hdr.test, header %s: %d %s", v, r.Status, r.Raw)
			}
		}
	})
	t.Run("ErrBothDisagree", func(t *testing.T) {
		before := countA()
		for _, req := range []apptest.Request{
			{Method: "GET", Host: "a.hdr.test", Path: "/api/todos/", Token: tokenA, Header: hdr("b.hdr.test")},
			{Method: "POST", Host: "a.hdr.test", Path: "/api/todos/", Token: tokenA, Header: hdr("b.hdr.test"), Body: map[string]any{"title": "x"}},
			{Method: "POST", Host: "b.hdr.test", Path: "/api/todos/", Token: tokenB, Header: hdr("a.hdr.test"), Body: map[string]any{"title": "x"}},
		} {
			r := env.Do(t, req)
			if r.Status != http.StatusBadRequest || r.Body["detail"] == nil {
				t.Errorf("%s on %s with header %s: %d %s, want 400 detail", req.Method, req.Host, req.Header["X-Tenant"], r.Status, r.Raw)
			}
		}
		if after := countA(); after != before {
			t.Errorf("tenant A's todos went from %d to %d", before, after)
		}
	})
	t.Run("ErrUnknownValue", func(t *testing.T) {
		for _, v := range []string{"nobody.hdr.test", "hdr_a", `a.hdr.test'; DROP TABLE hdr_a.todos; --`, "localhost"} {
			r := env.Do(t, apptest.Request{Method: "GET", Host: "localhost", Path: "/api/todos/", Token: tokenA, Header: hdr(v)})
			if r.Status != http.StatusNotFound {
				t.Errorf("public host, header %q: %d %s, want 404", v, r.Status, r.Raw)
			}
		}
		// On a tenant's host an unknown header disagrees with the host.
		r := env.Do(t, apptest.Request{Method: "GET", Host: "a.hdr.test", Path: "/api/todos/", Token: tokenA, Header: hdr("nobody.hdr.test")})
		if r.Status != http.StatusBadRequest {
			t.Errorf("tenant host, unknown header: %d %s, want 400", r.Status, r.Raw)
		}
		// A public host without the header has no tenant.
		r = env.Do(t, apptest.Request{Method: "GET", Host: "localhost", Path: "/api/todos/", Token: tokenA})
		if r.Status != http.StatusNotFound {
			t.Errorf("public host, no header: %d %s, want 404", r.Status, r.Raw)
		}
		if n := countA(); n != 1 {
			t.Errorf("tenant A holds %d todos, want 1", n)
		}
	})
	t.Run("ErrHeaderOnUnknownHost", func(t *testing.T) {
		// The header selects a tenant only on public hosts: an unknown
		// host stays unknown.
		r := env.Do(t, apptest.Request{Method: "GET", Host: "forged.hdr.test", Path: "/api/todos/", Token: tokenA, Header: hdr("a.hdr.test")})
		if r.Status != http.StatusNotFound {
			t.Errorf("unknown host with header of A: %d %s, want 404", r.Status, r.Raw)
		}
	})
	t.Run("ErrTokenOfAWithHeaderB", func(t *testing.T) {
		for _, req := range []apptest.Request{
			{Method: "GET", Host: "localhost", Path: "/api/todos/", Token: tokenA, Header: hdr("b.hdr.test")},
			{Method: "GET", Host: "localhost", Path: "/api/todos/", Token: tokenB, Header: hdr("a.hdr.test")},
		} {
			if r := env.Do(t, req); r.Status != http.StatusUnauthorized {
				t.Errorf("token of the other tenant, header %s: %d %s, want 401", req.Header["X-Tenant"], r.Status, r.Raw)
			}
		}
	})
}

// TestTenantHeaderOffByDefault: with identify_by [host] the header is not
// read: a public host with it has no tenant, and on a tenant's host it
// changes nothing.
func TestTenantHeaderOffByDefault(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "hdr_off_a", "a.hdroff.test")
	env.CreateTenant(t, "hdr_off_b", "b.hdroff.test")
	tokenA, _, _ := env.Register(t, "a.hdroff.test", "testuser")
	hdr := map[string]string{"X-Tenant": "b.hdroff.test"}
	if r := env.Do(t, apptest.Request{Method: "GET", Host: "localhost", Path: "/api/todos/", Token: tokenA, Header: map[string]string{"X-Tenant": "a.hdroff.test"}}); r.Status != http.StatusNotFound {
		t.Errorf("public host with header, header off: %d %s, want 404", r.Status, r.Raw)
	}
	if r := env.Do(t, apptest.Request{Method: "GET", Host: "a.hdroff.test", Path: "/api/todos/", Token: tokenA, Header: hdr}); r.Status != http.StatusOK {
		t.Errorf("tenant host with another tenant's header, header off: %d %s, want 200 (header ignored)", r.Status, r.Raw)
	}
}
