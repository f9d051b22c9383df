package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/console"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenants"
)

// chromium is where Debian's chromium package installs the browser.
const chromium = "/usr/bin/chromium"

// adminToken is the admin.token of the app the browser drives.
const adminToken = "console-admin-token-0123456789abcdef"

// axeSHA256 is the checksum of testdata/axe.min.js (see
// testdata/README.md).
const axeSHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"

// cspMonitor runs in the page before its own script (the protocol adds
// it, so the page's policy does not apply to it) and records every
// violation of the policy that the browser reports to the page.
const cspMonitor = `window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' blocked ' + (e.blockedURI || '(inline)') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`

// TestConsoleInChromium drives the operators' console in headless
// Chromium as an operator would, and checks after each step that the
// database holds what the page shows: a wrong token, then the right one;
// a tenant refused for its schema name, then created; a domain added and
// made primary; the tenant suspended and resumed; its export downloaded,
// cloned, the clone deleted, the export restored from the file; the
// fleet's figures. On the way it checks that the page loads nothing from
// another host and breaks no rule of its Content-Security-Policy, that
// axe-core finds no WCAG A/AA violation on each view, at desktop width and
// at 320 px, and it saves screenshots: to $STRICTMT_ARTIFACTS when set
// (keep it outside the repository), else to a temporary directory.
func TestConsoleInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is not installed at %s; .ci/run installs it", chromium)
		}
		t.Skip("chromium is not installed at " + chromium + " (apt-get install -y chromium); the console was not driven")
	}
	axeSource, err := os.ReadFile(filepath.Join("testdata", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(axeSource); hex.EncodeToString(sum[:]) != axeSHA256 {
		t.Fatalf("testdata/axe.min.js is not the file testdata/README.md names (sha256 %x)", sum)
	}

	cfg := apptest.Config(t)
	cfg.Admin.Token = adminToken
	env := apptest.Start(t, cfg)
	calls := &recorder{next: env.App.Handler()}
	// localhost is a public host of the test app, as of a default one.
	origin := serveOnLocalhost(t, calls)

	artifacts := os.Getenv("STRICTMT_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t, origin, string(axeSource), artifacts)
	ctx := context.Background()
	// step runs one step of the operator's session as a subtest; the
	// steps build on each other, so the first that fails ends the test.
	step := func(name string, fn func(t *testing.T)) {
		parent := b.t
		ok := t.Run(name, func(t *testing.T) {
			b.t = t
			fn(t)
		})
		b.t = parent
		if !ok {
			t.FailNow()
		}
	}
	find := func(schema string) *models.Tenant {
		b.t.Helper()
		tenant, err := env.App.Tenants.FindTenant(ctx, schema)
		if err != nil {
			b.t.Fatalf("the catalog has no tenant %s: %v", schema, err)
		}
		return tenant
	}

	// The page opens without the token (a navigation sends none) and asks
	// for it; nothing reaches the admin API yet.
	b.run(chromedp.Navigate(origin + "/admin/console/"))
	b.waitJS(`!!document.querySelector('#login-form input[name=token]') && document.activeElement === document.querySelector('#login-form input[name=token]')`)
	if n := calls.api(); len(n) != 0 {
		t.Fatalf("the page called the admin API before it had a token: %v", n)
	}
	b.axe("token form")

	step("ErrWrongToken", func(t *testing.T) {
		b.typeInto(`#login-form input[name=token]`, "not-the-admin-token-at-all", kb.Enter)
		b.waitJS(`document.querySelector('#login-form .field-error').textContent.includes('refused')`)
		msg := evalJS[string](b, `document.querySelector('#login-form .field-error').textContent`)
		if !strings.Contains(msg, "This token was refused: Invalid admin token.") {
			t.Errorf("message %q", msg)
		}
		if evalJS[string](b, `document.querySelector('#login-form input[name=token]').getAttribute('aria-invalid')`) != "true" {
			t.Error("the token field is not marked invalid")
		}
		// One check of the token, refused, and nothing after it.
		time.Sleep(time.Second)
		got := calls.api()
		if len(got) != 1 || got[0] != "GET /admin/tenants/?limit=1 401" {
			t.Errorf("requests to the admin API: %v, want the one check of the token", got)
		}
		if s := evalJS[string](b, `String(sessionStorage.getItem('strictmt.adminToken')) + ' ' + localStorage.length + ' ' + JSON.stringify(document.cookie)`); s != `null 0 ""` {
			t.Errorf("a refused token was kept (sessionStorage, localStorage, cookie): %s", s)
		}
		b.axe("token refused")
	})

	step("Token", func(t *testing.T) {
		b.clearField(`#login-form input[name=token]`)
		b.typeInto(`#login-form input[name=token]`, adminToken, kb.Enter)
		b.waitView("Tenants")
		if s := evalJS[string](b, `sessionStorage.getItem('strictmt.adminToken') + ' ' + localStorage.length + ' ' + JSON.stringify(document.cookie) + ' ' + location.href`); s != adminToken+` 0 "" `+origin+"/admin/console/" {
			t.Errorf("the token is kept elsewhere than the tab's sessionStorage (sessionStorage, localStorage, cookie, URL): %s", s)
		}
		for _, c := range calls.all() {
			if strings.Contains(c, adminToken) {
				t.Errorf("the token is in a request line: %s", c)
			}
		}
		if got := evalJS[string](b, `document.getElementById('list-summary').textContent`); got != "No tenants yet." {
			t.Errorf("empty list says %q", got)
		}
		b.axe("empty tenant list")
	})

	step("ErrBadSchemaName", func(t *testing.T) {
		b.typeInto(`#create-form [name=name]`, "Acme Corp")
		b.typeInto(`#create-form [name=schema_name]`, "Acme-Corp")
		b.typeInto(`#create-form [name=domains]`, "acme.example.com")
		b.click(`#create-form button[type=submit]`)
		b.waitJS(`document.querySelector('#create-form [name=schema_name]').getAttribute('aria-invalid') === 'true'`)
		// The message is the API's, next to the field it concerns.
		r := env.Do(t, apptest.Request{Method: "POST", Host: "localhost", Path: "/admin/tenants/", Token: adminToken,
			Body: map[string]any{"name": "Acme Corp", "schema_name": "Acme-Corp", "domains": []string{"acme.example.com"}}})
		want := fmt.Sprint(r.Body["schema_name"].([]any)...)
		got := evalJS[string](b, `(() => { const i = document.querySelector('#create-form [name=schema_name]');
			return document.getElementById(i.id + '-error').textContent + '|' + i.getAttribute('aria-describedby').includes(i.id + '-error') + '|' + (document.activeElement === i); })()`)
		if got != want+"|true|true" {
			t.Errorf("field error shown %q, want %q next to the field, described by it, focused", got, want+"|true|true")
		}
		if _, total, err := env.App.Tenants.ListTenants(ctx, tenants.ListParams{Limit: 10}); err != nil || total != 0 {
			t.Errorf("the catalog holds %d tenants (%v), want none", total, err)
		}
		b.axe("create form with a field error")
	})

	step("Create", func(t *testing.T) {
		b.clearField(`#create-form [name=schema_name]`)
		b.typeInto(`#create-form [name=schema_name]`, "acme")
		b.typeInto(`#create-form [name=paid_until]`, "12312031") // the date field takes the digits of its own format
		b.click(`#create-form button[type=submit]`)
		b.waitTenant("acme")
		tenant := find("acme")
		if tenant.Name != "Acme Corp" || tenant.PaidUntil == nil || tenant.PaidUntil.String() != "2031-12-31" || tenant.State != models.StateActive {
			t.Errorf("catalog row %+v", tenant)
		}
		b.sameDomains(tenant)
		if got := b.status(); got != "Tenant acme created." {
			t.Errorf("status %q", got)
		}
	})

	// Rows for the export, the clone and the restore to carry.
	access, _, _ := env.Register(t, "acme.example.com", "alice")
	if r := env.Do(t, apptest.Request{Method: "POST", Host: "acme.example.com", Path: "/api/todos/", Token: access,
		Body: map[string]any{"title": "Ship the console"}}); r.Status != http.StatusCreated {
		t.Fatalf("creating a todo: %d %s", r.Status, r.Raw)
	}

	step("AddDomain", func(t *testing.T) {
		b.typeInto(`#domain-form [name=domain]`, "Shop.Example.com")
		b.click(`#domain-form button[type=submit]`)
		b.waitJS(`!!document.querySelector('#domain-list li[data-domain="shop.example.com"]') && document.documentElement.dataset.pending === '0'`)
		b.sameDomains(find("acme"))
	})

	step("MakePrimary", func(t *testing.T) {
		b.click(`#domain-list li[data-domain="shop.example.com"] button[data-action=primary]`)
		b.waitJS(`!!document.querySelector('#domain-list li[data-domain="shop.example.com"] .badge.primary') && document.documentElement.dataset.pending === '0'`)
		tenant := find("acme")
		b.sameDomains(tenant)
		if !tenant.Domains[0].IsPrimary || tenant.Domains[0].Domain != "shop.example.com" {
			t.Errorf("primary domain in the catalog: %+v", tenant.Domains)
		}
	})

	step("Suspend", func(t *testing.T) {
		b.run(chromedp.SetValue(chromedp.CSS(`#state-form [name=state]`), "suspended"))
		b.typeInto(`#state-form [name=state_reason]`, "unpaid since March")
		b.click(`#state-form button[type=submit]`)
		b.waitJS(`document.querySelector('#tenant-facts .badge').textContent === 'suspended' && document.documentElement.dataset.pending === '0'`)
		tenant := find("acme")
		if tenant.State != models.StateSuspended || tenant.StateReason != "unpaid since March" {
			t.Errorf("catalog state %q %q", tenant.State, tenant.StateReason)
		}
		if facts := b.text(`#tenant-facts`); !strings.Contains(facts, "suspended — unpaid since March") {
			t.Errorf("the page shows %q", facts)
		}
		if r := env.Do(t, apptest.Request{Method: "GET", Host: "acme.example.com", Path: "/api/todos/", Token: access}); r.Status != http.StatusForbidden {
			t.Errorf("the suspended tenant's API answered %d", r.Status)
		}
		b.axe("suspended tenant page")
	})

	step("Resume", func(t *testing.T) {
		b.run(chromedp.SetValue(chromedp.CSS(`#state-form [name=state]`), "active"))
		b.click(`#state-form button[type=submit]`)
		b.waitJS(`document.querySelector('#tenant-facts .badge').textContent === 'active' && document.documentElement.dataset.pending === '0'`)
		if tenant := find("acme"); tenant.State != models.StateActive || tenant.StateReason != "" {
			t.Errorf("catalog state %q %q", tenant.State, tenant.StateReason)
		}
		if r := env.Do(t, apptest.Request{Method: "GET", Host: "acme.example.com", Path: "/api/todos/", Token: access}); r.Status != http.StatusOK {
			t.Errorf("the resumed tenant's API answered %d", r.Status)
		}
	})
	b.screenshot("tenant-page.png")
	b.narrow(func() {
		b.screenshot("tenant-page-320px.png")
		b.axe("tenant page at 320 px")
	})
	b.axe("tenant page")

	var export string
	step("Export", func(t *testing.T) {
		b.click(`#export-button`)
		b.waitJS(`!!document.getElementById('export-result').dataset.bytes && document.documentElement.dataset.pending === '0'`)
		size, err := strconv.ParseInt(evalJS[string](b, `document.getElementById('export-result').dataset.bytes`), 10, 64)
		if err != nil || size < 100 {
			t.Fatalf("the page reports %d bytes (%v)", size, err)
		}
		if got := b.text(`#export-result`); !strings.HasPrefix(got, "Downloaded acme.strictmt.tar.gz: ") {
			t.Errorf("the page says %q", got)
		}
		export = b.downloaded("acme.strictmt.tar.gz", size)
		head, err := os.ReadFile(export)
		if err != nil || len(head) < 2 || head[0] != 0x1f || head[1] != 0x8b {
			t.Errorf("the download is not a gzip stream (%v)", err)
		}
	})

	step("Clone", func(t *testing.T) {
		b.typeInto(`#clone-form [name=schema_name]`, "acme_copy")
		b.typeInto(`#clone-form [name=domains]`, "copy.example.com")
		b.click(`#clone-form button[type=submit]`)
		b.waitTenant("acme_copy")
		clone := find("acme_copy")
		b.sameDomains(clone)
		if clone.Name != "Acme Corp" {
			t.Errorf("clone's name %q", clone.Name)
		}
		if n := countTodos(t, env, "acme_copy"); n != 1 {
			t.Errorf("the clone holds %d todos, want 1", n)
		}
	})

	step("DeleteClone", func(t *testing.T) {
		// Not confirmed: nothing is sent.
		before := len(calls.api())
		b.typeInto(`#delete-form [name=confirm]`, "acme")
		b.click(`#delete-form button[type=submit]`)
		b.waitJS(`document.querySelector('#delete-form [name=confirm]').getAttribute('aria-invalid') === 'true'`)
		if after := calls.api(); len(after) != before {
			t.Errorf("an unconfirmed deletion sent %v", after[before:])
		}
		find("acme_copy")

		b.clearField(`#delete-form [name=confirm]`)
		b.typeInto(`#delete-form [name=confirm]`, "acme_copy")
		b.click(`#delete-form [name=drop_schema]`)
		b.click(`#delete-form button[type=submit]`)
		b.waitView("Tenants")
		if _, err := env.App.Tenants.FindTenant(ctx, "acme_copy"); !errors.Is(err, apperr.NotFound) {
			t.Errorf("the clone is still in the catalog: %v", err)
		}
		if schemaExists(t, env, "acme_copy") {
			t.Error("the clone's schema was not dropped")
		}
		b.sameList(env)
	})

	step("RestoreFromFile", func(t *testing.T) {
		if export == "" {
			t.Skip("no export was downloaded")
		}
		b.run(chromedp.SetUploadFiles(chromedp.CSS(`#restore-form [name=file]`), []string{export}))
		b.typeInto(`#restore-form [name=schema]`, "acme_restored")
		b.typeInto(`#restore-form [name=domain]`, "restored.example.com")
		b.click(`#restore-form button[type=submit]`)
		b.waitTenant("acme_restored")
		restored := find("acme_restored")
		b.sameDomains(restored)
		if n := countTodos(t, env, "acme_restored"); n != 1 {
			t.Errorf("the restored tenant holds %d todos, want 1", n)
		}
	})

	step("List", func(t *testing.T) {
		b.run(chromedp.Navigate(origin + "/admin/console/#/tenants"))
		b.waitView("Tenants")
		b.sameList(env)
		// Sorting by a column header, as a keyboard user would: focus, Enter.
		for _, order := range []struct {
			hash, sort string
			rows       []string
		}{
			{"#/tenants?ordering=schema_name", "ascending", []string{"acme", "acme_restored"}},
			{"#/tenants?ordering=-schema_name", "descending", []string{"acme_restored", "acme"}},
		} {
			b.run(chromedp.Focus(chromedp.CSS(`#tenant-table button[data-sort=schema_name]`)))
			b.run(chromedp.KeyEvent(kb.Enter))
			b.waitJS(fmt.Sprintf(`location.hash === %q && document.documentElement.dataset.pending === '0' && !!document.querySelector('th[aria-sort=%s] button[data-sort=schema_name]')`, order.hash, order.sort))
			rows := evalJS[[]string](b, `[...document.querySelectorAll('#tenant-table tbody tr')].map((tr) => tr.dataset.schema)`)
			if !slices.Equal(rows, order.rows) {
				t.Errorf("sorted %s: %v, want %v", order.sort, rows, order.rows)
			}
		}
		b.axe("tenant list")
		b.screenshot("tenant-list.png")
		b.narrow(func() {
			b.screenshot("tenant-list-320px.png")
			b.axe("tenant list at 320 px")
		})
	})

	step("Fleet", func(t *testing.T) {
		b.click(`#nav-fleet`)
		b.waitView("Fleet")
		states := evalJS[string](b, `[...document.querySelectorAll('#fleet-states tbody tr')].map((tr) => tr.dataset.state + '=' + tr.querySelector('td').textContent).join(' ')`)
		byState, err := env.App.Tenants.CountTenantsByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("active=%d read_only=%d suspended=%d", byState["active"], byState["read_only"], byState["suspended"])
		if states != want || want != "active=2 read_only=0 suspended=0" {
			t.Errorf("the page shows %q, the catalog %q", states, want)
		}
		if got := b.text(`#fleet-pending`); !strings.HasPrefix(got, "Every tenant schema has every migration") {
			t.Errorf("pending migrations: %q", got)
		}
		b.axe("fleet")
		b.screenshot("fleet.png")
	})

	// What the browser saw over the whole run.
	step("CSP", func(t *testing.T) {
		if v := evalJS[[]string](b, `window.__csp`); len(v) > 0 {
			t.Errorf("policy violations reported to the page: %v", v)
		}
		for _, m := range b.messages() {
			if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Refused to") || strings.HasPrefix(m, "exception") {
				t.Errorf("browser console: %s", m)
			}
		}
		if !slices.Contains(b.loaded(), origin+"/admin/console/console.js") {
			t.Errorf("the requests seen do not include the console's script: %v", b.loaded())
		}
		for _, r := range b.loaded() {
			if !strings.HasPrefix(r, origin+"/") && !strings.HasPrefix(r, "blob:"+origin+"/") && !strings.HasPrefix(r, "data:") {
				t.Errorf("the page loaded %s, not from its own host", r)
			}
		}
	})
	t.Logf("screenshots in %s", artifacts)
}

func countTodos(t *testing.T, env *apptest.Env, schema string) int64 {
	t.Helper()
	var n int64
	if err := env.App.DB.Raw(`SELECT count(*) FROM "` + schema + `".todos`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func schemaExists(t *testing.T, env *apptest.Env, schema string) bool {
	t.Helper()
	var exists bool
	if err := env.App.DB.Raw("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)", schema).Scan(&exists).Error; err != nil {
		t.Fatal(err)
	}
	return exists
}

// recorder serves the app and notes each request it answers.
type recorder struct {
	next  http.Handler
	mu    sync.Mutex
	calls []string // "METHOD /path?query STATUS"
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	line := r.Method + " " + r.URL.RequestURI() // before the router trims the path
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	rec.next.ServeHTTP(sw, r)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.calls = append(rec.calls, line+" "+strconv.Itoa(sw.status))
}

func (rec *recorder) all() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.calls)
}

// api returns the requests to the admin API: all but the console's own
// files.
func (rec *recorder) api() []string {
	var out []string
	for _, c := range rec.all() {
		if _, path, _ := strings.Cut(c, " "); strings.HasPrefix(path, "/admin/") && !strings.HasPrefix(path, "/admin/console") {
			out = append(out, c)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (the export
// sets its own deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// browserRun is one headless Chromium with one tab on the console.
type browserRun struct {
	t         *testing.T
	ctx       context.Context
	axeSource string
	artifacts string
	downloads string

	mu       sync.Mutex
	requests []string // URLs the tab asked for
	console  []string // console calls, exceptions and browser log entries
}

func startBrowser(t *testing.T, origin, axeSource, artifacts string) *browserRun {
	t.Helper()
	profile := tempDir(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		// Every host but localhost fails to resolve, so a page that
		// needed another host (a CDN) would not work.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost"),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browserRun{t: t, ctx: ctx, axeSource: axeSource, artifacts: artifacts, downloads: tempDir(t)}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *log.EventEntryAdded:
			b.console = append(b.console, "log "+string(e.Entry.Source)+" "+string(e.Entry.Level)+": "+e.Entry.Text+" "+e.Entry.URL)
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.console = append(b.console, "console "+string(e.Type)+": "+strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			text := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				text += " " + e.ExceptionDetails.Exception.Description
			}
			b.console = append(b.console, "exception: "+text)
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspMonitor}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: b.downloads,
		})
		return err
	}))
	return b
}

// tempDir is t.TempDir for a browser's files: Chromium's helpers may
// still write there for a moment after it stops, so removal is retried.
func tempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "strictmt-console-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

func (b *browserRun) run(a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx, a); err != nil {
		b.t.Fatalf("browser: %v\nconsole:\n%s", err, strings.Join(b.messages(), "\n"))
	}
}

func evalJS[T any](b *browserRun, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is true in the page.
func (b *browserRun) waitJS(expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(50*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s: %v\nstatus: %q\nbanner: %q\nconsole:\n%s", expr, err,
			evalJS[string](b, `document.getElementById('status').textContent`), evalJS[string](b, `document.getElementById('banner').hidden ? '' : document.getElementById('banner-text').textContent`),
			strings.Join(b.messages(), "\n"))
	}
}

// waitView waits for a view whose heading is title, with nothing in
// flight.
func (b *browserRun) waitView(title string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf(`document.querySelector('main h1') && document.querySelector('main h1').textContent === %q && document.documentElement.dataset.pending === '0'`, title))
}

// waitTenant waits for the page of the tenant schema.
func (b *browserRun) waitTenant(schema string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf(`!!document.getElementById('tenant-title') && document.getElementById('tenant-title').textContent.endsWith(%q) && document.documentElement.dataset.pending === '0'`, "("+schema+")"))
}

// typeInto types text (and keys) into the field, as a keyboard does.
func (b *browserRun) typeInto(sel, text string, keys ...string) {
	b.t.Helper()
	b.run(chromedp.SendKeys(chromedp.CSS(sel), text+strings.Join(keys, ""), chromedp.NodeVisible))
}

// clearField selects the text of the field and deletes it.
func (b *browserRun) clearField(sel string) {
	b.t.Helper()
	b.run(chromedp.Focus(chromedp.CSS(sel)))
	evalJS[bool](b, fmt.Sprintf(`document.querySelector(%q).select(), true`, sel))
	b.run(chromedp.KeyEvent(kb.Backspace))
	if v := evalJS[string](b, fmt.Sprintf(`document.querySelector(%q).value`, sel)); v != "" {
		b.t.Fatalf("%s still holds %q", sel, v)
	}
}

func (b *browserRun) click(sel string) {
	b.t.Helper()
	b.run(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func (b *browserRun) text(sel string) string {
	b.t.Helper()
	return evalJS[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, sel))
}

func (b *browserRun) status() string {
	b.t.Helper()
	return b.text("#status")
}

// sameDomains checks that the tenant page lists the tenant's domains as
// the catalog holds them, the primary marked.
func (b *browserRun) sameDomains(tenant *models.Tenant) {
	b.t.Helper()
	var want []string
	for _, d := range tenant.Domains {
		s := d.Domain
		if d.IsPrimary {
			s += " primary"
		}
		want = append(want, s)
	}
	got := evalJS[[]string](b, `[...document.querySelectorAll('#domain-list li')].map((li) => li.dataset.domain + (li.querySelector('.badge.primary') ? ' primary' : ''))`)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		b.t.Errorf("the page lists domains %v, the catalog %v", got, want)
	}
}

// sameList checks that the tenant list shows the catalog's tenants.
func (b *browserRun) sameList(env *apptest.Env) {
	b.t.Helper()
	list, _, err := env.App.Tenants.ListTenants(context.Background(), tenants.ListParams{Limit: 50})
	if err != nil {
		b.t.Fatal(err)
	}
	var want []string
	for _, t := range list {
		want = append(want, t.SchemaName+" "+t.State)
	}
	got := evalJS[[]string](b, `[...document.querySelectorAll('#tenant-table tbody tr')].map((tr) => tr.dataset.schema + ' ' + tr.querySelector('.badge').className.replace('badge state-', ''))`)
	if !slices.Equal(got, want) {
		b.t.Errorf("the list shows %v, the catalog holds %v", got, want)
	}
}

// downloaded waits for the browser to have saved name, size bytes long,
// and returns its path.
func (b *browserRun) downloaded(name string, size int64) string {
	b.t.Helper()
	path := filepath.Join(b.downloads, name)
	deadline := time.Now().Add(30 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err == nil && fi.Size() == size {
			return path
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(b.downloads)
			b.t.Fatalf("no download %s of %d bytes (%v); the directory holds %v", name, size, err, entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// narrow runs fn with the page 320 CSS pixels wide, as on a small phone,
// after checking that nothing then needs horizontal scrolling.
func (b *browserRun) narrow(fn func()) {
	b.t.Helper()
	b.run(chromedp.EmulateViewport(320, 720))
	defer b.run(chromedp.EmulateViewport(1280, 900))
	b.waitJS(`window.innerWidth === 320`)
	if w := evalJS[int](b, `document.documentElement.scrollWidth`); w > 320 {
		b.t.Errorf("at 320 px the page is %d px wide", w)
	}
	fn()
}

func (b *browserRun) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(b.artifacts, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// axeViolation is one rule axe-core found broken.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeResult is what the test reads of axe-core's results.
type axeResult struct {
	Passed     []string       `json:"passed"`
	Violations []axeViolation `json:"violations"`
}

// axe runs axe-core's WCAG 2.x level A and AA rules on the page as it
// is, and fails on any violation.
func (b *browserRun) axe(view string) {
	b.t.Helper()
	if !evalJS[bool](b, `typeof window.axe === 'object'`) {
		evalJS[bool](b, b.axeSource+"\n;true")
	}
	res := evalJS[axeResult](b, `axe.run(document, {
		runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']},
		resultTypes: ['violations'],
	}).then((r) => ({passed: r.passes.map((p) => p.id), violations: r.violations.map((v) => ({id: v.id, impact: v.impact || '', help: v.help,
		nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)}))}))`, chromedp.EvalAwaitPromise)
	for _, v := range res.Violations {
		b.t.Errorf("axe, %s: %s (%s): %s\n  %s", view, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n  "))
	}
	// The rules this page must have been checked against, and passed.
	rules := []string{"button-name", "color-contrast", "document-title", "html-has-lang"}
	if evalJS[bool](b, `!!document.querySelector('input, select, textarea')`) {
		rules = append(rules, "label")
	}
	for _, rule := range rules {
		if !slices.Contains(res.Passed, rule) {
			b.t.Errorf("axe, %s: rule %s did not pass (passed: %v)", view, rule, res.Passed)
		}
	}
}

func (b *browserRun) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.console)
}

func (b *browserRun) loaded() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// TestConsoleShowsUsage opens the console on a stand-in of the admin API
// whose tenants carry the usage figures (bytes, rows, users,
// last_request) that a service reporting usage adds: the list shows
// them for the tenant that has them and says "not measured" for the one
// that has none; the tenant's page shows them; a list that refuses
// ?ordering= is sorted by the console, page by page.
func TestConsoleShowsUsage(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is not installed at %s; .ci/run installs it", chromium)
		}
		t.Skip("chromium is not installed at " + chromium + " (apt-get install -y chromium); the console was not driven")
	}
	t.Parallel()
	axeSource, err := os.ReadFile(filepath.Join("testdata", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	tenant := func(schema string, usage map[string]any) map[string]any {
		t := map[string]any{"name": "Tenant " + schema, "schema_name": schema, "paid_until": nil, "on_trial": true,
			"created_on": "2025-01-02", "state": "active", "state_reason": "", "state_until": nil, "purge_after": nil,
			"domains": []any{map[string]any{"domain": schema + ".example.com", "is_primary": true}}}
		if usage != nil {
			t["usage"] = usage
		}
		return t
	}
	measured := tenant("usage_a", map[string]any{"bytes": 1572864, "rows": 12345, "users": 7, "last_request": "2025-03-01T12:30:00Z"})
	unmeasured := tenant("usage_b", nil)
	var mu sync.Mutex
	var orderings []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/console/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", console.ContentSecurityPolicy)
		w.Header().Set("Content-Type", console.Page().ContentType)
		_, _ = w.Write(console.Page().Body)
	})
	mux.HandleFunc("GET /admin/console/{name}", func(w http.ResponseWriter, r *http.Request) {
		f, ok := console.Asset(r.PathValue("name"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.ContentType)
		_, _ = w.Write(f.Body)
	})
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /admin/tenants/{$}", func(w http.ResponseWriter, r *http.Request) {
		if o := r.URL.Query().Get("ordering"); o != "" {
			mu.Lock()
			orderings = append(orderings, o)
			mu.Unlock()
			writeJSON(w, http.StatusBadRequest, map[string]any{"ordering": []string{"Invalid ordering field."}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"count": 2, "next": nil, "previous": nil, "results": []any{measured, unmeasured}})
	})
	mux.HandleFunc("GET /admin/tenants/usage_a/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, measured)
	})
	origin := serveOnLocalhost(t, mux)
	b := startBrowser(t, origin, string(axeSource), t.TempDir())

	b.run(chromedp.Navigate(origin + "/admin/console/"))
	b.typeInto(`#login-form input[name=token]`, "any-token-will-do", kb.Enter)
	b.waitView("Tenants")
	rows := evalJS[[]string](b, `[...document.querySelectorAll('#tenant-table tbody tr')].map((tr) => [...tr.children].map((c) => c.textContent).join('|'))`)
	want := []string{
		"usage_a|Tenant usage_a|active|—no end date trial|usage_a.example.comprimary|1.5 MiB|12,345|2025-03-01 12:30 UTC",
		"usage_b|Tenant usage_b|active|—no end date trial|usage_b.example.comprimary|—not measured|—not measured|—not measured",
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows\n%q\nwant\n%q", rows, want)
	}
	b.axe("tenant list with usage")

	// Sorting by size: the stand-in refuses ?ordering=, so the console
	// sorts what it has, the unmeasured last either way.
	b.run(chromedp.SetValue(chromedp.CSS(`select[name=ordering]`), "-bytes"))
	evalJS[bool](b, `document.querySelector('select[name=ordering]').dispatchEvent(new Event('change')), true`)
	b.waitJS(`location.hash === '#/tenants?ordering=-bytes' && document.documentElement.dataset.pending === '0' && !!document.querySelector('th[aria-sort=descending]')`)
	if got := evalJS[[]string](b, `[...document.querySelectorAll('#tenant-table tbody tr')].map((tr) => tr.dataset.schema)`); !slices.Equal(got, []string{"usage_a", "usage_b"}) {
		t.Errorf("sorted by size, descending: %v", got)
	}
	b.run(chromedp.Navigate(origin + "/admin/console/#/tenants?ordering=bytes"))
	b.waitView("Tenants")
	if got := evalJS[[]string](b, `[...document.querySelectorAll('#tenant-table tbody tr')].map((tr) => tr.dataset.schema)`); !slices.Equal(got, []string{"usage_a", "usage_b"}) {
		t.Errorf("sorted by size, ascending: %v", got)
	}
	mu.Lock()
	if len(orderings) != 1 {
		// Once: after a refusal the console stops asking.
		t.Errorf("?ordering= sent %v, want once", orderings)
	}
	mu.Unlock()

	b.click(`#tenant-table a[href="#/tenants/usage_a"]`)
	b.waitTenant("usage_a")
	if got := b.text(`#tenant-facts`); !strings.Contains(got, "Size1.5 MiBRows12,345Users7Last request2025-03-01 12:30 UTC") {
		t.Errorf("tenant facts %q", got)
	}
	b.axe("tenant page with usage")
	for _, m := range b.messages() {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("browser console: %s", m)
		}
	}
}

// serveOnLocalhost serves h until the test ends and returns its origin on
// the host name localhost.
func serveOnLocalhost(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + u.Port()
}
