package handlers_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/console"
	"github.com/strictmt/strictmt/internal/apptest"
)

// TestConsoleServedToBrowsers: the console's page and files answer a
// plain GET (a browser's navigation sends no token) on the public hosts
// when the admin API is on, with the console's policy; everything else
// about the admin API is as before: 404 off the public hosts or without
// a token, 401 for its API calls and other methods without the token.
func TestConsoleServedToBrowsers(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	env.CreateTenant(t, "console_host", "console-tenant.localhost")

	for _, tc := range []struct{ path, contentType string }{
		{"/admin/console/", "text/html; charset=utf-8"},
		{"/admin/console", "text/html; charset=utf-8"},
		{"/admin/console/console.js", "text/javascript; charset=utf-8"},
		{"/admin/console/console.css", "text/css; charset=utf-8"},
	} {
		t.Run("Served"+strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			resp, body := rawGet(t, env, "localhost", tc.path, nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.contentType {
				t.Fatalf("%d %q, want 200 %q", resp.StatusCode, resp.Header.Get("Content-Type"), tc.contentType)
			}
			for header, want := range map[string]string{
				"Content-Security-Policy": console.ContentSecurityPolicy,
				"X-Frame-Options":         "DENY",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-cache",
			} {
				if got := resp.Header.Get(header); got != want {
					t.Errorf("%s = %q, want %q", header, got, want)
				}
			}
			if len(body) == 0 {
				t.Error("empty body")
			}
			etag := resp.Header.Get("ETag")
			again, _ := rawGet(t, env, "localhost", tc.path, map[string]string{"If-None-Match": etag})
			if etag == "" || again.StatusCode != http.StatusNotModified {
				t.Errorf("ETag %q: revalidation answered %d, want 304", etag, again.StatusCode)
			}
		})
	}
	t.Run("PageLoadsOnlyItsOwnFiles", func(t *testing.T) {
		_, body := rawGet(t, env, "localhost", "/admin/console/", nil)
		page := string(body)
		for _, want := range []string{`<script src="/admin/console/console.js" defer></script>`, `<link rel="stylesheet" href="/admin/console/console.css">`} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		if strings.Contains(page, "<style") || strings.Contains(page, "style=") || strings.Count(page, "<script") != 1 {
			t.Error("page has inline styles or scripts")
		}
	})
	for _, tc := range []struct {
		name, method, host, path string
		header                   map[string]string
		status                   int
	}{
		{"ErrUnknownFile", "GET", "localhost", "/admin/console/other.js", nil, 404},
		{"ErrIndexByName", "GET", "localhost", "/admin/console/index.html", nil, 404},
		{"ErrTenantHost", "GET", "console-tenant.localhost", "/admin/console/", nil, 404},
		{"ErrTenantHostScript", "GET", "console-tenant.localhost", "/admin/console/console.js", nil, 404},
		{"ErrOtherMethodWithoutToken", "POST", "localhost", "/admin/console/", nil, 401},
		{"ErrOtherMethod", "POST", "localhost", "/admin/console/", map[string]string{"Authorization": "Bearer " + adminToken}, 405},
		{"ErrAPIStillNeedsToken", "GET", "localhost", "/admin/tenants/", nil, 401},
		{"ErrFleetNeedsToken", "GET", "localhost", "/admin/fleet/", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := env.Do(t, apptest.Request{Method: tc.method, Host: tc.host, Path: tc.path, Header: tc.header})
			admWantStatus(t, r, tc.status)
		})
	}
	t.Run("ErrNotServedWithoutAdminToken", func(t *testing.T) {
		off := apptest.New(t)
		for _, path := range []string{"/admin/console/", "/admin/console/console.js"} {
			r := off.Do(t, apptest.Request{Method: "GET", Host: "localhost", Path: path})
			admWantStatus(t, r, 404)
		}
	})
}

// rawGet sends a GET without decoding the body as JSON.
func rawGet(t *testing.T, env *apptest.Env, host, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", env.Server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}
