package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/archive"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
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
var tenantTables = []string{"users", "todos", "projects", "tasks", "outstanding_tokens"}

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
	for _, p := range []struct{ path, body string }{{"/api/todos/", seedTodo}, {"/api/projects/", seedProject}, {"/api/tasks/", seedTask}} {
		if r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: p.path, Token: s.access, Body: p.body}); r.Status != http.StatusCreated {
			t.Fatalf("POST %s on %s: %d %s", p.path, host, r.Status, r.Raw)
		}
	}
	return s
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
// schemas and roles.
type footprint struct{ clients, domains, schemas, roles int64 }

func footprintOf(t *testing.T, db *gorm.DB) footprint {
	t.Helper()
	var f footprint
	if err := db.Raw(`SELECT (SELECT count(*) FROM public.clients), (SELECT count(*) FROM public.domains),
		(SELECT count(*) FROM pg_namespace), (SELECT count(*) FROM pg_roles)`).Row().Scan(&f.clients, &f.domains, &f.schemas, &f.roles); err != nil {
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
	env := apptest.Start(t, apptest.ShippedConfig(t))
	ctx := context.Background()
	db := env.App.DirectDB
	env.CreateTenant(t, "trip_a", "trip-a.localhost")
	s := seed(t, env, "trip-a.localhost")
	fill(t, db, "trip_a", 50, 100000, 1000, 10000)
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
		tok := r.Body["access"].(string)
		for _, p := range []struct {
			path, body string
			id         float64
		}{{"/api/todos/", seedTodo, 100001}, {"/api/projects/", seedProject, 1001}, {"/api/tasks/", seedTask, 10001}} {
			if r := env.Do(t, apptest.Request{Method: "POST", Host: "trip-b.localhost", Path: p.path, Token: tok, Body: p.body}); r.Status != 201 || r.Body["id"] != p.id {
				t.Fatalf("POST %s on B: %d %s", p.path, r.Status, r.Raw)
			}
		}
		if r := env.Do(t, apptest.Request{Method: "POST", Host: "trip-b.localhost", Path: "/api/register/", Body: `{"username": "newbie", "email": "n@example.com", "password": "correct-horse-battery"}`}); r.Status != 201 || r.Body["user"].(map[string]any)["id"] != 51.0 {
			t.Fatalf("register on B: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("OnlyBsRoleReadsB", func(t *testing.T) {
		a, err := env.App.Tenants.FindTenant(ctx, "trip_a")
		if err != nil {
			t.Fatal(err)
		}
		b := res.Tenant
		err = db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(`SET LOCAL ROLE "` + a.RoleName + `"`).Error; err != nil {
				return err
			}
			return tx.Exec(`SELECT 1 FROM trip_b.todos LIMIT 1`).Error
		})
		if apperr.Code(err) == "" && (err == nil || !strings.Contains(err.Error(), "permission denied")) {
			t.Fatalf("A's role reading B's todos: %v", err)
		}
		err = db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(`SET LOCAL ROLE "` + b.RoleName + `"`).Error; err != nil {
				return err
			}
			return tx.Exec(`SELECT 1 FROM trip_b.todos LIMIT 1`).Error
		})
		if err != nil {
			t.Fatalf("B's role reading B's todos: %v", err)
		}
	})
}
