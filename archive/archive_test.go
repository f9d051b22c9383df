package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strictmt/strictmt/archive"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/gorm"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The seed README's payloads, exactly as written there: the contract.
const (
	seedRegister = `{"username": "testuser", "email": "testuser@example.com", "password": "password123"}`
	seedLogin    = `{"username": "testuser", "password": "password123"}`
	seedTodo     = `{"title": "Sample Todo", "description": "Description of the todo", "completed": false, "recurrence_interval": 5, "completion_time": "2024-11-15T15:05:00Z"}`
	seedProject  = `{"name": "Sample Project", "description": "Project description", "owner": 1}`
	seedTask     = `{"project": 1, "todo": 1, "assigned_user": 1, "due_date": "2024-11-20"}`
)

// tenantTables are the tables of a tenant at the latest migration.
var tenantTables = []string{"users", "todos", "projects", "tasks", "outstanding_tokens", "idempotency_keys"}

// session is a user's tokens on a tenant's host.
type session struct{ access, refresh string }

// seed replays the seed README on host: the four payloads, byte for
// byte; testuser is user 1 and owns todo, project and task 1.
func seed(t *testing.T, env *apptest.Env, host string) session {
	t.Helper()
	r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/register/", Body: seedRegister})
	if r.Status != http.StatusCreated {
		t.Fatalf("register on %s: %d %s", host, r.Status, r.Raw)
	}
	s := session{access: r.Body["access"].(string), refresh: r.Body["refresh"].(string)}
	postSeedRows(t, env, host, s.access, 1, 1, 1)
	return s
}

// postSeedRows sends the seed README's todo, project and task, in that
// order, on host with token, and fails unless each is created with the
// id given for it.
func postSeedRows(t *testing.T, env *apptest.Env, host, token string, todo, project, task float64) {
	t.Helper()
	for _, p := range []struct {
		path, body string
		id         float64
	}{{"/api/todos/", seedTodo, todo}, {"/api/projects/", seedProject, project}, {"/api/tasks/", seedTask, task}} {
		if r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: p.path, Token: token, Body: p.body}); r.Status != http.StatusCreated || r.Body["id"] != p.id {
			t.Fatalf("POST %s on %s: %d %s, want id %v", p.path, host, r.Status, r.Raw, p.id)
		}
	}
}

// fill adds to schema, seeded, users up to users (their password that of
// user 1), todos, projects and tasks up to the numbers given, with
// NULLs, ownerless todos, chained todos and text COPY must carry as is.
func fill(t *testing.T, db *gorm.DB, schema string, users, todos, projects, tasks int) {
	t.Helper()
	q := `"` + schema + `".`
	for _, s := range []string{
		fmt.Sprintf(`INSERT INTO %susers (username, email, password_hash, is_active, date_joined)
			SELECT 'user' || g, 'user' || g || '@example.com', (SELECT password_hash FROM %susers WHERE id = 1), g %% 7 <> 0, now() - g * interval '1 day'
			FROM generate_series(2, %d) g`, q, q, users),
		fmt.Sprintf(`INSERT INTO %stodos (title, description, completed, recurrence_interval, created_at, completion_time, due_at, owner_id)
			SELECT 'tâche ' || g || E' \t\\ ✓', repeat('d', g %% 40), g %% 3 = 0, nullif(g %% 7, 0), now() - g * interval '1 minute',
			       CASE WHEN g %% 3 = 0 THEN now() - g * interval '1 second' END, CASE WHEN g %% 5 = 0 THEN now() + g * interval '1 hour' END,
			       CASE WHEN g %% 10 = 0 THEN NULL ELSE 1 + g %% %d END
			FROM generate_series(2, %d) g`, q, users, todos),
		fmt.Sprintf(`UPDATE %stodos SET previous_id = id - 1 WHERE id %% 100 = 0`, q),
		fmt.Sprintf(`INSERT INTO %sprojects (name, description, owner_id, created_at)
			SELECT 'project ' || g, repeat('p', g %% 30), 1 + g %% %d, now() - g * interval '1 hour' FROM generate_series(2, %d) g`, q, users, projects),
		fmt.Sprintf(`INSERT INTO %stasks (project_id, todo_id, assigned_user_id, due_date)
			SELECT 1 + g %% %d, 1 + (g * 7) %% %d, CASE WHEN g %% 5 = 0 THEN NULL ELSE 1 + g %% %d END, date '2025-01-01' + g %% 400
			FROM generate_series(2, %d) g`, q, projects, todos, users, tasks),
	} {
		if err := db.Exec(s).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// seeded starts the app on the shipped configuration with the tenant
// schema on host, seeded by the README's payloads (see seed) and filled
// (see fill) to the given sizes.
func seeded(t *testing.T, schema, host string, users, todos, projects, tasks int) (*apptest.Env, session) {
	t.Helper()
	env := apptest.Start(t, apptest.ShippedConfig(t))
	env.CreateTenant(t, schema, host)
	s := seed(t, env, host)
	fill(t, env.App.DirectDB, schema, users, todos, projects, tasks)
	return env, s
}

// asRole runs query on db as role, in a transaction.
func asRole(db *gorm.DB, role, query string) error {
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`SET LOCAL ROLE "` + role + `"`).Error; err != nil {
			return err
		}
		return tx.Exec(query).Error
	})
}

// export returns the archive of schema.
func export(t *testing.T, env *apptest.Env, schema string) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := env.App.Archives.Export(context.Background(), schema, func(*archive.Manifest) (io.Writer, error) { return &buf, nil }, archive.ExportOptions{})
	if err != nil {
		t.Fatalf("export %s: %v", schema, err)
	}
	return buf.Bytes()
}

// sameRows fails unless every table holds the same rows, row by row, in
// schemas a and b.
func sameRows(t *testing.T, db *gorm.DB, a, b string, tables []string) {
	t.Helper()
	for _, table := range tables {
		var n, missing, extra int64
		if err := db.Raw(fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]q.%[3]q),
			(SELECT count(*) FROM (SELECT * FROM %[1]q.%[3]q EXCEPT ALL SELECT * FROM %[2]q.%[3]q) x),
			(SELECT count(*) FROM (SELECT * FROM %[2]q.%[3]q EXCEPT ALL SELECT * FROM %[1]q.%[3]q) y)`, a, b, table)).Row().Scan(&n, &missing, &extra); err != nil {
			t.Fatal(err)
		}
		if missing != 0 || extra != 0 {
			t.Errorf("%s: %d rows in %s, %d of them not in %s, %d rows only in %s", table, n, a, missing, b, extra, b)
		}
	}
}

// footprint is what a database holds of tenants: catalog rows, domains,
// schemas, and the roles of the tenants of schemas (roles are shared by
// every database of the server, whose other tests make their own).
type footprint struct{ clients, domains, schemas, roles int64 }

func footprintOf(t *testing.T, db *gorm.DB, schemas ...string) footprint {
	t.Helper()
	var dbName string
	if err := db.Raw(`SELECT current_database()`).Scan(&dbName).Error; err != nil {
		t.Fatal(err)
	}
	roles := make([]string, len(schemas))
	for i, s := range schemas {
		roles[i] = tenants.RoleName(dbName, s)
	}
	var f footprint
	if err := db.Raw(`SELECT (SELECT count(*) FROM public.clients), (SELECT count(*) FROM public.domains),
		(SELECT count(*) FROM pg_namespace), (SELECT count(*) FROM pg_roles WHERE rolname IN ?)`, roles).Row().Scan(&f.clients, &f.domains, &f.schemas, &f.roles); err != nil {
		t.Fatal(err)
	}
	return f
}

func login(t *testing.T, env *apptest.Env, host, body string) apptest.Response {
	t.Helper()
	return env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/token/", Body: body})
}

// TestRoundTrip exports a tenant of 100,000 todos, 1,000 projects, 10,000
// tasks and 50 users and restores it under another schema name: every
// row equal, the old passwords log in, the old tenant's tokens are
// refused, a logout stays a logout, and the seed flow goes on from the
// highest ids.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	env, s := seeded(t, "trip_a", "trip-a.localhost", 50, 100000, 1000, 10000)
	ctx := context.Background()
	db := env.App.DirectDB
	// A second session, logged out: its refresh token is blacklisted.
	r := login(t, env, "trip-a.localhost", seedLogin)
	out := r.Body["refresh"].(string)
	if r := env.Do(t, apptest.Request{Method: "POST", Host: "trip-a.localhost", Path: "/api/token/blacklist/", Body: fmt.Sprintf(`{"refresh": %q}`, out)}); r.Status != 200 {
		t.Fatalf("logout: %d %s", r.Status, r.Raw)
	}

	data := export(t, env, "trip_a")
	res, err := env.App.Archives.Restore(ctx, bytes.NewReader(data), archive.RestoreParams{Schema: "trip_b", Domains: []string{"trip-b.localhost"}, Name: "Trip B"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tenant.SchemaName != "trip_b" || res.Tenant.Name != "Trip B" || len(res.Tenant.Domains) != 1 || res.Tenant.Domains[0].Domain != "trip-b.localhost" {
		t.Fatalf("restored tenant: %+v", res.Tenant)
	}
	want := map[string]int64{"users": 50, "todos": 100000, "projects": 1000, "tasks": 10000, "outstanding_tokens": 2}
	for _, tr := range res.Tables {
		if want[tr.Name] != tr.Rows {
			t.Errorf("restored %s: %d rows, want %d", tr.Name, tr.Rows, want[tr.Name])
		}
	}
	sameRows(t, db, "trip_a", "trip_b", tenantTables)

	t.Run("OldPasswordsLogIn", func(t *testing.T) {
		if r := login(t, env, "trip-b.localhost", seedLogin); r.Status != 200 {
			t.Fatalf("testuser: %d %s", r.Status, r.Raw)
		}
		if r := login(t, env, "trip-b.localhost", `{"username": "user2", "password": "password123"}`); r.Status != 200 {
			t.Fatalf("user2: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrTokensOfAOnB", func(t *testing.T) {
		if r := env.Do(t, apptest.Request{Method: "GET", Host: "trip-b.localhost", Path: "/api/todos/", Token: s.access}); r.Status != 401 {
			t.Fatalf("A's access token on B: %d %s", r.Status, r.Raw)
		}
		for _, refresh := range []string{s.refresh, out} {
			if r := env.Do(t, apptest.Request{Method: "POST", Host: "trip-b.localhost", Path: "/api/token/refresh/", Body: fmt.Sprintf(`{"refresh": %q}`, refresh)}); r.Status != 401 {
				t.Fatalf("A's refresh token on B: %d %s", r.Status, r.Raw)
			}
		}
		// A itself still takes them, but for the logged-out one.
		if r := env.Do(t, apptest.Request{Method: "GET", Host: "trip-a.localhost", Path: "/api/todos/1/", Token: s.access}); r.Status != 200 {
			t.Fatalf("A's token on A: %d %s", r.Status, r.Raw)
		}
		var blacklisted int64
		if err := db.Raw(`SELECT count(*) FROM trip_b.outstanding_tokens WHERE blacklisted_at IS NOT NULL`).Scan(&blacklisted).Error; err != nil || blacklisted != 1 {
			t.Fatalf("blacklisted tokens on B: %d %v", blacklisted, err)
		}
	})
	t.Run("SeedFlowGoesOn", func(t *testing.T) {
		r := login(t, env, "trip-b.localhost", seedLogin)
		postSeedRows(t, env, "trip-b.localhost", r.Body["access"].(string), 100001, 1001, 10001)
		if r := env.Do(t, apptest.Request{Method: "POST", Host: "trip-b.localhost", Path: "/api/register/", Body: `{"username": "newbie", "email": "n@example.com", "password": "correct-horse-battery"}`}); r.Status != 201 || r.Body["user"].(map[string]any)["id"] != 51.0 {
			t.Fatalf("register on B: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("OnlyBsRoleReadsB", func(t *testing.T) {
		a, err := env.App.Tenants.FindTenant(ctx, "trip_a")
		if err != nil {
			t.Fatal(err)
		}
		if err := asRole(db, a.RoleName, `SELECT 1 FROM trip_b.todos LIMIT 1`); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("A's role reading B's todos: %v", err)
		}
		if err := asRole(db, res.Tenant.RoleName, `SELECT 1 FROM trip_b.todos LIMIT 1`); err != nil {
			t.Fatalf("B's role reading B's todos: %v", err)
		}
	})
}

// writers runs n clients writing to host until stop is closed: each
// creates a todo and a task in project 1 on it, and deletes the todo it
// made two rounds before (its tasks go with it). It returns the wait for
// them and the number of rounds they finished.
func writers(t *testing.T, env *apptest.Env, host, token string, n int, stop <-chan struct{}) (wait func() int64) {
	t.Helper()
	var wg sync.WaitGroup
	var rounds atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/todos/", Token: token, Body: map[string]any{"title": "written during the copy"}})
				if r.Status != 201 {
					t.Errorf("POST todo: %d %s", r.Status, r.Raw)
					return
				}
				id := r.Body["id"].(float64)
				if r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/tasks/", Token: token, Body: map[string]any{"project": 1, "todo": id, "due_date": "2030-01-01"}}); r.Status != 201 {
					t.Errorf("POST task: %d %s", r.Status, r.Raw)
					return
				}
				mine = append(mine, id)
				if len(mine) > 2 {
					if r := env.Do(t, apptest.Request{Method: "DELETE", Host: host, Path: fmt.Sprintf("/api/todos/%d/", int64(mine[0])), Token: token}); r.Status != 204 {
						t.Errorf("DELETE todo: %d %s", r.Status, r.Raw)
						return
					}
					mine = mine[1:]
				}
				rounds.Add(1)
			}
		}()
	}
	return func() int64 { wg.Wait(); return rounds.Load() }
}

// consistent fails unless every task of schema has its project and its
// todo, and every todo's previous todo and owner exist.
func consistent(t *testing.T, db *gorm.DB, schema string) {
	t.Helper()
	var orphans int64
	q := fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]q.tasks k WHERE NOT EXISTS (SELECT 1 FROM %[1]q.projects p WHERE p.id = k.project_id)
		OR NOT EXISTS (SELECT 1 FROM %[1]q.todos d WHERE d.id = k.todo_id))
		+ (SELECT count(*) FROM %[1]q.todos d WHERE d.owner_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %[1]q.users u WHERE u.id = d.owner_id))`, schema)
	if err := db.Raw(q).Scan(&orphans).Error; err != nil || orphans != 0 {
		t.Fatalf("%s: %d rows without what they reference (%v)", schema, orphans, err)
	}
}

// TestCopiesWhileWriting exports and clones a tenant while 8 clients
// write to it: each archive and each clone is one snapshot, every task
// with its project and todo.
func TestCopiesWhileWriting(t *testing.T) {
	t.Parallel()
	env, s := seeded(t, "busy_a", "busy-a.localhost", 20, 30000, 100, 3000)
	ctx := context.Background()
	db := env.App.DirectDB

	stop := make(chan struct{})
	wait := writers(t, env, "busy-a.localhost", s.access, 8, stop)
	var archives [][]byte
	var clones []string
	for i := range 3 {
		archives = append(archives, export(t, env, "busy_a"))
		schema := fmt.Sprintf("busy_clone%d", i)
		if _, err := env.App.Archives.Clone(ctx, archive.CloneParams{Source: "busy_a", Schema: schema, Domains: []string{fmt.Sprintf("busy-clone%d.localhost", i)}}); err != nil {
			t.Fatal(err)
		}
		clones = append(clones, schema)
	}
	close(stop)
	if rounds := wait(); rounds == 0 {
		t.Fatal("no write happened during the copies")
	}
	for i, b := range archives {
		schema := fmt.Sprintf("busy_copy%d", i)
		if _, err := env.App.Archives.Restore(ctx, bytes.NewReader(b), archive.RestoreParams{Schema: schema, Domains: []string{fmt.Sprintf("busy-copy%d.localhost", i)}}); err != nil {
			t.Fatalf("restoring archive %d: %v", i, err)
		}
		consistent(t, db, schema)
	}
	for _, schema := range clones {
		consistent(t, db, schema)
	}
}

// TestCloneWithAndWithoutUsers clones a tenant with its users (logins and
// rows as they were) and without (rows kept, ownerless), and the seed
// flow goes on in both.
func TestCloneWithAndWithoutUsers(t *testing.T) {
	t.Parallel()
	env, s := seeded(t, "orig", "orig.localhost", 10, 5000, 50, 500)
	ctx := context.Background()
	db := env.App.DirectDB

	c, err := env.App.Archives.Clone(ctx, archive.CloneParams{Source: "orig", Schema: "orig_copy", Domains: []string{"orig-copy.localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant.Name != "Tenant orig" || len(c.Tables) != 4 {
		t.Fatalf("clone: %+v %+v", c.Tenant, c.Tables)
	}
	sameRows(t, db, "orig", "orig_copy", []string{"users", "todos", "projects", "tasks"})
	if r := login(t, env, "orig-copy.localhost", seedLogin); r.Status != 200 {
		t.Fatalf("login on the clone: %d %s", r.Status, r.Raw)
	}
	if r := env.Do(t, apptest.Request{Method: "GET", Host: "orig-copy.localhost", Path: "/api/todos/", Token: s.access}); r.Status != 401 {
		t.Fatalf("the source's token on the clone: %d %s", r.Status, r.Raw)
	}
	var tokens int64
	if err := db.Raw(`SELECT count(*) FROM orig_copy.outstanding_tokens`).Scan(&tokens).Error; err != nil || tokens != 1 {
		t.Fatalf("tokens on the clone: %d %v (its own login only)", tokens, err)
	}

	bare, err := env.App.Archives.Clone(ctx, archive.CloneParams{Source: "orig", Schema: "orig_bare", Name: "Bare", Domains: []string{"orig-bare.localhost"}, WithoutUsers: true})
	if err != nil {
		t.Fatal(err)
	}
	if bare.Tenant.Name != "Bare" {
		t.Fatalf("clone name: %q", bare.Tenant.Name)
	}
	var users, owned, assigned, todos, projects, tasks int64
	if err := db.Raw(`SELECT (SELECT count(*) FROM orig_bare.users), (SELECT count(*) FROM orig_bare.todos WHERE owner_id IS NOT NULL) + (SELECT count(*) FROM orig_bare.projects WHERE owner_id IS NOT NULL),
		(SELECT count(*) FROM orig_bare.tasks WHERE assigned_user_id IS NOT NULL), (SELECT count(*) FROM orig_bare.todos), (SELECT count(*) FROM orig_bare.projects), (SELECT count(*) FROM orig_bare.tasks)`).Row().Scan(&users, &owned, &assigned, &todos, &projects, &tasks); err != nil {
		t.Fatal(err)
	}
	if users != 0 || owned != 0 || assigned != 0 || todos != 5000 || projects != 50 || tasks != 500 {
		t.Fatalf("without users: %d users, %d owned, %d assigned; %d todos, %d projects, %d tasks", users, owned, assigned, todos, projects, tasks)
	}
	var differ int64
	if err := db.Raw(`SELECT count(*) FROM (SELECT id, title, description, completed, recurrence_interval, created_at, completion_time, due_at, previous_id FROM orig.todos
		EXCEPT ALL SELECT id, title, description, completed, recurrence_interval, created_at, completion_time, due_at, previous_id FROM orig_bare.todos) x`).Scan(&differ).Error; err != nil || differ != 0 {
		t.Fatalf("todos without users differ: %d %v", differ, err)
	}
	// The seed flow, from sign-up, on the clone without users.
	r := env.Do(t, apptest.Request{Method: "POST", Host: "orig-bare.localhost", Path: "/api/register/", Body: seedRegister})
	if r.Status != 201 || r.Body["user"].(map[string]any)["id"] != 1.0 {
		t.Fatalf("register on the bare clone: %d %s", r.Status, r.Raw)
	}
	tok := r.Body["access"].(string)
	postSeedRows(t, env, "orig-bare.localhost", tok, 5001, 51, 501)
	if r := env.Do(t, apptest.Request{Method: "GET", Host: "orig-bare.localhost", Path: "/api/projects/2/", Token: tok}); r.Status != 200 || r.Body["owner"] != nil || r.Body["owner_name"] != nil {
		t.Fatalf("an ownerless project of the bare clone: %d %s", r.Status, r.Raw)
	}
}

// TestExportHoldsOnlyItsTenant exports one of two tenants whose rows have
// interleaved ids: the archive holds none of the other's rows, and its
// restore only the exported tenant's.
func TestExportHoldsOnlyItsTenant(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	db := env.App.DirectDB
	for _, s := range []struct{ schema, mark string }{{"inter_a", "alpha"}, {"inter_b", "SECRET-of-b"}} {
		env.CreateTenant(t, s.schema, strings.ReplaceAll(s.schema, "_", "-")+".localhost")
		odd := 1
		if s.schema == "inter_b" {
			odd = 0
		}
		for _, q := range []string{
			fmt.Sprintf(`INSERT INTO %q.users (id, username, email, password_hash) SELECT g, '%s-user' || g, '%s@example.com', 'x' FROM generate_series(1, 40) g WHERE g %% 2 = %d`, s.schema, s.mark, s.mark, odd),
			fmt.Sprintf(`INSERT INTO %q.todos (id, title, owner_id) SELECT g, '%s-todo-' || g, (SELECT min(id) FROM %q.users) FROM generate_series(1, 400) g WHERE g %% 2 = %d`, s.schema, s.mark, s.schema, odd),
			fmt.Sprintf(`INSERT INTO %q.projects (id, name, owner_id) SELECT g, '%s-project-' || g, (SELECT min(id) FROM %q.users) FROM generate_series(1, 40) g WHERE g %% 2 = %d`, s.schema, s.mark, s.schema, odd),
		} {
			if err := db.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	b := export(t, env, "inter_a")
	for _, e := range unpack(t, b) {
		if bytes.Contains(e.data, []byte("SECRET-of-b")) {
			t.Fatalf("%s holds a row of inter_b", e.name)
		}
	}
	if _, err := env.App.Archives.Restore(ctx, bytes.NewReader(b), archive.RestoreParams{Schema: "inter_c", Domains: []string{"inter-c.localhost"}}); err != nil {
		t.Fatal(err)
	}
	sameRows(t, db, "inter_a", "inter_c", tenantTables)
	var foreign int64
	if err := db.Raw(`SELECT (SELECT count(*) FROM inter_c.todos WHERE title LIKE 'SECRET%' OR id % 2 = 0) + (SELECT count(*) FROM inter_c.users WHERE id % 2 = 0)`).Scan(&foreign).Error; err != nil || foreign != 0 {
		t.Fatalf("rows of inter_b in the restore: %d %v", foreign, err)
	}
}

// TestRestoreOlderVersion restores the archive of a tenant at tenant
// migration version 6 (its refresh tokens' blacklist a table of its own,
// project owners required): the rows load at that version and the later
// migrations run after them, in the same transaction.
func TestRestoreOlderVersion(t *testing.T) {
	t.Parallel()
	env, s := seeded(t, "old_a", "old-a.localhost", 5, 200, 5, 20)
	ctx := context.Background()
	db := env.App.DirectDB
	if r := env.Do(t, apptest.Request{Method: "POST", Host: "old-a.localhost", Path: "/api/token/blacklist/", Body: fmt.Sprintf(`{"refresh": %q}`, s.refresh)}); r.Status != 200 {
		t.Fatalf("logout: %d %s", r.Status, r.Raw)
	}
	// Back to version 6 by hand: undo 00009, 00008 and 00007.
	for _, q := range []string{
		`DROP TABLE old_a.idempotency_keys`,
		`ALTER TABLE old_a.projects ALTER COLUMN owner_id SET NOT NULL`,
		`CREATE TABLE old_a.blacklisted_tokens (
			id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
			token_id bigint NOT NULL UNIQUE REFERENCES old_a.outstanding_tokens (id) ON DELETE CASCADE,
			blacklisted_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO old_a.blacklisted_tokens (token_id, blacklisted_at) SELECT id, blacklisted_at FROM old_a.outstanding_tokens WHERE blacklisted_at IS NOT NULL`,
		`ALTER TABLE old_a.outstanding_tokens DROP COLUMN blacklisted_at`,
		`DELETE FROM old_a.goose_db_version WHERE version_id > 6`,
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	var blacklisted string
	if err := db.Raw(`SELECT b.blacklisted_at::text FROM old_a.blacklisted_tokens b`).Scan(&blacklisted).Error; err != nil || blacklisted == "" {
		t.Fatalf("the blacklist at version 6: %q %v", blacklisted, err)
	}
	b := export(t, env, "old_a")
	var m archive.Manifest
	if err := json.Unmarshal(unpack(t, b)[0].data, &m); err != nil || m.MigrationVersion != 6 || len(m.Tables) != 6 {
		t.Fatalf("manifest: version %d, %d tables (%v)", m.MigrationVersion, len(m.Tables), err)
	}
	res, err := env.App.Archives.Restore(ctx, bytes.NewReader(b), archive.RestoreParams{Schema: "old_b", Domains: []string{"old-b.localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 6 {
		t.Fatalf("restored from version %d", res.Version)
	}
	sameRows(t, db, "old_a", "old_b", []string{"users", "todos", "projects", "tasks"})
	var moved, latest, left int64
	ms, err := tenants.TenantMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Raw(`SELECT (SELECT count(*) FROM old_b.outstanding_tokens WHERE blacklisted_at::text = ?),
		(SELECT max(version_id) FROM old_b.goose_db_version WHERE is_applied),
		(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'old_b' AND c.relname = 'blacklisted_tokens')`, blacklisted).Row().Scan(&moved, &latest, &left); err != nil {
		t.Fatal(err)
	}
	if moved != 1 || latest != ms[len(ms)-1].Version || left != 0 {
		t.Fatalf("after the restore: %d blacklisted tokens moved, version %d, blacklisted_tokens tables %d", moved, latest, left)
	}
	if r := login(t, env, "old-b.localhost", seedLogin); r.Status != 200 {
		t.Fatalf("login on the restored tenant: %d %s", r.Status, r.Raw)
	}
	// The restored tenant's role has what the later migrations made.
	if err := asRole(db, res.Tenant.RoleName, `SELECT blacklisted_at FROM old_b.outstanding_tokens LIMIT 1`); err != nil {
		t.Fatal(err)
	}
}

// TestMoveBetweenDeployments restores a tenant's archive into another
// strictmt database under its own schema name and domains: the tenant
// moves, and its users log in there with their passwords.
func TestMoveBetweenDeployments(t *testing.T) {
	t.Parallel()
	from, _ := seeded(t, "mover", "mover.localhost", 3, 100, 3, 10)
	to := apptest.Start(t, apptest.ShippedConfig(t))
	if from.App.Config.Database.URL == to.App.Config.Database.URL {
		t.Fatal("both deployments share a database")
	}
	res, err := to.App.Archives.Restore(context.Background(), bytes.NewReader(export(t, from, "mover")), archive.RestoreParams{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tenant.SchemaName != "mover" || res.Tenant.Domains[0].Domain != "mover.localhost" || res.Tenant.Name != "Tenant mover" {
		t.Fatalf("moved tenant: %+v", res.Tenant)
	}
	if r := login(t, to, "mover.localhost", seedLogin); r.Status != 200 {
		t.Fatalf("login after the move: %d %s", r.Status, r.Raw)
	}
	sameRowsAcross(t, from, to, "mover", []string{"users", "todos", "projects", "tasks"})
}

// sameRowsAcross fails unless every table of schema holds the same rows
// in the databases of a and b: each table's rows, in id order, hashed on
// both sides.
func sameRowsAcross(t *testing.T, a, b *apptest.Env, schema string, tables []string) {
	t.Helper()
	for _, table := range tables {
		q := fmt.Sprintf(`SELECT count(*), md5(string_agg(x::text, '|' ORDER BY x.id)) FROM %q.%q x`, schema, table)
		var na, nb int64
		var ha, hb string
		if err := a.App.DirectDB.Raw(q).Row().Scan(&na, &ha); err != nil {
			t.Fatal(err)
		}
		if err := b.App.DirectDB.Raw(q).Row().Scan(&nb, &hb); err != nil {
			t.Fatal(err)
		}
		if na != nb || ha != hb {
			t.Errorf("%s: %d rows (%s) before the move, %d (%s) after", table, na, ha, nb, hb)
		}
	}
}

// TestExportProgress reports rows as they are written, in order, up to
// the total.
func TestExportProgress(t *testing.T) {
	t.Parallel()
	env, _ := seeded(t, "prog", "prog.localhost", 5, 20000, 5, 2000)
	var calls []int64
	var total int64
	_, err := env.App.Archives.Export(context.Background(), "prog", func(*archive.Manifest) (io.Writer, error) { return io.Discard, nil },
		archive.ExportOptions{Progress: func(done, all int64) { calls = append(calls, done); total = all }})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(5 + 20000 + 5 + 2000 + 1); total != want || len(calls) < 20 || calls[len(calls)-1] != want {
		t.Fatalf("progress: %d calls, last %v, total %d (want %d)", len(calls), calls[len(calls)-1:], total, want)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] < calls[i-1] {
			t.Fatalf("progress went back: %v", calls[i-1:i+1])
		}
	}
}
