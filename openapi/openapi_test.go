package openapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/openapi"
	"github.com/strictmt/strictmt/openapi/contract"
)

const host = "api.localhost"

// exchange is one request and the status it must get; env.Do checks the
// response against the document.
type exchange struct {
	name   string
	req    apptest.Request
	status int
}

func run(t *testing.T, env *apptest.Env, exchanges []exchange) map[string]apptest.Response {
	t.Helper()
	out := map[string]apptest.Response{}
	for _, x := range exchanges {
		if x.req.Host == "" {
			x.req.Host = host
		}
		r := env.Do(t, x.req)
		if r.Status != x.status {
			t.Errorf("%s: %s %s: want %d, got %d %s", x.name, x.req.Method, x.req.Path, x.status, r.Status, r.Raw)
		}
		out[x.name] = r
	}
	return out
}

// TestAccountResponsesMatchTheDocument drives the public endpoints and
// the errors every endpoint shares through the harness, which checks each
// response against the document.
func TestAccountResponsesMatchTheDocument(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "contract_acc", host)
	alice := map[string]string{"username": "alice", "email": "alice@example.com", "password": "correct-horse-battery"}
	r := run(t, env, []exchange{
		{"Index", apptest.Request{Method: "GET", Path: "/api/"}, 200},
		{"IndexWithoutSlash", apptest.Request{Method: "GET", Path: "/api"}, 200},
		{"Registered", apptest.Request{Method: "POST", Path: "/api/register/", Body: alice}, 201},
		{"ErrDuplicateUsername", apptest.Request{Method: "POST", Path: "/api/register/", Body: alice}, 400},
		{"ErrMissingFields", apptest.Request{Method: "POST", Path: "/api/register/", Body: map[string]string{}}, 400},
		{"ErrNotJSON", apptest.Request{Method: "POST", Path: "/api/register/", Body: "username=alice", CT: "application/x-www-form-urlencoded"}, 415},
		{"ErrMalformedJSON", apptest.Request{Method: "POST", Path: "/api/token/", Body: `{"username":`}, 400},
		{"ErrBodyTooLarge", apptest.Request{Method: "POST", Path: "/api/token/", Body: `{"username": "` + strings.Repeat("a", 1<<20) + `"}`}, 413},
		{"LoggedIn", apptest.Request{Method: "POST", Path: "/api/token/", Body: map[string]string{"username": "ALICE", "password": alice["password"]}}, 200},
		{"ErrBadCredentials", apptest.Request{Method: "POST", Path: "/api/token/", Body: map[string]string{"username": "alice", "password": "wrong-horse-battery"}}, 401},
		{"ErrRefreshGarbage", apptest.Request{Method: "POST", Path: "/api/token/refresh/", Body: map[string]string{"refresh": "not-a-token"}}, 401},
		{"ErrNoToken", apptest.Request{Method: "GET", Path: "/api/todos/"}, 401},
		{"ErrBadAuthorization", apptest.Request{Method: "GET", Path: "/api/projects/", Header: map[string]string{"Authorization": "Token abc"}}, 401},
		{"ErrUnknownHost", apptest.Request{Method: "GET", Host: "nobody.localhost", Path: "/api/todos/"}, 404},
		{"ErrUnknownPath", apptest.Request{Method: "GET", Path: "/api/nothing/here/"}, 404},
		{"ErrMethodNotAllowed", apptest.Request{Method: "DELETE", Path: "/api/token/"}, 405},
		{"Alive", apptest.Request{Method: "GET", Path: "/healthz"}, 200},
		{"Ready", apptest.Request{Method: "GET", Path: "/readyz"}, 200},
		{"Document", apptest.Request{Method: "GET", Path: "/api/openapi.json"}, 200},
		{"ErrDocumentOnUnknownHost", apptest.Request{Method: "GET", Host: "nobody.localhost", Path: "/api/openapi.json"}, 404},
	})
	refresh, _ := r["LoggedIn"].Body["refresh"].(string)
	access, _ := r["LoggedIn"].Body["access"].(string)
	run(t, env, []exchange{
		{"Refreshed", apptest.Request{Method: "POST", Path: "/api/token/refresh/", Body: map[string]string{"refresh": refresh}}, 200},
		{"ErrRefreshWithAccessToken", apptest.Request{Method: "POST", Path: "/api/token/refresh/", Body: map[string]string{"refresh": access}}, 401},
	})
	if got := r["Document"].Raw; !bytes.Equal(got, openapi.Document().Body) {
		t.Errorf("GET /api/openapi.json does not serve the embedded document (%d bytes, want %d)", len(got), len(openapi.Document().Body))
	}
}

// TestResourceResponsesMatchTheDocument drives todos, projects, tasks and
// analytics, starting from the seed README's payloads as written.
func TestResourceResponsesMatchTheDocument(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "contract_res", host)
	token, _, _ := env.Register(t, host, "owner")
	other, _, _ := env.Register(t, host, "other")
	do := func(method, path string, body any) apptest.Request {
		return apptest.Request{Method: method, Path: path, Token: token, Body: body}
	}
	run(t, env, []exchange{
		{"TodoCreated", do("POST", "/api/todos/", json.RawMessage(`{"title": "Sample Todo", "description": "Description of the todo", "completed": false, "recurrence_interval": 5, "completion_time": "2024-11-15T15:05:00Z"}`)), 201},
		{"SecondTodoCreated", do("POST", "/api/todos/", map[string]any{"title": "Second"}), 201},
		{"ProjectCreated", do("POST", "/api/projects/", json.RawMessage(`{"name": "Sample Project", "description": "Project description", "owner": 1}`)), 201},
		{"TaskCreated", do("POST", "/api/tasks/", json.RawMessage(`{"project": 1, "todo": 1, "assigned_user": 1, "due_date": "2024-11-20"}`)), 201},
		{"UnassignedTaskCreated", do("POST", "/api/tasks/", map[string]any{"project": 1, "todo": 2, "assigned_user": nil, "due_date": "2024-11-21"}), 201},

		{"TodosListed", do("GET", "/api/todos/?limit=1&ordering=title&completed=false&search=todo", nil), 200},
		{"TodoPageTwo", do("GET", "/api/todos/?limit=1&offset=1", nil), 200},
		{"TodoRead", do("GET", "/api/todos/1/", nil), 200},
		{"TodoCompleted", do("PATCH", "/api/todos/1/", map[string]any{"completed": true}), 200},
		{"TodoReplaced", do("PUT", "/api/todos/2", map[string]any{"title": "Second, again", "recurrence_interval": nil}), 200},
		{"ErrTodoInvalid", do("POST", "/api/todos/", map[string]any{"title": "", "recurrence_interval": 0}), 400},
		{"ErrTodoBadFilter", do("GET", "/api/todos/?completed=maybe", nil), 400},
		{"ErrTodoNotANumber", do("GET", "/api/todos/abc/", nil), 404},
		{"ErrTodoMissing", do("GET", "/api/todos/999999/", nil), 404},
		{"ErrTodoOfAnotherUser", apptest.Request{Method: "PATCH", Path: "/api/todos/1/", Token: other, Body: map[string]any{"title": "mine"}}, 403},

		{"ProjectsListed", do("GET", "/api/projects/?search=sample&ordering=-name&owner=1", nil), 200},
		{"ProjectRead", do("GET", "/api/projects/1/", nil), 200},
		{"ProjectRenamed", do("PATCH", "/api/projects/1/", map[string]any{"name": "Renamed"}), 200},
		{"ProjectReplaced", do("PUT", "/api/projects/1/", map[string]any{"name": "Replaced", "description": ""}), 200},
		{"Analytics", do("GET", "/api/projects/1/analytics/", nil), 200},
		{"ErrProjectBadOrdering", do("GET", "/api/projects/?ordering=owner_name", nil), 400},
		{"ErrProjectForeignOwner", do("POST", "/api/projects/", map[string]any{"name": "X", "owner": 999}), 400},

		{"TasksListed", do("GET", "/api/tasks/?project=1&todo=1&assigned_user=1&due_after=2024-11-01&due_before=2024-12-01&completed=true&ordering=due_date", nil), 200},
		{"TaskRead", do("GET", "/api/tasks/1/", nil), 200},
		{"TaskMoved", do("PATCH", "/api/tasks/1/", map[string]any{"due_date": "2024-11-22"}), 200},
		{"TaskReplaced", do("PUT", "/api/tasks/2/", map[string]any{"project": 1, "todo": 2, "due_date": "2024-11-23"}), 200},
		{"ErrTaskInvalid", do("POST", "/api/tasks/", map[string]any{"project": 1, "todo": 999, "due_date": "20.11.2024"}), 400},
		{"ErrTaskBadDateFilter", do("GET", "/api/tasks/?due_before=tomorrow", nil), 400},

		{"TaskDeleted", do("DELETE", "/api/tasks/1/", nil), 204},
		{"ProjectDeleted", do("DELETE", "/api/projects/1/", nil), 204},
		{"TodoDeleted", do("DELETE", "/api/todos/2/", nil), 204},
		{"ErrAnalyticsOfDeletedProject", do("GET", "/api/projects/1/analytics/", nil), 404},
		{"ErrMethodNotAllowed", do("DELETE", "/api/projects/1/analytics/", nil), 405},
	})
}

// TestEveryDocumentedOperationIsServed sends every documented method of
// every documented path, without a token, and every other method too:
// the documented ones must reach a handler (no 404 or 405 from the
// router), the others must get 405. Each answer is checked against the
// document.
func TestEveryDocumentedOperationIsServed(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Admin.Token = "contract-admin-token"
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "contract_ops", host)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document().Body, &doc); err != nil {
		t.Fatal(err)
	}
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	for template, item := range doc.Paths {
		schema := "contract_ops"
		if template == "/admin/tenants/{schema_name}/" { // its DELETE would delete the tenant the other paths use
			schema = "nobody"
		}
		path := strings.NewReplacer("{id}", "1", "{name}", "redoc.LICENSE", "{schema_name}", schema, "{domain}", "nobody.localhost").Replace(template)
		h, header := host, map[string]string(nil)
		if strings.HasPrefix(template, "/admin/") { // served on a public host, to the admin token
			h, header = "localhost", map[string]string{"Authorization": "Bearer " + cfg.Admin.Token}
		}
		for _, m := range methods {
			_, documented := item[strings.ToLower(m)]
			resp, body := fetch(t, env, m, h, path, header)
			switch {
			case documented && (resp.StatusCode == 405 || resp.StatusCode == 404 && !strings.Contains(template, "{")):
				t.Errorf("%s %s is documented but not served: %d %s", m, path, resp.StatusCode, body)
			case !documented && resp.StatusCode != 405:
				t.Errorf("%s %s is not documented but answers %d, want 405: %s", m, path, resp.StatusCode, body)
			}
		}
	}
}

// fetch sends a request without decoding the answer (the docs page and
// its assets are not JSON) and checks it against the document.
func fetch(t *testing.T, env *apptest.Env, method, host, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, env.Server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// Keep the transport from decompressing, to see what was sent.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("contract: %v", err)
	}
	return resp, body
}

func TestDocsPage(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "contract_docs", host)
	for _, path := range []string{"/api/docs/", "/api/docs"} {
		t.Run("Served"+strings.ReplaceAll(path, "/", "_"), func(t *testing.T) {
			resp, body := fetch(t, env, "GET", host, path, nil)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("want 200 text/html, got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != openapi.ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy = %q", got)
			}
			for _, want := range []string{`spec-url="/api/openapi.json"`, `<script src="/api/docs/assets/redoc.standalone.js">`} {
				if !bytes.Contains(body, []byte(want)) {
					t.Errorf("page lacks %s", want)
				}
			}
			// Everything the page loads is a same-host path.
			if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) || bytes.Contains(body, []byte("//cdn")) {
				t.Errorf("page refers to another host:\n%s", body)
			}
		})
	}
	t.Run("ErrUnknownHost", func(t *testing.T) {
		resp, _ := fetch(t, env, "GET", "nobody.localhost", "/api/docs/", nil)
		if resp.StatusCode != 404 {
			t.Fatalf("want 404, got %d", resp.StatusCode)
		}
	})
}

func TestDocsAssets(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "contract_assets", host)
	const script = "/api/docs/assets/redoc.standalone.js"
	want, ok := openapi.Asset("redoc.standalone.js")
	if !ok {
		t.Fatal("the viewer's script is not embedded")
	}

	t.Run("Served", func(t *testing.T) {
		resp, body := fetch(t, env, "GET", host, script, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || !bytes.Equal(body, want.Body) {
			t.Fatalf("want 200 text/javascript with the embedded script, got %d %q (%d bytes)", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if resp.Header.Get("ETag") != want.ETag || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers: %v", resp.Header)
		}
	})
	t.Run("Gzipped", func(t *testing.T) {
		resp, body := fetch(t, env, "GET", host, script, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || len(body) >= len(want.Body)/2 {
			t.Fatalf("want a gzipped body, got %d %q (%d bytes)", resp.StatusCode, resp.Header.Get("Content-Encoding"), len(body))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(plain, want.Body) {
			t.Fatalf("the gzipped body is not the script (err %v)", err)
		}
	})
	t.Run("NotGzippedWhenRefused", func(t *testing.T) {
		resp, _ := fetch(t, env, "GET", host, script, map[string]string{"Accept-Encoding": "gzip;q=0, identity"})
		if resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("Content-Encoding %q for a client refusing gzip", resp.Header.Get("Content-Encoding"))
		}
	})
	t.Run("NotModified", func(t *testing.T) {
		resp, body := fetch(t, env, "GET", host, script, map[string]string{"If-None-Match": `"other", ` + want.ETag})
		if resp.StatusCode != 304 || len(body) != 0 {
			t.Fatalf("want 304 without a body, got %d (%d bytes)", resp.StatusCode, len(body))
		}
	})
	t.Run("LicensesServed", func(t *testing.T) {
		for _, name := range []string{"redoc.LICENSE", "redoc.standalone.js.LICENSE.txt"} {
			resp, body := fetch(t, env, "GET", host, "/api/docs/assets/"+name, nil)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !bytes.Contains(body, []byte("MIT")) {
				t.Errorf("%s: want 200 text/plain naming the MIT license, got %d %q", name, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	})
	for name, path := range map[string]string{
		"ErrUnknownAsset":   "/api/docs/assets/nothing.js",
		"ErrReadmeNotServe": "/api/docs/assets/README.md",
		"ErrTraversal":      "/api/docs/assets/..%2fdocs.html",
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := fetch(t, env, "GET", host, path, nil)
			if resp.StatusCode != 404 {
				t.Fatalf("want 404, got %d %s", resp.StatusCode, body)
			}
		})
	}
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestHarnessReportsContractViolations proves that env.Do checks every
// response: a server answering a todo without its owner_name, or a status
// the document does not list, fails the test that made the request.
func TestHarnessReportsContractViolations(t *testing.T) {
	t.Parallel()
	const todo = `{"id": 1, "title": "T", "description": "", "completed": false, "recurrence_interval": null,
		"completion_time": null, "due_at": null, "previous": null, "created_at": "2024-11-15T15:05:00Z",
		"owner": 1, "owner_name": "alice", "client_name": "Tenant A"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/todos/1/":
			_, _ = io.WriteString(w, todo)
		case "/api/todos/2/":
			_, _ = io.WriteString(w, strings.Replace(todo, `"owner_name": "alice", `, "", 1))
		case "/api/todos/3/":
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, `{"detail": "I'm a teapot"}`)
		}
	}))
	t.Cleanup(srv.Close)
	env := &apptest.Env{Server: srv}

	tests := map[string]struct {
		path string
		want string // in the one error; "" for none
	}{
		"Matching":              {"/api/todos/1/", ""},
		"ErrMissingOwnerName":   {"/api/todos/2/", "missing property 'owner_name'"},
		"ErrUndocumentedStatus": {"/api/todos/3/", "does not list status 418"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{TB: t}
			env.Do(rec, apptest.Request{Method: "GET", Host: host, Path: tc.path, Token: "x"})
			switch {
			case tc.want == "" && len(rec.errs) > 0:
				t.Fatalf("want no error, got %q", rec.errs)
			case tc.want != "" && (len(rec.errs) != 1 || !strings.Contains(rec.errs[0], tc.want)):
				t.Fatalf("want one error mentioning %q, got %q", tc.want, rec.errs)
			}
		})
	}
}

// TestDocumentCoversTheAPI checks the document's own promises: every
// endpoint of the API with its methods, bearer authentication exactly on
// the endpoints that need a token, and the error responses each kind of
// operation can give.
func TestDocumentCoversTheAPI(t *testing.T) {
	t.Parallel()
	type operation struct {
		OperationID string                     `json:"operationId"`
		Summary     string                     `json:"summary"`
		Security    *[]map[string][]string     `json:"security"`
		RequestBody *struct{ Required bool }   `json:"requestBody"`
		Responses   map[string]json.RawMessage `json:"responses"`
		Parameters  []struct {
			Ref  string `json:"$ref"`
			Name string `json:"name"`
		} `json:"parameters"`
	}
	var doc struct {
		OpenAPI  string                                `json:"openapi"`
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document().Body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
		t.Fatalf("want OpenAPI 3.1.0 with bearerAuth required by default, got %s %v", doc.OpenAPI, doc.Security)
	}
	public := map[string]bool{"/api/": true, "/api/register/": true, "/api/token/": true, "/api/token/refresh/": true,
		"/api/token/verify/": true, "/api/token/blacklist/": true,
		"/api/openapi.json": true, "/api/docs/": true, "/api/docs/assets/{name}": true, "/healthz": true, "/readyz": true}
	want := map[string][]string{
		"/api/":                         {"get"},
		"/api/register/":                {"post"},
		"/api/token/":                   {"post"},
		"/api/token/refresh/":           {"post"},
		"/api/token/verify/":            {"post"},
		"/api/token/blacklist/":         {"post"},
		"/api/todos/":                   {"get", "post"},
		"/api/todos/{id}/":              {"delete", "get", "patch", "put"},
		"/api/projects/":                {"get", "post"},
		"/api/projects/{id}/":           {"delete", "get", "patch", "put"},
		"/api/projects/{id}/analytics/": {"get"},
		"/api/tasks/":                   {"get", "post"},
		"/api/tasks/{id}/":              {"delete", "get", "patch", "put"},
		"/api/openapi.json":             {"get"},
		"/api/docs/":                    {"get"},
		"/api/docs/assets/{name}":       {"get"},
		"/healthz":                      {"get"},
		"/readyz":                       {"get"},
		// The admin API's tenant copy: on the public hosts, with the
		// admin token.
		"/admin/tenants/{schema_name}/":        {"delete", "get", "patch"},
		"/admin/tenants/{schema_name}/export/": {"get"},
		"/admin/tenants/restore/":              {"post"},
		"/admin/tenants/{schema_name}/clone/":  {"post"},
		// The console's domain and fleet calls.
		"/admin/domains/{domain}/":            {"delete", "patch"},
		"/admin/fleet/":                       {"get"},
		"/admin/tenants/{schema_name}/usage/": {"get"},
	}
	if len(doc.Paths) != len(want) {
		t.Errorf("the document has %d paths, want %d", len(doc.Paths), len(want))
	}
	ids := map[string]bool{}
	for path, methods := range want {
		item, ok := doc.Paths[path]
		if !ok {
			t.Errorf("%s is not documented", path)
			continue
		}
		var got []string
		for m := range item {
			if m != "parameters" {
				got = append(got, m)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, methods) {
			t.Errorf("%s documents %v, want %v", path, got, methods)
		}
		for _, m := range methods {
			var op operation
			if err := json.Unmarshal(item[m], &op); err != nil {
				t.Fatal(err)
			}
			name := strings.ToUpper(m) + " " + path
			if op.OperationID == "" || op.Summary == "" || ids[op.OperationID] {
				t.Errorf("%s: wants a unique operationId and a summary", name)
			}
			ids[op.OperationID] = true
			if isPublic := op.Security != nil && len(*op.Security) == 0; isPublic != public[path] {
				t.Errorf("%s: public = %v, want %v", name, isPublic, public[path])
			}
			admin := strings.HasPrefix(path, "/admin/")
			if isAdmin := op.Security != nil && len(*op.Security) == 1 && (*op.Security)[0]["adminToken"] != nil; isAdmin != admin {
				t.Errorf("%s: admin token = %v, want %v", name, isAdmin, admin)
			}
			need := []string{}
			if strings.HasPrefix(path, "/api/") {
				need = append(need, "404")
			}
			if !public[path] {
				need = append(need, "401", "503")
			}
			if !public[path] && !admin {
				need = append(need, "402") // the admin API serves no tenant
			}
			if m == "post" || m == "put" || m == "patch" {
				need = append(need, "400", "413", "415")
				if op.RequestBody == nil || !op.RequestBody.Required {
					t.Errorf("%s: wants a required request body", name)
				}
			}
			if m == "get" && (path == "/api/todos/" || path == "/api/projects/" || path == "/api/tasks/") {
				need = append(need, "400")
				var params []string
				for _, p := range op.Parameters {
					params = append(params, p.Name+p.Ref)
				}
				for _, p := range []string{"#/components/parameters/limit", "#/components/parameters/offset", "ordering"} {
					if !slices.Contains(params, p) {
						t.Errorf("%s: lacks the %s parameter", name, p)
					}
				}
			}
			for _, code := range need {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s: does not document %s", name, code)
				}
			}
		}
	}
}
