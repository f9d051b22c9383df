package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
)

const (
	corsAllowed    = "https://app.example.com"
	corsDisallowed = "https://evil.example.com"
)

func newCORSEnv(t *testing.T, origins ...string) *apptest.Env {
	t.Helper()
	cfg := apptest.Config(t)
	cfg.HTTP.CORSOrigins = origins
	cfg.Admin.Token = adminToken
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "cors_t", "cors.localhost")
	return env
}

func corsPreflight(origin, method string) apptest.Request {
	return apptest.Request{Method: "OPTIONS", Host: "cors.localhost", Path: "/api/todos/", Header: map[string]string{
		"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization, content-type",
	}}
}

func corsVaries(h http.Header, name string) bool {
	for _, v := range h.Values("Vary") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), name) {
				return true
			}
		}
	}
	return false
}

func corsWantNone(t *testing.T, r apptest.Response) {
	t.Helper()
	for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("%s: %q, want none", h, v)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	env := newCORSEnv(t, corsAllowed, "HTTP://LocalHost:3000/")

	t.Run("OKPreflightOnTenantHostWithoutToken", func(t *testing.T) {
		r := env.Do(t, corsPreflight(corsAllowed, "POST"))
		admWantStatus(t, r, http.StatusNoContent)
		if len(r.Raw) != 0 {
			t.Errorf("preflight body %q", r.Raw)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      corsAllowed,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age":           "3600",
		}
		for h, v := range want {
			if got := r.Header.Get(h); got != v {
				t.Errorf("%s: %q, want %q", h, got, v)
			}
		}
		methods := strings.Split(strings.ReplaceAll(r.Header.Get("Access-Control-Allow-Methods"), " ", ""), ",")
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			if !slices.Contains(methods, m) {
				t.Errorf("Allow-Methods %v lacks %s", methods, m)
			}
		}
		headers := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type", "x-request-id"} {
			if !strings.Contains(headers, h) {
				t.Errorf("Allow-Headers %q lacks %s", headers, h)
			}
		}
		if !corsVaries(r.Header, "Origin") {
			t.Errorf("Vary %v lacks Origin", r.Header.Values("Vary"))
		}
	})
	t.Run("OKPreflightOnUnknownHost", func(t *testing.T) {
		req := corsPreflight(corsAllowed, "GET")
		req.Host = "nobody.localhost"
		admWantStatus(t, env.Do(t, req), http.StatusNoContent)
	})
	t.Run("OKPreflightNormalizedOrigin", func(t *testing.T) {
		r := env.Do(t, corsPreflight("http://localhost:3000", "DELETE"))
		admWantStatus(t, r, http.StatusNoContent)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
			t.Errorf("Allow-Origin %q", got)
		}
	})
	t.Run("OKAllowedOrigin", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "cors.localhost", Path: "/api/", Header: map[string]string{"Origin": corsAllowed}})
		admWantStatus(t, r, http.StatusOK)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != corsAllowed {
			t.Errorf("Allow-Origin %q", got)
		}
		if r.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Error("no Allow-Credentials")
		}
		if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID") {
			t.Errorf("Expose-Headers %q", r.Header.Get("Access-Control-Expose-Headers"))
		}
		if !corsVaries(r.Header, "Origin") {
			t.Error("no Vary: Origin")
		}
	})
	t.Run("OKAllowedOriginSeesErrors", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "cors.localhost", Path: "/api/todos/", Header: map[string]string{"Origin": corsAllowed}})
		admWantStatus(t, r, http.StatusUnauthorized)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != corsAllowed {
			t.Errorf("a 401 without Allow-Origin (%q): the frontend cannot read it", got)
		}
	})
	t.Run("OKAllowedOriginAuthenticated", func(t *testing.T) {
		access, _, _ := env.Register(t, "cors.localhost", "dave")
		r := env.Do(t, apptest.Request{Method: "POST", Host: "cors.localhost", Path: "/api/todos/", Token: access,
			Header: map[string]string{"Origin": corsAllowed}, Body: map[string]any{"title": "from the browser"}})
		admWantStatus(t, r, http.StatusCreated)
		if r.Header.Get("Access-Control-Allow-Origin") != corsAllowed {
			t.Error("no Allow-Origin on a created todo")
		}
	})
	t.Run("ErrDisallowedOriginPreflight", func(t *testing.T) {
		r := env.Do(t, corsPreflight(corsDisallowed, "POST"))
		admWantStatus(t, r, http.StatusForbidden)
		if admDetail(r) == "" {
			t.Errorf("403 body %s", r.Raw)
		}
		corsWantNone(t, r)
	})
	t.Run("ErrDisallowedOriginGetsNoHeaders", func(t *testing.T) {
		for _, origin := range []string{corsDisallowed, "null", "https://app.example.com.evil.com", "http://app.example.com"} {
			r := env.Do(t, apptest.Request{Method: "GET", Host: "cors.localhost", Path: "/api/", Header: map[string]string{"Origin": origin}})
			admWantStatus(t, r, http.StatusOK)
			corsWantNone(t, r)
		}
	})
	t.Run("OKNoOrigin", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "cors.localhost", Path: "/api/"})
		admWantStatus(t, r, http.StatusOK)
		corsWantNone(t, r)
		if !corsVaries(r.Header, "Origin") {
			t.Error("no Vary: Origin: a cache could serve this answer to a browser origin")
		}
	})
	t.Run("ErrOptionsWithoutPreflightHeaders", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "OPTIONS", Host: "cors.localhost", Path: "/api/todos/", Header: map[string]string{"Origin": corsAllowed}})
		admWantStatus(t, r, http.StatusMethodNotAllowed)
	})
}

func TestCORSWildcard(t *testing.T) {
	t.Parallel()
	env := newCORSEnv(t, "*")
	for _, origin := range []string{corsAllowed, corsDisallowed} {
		t.Run("OKPreflight", func(t *testing.T) {
			r := env.Do(t, corsPreflight(origin, "PATCH"))
			admWantStatus(t, r, http.StatusNoContent)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Allow-Origin %q, want *", got)
			}
			if got := r.Header.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("Allow-Credentials %q with a wildcard origin", got)
			}
		})
		t.Run("OKRequest", func(t *testing.T) {
			r := env.Do(t, apptest.Request{Method: "GET", Host: "cors.localhost", Path: "/api/", Header: map[string]string{"Origin": origin}})
			admWantStatus(t, r, http.StatusOK)
			if r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("headers %v", r.Header)
			}
		})
	}
}

func TestCORSNoOrigins(t *testing.T) {
	t.Parallel()
	env := newCORSEnv(t)
	r := env.Do(t, corsPreflight(corsAllowed, "GET"))
	admWantStatus(t, r, http.StatusForbidden)
	corsWantNone(t, r)
	r = env.Do(t, apptest.Request{Method: "GET", Host: "cors.localhost", Path: "/api/", Header: map[string]string{"Origin": corsAllowed}})
	admWantStatus(t, r, http.StatusOK)
	corsWantNone(t, r)
}
