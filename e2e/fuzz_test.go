package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/internal/apptest"
)

// fuzzEndpoints are the create and update endpoints FuzzCreateUpdate
// drives; {id} is replaced by the fuzzed path id.
var fuzzEndpoints = []struct{ method, path string }{
	{"POST", "/api/todos/"},
	{"PATCH", "/api/todos/{id}/"},
	{"PUT", "/api/todos/{id}/"},
	{"POST", "/api/projects/"},
	{"PATCH", "/api/projects/{id}/"},
	{"PUT", "/api/projects/{id}/"},
	{"POST", "/api/tasks/"},
	{"PATCH", "/api/tasks/{id}/"},
	{"PUT", "/api/tasks/{id}/"},
}

// fuzzContentTypes are the Content-Type headers FuzzCreateUpdate picks
// from; "" sends none.
var fuzzContentTypes = []string{
	"application/json",
	"application/json; charset=utf-8",
	"text/plain",
	"application/x-www-form-urlencoded",
	"",
	"application/merge-patch+json",
	"multipart/form-data; boundary=x",
	"application/json; charset=utf-16",
	";;;",
}

// FuzzCreateUpdate sends fuzzed bodies, content types and path ids to the
// create and update endpoints of todos, projects and tasks, through the
// app's handler in process. Whatever the input: no 5xx, a JSON object
// back, errors in DRF's shapes, and a 4xx changes no row. The seed corpus
// is in testdata/fuzz/FuzzCreateUpdate. Run it with
//
//	go test ./e2e/ -run '^$' -fuzz FuzzCreateUpdate -fuzztime 20s -fuzzminimizetime 100x
func FuzzCreateUpdate(f *testing.F) {
	// One app and tenant for the whole run: each input costs one request
	// and one snapshot query. The app logs to logs, not to f, whose
	// methods must not be called from inside the fuzz target.
	var logs lockedBuffer
	cfg := apptest.Config(f)
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		app.MigrateOptions{Shared: true, Tenants: true})
	if err != nil {
		f.Fatal(err)
	}
	env := &apptest.Env{App: a, Server: httptest.NewServer(a.Handler()), Config: cfg}
	f.Cleanup(func() {
		env.Server.Close()
		a.Close(ctx)
	})
	const schema, host = "fz", "fz.localhost"
	env.CreateTenant(f, schema, host)
	access, _, _ := env.Register(f, host, "alice")
	for _, c := range []struct{ path, body string }{
		{"/api/todos/", `{"title": "Sample Todo", "description": "Description of the todo", "completed": false, "recurrence_interval": 5, "completion_time": "2024-11-15T15:05:00Z"}`},
		{"/api/projects/", `{"name": "Sample Project", "description": "Project description", "owner": 1}`},
		{"/api/tasks/", `{"project": 1, "todo": 1, "assigned_user": 1, "due_date": "2024-11-20"}`},
	} {
		if r := send(f, env, request{Method: "POST", Host: host, Path: c.path, Token: access, CT: "application/json", Body: []byte(c.body)}); r.Status != http.StatusCreated {
			f.Fatalf("seeding %s: %d %s", c.path, r.Status, r.Raw)
		}
	}
	handler := env.App.Handler()
	// Rows past the seeded ones are removed after every success, so the
	// tables, and the snapshot query, stay small.
	const reset = `DELETE FROM fz.tasks WHERE id > 1; DELETE FROM fz.todos WHERE id > 1; DELETE FROM fz.projects WHERE id > 1`
	var last string

	f.Fuzz(func(t *testing.T, endpoint, ctype uint8, id string, body []byte) {
		ep := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
		ct := fuzzContentTypes[int(ctype)%len(fuzzContentTypes)]
		path := strings.Replace(ep.path, "{id}", url.PathEscape(id), 1)
		req := httptest.NewRequest(ep.method, path, bytes.NewReader(body))
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+access)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		// Inputs run one at a time per process: the snapshot taken after
		// one error stands for the state before the next input.
		before := last
		if before == "" {
			before = snapshot(t, env, schema)
		}
		last = ""
		logs.Reset()
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)

		r := response{Status: w.Code, Header: w.Header(), Raw: w.Body.Bytes()}
		if r.Status >= 500 {
			t.Fatalf("%s %s (%q) %q: %d %s\n%s", ep.method, path, ct, body, r.Status, r.Raw, logs.String())
		}
		if r.Status >= 400 {
			if why := checkErrorBody(r); why != "" {
				t.Fatalf("%s %s (%q) %q: %d %s: %s", ep.method, path, ct, body, r.Status, why, r.Raw)
			}
			after := snapshot(t, env, schema)
			if after != before {
				t.Fatalf("%s %s (%q) %q: %d %s, but rows changed", ep.method, path, ct, body, r.Status, r.Raw)
			}
			last = after
			return
		}
		var obj map[string]any
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" || json.Unmarshal(r.Raw, &obj) != nil || obj["id"] == nil {
			t.Fatalf("%s %s (%q) %q: %d %q %s: want a JSON object with an id", ep.method, path, ct, body, r.Status, r.Header.Get("Content-Type"), r.Raw)
		}
		if err := env.App.DB.Exec(reset).Error; err != nil {
			t.Fatal(err)
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
