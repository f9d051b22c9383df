package importer

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/importer/importertest"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/tenants"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	hostA    = "tenant1.localhost"
	hostAlt  = "www.tenant-a.example.com" // tenant A's non-primary domain
	hostB    = "tenant2.localhost"
	password = "password123"
	carolPw  = "Carol-pass-2024"
)

// fixture is a strictmt app and a django-tenants source loaded from the
// seed dump.
type fixture struct {
	env *apptest.Env
	src string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{env: apptest.New(t), src: importertest.NewSource(t)}
}

// run imports with o into the fixture's app and fails the test on a
// run-level error.
func (f *fixture) run(t *testing.T, o Options) *Report {
	t.Helper()
	o.Source = f.src
	o.PublicHosts = f.env.Config.Tenancy.PublicHosts
	rep, err := Run(context.Background(), Target{DB: f.env.App.DB, Tenants: f.env.App.Tenants}, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func result(t *testing.T, rep *Report, schema string) TenantResult {
	t.Helper()
	for _, r := range rep.Tenants {
		if r.Schema == schema {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", schema, rep.Tenants)
	return TenantResult{}
}

func wantStatus(t *testing.T, rep *Report, schema string, want Status) TenantResult {
	t.Helper()
	r := result(t, rep, schema)
	if r.Status != want {
		t.Fatalf("%s: status %q, want %q (err %v, conflicts %q)", schema, r.Status, want, r.Err, r.Conflicts)
	}
	return r
}

func (f *fixture) do(t *testing.T, method, host, path, token string, body any) apptest.Response {
	t.Helper()
	return f.env.Do(t, apptest.Request{Method: method, Host: host, Path: path, Token: token, Body: body})
}

// login returns an access token for username on host, failing unless the
// login succeeds.
func (f *fixture) login(t *testing.T, host, username, pw string) string {
	t.Helper()
	r := f.do(t, "POST", host, "/api/token/", "", map[string]string{"username": username, "password": pw})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s on %s: %d %s", username, host, r.Status, r.Raw)
	}
	return r.Body["access"].(string)
}

// list returns every result of a list endpoint, ordered by id.
func (f *fixture) list(t *testing.T, host, path, token string) []map[string]any {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	r := f.do(t, "GET", host, path+sep+"ordering=id&limit=500", token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s on %s: %d %s", path, host, r.Status, r.Raw)
	}
	var out []map[string]any
	for _, v := range r.Body["results"].([]any) {
		out = append(out, v.(map[string]any))
	}
	if int(r.Body["count"].(float64)) != len(out) {
		t.Fatalf("GET %s: count %v, %d results", path, r.Body["count"], len(out))
	}
	return out
}

// sourceRows reads the rows of one tenant schema from the source with
// queries of its own, to compare with what the API serves.
type sourceRows struct {
	todos    []map[string]any
	projects []map[string]any
	tasks    []map[string]any
}

func readSource(t *testing.T, url, schema string) sourceRows {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := func(sql string) []map[string]any {
		rows, err := conn.Query(ctx, strings.ReplaceAll(sql, "S.", pgx.Identifier{schema}.Sanitize()+"."))
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowToMap)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return sourceRows{
		todos:    q("SELECT id, title, description, completed, recurrence_interval, created_at, completion_time FROM S.todo_todo ORDER BY id"),
		projects: q("SELECT p.id, p.name, p.description, p.owner_id, u.username FROM S.project_management_project p JOIN public.auth_user u ON u.id = p.owner_id ORDER BY p.id"),
		tasks:    q("SELECT id, project_id, todo_id, assigned_user_id, to_char(due_date, 'YYYY-MM-DD') AS due_date FROM S.project_management_task ORDER BY id"),
	}
}

// num converts a source integer (or NULL) to the float64 (or nil) JSON
// decodes.
func num(v any) any {
	switch n := v.(type) {
	case nil:
		return nil
	case int32:
		return float64(n)
	case int64:
		return float64(n)
	}
	panic(fmt.Sprintf("num: %T", v))
}

// sameTime reports whether the API's RFC 3339 string (or null) is the
// source's time (or NULL), to the microsecond.
func sameTime(api any, src any) bool {
	if api == nil || src == nil {
		return api == nil && src == nil
	}
	s, ok := api.(string)
	if !ok {
		return false
	}
	got, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && got.Equal(src.(time.Time))
}

func compareTodos(t *testing.T, got []map[string]any, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d todos served, the source has %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g["id"] != num(w["id"]) || g["title"] != w["title"] || g["description"] != w["description"] ||
			g["completed"] != w["completed"] || g["recurrence_interval"] != num(w["recurrence_interval"]) ||
			!sameTime(g["created_at"], w["created_at"]) || !sameTime(g["completion_time"], w["completion_time"]) ||
			g["owner"] != nil || g["owner_name"] != nil || g["previous"] != nil || g["due_at"] != nil {
			t.Fatalf("todo %v served as %v, source row %v", w["id"], g, w)
		}
	}
}

func TestImportFixtureThroughAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rep := f.run(t, Options{})
	a := wantStatus(t, rep, "tenant_a", Imported)
	b := wantStatus(t, rep, "tenant_b", Imported)
	if a.Users != 4 || a.Todos != 43 || a.Projects != 2 || a.Tasks != 3 || b.Users != 4 || b.Todos != 1 || b.Projects != 1 || b.Tasks != 1 {
		t.Fatalf("counts: %+v %+v", a, b)
	}
	if !slices.Equal(a.Domains, []string{"tenant1.localhost", "tenant-a.example.com"}) || !slices.Equal(b.Domains, []string{"tenant2.localhost"}) {
		t.Fatalf("domains: %v %v", a.Domains, b.Domains)
	}

	ctx := context.Background()
	ta, err := f.env.App.Tenants.FindTenant(ctx, "tenant_a")
	if err != nil {
		t.Fatal(err)
	}
	if ta.Name != "Tenant A" || !ta.OnTrial || ta.PaidUntil == nil || ta.PaidUntil.String() != "2024-12-31" ||
		len(ta.Domains) != 2 || ta.Domains[0].Domain != "tenant1.localhost" || !ta.Domains[0].IsPrimary || ta.Domains[1].IsPrimary {
		t.Fatalf("tenant_a in the catalog: %+v", ta)
	}
	tb, err := f.env.App.Tenants.FindTenant(ctx, "tenant_b")
	if err != nil {
		t.Fatal(err)
	}
	if tb.Name != "Tenant B" || tb.OnTrial || tb.PaidUntil == nil || tb.PaidUntil.String() != "2030-06-30" {
		t.Fatalf("tenant_b in the catalog: %+v", tb)
	}

	// Django's PBKDF2 hashes log in at once, on each tenant's host.
	tokA := f.login(t, hostA, "testuser", password)
	tokB := f.login(t, hostB, "carol", carolPw)
	// Every user is in every tenant by default.
	f.login(t, hostA, "carol", carolPw)
	if r := f.do(t, "POST", hostA, "/api/token/", "", map[string]string{"username": "testuser", "password": "wrong"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", r.Status, r.Raw)
	}

	srcA, srcB := readSource(t, f.src, "tenant_a"), readSource(t, f.src, "tenant_b")
	compareTodos(t, f.list(t, hostA, "/api/todos/", tokA), srcA.todos)
	compareTodos(t, f.list(t, hostB, "/api/todos/", tokB), srcB.todos)

	// Anchors independent of the source queries: the non-ASCII title and
	// a completion time to the microsecond.
	r := f.do(t, "GET", hostA, "/api/todos/3/", tokA, nil)
	if r.Status != 200 || r.Body["title"] != "Ünïcødé ✓ title" || r.Body["owner"] != nil {
		t.Fatalf("todo 3: %d %s", r.Status, r.Raw)
	}
	r = f.do(t, "GET", hostA, "/api/todos/2/", tokA, nil)
	if r.Body["completion_time"] != "2026-12-01T18:02:13.870361Z" || r.Body["created_at"] != "2026-12-01T18:02:13.870759Z" {
		t.Fatalf("todo 2 times: %s", r.Raw)
	}

	for _, c := range []struct {
		host, token string
		src         sourceRows
	}{{hostA, tokA, srcA}, {hostB, tokB, srcB}} {
		projects := f.list(t, c.host, "/api/projects/", c.token)
		if len(projects) != len(c.src.projects) {
			t.Fatalf("%s: %d projects, source %d", c.host, len(projects), len(c.src.projects))
		}
		for i, w := range c.src.projects {
			g := projects[i]
			if g["id"] != num(w["id"]) || g["name"] != w["name"] || g["description"] != w["description"] ||
				g["owner"] != num(w["owner_id"]) || g["owner_name"] != w["username"] {
				t.Fatalf("%s: project %v served as %v", c.host, w, g)
			}
		}
		tasks := f.list(t, c.host, "/api/tasks/", c.token)
		if len(tasks) != len(c.src.tasks) {
			t.Fatalf("%s: %d tasks, source %d", c.host, len(tasks), len(c.src.tasks))
		}
		for i, w := range c.src.tasks {
			g := tasks[i]
			if g["id"] != num(w["id"]) || g["project"] != num(w["project_id"]) || g["todo"] != num(w["todo_id"]) ||
				g["assigned_user"] != num(w["assigned_user_id"]) || g["due_date"] != w["due_date"] {
				t.Fatalf("%s: task %v served as %v", c.host, w, g)
			}
		}
		// Analytics computed here from the source rows.
		todos := map[float64]map[string]any{}
		for _, td := range c.src.todos {
			todos[num(td["id"]).(float64)] = td
		}
		today := time.Now().UTC().Format(time.DateOnly)
		for _, p := range c.src.projects {
			var total, completed, overdue, n int
			var sum time.Duration
			for _, tk := range c.src.tasks {
				if num(tk["project_id"]) != num(p["id"]) {
					continue
				}
				total++
				td := todos[num(tk["todo_id"]).(float64)]
				if td["completed"].(bool) {
					completed++
					if ct, ok := td["completion_time"].(time.Time); ok {
						sum += ct.Sub(td["created_at"].(time.Time))
						n++
					}
				} else if tk["due_date"].(string) < today {
					overdue++
				}
			}
			r := f.do(t, "GET", c.host, fmt.Sprintf("/api/projects/%v/analytics/", p["id"]), c.token, nil)
			if r.Status != 200 || r.Body["total_tasks"] != float64(total) || r.Body["completed_tasks"] != float64(completed) ||
				r.Body["pending_tasks"] != float64(total-completed) || r.Body["overdue_tasks"] != float64(overdue) {
				t.Fatalf("%s project %v analytics: %s; want total %d completed %d overdue %d", c.host, p["id"], r.Raw, total, completed, overdue)
			}
			if n == 0 && r.Body["average_completion_seconds"] != nil {
				t.Fatalf("analytics: %s, want no average", r.Raw)
			}
			if n > 0 && r.Body["average_completion_seconds"] != (sum/time.Duration(n)).Seconds() {
				t.Fatalf("analytics: %s, want average %v", r.Raw, (sum / time.Duration(n)).Seconds())
			}
		}
	}
	// Tenant A's project 1 has a completed and an overdue task.
	if r := f.do(t, "GET", hostA, "/api/projects/1/analytics/", tokA, nil); r.Body["completed_tasks"] != 1.0 || r.Body["overdue_tasks"] != 1.0 {
		t.Fatalf("tenant_a project 1 analytics: %s", r.Raw)
	}

	t.Run("NonPrimaryDomainServesTenantA", func(t *testing.T) {
		tok := f.login(t, hostAlt, "alice", password)
		compareTodos(t, f.list(t, hostAlt, "/api/todos/", tok), srcA.todos)
		compareTodos(t, f.list(t, hostAlt, "/api/todos/", tokA), srcA.todos)
	})

	t.Run("TenantBSeesNoneOfA", func(t *testing.T) {
		for _, path := range []string{"/api/todos/2/", "/api/todos/43/", "/api/projects/2/", "/api/tasks/3/"} {
			if r := f.do(t, "GET", hostB, path, tokB, nil); r.Status != http.StatusNotFound {
				t.Fatalf("B GET %s: %d %s", path, r.Status, r.Raw)
			}
		}
		if r := f.do(t, "GET", hostB, "/api/todos/", tokA, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("A's token on B: %d %s", r.Status, r.Raw)
		}
		for _, td := range f.list(t, hostB, "/api/todos/?search=bulk", tokB) {
			t.Fatalf("B lists A's todo %v", td)
		}
	})

	t.Run("OwnerlessTodosAnyUser", func(t *testing.T) {
		tokCarol := f.login(t, hostA, "carol", carolPw)
		r := f.do(t, "PATCH", hostA, "/api/todos/5/", tokA, map[string]any{"completed": true})
		if r.Status != 200 || r.Body["completed"] != true || r.Body["owner"] != nil {
			t.Fatalf("testuser PATCH ownerless todo: %d %s", r.Status, r.Raw)
		}
		if r := f.do(t, "DELETE", hostA, "/api/todos/6/", tokCarol, nil); r.Status != http.StatusNoContent {
			t.Fatalf("carol DELETE ownerless todo: %d %s", r.Status, r.Raw)
		}
		// New rows follow the highest imported ids; an owned todo stays
		// its owner's.
		r = f.do(t, "POST", hostA, "/api/todos/", tokA, map[string]any{"title": "after import"})
		if r.Status != 201 || r.Body["id"] != 44.0 || r.Body["owner"] != 1.0 || r.Body["owner_name"] != "testuser" {
			t.Fatalf("POST todo: %d %s", r.Status, r.Raw)
		}
		if r := f.do(t, "PATCH", hostA, "/api/todos/44/", tokCarol, map[string]any{"title": "x"}); r.Status != http.StatusForbidden {
			t.Fatalf("carol PATCH testuser's todo: %d %s", r.Status, r.Raw)
		}
		if r := f.do(t, "POST", hostA, "/api/projects/", tokA, map[string]any{"name": "P3"}); r.Status != 201 || r.Body["id"] != 3.0 {
			t.Fatalf("POST project: %d %s", r.Status, r.Raw)
		}
		if r := f.do(t, "POST", hostA, "/api/tasks/", tokA, map[string]any{"project": 3, "todo": 44, "due_date": "2031-01-01"}); r.Status != 201 || r.Body["id"] != 4.0 {
			t.Fatalf("POST task: %d %s", r.Status, r.Raw)
		}
		r = f.do(t, "POST", hostA, "/api/register/", "", map[string]string{"username": "dave", "email": "dave@example.com", "password": "correct-horse-battery"})
		if r.Status != 201 || r.Body["user"].(map[string]any)["id"] != 5.0 {
			t.Fatalf("register: %d %s", r.Status, r.Raw)
		}
	})

	t.Run("RerunIsNoOp", func(t *testing.T) {
		before := f.list(t, hostA, "/api/todos/", tokA)
		rep := f.run(t, Options{})
		for _, s := range []string{"tenant_a", "tenant_b"} {
			if r := wantStatus(t, rep, s, Skipped); !strings.Contains(r.Note, "already") {
				t.Fatalf("%s: note %q", s, r.Note)
			}
		}
		if len(rep.Failed()) != 0 || rep.Rows() != 0 {
			t.Fatalf("rerun: failed %v rows %d", rep.Failed(), rep.Rows())
		}
		after := f.list(t, hostA, "/api/todos/", tokA)
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("rerun changed tenant_a's todos")
		}
	})

	t.Run("ReplaceReimportsOne", func(t *testing.T) {
		rep := f.run(t, Options{Schema: "tenant_a", Replace: true})
		if len(rep.Tenants) != 1 {
			t.Fatalf("--schema: %d tenants", len(rep.Tenants))
		}
		wantStatus(t, rep, "tenant_a", Replaced)
		tok := f.login(t, hostA, "testuser", password)
		compareTodos(t, f.list(t, hostA, "/api/todos/", tok), srcA.todos)
		// tenant_b untouched, its token still good.
		compareTodos(t, f.list(t, hostB, "/api/todos/", tokB), srcB.todos)
	})
}

// catalogState is what the tenants of the fixture left in strictmt's
// database: catalog rows, schemas and roles.
func catalogState(t *testing.T, f *fixture) string {
	t.Helper()
	var clients, domains, schemas, roles int64
	db := f.env.App.DB
	var dbName string
	if err := db.Raw("SELECT current_database()").Scan(&dbName).Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		n   *int64
		sql string
		arg []any
	}{
		{&clients, "SELECT count(*) FROM public.clients", nil},
		{&domains, "SELECT count(*) FROM public.domains", nil},
		{&schemas, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('tenant_a', 'tenant_b')", nil},
		{&roles, "SELECT count(*) FROM pg_roles WHERE rolname IN (?, ?)", []any{tenants.RoleName(dbName, "tenant_a"), tenants.RoleName(dbName, "tenant_b")}},
	} {
		if err := db.Raw(q.sql, q.arg...).Scan(q.n).Error; err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("clients=%d domains=%d schemas=%d roles=%d", clients, domains, schemas, roles)
}

func TestImportDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	before := catalogState(t, f)
	rep := f.run(t, Options{DryRun: true})
	wantStatus(t, rep, "tenant_a", WouldImport)
	wantStatus(t, rep, "tenant_b", WouldImport)
	if rep.Rows() != 4+43+2+3+4+1+1+1 {
		t.Fatalf("dry run rows %d", rep.Rows())
	}
	if after := catalogState(t, f); after != before || before != "clients=0 domains=0 schemas=0 roles=0" {
		t.Fatalf("dry run wrote: before %s, after %s", before, after)
	}
	// The real run afterwards imports both.
	rep = f.run(t, Options{})
	wantStatus(t, rep, "tenant_a", Imported)
	wantStatus(t, rep, "tenant_b", Imported)
	rep = f.run(t, Options{DryRun: true})
	wantStatus(t, rep, "tenant_a", WouldSkip)
}

func TestImportDomainConflictFailsThatTenantOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.env.CreateTenant(t, "other", hostB) // tenant_b's domain is taken
	for _, dry := range []bool{true, false} {
		rep := f.run(t, Options{DryRun: dry})
		r := wantStatus(t, rep, "tenant_b", Failed)
		if len(r.Conflicts) != 1 || !strings.Contains(r.Conflicts[0], `domain "tenant2.localhost" is already used in strictmt by tenant other`) {
			t.Fatalf("dry %v: conflicts %q", dry, r.Conflicts)
		}
		if !slices.Equal(rep.Failed(), []string{"tenant_b"}) {
			t.Fatalf("dry %v: failed %v", dry, rep.Failed())
		}
		if dry {
			wantStatus(t, rep, "tenant_a", WouldImport)
		} else {
			wantStatus(t, rep, "tenant_a", Imported)
		}
	}
	if _, err := f.env.App.Tenants.FindTenant(context.Background(), "tenant_b"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Fatalf("tenant_b after its failure: %v", err)
	}
	if s := catalogState(t, f); s != "clients=2 domains=3 schemas=1 roles=1" {
		t.Fatalf("state: %s", s)
	}
	f.login(t, hostA, "testuser", password)
	// "other" still owns the domain.
	if r := f.do(t, "POST", hostB, "/api/token/", "", map[string]string{"username": "carol", "password": carolPw}); r.Status != http.StatusUnauthorized {
		t.Fatalf("carol on the other tenant's host: %d %s", r.Status, r.Raw)
	}
}

func TestImportFailureMidTenantLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, table := range []string{"users", "todos", "tasks"} {
		t.Run("After_"+table, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			// A spare schema claimed by the failed creation stays a spare.
			if _, err := f.env.App.Tenants.FillSpares(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			rep := f.run(t, Options{failAfter: table})
			for _, s := range []string{"tenant_a", "tenant_b"} {
				if r := wantStatus(t, rep, s, Failed); !strings.Contains(r.Err.Error(), "injected failure after copying "+table) {
					t.Fatalf("%s: %v", s, r.Err)
				}
			}
			if s := catalogState(t, f); s != "clients=0 domains=0 schemas=0 roles=0" {
				t.Fatalf("a failed import left %s", s)
			}
			var spares int64
			if err := f.env.App.DB.Raw("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'strictmt-spare-%'").Scan(&spares).Error; err != nil || spares != 1 {
				t.Fatalf("spares after the failure: %d %v", spares, err)
			}
			if r := f.do(t, "POST", hostA, "/api/token/", "", map[string]string{"username": "testuser", "password": password}); r.Status != http.StatusNotFound {
				t.Fatalf("tenant1.localhost after the failure: %d %s", r.Status, r.Raw)
			}
			// Nothing half-done blocks the next run, which claims the
			// spare (built by every migration, 00004 with its ownerless
			// todos included) for one of the tenants.
			rep = f.run(t, Options{})
			wantStatus(t, rep, "tenant_a", Imported)
			wantStatus(t, rep, "tenant_b", Imported)
			if err := f.env.App.DB.Raw("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'strictmt-spare-%'").Scan(&spares).Error; err != nil || spares != 0 {
				t.Fatalf("spares after the import: %d %v", spares, err)
			}
		})
	}
}

func TestImportUsersReferenced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rep := f.run(t, Options{Users: UsersReferenced})
	// tenant_a's rows reference testuser, alice (project owners) and bob
	// (a task); tenant_b's only carol.
	if a := wantStatus(t, rep, "tenant_a", Imported); a.Users != 3 {
		t.Fatalf("tenant_a users: %d", a.Users)
	}
	if b := wantStatus(t, rep, "tenant_b", Imported); b.Users != 1 {
		t.Fatalf("tenant_b users: %d", b.Users)
	}
	for _, u := range []string{"testuser", "alice", "bob"} {
		f.login(t, hostA, u, password)
	}
	f.login(t, hostB, "carol", carolPw)
	for _, c := range []struct{ host, user, pw string }{{hostA, "carol", carolPw}, {hostB, "testuser", password}} {
		if r := f.do(t, "POST", c.host, "/api/token/", "", map[string]string{"username": c.user, "password": c.pw}); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s on %s: %d %s", c.user, c.host, r.Status, r.Raw)
		}
	}
}

func TestImportRenamedTables(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	importertest.Load(t, f.src, []byte(`ALTER TABLE tenant_a.todo_todo RENAME TO todos_item;
		ALTER TABLE tenant_b.todo_todo RENAME TO todos_item;
		ALTER TABLE public.tenants_client RENAME TO customers_customer;`))

	if _, err := Run(context.Background(), Target{DB: f.env.App.DB, Tenants: f.env.App.Tenants}, Options{Source: f.src}); err == nil ||
		!strings.Contains(err.Error(), "tenants_client") {
		t.Fatalf("without --client-table: %v", err)
	}
	rep := f.run(t, Options{Tables: Tables{Client: "customers_customer"}})
	for _, s := range []string{"tenant_a", "tenant_b"} {
		if r := wantStatus(t, rep, s, Failed); !strings.Contains(r.Err.Error(), "todo_todo") {
			t.Fatalf("%s without --todo-table: %v", s, r.Err)
		}
	}
	if s := catalogState(t, f); s != "clients=0 domains=0 schemas=0 roles=0" {
		t.Fatalf("state after failed run: %s", s)
	}
	rep = f.run(t, Options{Tables: Tables{Client: "public.customers_customer", Todo: "todos_item"}})
	wantStatus(t, rep, "tenant_a", Imported)
	wantStatus(t, rep, "tenant_b", Imported)
	tok := f.login(t, hostA, "testuser", password)
	if n := len(f.list(t, hostA, "/api/todos/", tok)); n != 43 {
		t.Fatalf("%d todos", n)
	}
}

func TestImportRefusedRows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	importertest.Load(t, f.src, []byte(`UPDATE tenant_a.todo_todo SET title = '  ' WHERE id = 7;
		UPDATE tenant_a.todo_todo SET recurrence_interval = 0 WHERE id = 8;
		INSERT INTO public.auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
			VALUES ('!unusable', false, 'TestUser', '', '', '', false, true, now());
		INSERT INTO public.tenants_client (name, paid_until, on_trial, schema_name) VALUES ('Bad', '2030-01-01', false, 'Bad-Name');`))
	rep := f.run(t, Options{DryRun: true})
	a := wantStatus(t, rep, "tenant_a", Failed)
	want := []string{"todo 7: the title is blank", "todo 8: recurrence_interval 0 is under 1", `username "TestUser" is user 1's but for case`}
	for _, w := range want {
		if !slices.ContainsFunc(a.Conflicts, func(c string) bool { return strings.Contains(c, w) }) {
			t.Fatalf("conflicts %q lack %q", a.Conflicts, w)
		}
	}
	if r := wantStatus(t, rep, "Bad-Name", Failed); len(r.Conflicts) != 1 || !strings.Contains(r.Conflicts[0], "refused by strictmt") {
		t.Fatalf("Bad-Name: %q", r.Conflicts)
	}
	if s := catalogState(t, f); s != "clients=0 domains=0 schemas=0 roles=0" {
		t.Fatalf("dry run wrote %s", s)
	}
}

func TestImportUnusablePasswordStaysUnusable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	importertest.Load(t, f.src, []byte(`UPDATE public.auth_user SET password = '!' || password WHERE username = 'bob';
		UPDATE public.auth_user SET is_active = false WHERE username = 'alice';`))
	rep := f.run(t, Options{Schema: "tenant_b"})
	wantStatus(t, rep, "tenant_b", Imported)
	for _, u := range []string{"bob", "alice"} {
		if r := f.do(t, "POST", hostB, "/api/token/", "", map[string]string{"username": u, "password": password}); r.Status != http.StatusUnauthorized {
			t.Fatalf("%s: %d %s", u, r.Status, r.Raw)
		}
	}
	var joined time.Time
	var active bool
	if err := f.env.App.DB.Raw(`SELECT date_joined, is_active FROM tenant_b.users WHERE username = 'alice'`).Row().Scan(&joined, &active); err != nil {
		t.Fatal(err)
	}
	if active || !joined.Equal(time.Date(2026, 12, 1, 18, 2, 12, 447682000, time.UTC)) {
		t.Fatalf("alice: active %v joined %v", active, joined)
	}
}

// TestImportReadsSourceOnly imports through a source role that may only
// read: SELECT on the tables, nothing else.
func TestImportReadsSourceOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.src)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	role := db + "_reader" // databases are unique per test, and so is this role
	q := pgx.Identifier{role}.Sanitize()
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP OWNED BY "+q+"; DROP ROLE IF EXISTS "+q)
	})
	if _, err := conn.Exec(ctx, "CREATE ROLE "+q+" LOGIN; "+
		"GRANT USAGE ON SCHEMA public, tenant_a, tenant_b TO "+q+"; "+
		"GRANT SELECT ON ALL TABLES IN SCHEMA public, tenant_a, tenant_b TO "+q); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(f.src)
	if err != nil {
		t.Fatal(err)
	}
	u := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, db)
	rep, err := Run(ctx, Target{DB: f.env.App.DB, Tenants: f.env.App.Tenants}, Options{Source: u, PublicHosts: f.env.Config.Tenancy.PublicHosts})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rep, "tenant_a", Imported)
	wantStatus(t, rep, "tenant_b", Imported)
	f.login(t, hostB, "carol", carolPw)
}
