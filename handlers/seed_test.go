package handlers_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
)

// The request bodies of the seed application's README, exactly as written
// there (raw JSON, not re-encoded). They are the contract: a test must
// never change them to pass.
const (
	seedRegister = `{"username": "testuser", "email": "testuser@example.com", "password": "password123"}`
	seedLogin    = `{"username": "testuser", "password": "password123"}`
	seedTodo     = `{"title": "Sample Todo", "description": "Description of the todo", "completed": false, "recurrence_interval": 5, "completion_time": "2024-11-15T15:05:00Z"}`
	seedProject  = `{"name": "Sample Project", "description": "Project description", "owner": 1}`
	seedTask     = `{"project": 1, "todo": 1, "assigned_user": 1, "due_date": "2024-11-20"}`
)

// TestSeedReadmeReplay replays the seed README's API walk-through, its
// four payloads byte for byte, on two tenants of a server running the
// shipped config.yaml, then shows tenant B can neither see nor touch
// tenant A's rows, although both hold rows with the same ids.
func TestSeedReadmeReplay(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t, apptest.ShippedConfig(t))
	env.CreateTenant(t, "seed_a", "tenant1.localhost")
	env.CreateTenant(t, "seed_b", "tenant2.localhost")

	tokens := map[string]string{}
	for _, host := range []string{"tenant1.localhost", "tenant2.localhost"} {
		r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/register/", Body: seedRegister})
		if r.Status != http.StatusCreated || r.Body["message"] != "User created successfully" || r.Body["access"] == nil || r.Body["refresh"] == nil {
			t.Fatalf("%s register: %d %s", host, r.Status, r.Raw)
		}
		if u, _ := r.Body["user"].(map[string]any); u["id"] != 1.0 || u["username"] != "testuser" || u["email"] != "testuser@example.com" {
			t.Fatalf("%s register: user %v", host, r.Body["user"])
		}
		r = env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/token/", Body: seedLogin})
		if r.Status != http.StatusOK {
			t.Fatalf("%s token: %d %s", host, r.Status, r.Raw)
		}
		tokens[host] = r.Body["access"].(string)
		r = env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/token/refresh/",
			Body: fmt.Sprintf(`{"refresh": %q}`, r.Body["refresh"])})
		if r.Status != http.StatusOK || r.Body["access"] == nil {
			t.Fatalf("%s refresh: %d %s", host, r.Status, r.Raw)
		}

		do := func(method, path, body string) apptest.Response {
			return env.Do(t, apptest.Request{Method: method, Host: host, Path: path, Token: tokens[host], Body: nilIfEmpty(body)})
		}
		if r := do("POST", "/api/todos/", seedTodo); r.Status != 201 || r.Body["id"] != 1.0 || r.Body["title"] != "Sample Todo" ||
			r.Body["recurrence_interval"] != 5.0 || r.Body["completion_time"] != nil || r.Body["completed"] != false {
			t.Fatalf("%s POST todo: %d %s", host, r.Status, r.Raw)
		}
		if r := do("POST", "/api/projects/", seedProject); r.Status != 201 || r.Body["id"] != 1.0 || r.Body["owner"] != 1.0 {
			t.Fatalf("%s POST project: %d %s", host, r.Status, r.Raw)
		}
		if r := do("POST", "/api/tasks/", seedTask); r.Status != 201 || r.Body["id"] != 1.0 || r.Body["due_date"] != "2024-11-20" ||
			r.Body["project"] != 1.0 || r.Body["todo"] != 1.0 || r.Body["assigned_user"] != 1.0 {
			t.Fatalf("%s POST task: %d %s", host, r.Status, r.Raw)
		}
		for _, path := range []string{"/api/todos/", "/api/projects/", "/api/tasks/"} {
			if r := do("GET", path, ""); r.Status != 200 || r.Body["count"] != 1.0 {
				t.Fatalf("%s GET %s: %d %s", host, path, r.Status, r.Raw)
			}
		}
		if r := do("GET", "/api/projects/1/analytics/", ""); r.Status != 200 || r.Body["total_tasks"] != 1.0 || r.Body["pending_tasks"] != 1.0 {
			t.Fatalf("%s analytics: %d %s", host, r.Status, r.Raw)
		}
	}

	// B renames its own rows; A's keep their names.
	b := func(method, path, body string) apptest.Response {
		return env.Do(t, apptest.Request{Method: method, Host: "tenant2.localhost", Path: path, Token: tokens["tenant2.localhost"], Body: nilIfEmpty(body)})
	}
	if r := b("PATCH", "/api/todos/1/", `{"title": "B's todo"}`); r.Status != 200 {
		t.Fatalf("B PATCH own todo: %d %s", r.Status, r.Raw)
	}
	if r := b("PUT", "/api/projects/1/", `{"name": "B's project", "description": ""}`); r.Status != 200 {
		t.Fatalf("B PUT own project: %d %s", r.Status, r.Raw)
	}

	t.Run("ErrTokenOfAOnB", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: "tenant2.localhost", Path: "/api/todos/", Token: tokens["tenant1.localhost"]})
		if r.Status != 401 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrBCannotReferenceAsRows", func(t *testing.T) {
		// A has todo 2 and project 2; B has only id 1 of each.
		a := func(method, path, body string) apptest.Response {
			return env.Do(t, apptest.Request{Method: method, Host: "tenant1.localhost", Path: path, Token: tokens["tenant1.localhost"], Body: nilIfEmpty(body)})
		}
		if r := a("POST", "/api/todos/", `{"title": "A only"}`); r.Status != 201 || r.Body["id"] != 2.0 {
			t.Fatalf("A second todo: %d %s", r.Status, r.Raw)
		}
		if r := a("POST", "/api/projects/", `{"name": "A only"}`); r.Status != 201 || r.Body["id"] != 2.0 {
			t.Fatalf("A second project: %d %s", r.Status, r.Raw)
		}
		for _, id := range []string{"2"} {
			for _, path := range []string{"/api/todos/" + id + "/", "/api/projects/" + id + "/", "/api/projects/" + id + "/analytics/"} {
				if r := b("GET", path, ""); r.Status != 404 || len(r.Body) != 1 {
					t.Errorf("B GET %s: %d %s", path, r.Status, r.Raw)
				}
			}
			for _, m := range []string{"PUT", "PATCH", "DELETE"} {
				for _, path := range []string{"/api/todos/" + id + "/", "/api/projects/" + id + "/"} {
					if r := b(m, path, `{"title": "x", "name": "x"}`); r.Status != 404 {
						t.Errorf("B %s %s: %d %s", m, path, r.Status, r.Raw)
					}
				}
			}
		}
		r := b("POST", "/api/tasks/", `{"project": 2, "todo": 2, "due_date": "2024-11-20"}`)
		if r.Status != 400 || r.Body["project"] == nil || r.Body["todo"] == nil {
			t.Fatalf("B task on A's ids: %d %s", r.Status, r.Raw)
		}
	})

	// A's rows are as A left them; B's as B left them.
	for host, want := range map[string][2]string{
		"tenant1.localhost": {"Sample Todo", "Sample Project"},
		"tenant2.localhost": {"B's todo", "B's project"},
	} {
		tr := env.Do(t, apptest.Request{Method: "GET", Host: host, Path: "/api/todos/1/", Token: tokens[host]})
		pr := env.Do(t, apptest.Request{Method: "GET", Host: host, Path: "/api/projects/1/", Token: tokens[host]})
		if tr.Body["title"] != want[0] || pr.Body["name"] != want[1] {
			t.Errorf("%s: todo %v, project %v; want %v", host, tr.Body["title"], pr.Body["name"], want)
		}
	}
	var countsA, countsB [3]int64
	for i, table := range []string{"todos", "projects", "tasks"} {
		env.App.DB.Raw(`SELECT count(*) FROM "seed_a".` + table).Scan(&countsA[i])
		env.App.DB.Raw(`SELECT count(*) FROM "seed_b".` + table).Scan(&countsB[i])
	}
	if countsA != [3]int64{2, 2, 1} || countsB != [3]int64{1, 1, 1} {
		t.Fatalf("row counts A %v B %v", countsA, countsB)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
