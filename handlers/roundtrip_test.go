package handlers_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/handlers"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// wireCounter counts, at the driver's socket, the round trips a client
// makes (a write after a read, or the first write, starts one) and the
// statements it sends (Execute and simple Query messages).
type wireCounter struct {
	mu       sync.Mutex
	trips    int
	stmts    int
	sql      []string
	awaiting bool // the last thing done on the socket was a write
}

func (w *wireCounter) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.trips, w.stmts, w.sql, w.awaiting = 0, 0, nil, false
}

func (w *wireCounter) counts() (int, int, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.trips, w.stmts, w.sql
}

func (w *wireCounter) wrote(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.awaiting {
		w.trips++
		w.awaiting = true
	}
	// Frontend messages: a type byte and a length that counts itself.
	for len(b) >= 5 {
		typ := b[0]
		n := int(binary.BigEndian.Uint32(b[1:5]))
		if n < 4 || n+1 > len(b) {
			break
		}
		body := b[5 : n+1]
		switch typ {
		case 'E':
			w.stmts++
		case 'Q':
			w.stmts++
			w.sql = append(w.sql, strings.TrimRight(string(body), "\x00"))
		case 'P':
			// name\0 query\0 …
			if i := strings.IndexByte(string(body), 0); i >= 0 {
				q := string(body[i+1:])
				if j := strings.IndexByte(q, 0); j >= 0 {
					q = q[:j]
				}
				w.sql = append(w.sql, q)
			}
		}
		b = b[n+1:]
	}
}

func (w *wireCounter) read() {
	w.mu.Lock()
	w.awaiting = false
	w.mu.Unlock()
}

type countedConn struct {
	net.Conn
	w *wireCounter
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.w.wrote(b)
	return c.Conn.Write(b)
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.w.read()
	}
	return n, err
}

// countedRouter returns strictmt's router on a pool of one connection
// whose socket w watches, serving env's database.
func countedRouter(t *testing.T, env *apptest.Env, strict bool, w *wireCounter, opts datapath.StoreOptions) http.Handler {
	t.Helper()
	cfg, err := pgx.ParseConfig(env.App.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countedConn{Conn: c, w: w}, nil
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sqlDB.SetMaxOpenConns(1)
	sqlDB.SetMaxIdleConns(1)
	t.Cleanup(func() { sqlDB.Close() })
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		t.Fatal(err)
	}
	return handlers.NewRouter(handlers.Deps{
		Log:            apptest.Logger(t),
		Resolver:       tenants.NewResolver(db, datapath.NewStore(sqlDB, opts), time.Hour),
		Tokens:         env.App.Tokens,
		IdempotencyTTL: env.Config.API.IdempotencyTTL,
		Strict:         strict,
		MaxBodyBytes:   1 << 20,
		RequestTimeout: time.Minute,
		Ready:          func(context.Context) error { return nil },
	})
}

// TestRoundTripsPerRequest counts at the driver's socket the round trips
// and statements of each request: every read (todos, projects, their
// analytics, tasks) is one round trip (BEGIN READ ONLY, role switch, user
// check, the query, COMMIT), a single-row write of a todo, project or
// task at most two (three for a task, whose references are checked
// first), in strict and prefix isolation alike.
func TestRoundTripsPerRequest(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "rt_a", "rt-a.localhost")
	access, _, _ := env.Register(t, "rt-a.localhost", "alice")
	seed := env.Do(t, apptest.Request{Method: "POST", Host: "rt-a.localhost", Path: "/api/todos/", Token: access, Body: `{"title": "seeded"}`})
	if seed.Status != 201 {
		t.Fatalf("seed: %d %s", seed.Status, seed.Raw)
	}
	seedID := int64(seed.Body["id"].(float64))
	project := env.Do(t, apptest.Request{Method: "POST", Host: "rt-a.localhost", Path: "/api/projects/", Token: access, Body: `{"name": "p", "description": "d"}`})
	if project.Status != 201 {
		t.Fatalf("project: %d %s", project.Status, project.Raw)
	}
	projectID := int64(project.Body["id"].(float64))
	task := env.Do(t, apptest.Request{Method: "POST", Host: "rt-a.localhost", Path: "/api/tasks/", Token: access,
		Body: fmt.Sprintf(`{"project": %d, "todo": %d, "due_date": "2030-01-01"}`, projectID, seedID)})
	if task.Status != 201 {
		t.Fatalf("task: %d %s", task.Status, task.Raw)
	}
	taskID := int64(task.Body["id"].(float64))

	// With prepared statements every case runs three times: its
	// statements go unnamed, then are prepared in the same round trip,
	// then run prepared.
	for _, mode := range []struct {
		name     string
		strict   bool
		prepared int
	}{{"Strict", true, 0}, {"Prefix", false, 0}, {"StrictPrepared", true, 64}, {"PrefixPrepared", false, 64}} {
		t.Run(mode.name, func(t *testing.T) {
			w := &wireCounter{}
			h := countedRouter(t, env, mode.strict, w, datapath.StoreOptions{PreparedStatements: mode.prepared})
			key := ""
			do := func(method, path, body string) (int, map[string]any) {
				req := httptest.NewRequest(method, path, strings.NewReader(body))
				req.Host = "rt-a.localhost"
				req.Header.Set("Authorization", "Bearer "+access)
				if key != "" {
					req.Header.Set("Idempotency-Key", key)
				}
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				var out map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &out)
				return rec.Code, out
			}
			// Warm up: the connection is opened and the host resolved.
			if code, _ := do("GET", "/api/todos/", ""); code != 200 {
				t.Fatalf("warm-up: %d", code)
			}
			created, createdProject, createdTask := int64(0), int64(0), int64(0)
			cases := []struct {
				name       string
				method     string
				path       func() string
				body       string
				wantStatus int
				maxTrips   int
				key        string // an Idempotency-Key, made unique per mode and pass
			}{
				{"ListTodos", "GET", func() string { return "/api/todos/?limit=20" }, "", 200, 1, ""},
				{"ListTodosFiltered", "GET", func() string { return "/api/todos/?completed=false&search=see&ordering=title" }, "", 200, 1, ""},
				{"GetTodo", "GET", func() string { return fmt.Sprintf("/api/todos/%d/", seedID) }, "", 200, 1, ""},
				{"GetMissingTodo", "GET", func() string { return "/api/todos/999999/" }, "", 404, 1, ""},
				{"ListProjects", "GET", func() string { return "/api/projects/" }, "", 200, 1, ""},
				{"GetProject", "GET", func() string { return fmt.Sprintf("/api/projects/%d/", projectID) }, "", 200, 1, ""},
				{"ProjectAnalytics", "GET", func() string { return fmt.Sprintf("/api/projects/%d/analytics/", projectID) }, "", 200, 1, ""},
				{"ListTasks", "GET", func() string { return "/api/tasks/?completed=false" }, "", 200, 1, ""},
				{"GetTask", "GET", func() string { return fmt.Sprintf("/api/tasks/%d/", taskID) }, "", 200, 1, ""},
				{"CreateTodo", "POST", func() string { return "/api/todos/" }, `{"title": "new", "completed": true, "recurrence_interval": 3}`, 201, 2, ""},
				// A keyed create takes its key's lock and reads its stored
				// response in the first round trip, and stores the
				// response with the COMMIT: no round trip of its own. A
				// retry runs as the first did until its store finds the
				// key taken, which rolls its writes back; then it reads
				// the stored response (a round trip of its own).
				{"CreateTodoKeyed", "POST", func() string { return "/api/todos/" }, `{"title": "keyed"}`, 201, 2, "create"},
				{"CreateTodoKeyedRetry", "POST", func() string { return "/api/todos/" }, `{"title": "keyed"}`, 201, 4, "create"},
				{"PatchTodo", "PATCH", func() string { return fmt.Sprintf("/api/todos/%d/", created) }, `{"title": "renamed"}`, 200, 2, ""},
				{"CompleteRecurringTodo", "PUT", func() string { return fmt.Sprintf("/api/todos/%d/", created) }, `{"title": "again", "completed": false, "recurrence_interval": 2}`, 200, 2, ""},
				{"DeleteTodo", "DELETE", func() string { return fmt.Sprintf("/api/todos/%d/", created) }, "", 204, 2, ""},
				// A write with references checks them first, in the
				// round trip that begins the transaction.
				{"CreateProject", "POST", func() string { return "/api/projects/" }, `{"name": "q", "description": "d"}`, 201, 2, ""},
				{"PatchProject", "PATCH", func() string { return fmt.Sprintf("/api/projects/%d/", createdProject) }, `{"name": "r"}`, 200, 2, ""},
				{"CreateTask", "POST", func() string { return "/api/tasks/" }, fmt.Sprintf(`{"project": %d, "todo": %d, "due_date": "2030-01-01"}`, projectID, seedID), 201, 3, ""},
				{"PatchTask", "PATCH", func() string { return fmt.Sprintf("/api/tasks/%d/", createdTask) }, `{"due_date": "2031-01-01"}`, 200, 2, ""},
				{"DeleteTask", "DELETE", func() string { return fmt.Sprintf("/api/tasks/%d/", createdTask) }, "", 204, 2, ""},
				{"DeleteProject", "DELETE", func() string { return fmt.Sprintf("/api/projects/%d/", createdProject) }, "", 204, 2, ""},
			}
			passes := 1
			if mode.prepared > 0 {
				passes = 3
			}
			for pass := 1; pass <= passes; pass++ {
				for _, c := range cases {
					w.reset()
					key = ""
					if c.key != "" {
						key = fmt.Sprintf("%s-%s-%d", c.key, mode.name, pass)
					}
					code, body := do(c.method, c.path(), c.body)
					trips, stmts, sqls := w.counts()
					if code != c.wantStatus {
						t.Fatalf("%s pass %d: status %d, want %d (%v)", c.name, pass, code, c.wantStatus, body)
					}
					switch c.name {
					case "CreateTodo":
						created = int64(body["id"].(float64))
					case "CreateProject":
						createdProject = int64(body["id"].(float64))
					case "CreateTask":
						createdTask = int64(body["id"].(float64))
					}
					t.Logf("%s %s pass %d: %d round trip(s), %d statement(s), %d parsed", mode.name, c.name, pass, trips, stmts, len(sqls))
					if trips > c.maxTrips || trips == 0 {
						t.Errorf("%s pass %d: %d round trips, want at most %d; statements: %q", c.name, pass, trips, c.maxTrips, sqls)
					}
					if pass == 3 && c.method == "GET" && len(sqls) != 0 {
						t.Errorf("%s pass 3: statements parsed again instead of run prepared: %q", c.name, sqls)
					}
				}
			}
		})
	}
}

// TestStatementComments turns database.statement_comments on: every
// statement of a tenant request, as it leaves the driver, starts with
// /* tenant=<schema> */.
func TestStatementComments(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "sc_a", "sc-a.localhost")
	access, _, _ := env.Register(t, "sc-a.localhost", "alice")
	w := &wireCounter{}
	h := countedRouter(t, env, true, w, datapath.StoreOptions{StatementComments: true})
	do := func(method, path, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Host = "sc-a.localhost"
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := do("GET", "/api/todos/", ""); code != 200 {
		t.Fatalf("warm-up: %d", code)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/todos/", ""}, {"POST", "/api/todos/", `{"title": "x"}`}, {"GET", "/api/projects/", ""},
	} {
		w.reset()
		if code := do(r.method, r.path, r.body); code >= 300 {
			t.Fatalf("%s %s: %d", r.method, r.path, code)
		}
		_, _, sqls := w.counts()
		if len(sqls) == 0 {
			t.Fatalf("%s %s: no statement seen", r.method, r.path)
		}
		for _, q := range sqls {
			if !strings.HasPrefix(q, "/* tenant=sc_a */ ") {
				t.Errorf("%s %s sent %q without the tenant comment", r.method, r.path, q)
			}
		}
	}
}
