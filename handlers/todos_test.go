package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
)

const (
	todoHostA = "a.example.com"
	todoHostB = "b.example.com"
)

// todoEnv starts an app with tenant_a on todoHostA and registers alice
// there.
func todoEnv(t *testing.T) (env *apptest.Env, token string, userID int64) {
	t.Helper()
	env = apptest.New(t)
	env.CreateTenant(t, "tenant_a", todoHostA)
	token, _, userID = env.Register(t, todoHostA, "alice")
	return env, token, userID
}

// todoDo sends a request to todoHostA with token.
func todoDo(t *testing.T, env *apptest.Env, token, method, path string, body any) apptest.Response {
	t.Helper()
	return env.Do(t, apptest.Request{Method: method, Host: todoHostA, Path: path, Token: token, Body: body})
}

// todoCreate posts body and returns the created todo.
func todoCreate(t *testing.T, env *apptest.Env, token string, body any) map[string]any {
	t.Helper()
	r := todoDo(t, env, token, "POST", "/api/todos/", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /api/todos/ %v: %d %s", body, r.Status, r.Raw)
	}
	return r.Body
}

// todoID returns the id of a todo in a response.
func todoID(t *testing.T, todo map[string]any) int64 {
	t.Helper()
	id, ok := todo["id"].(float64)
	if !ok {
		t.Fatalf("todo without id: %v", todo)
	}
	return int64(id)
}

// todoPath returns the path of the todo with id.
func todoPath(id int64) string { return fmt.Sprintf("/api/todos/%d/", id) }

// todoGet fetches the todo with id, which must exist.
func todoGet(t *testing.T, env *apptest.Env, token string, id int64) map[string]any {
	t.Helper()
	r := todoDo(t, env, token, "GET", todoPath(id), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET todo %d: %d %s", id, r.Status, r.Raw)
	}
	return r.Body
}

// todoListIDs lists todos with query and returns the ids of the results,
// in order, with the count.
func todoListIDs(t *testing.T, env *apptest.Env, token, query string) ([]int64, int64) {
	t.Helper()
	r := todoDo(t, env, token, "GET", "/api/todos/?"+query, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/todos/?%s: %d %s", query, r.Status, r.Raw)
	}
	return todoResultIDs(t, r), int64(r.Body["count"].(float64))
}

// todoResultIDs returns the ids of a list response's results, in order.
func todoResultIDs(t *testing.T, r apptest.Response) []int64 {
	t.Helper()
	ids := []int64{}
	for _, v := range r.Body["results"].([]any) {
		ids = append(ids, todoID(t, v.(map[string]any)))
	}
	return ids
}

// todoTime parses a time field of a todo; nil for null.
func todoTime(t *testing.T, todo map[string]any, field string) *time.Time {
	t.Helper()
	v := todo[field]
	if v == nil {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s is %T, want a string or null", field, v)
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s = %q: %v", field, s, err)
	}
	if !strings.HasSuffix(s, "Z") {
		t.Errorf("%s = %q, want UTC", field, s)
	}
	return &tm
}

// todoWantFieldError asserts a 400 whose body names exactly the given field
// with the message.
func todoWantFieldError(t *testing.T, r apptest.Response, field, message string) {
	t.Helper()
	if r.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", r.Status, r.Raw)
	}
	want := map[string]any{field: []any{message}}
	if !reflect.DeepEqual(r.Body, want) {
		t.Errorf("body %s, want %v", r.Raw, want)
	}
}

func TestTodoCreateSeedPayload(t *testing.T) {
	t.Parallel()
	env, token, userID := todoEnv(t)
	before := time.Now().UTC().Add(-time.Second)
	r := todoDo(t, env, token, "POST", "/api/todos/", `{"title": "Sample Todo", "description": "Description of the todo", "completed": false, "recurrence_interval": 5, "completion_time": "2024-11-15T15:05:00Z"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("status %d, want 201: %s", r.Status, r.Raw)
	}
	want := map[string]any{
		"title": "Sample Todo", "description": "Description of the todo", "completed": false,
		"recurrence_interval": float64(5), "completion_time": nil, "due_at": nil, "previous": nil,
		"owner": float64(userID), "owner_name": "alice", "client_name": "Tenant tenant_a",
	}
	got := map[string]any{}
	for k, v := range r.Body {
		if k != "id" && k != "created_at" {
			got[k] = v
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %s, want %v plus id and created_at", r.Raw, want)
	}
	created := todoTime(t, r.Body, "created_at")
	if created == nil || created.Before(before) || created.After(time.Now().Add(time.Second)) {
		t.Errorf("created_at = %v, want about now", created)
	}

	t.Run("ReadBackWithAndWithoutSlash", func(t *testing.T) {
		id := todoID(t, r.Body)
		for _, path := range []string{todoPath(id), strings.TrimSuffix(todoPath(id), "/")} {
			g := todoDo(t, env, token, "GET", path, nil)
			if g.Status != http.StatusOK || !reflect.DeepEqual(g.Body, r.Body) {
				t.Errorf("GET %s: %d %s, want %s", path, g.Status, g.Raw, r.Raw)
			}
		}
	})

	t.Run("ReadOnlyAndUnknownFieldsIgnored", func(t *testing.T) {
		body := map[string]any{
			"title": "Mine", "id": 999, "owner": 12345, "owner_name": "mallory", "client_name": "other",
			"created_at": "2001-01-01T00:00:00Z", "due_at": "2001-01-01T00:00:00Z", "previous": 1, "color": "red",
		}
		r := todoDo(t, env, token, "POST", "/api/todos", body)
		if r.Status != http.StatusCreated {
			t.Fatalf("status %d, want 201: %s", r.Status, r.Raw)
		}
		b := r.Body
		if todoID(t, b) == 999 || b["owner"] != float64(userID) || b["owner_name"] != "alice" ||
			b["client_name"] != "Tenant tenant_a" || b["due_at"] != nil || b["previous"] != nil || b["color"] != nil {
			t.Errorf("read-only fields taken from input: %s", r.Raw)
		}
		if c := todoTime(t, b, "created_at"); c.Year() == 2001 {
			t.Errorf("created_at taken from input: %s", r.Raw)
		}
		if b["description"] != "" || b["completed"] != false || b["recurrence_interval"] != nil {
			t.Errorf("defaults: %s", r.Raw)
		}
	})
}

func TestTodoCreateValidation(t *testing.T) {
	t.Parallel()
	env, token, _ := todoEnv(t)
	long := strings.Repeat("é", 256)
	cases := []struct {
		name         string
		body         string
		field, error string
	}{
		{"ErrTitleMissing", `{"description": "x"}`, "title", "This field is required."},
		{"ErrTitleBlank", `{"title": ""}`, "title", "This field may not be blank."},
		{"ErrTitleSpaces", `{"title": "   "}`, "title", "This field may not be blank."},
		{"ErrTitleNull", `{"title": null}`, "title", "This field may not be null."},
		{"ErrTitleNotString", `{"title": 5}`, "title", "Not a valid string."},
		{"ErrTitleTooLong", `{"title": "` + long + `"}`, "title", "Ensure this field has no more than 255 characters."},
		{"ErrDescriptionNull", `{"title": "a", "description": null}`, "description", "This field may not be null."},
		{"ErrCompletedNotBool", `{"title": "a", "completed": "maybe"}`, "completed", "Must be a valid boolean."},
		{"ErrCompletedNull", `{"title": "a", "completed": null}`, "completed", "This field may not be null."},
		{"ErrRecurrenceZero", `{"title": "a", "recurrence_interval": 0}`, "recurrence_interval", "Ensure this value is greater than or equal to 1."},
		{"ErrRecurrenceNegative", `{"title": "a", "recurrence_interval": -3}`, "recurrence_interval", "Ensure this value is greater than or equal to 1."},
		{"ErrRecurrenceTooLarge", `{"title": "a", "recurrence_interval": 2147483648}`, "recurrence_interval", "Ensure this value is less than or equal to 2147483647."},
		{"ErrRecurrenceFraction", `{"title": "a", "recurrence_interval": 1.5}`, "recurrence_interval", "A valid integer is required."},
		{"ErrRecurrenceString", `{"title": "a", "recurrence_interval": "weekly"}`, "recurrence_interval", "A valid integer is required."},
		{"ErrCompletionTimeFormat", `{"title": "a", "completed": true, "completion_time": "15/11/2024"}`, "completion_time", "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."},
		{"ErrCompletionTimeNumber", `{"title": "a", "completion_time": 1731683100}`, "completion_time", "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			todoWantFieldError(t, todoDo(t, env, token, "POST", "/api/todos/", tc.body), tc.field, tc.error)
		})
	}

	t.Run("ErrSeveralFields", func(t *testing.T) {
		r := todoDo(t, env, token, "POST", "/api/todos/", `{"completed": "maybe", "recurrence_interval": 0}`)
		if r.Status != http.StatusBadRequest || len(r.Body) != 3 || r.Body["title"] == nil || r.Body["completed"] == nil || r.Body["recurrence_interval"] == nil {
			t.Errorf("got %d %s, want 400 naming title, completed and recurrence_interval", r.Status, r.Raw)
		}
	})

	t.Run("ErrMalformedJSON", func(t *testing.T) {
		for _, body := range []string{`{"title": "a"`, `{"title": "a",}`, `["title"]`, ``, `{"title": "a", "title": "b"}`} {
			r := todoDo(t, env, token, "POST", "/api/todos/", body)
			detail, _ := r.Body["detail"].(string)
			if r.Status != http.StatusBadRequest || len(r.Body) != 1 || !strings.HasPrefix(detail, "JSON parse error - ") {
				t.Errorf("body %q: %d %s, want 400 JSON parse error", body, r.Status, r.Raw)
			}
		}
	})

	t.Run("ErrNotJSON", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: todoHostA, Path: "/api/todos/", Token: token, Body: "title=a", CT: "application/x-www-form-urlencoded"})
		if r.Status != http.StatusUnsupportedMediaType || r.Body["detail"] == nil {
			t.Errorf("got %d %s, want 415 with detail", r.Status, r.Raw)
		}
	})

	t.Run("ErrNoToken", func(t *testing.T) {
		r := todoDo(t, env, "", "POST", "/api/todos/", `{"title": "a"}`)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("got %d %s, want 401", r.Status, r.Raw)
		}
	})

	t.Run("NothingWritten", func(t *testing.T) {
		if ids, n := todoListIDs(t, env, token, ""); n != 0 {
			t.Errorf("failed requests left todos behind: %v", ids)
		}
	})

	t.Run("TitleOf255Characters", func(t *testing.T) {
		title := strings.Repeat("é", 255)
		if b := todoCreate(t, env, token, map[string]any{"title": title}); b["title"] != title {
			t.Errorf("title %q, want 255 characters", b["title"])
		}
	})

	t.Run("LenientScalars", func(t *testing.T) {
		b := todoCreate(t, env, token, `{"title": "a", "completed": "true", "recurrence_interval": "7"}`)
		if b["completed"] != true || b["recurrence_interval"] != float64(7) {
			t.Errorf("got %v, want completed true and interval 7", b)
		}
	})
}

func TestTodoUpdatePatchAndPut(t *testing.T) {
	t.Parallel()
	env, token, userID := todoEnv(t)
	newTodo := func(t *testing.T) int64 {
		return todoID(t, todoCreate(t, env, token, map[string]any{"title": "Original", "description": "Keep me", "recurrence_interval": 4}))
	}

	t.Run("PatchChangesOnlyGivenFields", func(t *testing.T) {
		id := newTodo(t)
		before := todoGet(t, env, token, id)
		r := todoDo(t, env, token, "PATCH", todoPath(id), map[string]any{"title": "Renamed"})
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH: %d %s", r.Status, r.Raw)
		}
		before["title"] = "Renamed"
		if !reflect.DeepEqual(r.Body, before) {
			t.Errorf("PATCH response %s, want %v", r.Raw, before)
		}
		if got := todoGet(t, env, token, id); !reflect.DeepEqual(got, before) {
			t.Errorf("stored %v, want %v", got, before)
		}
	})

	t.Run("PatchEmptyBodyChangesNothing", func(t *testing.T) {
		id := newTodo(t)
		before := todoGet(t, env, token, id)
		r := todoDo(t, env, token, "PATCH", todoPath(id), map[string]any{})
		if r.Status != http.StatusOK || !reflect.DeepEqual(r.Body, before) {
			t.Errorf("PATCH {}: %d %s, want %v", r.Status, r.Raw, before)
		}
	})

	t.Run("PatchNullClearsRecurrence", func(t *testing.T) {
		id := newTodo(t)
		r := todoDo(t, env, token, "PATCH", todoPath(id), map[string]any{"recurrence_interval": nil})
		if r.Status != http.StatusOK || r.Body["recurrence_interval"] != nil || r.Body["description"] != "Keep me" {
			t.Errorf("got %d %s, want interval null and description kept", r.Status, r.Raw)
		}
	})

	t.Run("PutResetsMissingOptionalFields", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Original", "description": "Gone", "completed": true, "recurrence_interval": 4}))
		before := todoGet(t, env, token, id)
		r := todoDo(t, env, token, "PUT", todoPath(id), map[string]any{"title": "Replaced"})
		if r.Status != http.StatusOK {
			t.Fatalf("PUT: %d %s", r.Status, r.Raw)
		}
		want := map[string]any{
			"id": float64(id), "title": "Replaced", "description": "", "completed": false,
			"recurrence_interval": nil, "completion_time": nil, "due_at": nil, "previous": nil,
			"created_at": before["created_at"], "owner": float64(userID), "owner_name": "alice", "client_name": "Tenant tenant_a",
		}
		if !reflect.DeepEqual(r.Body, want) {
			t.Errorf("PUT response %s, want %v", r.Raw, want)
		}
		if got := todoGet(t, env, token, id); !reflect.DeepEqual(got, want) {
			t.Errorf("stored %v, want %v", got, want)
		}
	})

	t.Run("ErrPutWithoutTitle", func(t *testing.T) {
		id := newTodo(t)
		before := todoGet(t, env, token, id)
		todoWantFieldError(t, todoDo(t, env, token, "PUT", todoPath(id), map[string]any{"description": "x"}), "title", "This field is required.")
		if got := todoGet(t, env, token, id); !reflect.DeepEqual(got, before) {
			t.Errorf("failed PUT changed the todo: %v, want %v", got, before)
		}
	})

	t.Run("ErrPatchInvalidWritesNothing", func(t *testing.T) {
		id := newTodo(t)
		before := todoGet(t, env, token, id)
		r := todoDo(t, env, token, "PATCH", todoPath(id), map[string]any{"title": "New", "completed": "maybe"})
		todoWantFieldError(t, r, "completed", "Must be a valid boolean.")
		todoWantFieldError(t, todoDo(t, env, token, "PATCH", todoPath(id), map[string]any{"title": ""}), "title", "This field may not be blank.")
		todoWantFieldError(t, todoDo(t, env, token, "PATCH", todoPath(id), map[string]any{"recurrence_interval": 0}), "recurrence_interval", "Ensure this value is greater than or equal to 1.")
		if got := todoGet(t, env, token, id); !reflect.DeepEqual(got, before) {
			t.Errorf("failed PATCH changed the todo: %v, want %v", got, before)
		}
	})

	t.Run("ReadOnlyFieldsIgnored", func(t *testing.T) {
		id := newTodo(t)
		before := todoGet(t, env, token, id)
		r := todoDo(t, env, token, "PATCH", todoPath(id), map[string]any{
			"id": 4242, "owner": 777, "created_at": "2001-01-01T00:00:00Z", "due_at": "2001-01-01T00:00:00Z", "previous": id, "client_name": "x",
		})
		if r.Status != http.StatusOK || !reflect.DeepEqual(r.Body, before) {
			t.Errorf("PATCH of read-only fields: %d %s, want %v", r.Status, r.Raw, before)
		}
	})
}

func TestTodoCompletionTime(t *testing.T) {
	t.Parallel()
	env, token, _ := todoEnv(t)
	given := "2024-11-15T15:05:00Z"
	givenTime, _ := time.Parse(time.RFC3339, given)
	patch := func(t *testing.T, id int64, body map[string]any) map[string]any {
		t.Helper()
		r := todoDo(t, env, token, "PATCH", todoPath(id), body)
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH %v: %d %s", body, r.Status, r.Raw)
		}
		if got := todoGet(t, env, token, id); !reflect.DeepEqual(got, r.Body) {
			t.Fatalf("stored %v, response %v", got, r.Body)
		}
		return r.Body
	}
	wantNow := func(t *testing.T, todo map[string]any, before time.Time) {
		t.Helper()
		ct := todoTime(t, todo, "completion_time")
		if ct == nil || ct.Before(before.Truncate(time.Microsecond)) || ct.After(time.Now()) {
			t.Errorf("completion_time = %v, want between %v and now", ct, before)
		}
	}

	t.Run("NullWhileOpenEvenWhenGiven", func(t *testing.T) {
		b := todoCreate(t, env, token, map[string]any{"title": "a", "completed": false, "completion_time": given})
		if b["completion_time"] != nil {
			t.Errorf("POST: completion_time %v, want null", b["completion_time"])
		}
		b = patch(t, todoID(t, b), map[string]any{"completion_time": given})
		if b["completion_time"] != nil {
			t.Errorf("PATCH: completion_time %v, want null", b["completion_time"])
		}
	})

	t.Run("NowWhenCompletedWithoutOne", func(t *testing.T) {
		before := time.Now()
		b := todoCreate(t, env, token, map[string]any{"title": "a", "completed": true})
		wantNow(t, b, before)
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "b"}))
		before = time.Now()
		wantNow(t, patch(t, id, map[string]any{"completed": true}), before)
	})

	t.Run("GivenTimeKeptWhenCompleted", func(t *testing.T) {
		b := todoCreate(t, env, token, map[string]any{"title": "a", "completed": true, "completion_time": "2024-11-15T16:05:00.123456+01:00"})
		if b["completion_time"] != given[:len(given)-1]+".123456Z" {
			t.Errorf("POST: completion_time %v, want %s with microseconds", b["completion_time"], given)
		}
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "b"}))
		if b := patch(t, id, map[string]any{"completed": true, "completion_time": given}); b["completion_time"] != given {
			t.Errorf("PATCH: completion_time %v, want %s", b["completion_time"], given)
		}
	})

	t.Run("KeptWhileStayingCompleted", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "a", "completed": true, "completion_time": given}))
		if b := patch(t, id, map[string]any{"title": "renamed", "completed": true}); b["completion_time"] != given {
			t.Errorf("PATCH: completion_time %v, want %s", b["completion_time"], given)
		}
		r := todoDo(t, env, token, "PUT", todoPath(id), map[string]any{"title": "put", "completed": true})
		if r.Status != http.StatusOK || r.Body["completion_time"] != given {
			t.Errorf("PUT: %d %s, want completion_time %s", r.Status, r.Raw, given)
		}
	})

	t.Run("ChangedWhileCompleted", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "a", "completed": true, "completion_time": given}))
		later := givenTime.Add(time.Hour).Format(time.RFC3339)
		if b := patch(t, id, map[string]any{"completion_time": later}); b["completion_time"] != later {
			t.Errorf("completion_time %v, want %s", b["completion_time"], later)
		}
		before := time.Now()
		wantNow(t, patch(t, id, map[string]any{"completion_time": nil}), before)
	})

	t.Run("ClearedOnReopen", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "a", "completed": true, "completion_time": given}))
		if b := patch(t, id, map[string]any{"completed": false}); b["completion_time"] != nil {
			t.Errorf("PATCH: completion_time %v, want null", b["completion_time"])
		}
		id = todoID(t, todoCreate(t, env, token, map[string]any{"title": "b", "completed": true, "completion_time": given}))
		r := todoDo(t, env, token, "PUT", todoPath(id), map[string]any{"title": "b", "completion_time": given})
		if r.Status != http.StatusOK || r.Body["completed"] != false || r.Body["completion_time"] != nil {
			t.Errorf("PUT without completed: %d %s, want open with null completion_time", r.Status, r.Raw)
		}
	})
}

func TestTodoRecurrence(t *testing.T) {
	t.Parallel()
	env, token, userID := todoEnv(t)
	given := "2024-11-15T15:05:00Z"
	patch := func(t *testing.T, id int64, body map[string]any) {
		t.Helper()
		if r := todoDo(t, env, token, "PATCH", todoPath(id), body); r.Status != http.StatusOK {
			t.Fatalf("PATCH %v: %d %s", body, r.Status, r.Raw)
		}
	}
	// successors returns the todos whose previous is id.
	successors := func(t *testing.T, id int64) []map[string]any {
		t.Helper()
		r := todoDo(t, env, token, "GET", "/api/todos/?limit=500", nil)
		var out []map[string]any
		for _, v := range r.Body["results"].([]any) {
			if todo := v.(map[string]any); todo["previous"] == float64(id) {
				out = append(out, todo)
			}
		}
		return out
	}

	t.Run("CompletingSpawnsNextOccurrence", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Water plants", "description": "all of them", "recurrence_interval": 3}))
		if s := successors(t, id); len(s) != 0 {
			t.Fatalf("open todo has successors: %v", s)
		}
		patch(t, id, map[string]any{"completed": true, "completion_time": given})
		s := successors(t, id)
		if len(s) != 1 {
			t.Fatalf("got %d successors, want 1: %v", len(s), s)
		}
		next := s[0]
		want := map[string]any{
			"id": next["id"], "title": "Water plants", "description": "all of them", "completed": false,
			"recurrence_interval": float64(3), "completion_time": nil, "due_at": "2024-11-18T15:05:00Z",
			"previous": float64(id), "created_at": next["created_at"], "owner": float64(userID),
			"owner_name": "alice", "client_name": "Tenant tenant_a",
		}
		if !reflect.DeepEqual(next, want) {
			t.Errorf("successor %v, want %v", next, want)
		}

		t.Run("NoSecondSpawn", func(t *testing.T) {
			patch(t, id, map[string]any{"completed": false})
			patch(t, id, map[string]any{"completed": true})
			patch(t, id, map[string]any{"title": "Water plants again"})
			if r := todoDo(t, env, token, "PUT", todoPath(id), map[string]any{"title": "x", "completed": true, "recurrence_interval": 3}); r.Status != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.Status, r.Raw)
			}
			if s := successors(t, id); len(s) != 1 || s[0]["id"] != next["id"] {
				t.Errorf("successors %v, want only %v", s, next["id"])
			}
		})

		t.Run("SuccessorSpawnsItsOwn", func(t *testing.T) {
			nextID := todoID(t, next)
			patch(t, nextID, map[string]any{"completed": true, "completion_time": "2024-11-19T00:00:00Z"})
			s := successors(t, nextID)
			if len(s) != 1 || s[0]["due_at"] != "2024-11-22T00:00:00Z" {
				t.Errorf("successors of the successor: %v, want one due 2024-11-22", s)
			}
		})
	})

	t.Run("CreatedCompletedSpawns", func(t *testing.T) {
		before := time.Now().UTC()
		b := todoCreate(t, env, token, map[string]any{"title": "Daily", "completed": true, "recurrence_interval": 1})
		s := successors(t, todoID(t, b))
		if len(s) != 1 {
			t.Fatalf("got %d successors, want 1", len(s))
		}
		due := todoTime(t, s[0], "due_at")
		ct := todoTime(t, b, "completion_time")
		if due == nil || ct == nil || !due.Equal(ct.AddDate(0, 0, 1)) || ct.Before(before.Truncate(time.Microsecond)) {
			t.Errorf("due_at %v, want a day after completion_time %v", due, ct)
		}
	})

	t.Run("IntervalGivenWithCompletion", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Weekly"}))
		patch(t, id, map[string]any{"completed": true, "recurrence_interval": 7, "completion_time": given})
		if s := successors(t, id); len(s) != 1 || s[0]["due_at"] != "2024-11-22T15:05:00Z" {
			t.Errorf("successors %v, want one due 2024-11-22T15:05:00Z", s)
		}
	})

	t.Run("NoSpawnWithoutInterval", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Once", "completed": true}))
		id2 := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Once more", "recurrence_interval": 2}))
		patch(t, id2, map[string]any{"completed": true, "recurrence_interval": nil})
		if s := append(successors(t, id), successors(t, id2)...); len(s) != 0 {
			t.Errorf("non-recurring todos spawned %v", s)
		}
	})

	t.Run("ErrNextOccurrenceOutOfRange", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Far", "recurrence_interval": 2147483647}))
		r := todoDo(t, env, token, "PATCH", todoPath(id), map[string]any{"completed": true})
		todoWantFieldError(t, r, "recurrence_interval", "The next occurrence would be due after the year 9999.")
		if b := todoGet(t, env, token, id); b["completed"] != false || b["completion_time"] != nil {
			t.Errorf("failed completion was written: %v", b)
		}
		r = todoDo(t, env, token, "POST", "/api/todos/", map[string]any{"title": "Far", "completed": true, "recurrence_interval": 4000000})
		todoWantFieldError(t, r, "recurrence_interval", "The next occurrence would be due after the year 9999.")
		if ids, n := todoListIDs(t, env, token, "search=Far"); n != 1 || ids[0] != id {
			t.Errorf("todos titled Far: %v, want only %d", ids, id)
		}
	})

	t.Run("DeleteClearsSuccessorsPrevious", func(t *testing.T) {
		id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Gone", "recurrence_interval": 2, "completed": true}))
		s := successors(t, id)
		if len(s) != 1 {
			t.Fatalf("got %d successors, want 1", len(s))
		}
		if r := todoDo(t, env, token, "DELETE", todoPath(id), nil); r.Status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", r.Status, r.Raw)
		}
		if b := todoGet(t, env, token, todoID(t, s[0])); b["previous"] != nil {
			t.Errorf("successor's previous %v, want null", b["previous"])
		}
	})
}

func TestTodoDelete(t *testing.T) {
	t.Parallel()
	env, token, userID := todoEnv(t)
	id := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Doomed"}))
	keep := todoID(t, todoCreate(t, env, token, map[string]any{"title": "Kept"}))

	// A task on the todo, written directly: the tasks resource is not
	// under test here.
	ctx := context.Background()
	var projectID int64
	err := env.App.SQL.QueryRowContext(ctx, `INSERT INTO tenant_a.projects (name, owner_id) VALUES ('p', $1) RETURNING id`, userID).Scan(&projectID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.App.SQL.ExecContext(ctx, `INSERT INTO tenant_a.tasks (project_id, todo_id, due_date) VALUES ($1, $2, '2024-11-20'), ($1, $3, '2024-11-20')`, projectID, id, keep); err != nil {
		t.Fatal(err)
	}

	r := todoDo(t, env, token, "DELETE", todoPath(id), nil)
	if r.Status != http.StatusNoContent || len(r.Raw) != 0 {
		t.Fatalf("DELETE: %d %q, want 204 with no body", r.Status, r.Raw)
	}
	if r := todoDo(t, env, token, "GET", todoPath(id), nil); r.Status != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d %s, want 404", r.Status, r.Raw)
	}
	if r := todoDo(t, env, token, "DELETE", strings.TrimSuffix(todoPath(id), "/"), nil); r.Status != http.StatusNotFound {
		t.Errorf("second DELETE: %d %s, want 404", r.Status, r.Raw)
	}
	var tasks []int64
	rows, err := env.App.SQL.QueryContext(ctx, `SELECT todo_id FROM tenant_a.tasks ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, v)
	}
	if !slices.Equal(tasks, []int64{keep}) {
		t.Errorf("tasks left on todos %v, want only the one on %d", tasks, keep)
	}
	if ids, _ := todoListIDs(t, env, token, ""); !slices.Equal(ids, []int64{keep}) {
		t.Errorf("todos %v, want [%d]", ids, keep)
	}
}

func TestTodoOwnerOnlyWrites(t *testing.T) {
	t.Parallel()
	env, alice, _ := todoEnv(t)
	bob, _, bobID := env.Register(t, todoHostA, "bob")
	todo := todoCreate(t, env, alice, map[string]any{"title": "Alice's"})
	id := todoID(t, todo)

	t.Run("OthersCanRead", func(t *testing.T) {
		if got := todoGet(t, env, bob, id); !reflect.DeepEqual(got, todo) {
			t.Errorf("bob reads %v, want %v", got, todo)
		}
		if ids, n := todoListIDs(t, env, bob, ""); n != 1 || !slices.Equal(ids, []int64{id}) {
			t.Errorf("bob lists %v (%d), want [%d]", ids, n, id)
		}
	})

	t.Run("ErrOthersCannotWrite", func(t *testing.T) {
		for _, method := range []string{"PUT", "PATCH", "DELETE"} {
			r := todoDo(t, env, bob, method, todoPath(id), map[string]any{"title": "Bob's now", "completed": true})
			want := map[string]any{"detail": "You do not have permission to perform this action."}
			if r.Status != http.StatusForbidden || !reflect.DeepEqual(r.Body, want) {
				t.Errorf("%s by bob: %d %s, want 403", method, r.Status, r.Raw)
			}
		}
		if got := todoGet(t, env, alice, id); !reflect.DeepEqual(got, todo) {
			t.Errorf("after bob's attempts %v, want %v", got, todo)
		}
	})

	t.Run("OwnerFieldIgnored", func(t *testing.T) {
		b := todoCreate(t, env, bob, map[string]any{"title": "Bob's", "owner": 1})
		if b["owner"] != float64(bobID) || b["owner_name"] != "bob" {
			t.Errorf("owner %v (%v), want bob %d", b["owner"], b["owner_name"], bobID)
		}
	})
}

func TestTodoNotFound(t *testing.T) {
	t.Parallel()
	env, token, _ := todoEnv(t)
	todoCreate(t, env, token, map[string]any{"title": "exists"})
	for _, id := range []string{"999", "0", "-1", "abc", "1.0", "1e3", "99999999999999999999", "9223372036854775807", "%20"} {
		for _, method := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			t.Run(method+"_"+url.PathEscape(id), func(t *testing.T) {
				r := todoDo(t, env, token, method, "/api/todos/"+id+"/", map[string]any{"title": "x"})
				if r.Status != http.StatusNotFound || len(r.Body) != 1 || r.Body["detail"] == nil {
					t.Errorf("%s %s: %d %s, want 404 with only a detail", method, id, r.Status, r.Raw)
				}
			})
		}
	}
	if ids, n := todoListIDs(t, env, token, ""); n != 1 {
		t.Errorf("todos %v, want only the first", ids)
	}
}

func TestTodoTenantIsolation(t *testing.T) {
	t.Parallel()
	env, tokenA, _ := todoEnv(t)
	env.CreateTenant(t, "tenant_b", todoHostB)
	tokenB, _, _ := env.Register(t, todoHostB, "alice")
	todoA := todoCreate(t, env, tokenA, map[string]any{"title": "A's secret", "recurrence_interval": 1})
	id := todoID(t, todoA)
	doB := func(method, path string, body any) apptest.Response {
		return env.Do(t, apptest.Request{Method: method, Host: todoHostB, Path: path, Token: tokenB, Body: body})
	}
	notFound := map[string]any{"detail": "Not found."}

	t.Run("ErrForeignTenantID", func(t *testing.T) {
		for _, method := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			r := doB(method, todoPath(id), map[string]any{"title": "stolen", "completed": true})
			if r.Status != http.StatusNotFound || !reflect.DeepEqual(r.Body, notFound) {
				t.Errorf("%s on tenant B: %d %s, want 404 %v", method, r.Status, r.Raw, notFound)
			}
		}
		if got := todoGet(t, env, tokenA, id); !reflect.DeepEqual(got, todoA) {
			t.Errorf("A's todo after B's attempts: %v, want %v", got, todoA)
		}
	})

	t.Run("ForeignListEmpty", func(t *testing.T) {
		r := doB("GET", "/api/todos/", nil)
		want := map[string]any{"count": float64(0), "next": nil, "previous": nil, "results": []any{}}
		if r.Status != http.StatusOK || !reflect.DeepEqual(r.Body, want) {
			t.Errorf("B's list: %d %s, want empty", r.Status, r.Raw)
		}
	})

	t.Run("SameIDsAreSeparate", func(t *testing.T) {
		r := doB("POST", "/api/todos/", map[string]any{"title": "B's own"})
		if r.Status != http.StatusCreated || todoID(t, r.Body) != id || r.Body["client_name"] != "Tenant tenant_b" {
			t.Fatalf("B's first todo: %d %s, want id %d of tenant_b", r.Status, r.Raw, id)
		}
		if got := todoGet(t, env, tokenA, id); !reflect.DeepEqual(got, todoA) {
			t.Errorf("A's todo %d is %v, want %v", id, got, todoA)
		}
		if r := doB("GET", todoPath(id), nil); r.Body["title"] != "B's own" {
			t.Errorf("B's todo %d is %s", id, r.Raw)
		}
	})

	t.Run("ErrForeignToken", func(t *testing.T) {
		for _, method := range []string{"GET", "POST"} {
			r := env.Do(t, apptest.Request{Method: method, Host: todoHostB, Path: "/api/todos/", Token: tokenA, Body: map[string]any{"title": "x"}})
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s with tenant A's token on B: %d %s, want 401", method, r.Status, r.Raw)
			}
		}
		if r := env.Do(t, apptest.Request{Method: "GET", Host: todoHostB, Path: todoPath(id), Token: tokenA}); r.Status != http.StatusUnauthorized {
			t.Errorf("GET with tenant A's token on B: %d %s, want 401", r.Status, r.Raw)
		}
		if _, n := todoListIDs(t, env, tokenA, ""); n != 1 {
			t.Errorf("tenant A has %d todos, want 1", n)
		}
	})
}

func TestTodoListPagination(t *testing.T) {
	t.Parallel()
	env, token, _ := todoEnv(t)
	var ids []int64
	for i := range 5 {
		ids = append(ids, todoID(t, todoCreate(t, env, token, map[string]any{"title": fmt.Sprintf("t%d", i)})))
	}
	slices.Reverse(ids) // newest first
	base := "http://" + todoHostA + "/api/todos/"
	str := func(s string) any { return s }

	cases := []struct {
		name       string
		query      string
		wantIDs    []int64
		next, prev any
	}{
		{"DefaultNewestFirst", "", ids, nil, nil},
		{"FirstPage", "limit=2", ids[:2], str(base + "?limit=2&offset=2"), nil},
		{"MiddlePage", "limit=2&offset=2", ids[2:4], str(base + "?limit=2&offset=4"), str(base + "?limit=2")},
		{"LastPage", "limit=2&offset=4", ids[4:], nil, str(base + "?limit=2&offset=2")},
		{"OffsetPastEnd", "limit=2&offset=50", []int64{}, nil, str(base + "?limit=2&offset=3")},
		{"LimitAboveMaxClamped", "limit=100000&offset=1", ids[1:], nil, str(base + "?limit=500")},
		{"KeepsOtherParameters", "limit=1&ordering=id", []int64{ids[4]}, str(base + "?limit=1&offset=1&ordering=id"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := todoDo(t, env, token, "GET", "/api/todos/?"+tc.query, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			got, count := todoResultIDs(t, r), r.Body["count"]
			if count != float64(5) || !slices.Equal(got, tc.wantIDs) {
				t.Errorf("ids %v (count %d), want %v (count 5)", got, count, tc.wantIDs)
			}
			if r.Body["next"] != tc.next || r.Body["previous"] != tc.prev {
				t.Errorf("next %v previous %v, want %v and %v", r.Body["next"], r.Body["previous"], tc.next, tc.prev)
			}
		})
	}

	errCases := []struct{ name, query, field string }{
		{"ErrLimitZero", "limit=0", "limit"},
		{"ErrLimitNegative", "limit=-1", "limit"},
		{"ErrLimitNotNumber", "limit=ten", "limit"},
		{"ErrOffsetNegative", "offset=-1", "offset"},
		{"ErrOffsetNotNumber", "offset=1.5", "offset"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			r := todoDo(t, env, token, "GET", "/api/todos/?"+tc.query, nil)
			if r.Status != http.StatusBadRequest || len(r.Body) != 1 || r.Body[tc.field] == nil {
				t.Errorf("%d %s, want 400 naming %s", r.Status, r.Raw, tc.field)
			}
		})
	}
}

func TestTodoListFilters(t *testing.T) {
	t.Parallel()
	env, alice, _ := todoEnv(t)
	bob, _, bobID := env.Register(t, todoHostA, "bob")
	milk := todoID(t, todoCreate(t, env, alice, map[string]any{"title": "Buy MILK", "description": "2% fat", "completed": true}))
	report := todoID(t, todoCreate(t, env, alice, map[string]any{"title": "Write report", "description": `50_percent C:\temp`}))
	run := todoID(t, todoCreate(t, env, bob, map[string]any{"title": "milk run", "description": "100 percent"}))
	plain := todoID(t, todoCreate(t, env, bob, map[string]any{"title": "Plain", "completed": true}))

	cases := []struct {
		name  string
		query string
		want  []int64
	}{
		{"CompletedTrue", "completed=true", []int64{plain, milk}},
		{"CompletedFalse", "completed=false", []int64{run, report}},
		{"CompletedOne", "completed=1", []int64{plain, milk}},
		{"SearchCaseInsensitive", "search=milk", []int64{run, milk}},
		{"SearchDescription", "search=PERCENT", []int64{run, report}},
		{"SearchPercentLiteral", "search=" + url.QueryEscape("%"), []int64{milk}},
		{"SearchUnderscoreLiteral", "search=_", []int64{report}},
		{"SearchBackslashLiteral", "search=" + url.QueryEscape(`:\t`), []int64{report}},
		{"SearchNoMatch", "search=zzz", []int64{}},
		{"Owner", fmt.Sprintf("owner=%d", bobID), []int64{plain, run}},
		{"OwnerUnknown", "owner=999", []int64{}},
		{"Combined", fmt.Sprintf("owner=%d&completed=false&search=MILK", bobID), []int64{run}},
		{"EmptyValuesIgnored", "completed=&owner=&search=", []int64{plain, run, report, milk}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, count := todoListIDs(t, env, alice, tc.query)
			if !slices.Equal(got, tc.want) || count != int64(len(tc.want)) {
				t.Errorf("ids %v (count %d), want %v", got, count, tc.want)
			}
		})
	}

	errCases := []struct{ name, query, field string }{
		{"ErrCompletedNotBool", "completed=maybe", "completed"},
		{"ErrOwnerNotID", "owner=bob", "owner"},
		{"ErrOwnerZero", "owner=0", "owner"},
		{"ErrSearchNullCharacter", "search=a%00b", "search"},
		{"ErrSearchInvalidUTF8", "search=%FF", "search"},
		{"ErrOrderingUnknownField", "ordering=password_hash", "ordering"},
		{"ErrOrderingOwner", "ordering=-owner", "ordering"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			r := todoDo(t, env, alice, "GET", "/api/todos/?"+tc.query, nil)
			if r.Status != http.StatusBadRequest || len(r.Body) != 1 || r.Body[tc.field] == nil {
				t.Errorf("%d %s, want 400 naming only %s", r.Status, r.Raw, tc.field)
			}
		})
	}

	t.Run("ErrSeveralParameters", func(t *testing.T) {
		r := todoDo(t, env, alice, "GET", "/api/todos/?completed=maybe&limit=0&ordering=nope", nil)
		if r.Status != http.StatusBadRequest || len(r.Body) != 3 || r.Body["completed"] == nil || r.Body["limit"] == nil || r.Body["ordering"] == nil {
			t.Errorf("%d %s, want 400 naming completed, limit and ordering", r.Status, r.Raw)
		}
	})
}

func TestTodoListOrdering(t *testing.T) {
	t.Parallel()
	env, token, _ := todoEnv(t)
	// t1 and t3 are completed recurring todos: each spawns a successor (s1,
	// s3) in the same transaction, so with the same created_at.
	t1 := todoID(t, todoCreate(t, env, token, map[string]any{"title": "bravo", "completed": true, "completion_time": "2024-01-03T00:00:00Z", "recurrence_interval": 10}))
	s1 := t1 + 1
	t2 := todoID(t, todoCreate(t, env, token, map[string]any{"title": "alpha"}))
	t3 := todoID(t, todoCreate(t, env, token, map[string]any{"title": "charlie", "completed": true, "completion_time": "2024-01-01T00:00:00Z", "recurrence_interval": 1}))
	s3 := t3 + 1
	if s1 != t2-1 || todoGet(t, env, token, s1)["previous"] != float64(t1) || todoGet(t, env, token, s3)["previous"] != float64(t3) {
		t.Fatalf("unexpected ids t1=%d t2=%d t3=%d", t1, t2, t3)
	}

	cases := []struct {
		ordering string
		want     []int64
	}{
		{"", []int64{s3, t3, t2, s1, t1}},
		{"-created_at", []int64{s3, t3, t2, s1, t1}},
		{"created_at", []int64{s1, t1, t2, s3, t3}},
		{"title", []int64{t2, s1, t1, s3, t3}},
		{"-title", []int64{s3, t3, s1, t1, t2}},
		{"completed", []int64{s3, t2, s1, t3, t1}},
		{"-completed", []int64{t3, t1, s3, t2, s1}},
		{"completion_time", []int64{t3, t1, s3, t2, s1}},
		{"-completion_time", []int64{s3, t2, s1, t1, t3}},
		{"due_at", []int64{s3, s1, t3, t2, t1}},
		{"-due_at", []int64{t3, t2, t1, s1, s3}},
		{"id", []int64{t1, s1, t2, t3, s3}},
		{"-id", []int64{s3, t3, t2, s1, t1}},
		{"completed,-title", []int64{s3, s1, t2, t3, t1}},
		{" title , -id ", []int64{t2, s1, t1, s3, t3}},
	}
	for _, tc := range cases {
		t.Run("Ordering_"+tc.ordering, func(t *testing.T) {
			got, _ := todoListIDs(t, env, token, "ordering="+url.QueryEscape(tc.ordering))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ordering %q: ids %v, want %v", tc.ordering, got, tc.want)
			}
		})
	}
}
