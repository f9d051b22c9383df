package openapi_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
)

// chromium is where Debian's chromium package installs the browser.
const chromium = "/usr/bin/chromium"

// redocAttributionLogo is the one load the viewer attempts from another
// host: the image of its "API docs by Redocly" footer link. The page's
// policy blocks it (and the viewer then drops the image), which is what
// the policy is for; any other blocked load fails the test.
const redocAttributionLogo = "https://cdn.redoc.ly/redoc/logo-mini.svg"

// runChromium runs headless Chromium on a fresh profile with the extra
// arguments and returns its standard output and error. Every host but
// docs.localhost fails to resolve, so a page that needed another host
// (a CDN) would not render.
func runChromium(t *testing.T, extra ...string) (stdout, stderr string) {
	t.Helper()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE docs.localhost",
		"--enable-logging=stderr", "--v=0",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, append(args, extra...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(extra, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

// TestDocsRenderInChromium opens the documentation page of a tenant in
// headless Chromium, as a person would, and checks that the viewer
// rendered every endpoint from the document without breaking its content
// security policy. It also saves a screenshot: to $STRICTMT_DOCS_SCREENSHOT
// when set (keep it outside the repository), else to a temporary
// directory.
func TestDocsRenderInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium is not installed at " + chromium + " (apt-get install -y chromium); the docs page was not rendered")
	}
	t.Parallel()
	env := apptest.New(t)
	// Chromium resolves every *.localhost name to the loopback address,
	// so the page is served by host name, as on a tenant's domain.
	env.CreateTenant(t, "contract_browser", "docs.localhost")
	u, err := url.Parse(env.Server.URL)
	if err != nil {
		t.Fatal(err)
	}
	page := "http://docs.localhost:" + u.Port() + "/api/docs/"

	dom, logs := runChromium(t, "--virtual-time-budget=15000", "--dump-dom", page)
	for _, want := range []string{
		"strictmt API",
		"/api/register/", "/api/token/", "/api/token/refresh/", "/api/token/verify/", "/api/token/blacklist/",
		"/api/todos/", "/api/todos/{id}/",
		"/api/projects/", "/api/projects/{id}/", "/api/projects/{id}/analytics/",
		"/api/tasks/", "/api/tasks/{id}/",
		"/healthz", "/readyz",
		"Tenants are selected by Host",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page does not show %q", want)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, redocAttributionLogo) {
			continue
		}
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused to") || strings.Contains(line, "ERR_NAME_NOT_RESOLVED") {
			t.Errorf("browser console: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("rendered DOM (%d bytes), start:\n%.3000s", len(dom), dom)
	}

	shot := os.Getenv("STRICTMT_DOCS_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "docs.png")
	}
	runChromium(t, "--virtual-time-budget=15000", "--window-size=1280,1600", "--hide-scrollbars", "--screenshot="+shot, page)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	// A blank page compresses to a few kilobytes; a rendered one does not.
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 30_000 {
		t.Errorf("the screenshot %s does not look rendered (%d bytes)", shot, len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}
