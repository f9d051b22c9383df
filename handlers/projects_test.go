package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
)

// ptTenant is one tenant of a test app, seen through one logged-in user.
type ptTenant struct {
	env    *apptest.Env
	schema string
	host   string
	token  string
	userID int64
}

// newPTTenant creates tenant schema (host "<schema>.test") on env and
// registers username in it; the tenant's first user gets id 1.
func newPTTenant(t *testing.T, env *apptest.Env, schema, username string) *ptTenant {
	t.Helper()
	host := strings.ReplaceAll(schema, "_", "-") + ".test"
	env.CreateTenant(t, schema, host)
	token, _, id := env.Register(t, host, username)
	return &ptTenant{env: env, schema: schema, host: host, token: token, userID: id}
}

// as returns the tenant seen through another user, registered now.
func (p *ptTenant) as(t *testing.T, username string) *ptTenant {
	t.Helper()
	token, _, id := p.env.Register(t, p.host, username)
	return &ptTenant{env: p.env, schema: p.schema, host: p.host, token: token, userID: id}
}

func (p *ptTenant) do(t *testing.T, method, path string, body any) apptest.Response {
	t.Helper()
	return p.env.Do(t, apptest.Request{Method: method, Host: p.host, Path: path, Token: p.token, Body: body})
}

// must sends the request and fails the test unless the status is want.
func (p *ptTenant) must(t *testing.T, want int, method, path string, body any) apptest.Response {
	t.Helper()
	r := p.do(t, method, path, body)
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// exec runs SQL on the tenant's schema through the app's own handle; {s}
// in query stands for the quoted schema name.
func (p *ptTenant) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	query = strings.ReplaceAll(query, "{s}", `"`+p.schema+`"`)
	if err := p.env.App.DB.Exec(query, args...).Error; err != nil {
		t.Fatalf("exec %q: %v", query, err)
	}
}

// count returns the number of rows of a table of the tenant's schema.
func (p *ptTenant) count(t *testing.T, table string) int64 {
	t.Helper()
	var n int64
	if err := p.env.App.DB.Raw(`SELECT count(*) FROM "` + p.schema + `".` + table).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func (p *ptTenant) todo(t *testing.T, title string) int64 {
	t.Helper()
	return ptID(t, p.must(t, http.StatusCreated, "POST", "/api/todos/", map[string]any{"title": title}))
}

func (p *ptTenant) project(t *testing.T, name, description string) int64 {
	t.Helper()
	return ptID(t, p.must(t, http.StatusCreated, "POST", "/api/projects/", map[string]any{"name": name, "description": description}))
}

func (p *ptTenant) task(t *testing.T, project, todo int64, due string) int64 {
	t.Helper()
	return ptID(t, p.must(t, http.StatusCreated, "POST", "/api/tasks/", map[string]any{"project": project, "todo": todo, "due_date": due}))
}

func ptID(t *testing.T, r apptest.Response) int64 {
	t.Helper()
	id, ok := r.Body["id"].(float64)
	if !ok {
		t.Fatalf("no id in %s", r.Raw)
	}
	return int64(id)
}

// ptResultIDs returns the ids of a list response's results, in order.
func ptResultIDs(t *testing.T, r apptest.Response) []int64 {
	t.Helper()
	results, ok := r.Body["results"].([]any)
	if !ok {
		t.Fatalf("no results in %s", r.Raw)
	}
	ids := []int64{}
	for _, x := range results {
		ids = append(ids, int64(x.(map[string]any)["id"].(float64)))
	}
	return ids
}

// ptAssertBody fails unless r has status and its JSON body equals want,
// leaving out the keys in ignore.
func ptAssertBody(t *testing.T, r apptest.Response, status int, want string, ignore ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	got := map[string]any{}
	for k, v := range r.Body {
		got[k] = v
	}
	for _, k := range ignore {
		delete(got, k)
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("body\n got %s\nwant %s", r.Raw, want)
	}
}

// ptAssertRecent fails unless the body's created_at is an RFC 3339 UTC
// time within a minute of now.
func ptAssertRecent(t *testing.T, r apptest.Response) {
	t.Helper()
	s, _ := r.Body["created_at"].(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Fatalf("created_at %q is not RFC 3339 UTC", s)
	}
	if d := time.Since(at); d < -time.Minute || d > time.Minute {
		t.Fatalf("created_at %s is not now", s)
	}
}

func ptInvalidPK(id int64) string {
	return fmt.Sprintf(`Invalid pk \"%d\" - object does not exist.`, id)
}

func TestProjectCreate(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	bob := a.as(t, "bob")

	t.Run("CreatedFromSeedPayload", func(t *testing.T) {
		r := a.do(t, "POST", "/api/projects/", map[string]any{"name": "Sample Project", "description": "Project description", "owner": 1})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 1, "name": "Sample Project", "description": "Project description",
			"owner": 1, "owner_name": "alice", "client_name": "Tenant tenant_a"}`, "created_at")
		ptAssertRecent(t, r)
		got := a.must(t, http.StatusOK, "GET", "/api/projects/1/", nil)
		if string(got.Raw) != string(r.Raw) {
			t.Fatalf("GET %s differs from POST %s", got.Raw, r.Raw)
		}
	})
	t.Run("OwnerDefaultsToCaller", func(t *testing.T) {
		r := bob.do(t, "POST", "/api/projects", map[string]any{"name": "Bob's"})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 2, "name": "Bob's", "description": "", "owner": 2,
			"owner_name": "bob", "client_name": "Tenant tenant_a"}`, "created_at")
	})
	t.Run("OwnerIsAnotherUserOfTheTenant", func(t *testing.T) {
		r := a.do(t, "POST", "/api/projects/", map[string]any{"name": "For Bob", "owner": bob.userID})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 3, "name": "For Bob", "description": "", "owner": 2,
			"owner_name": "bob", "client_name": "Tenant tenant_a"}`, "created_at")
	})
	t.Run("ReadOnlyAndUnknownFieldsIgnored", func(t *testing.T) {
		r := a.do(t, "POST", "/api/projects/", map[string]any{
			"name": "RO", "id": 99, "created_at": "2000-01-01T00:00:00Z", "owner_name": "mallory",
			"client_name": "Other", "colour": "red",
		})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 4, "name": "RO", "description": "", "owner": 1,
			"owner_name": "alice", "client_name": "Tenant tenant_a"}`, "created_at")
		ptAssertRecent(t, r)
	})
	t.Run("WhitespaceTrimmedAndNumericStringOwner", func(t *testing.T) {
		r := a.do(t, "POST", "/api/projects/", map[string]any{"name": "  Padded  ", "description": " d ", "owner": "2"})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 5, "name": "Padded", "description": "d", "owner": 2,
			"owner_name": "bob", "client_name": "Tenant tenant_a"}`, "created_at")
	})
	t.Run("NameOf255CharactersAccepted", func(t *testing.T) {
		name := strings.Repeat("é", 255)
		r := a.must(t, http.StatusCreated, "POST", "/api/projects/", map[string]any{"name": name})
		if r.Body["name"] != name {
			t.Fatalf("name %v", r.Body["name"])
		}
	})
}

func TestProjectCreateValidation(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	b := newPTTenant(t, env, "tenant_b", "bea")
	b.as(t, "ben")
	b.as(t, "bo") // user 3 exists in tenant_b only

	cases := []struct {
		name string
		body any
		want string
	}{
		{"ErrNameMissing", map[string]any{"description": "x"}, `{"name": ["This field is required."]}`},
		{"ErrNameBlank", map[string]any{"name": ""}, `{"name": ["This field may not be blank."]}`},
		{"ErrNameOnlySpaces", map[string]any{"name": "   "}, `{"name": ["This field may not be blank."]}`},
		{"ErrNameTooLong", map[string]any{"name": strings.Repeat("x", 256)}, `{"name": ["Ensure this field has no more than 255 characters."]}`},
		{"ErrNameNull", map[string]any{"name": nil}, `{"name": ["This field may not be null."]}`},
		{"ErrNameBool", map[string]any{"name": true}, `{"name": ["Not a valid string."]}`},
		{"ErrNameList", map[string]any{"name": []string{"a"}}, `{"name": ["Not a valid string."]}`},
		{"ErrNameObject", map[string]any{"name": map[string]int{"a": 1}}, `{"name": ["Not a valid string."]}`},
		{"ErrDescriptionNull", map[string]any{"name": "P", "description": nil}, `{"description": ["This field may not be null."]}`},
		{"ErrDescriptionList", map[string]any{"name": "P", "description": []int{1}}, `{"description": ["Not a valid string."]}`},
		{"ErrOwnerString", map[string]any{"name": "P", "owner": "abc"}, `{"owner": ["Incorrect type. Expected pk value, received str."]}`},
		{"ErrOwnerBool", map[string]any{"name": "P", "owner": true}, `{"owner": ["Incorrect type. Expected pk value, received bool."]}`},
		{"ErrOwnerNull", map[string]any{"name": "P", "owner": nil}, `{"owner": ["This field may not be null."]}`},
		{"ErrOwnerZero", map[string]any{"name": "P", "owner": 0}, `{"owner": ["` + ptInvalidPK(0) + `"]}`},
		{"ErrOwnerNonexistent", map[string]any{"name": "P", "owner": 7}, `{"owner": ["` + ptInvalidPK(7) + `"]}`},
		{"ErrOwnerOfOtherTenant", map[string]any{"name": "P", "owner": 3}, `{"owner": ["` + ptInvalidPK(3) + `"]}`},
		{"ErrNameMissingAndOwnerNonexistent", map[string]any{"owner": 7}, `{"name": ["This field is required."], "owner": ["` + ptInvalidPK(7) + `"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ptAssertBody(t, a.do(t, "POST", "/api/projects/", tc.body), http.StatusBadRequest, tc.want)
		})
	}
	for _, body := range []string{`{"name": "P",`, `["name"]`, `{"name": "P", "name": "Q"}`, ``} {
		t.Run("ErrMalformedJSON", func(t *testing.T) {
			r := a.must(t, http.StatusBadRequest, "POST", "/api/projects/", body)
			if d, _ := r.Body["detail"].(string); !strings.HasPrefix(d, "JSON parse error - ") {
				t.Fatalf("body %s", r.Raw)
			}
		})
	}
	t.Run("ErrNotJSON", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: a.host, Path: "/api/projects/", Token: a.token, Body: "name=P", CT: "application/x-www-form-urlencoded"})
		ptAssertBody(t, r, http.StatusUnsupportedMediaType, `{"detail": "Unsupported media type \"application/x-www-form-urlencoded\" in request."}`)
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "POST", Host: a.host, Path: "/api/projects/", Body: map[string]any{"name": "P"}})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
	})
	t.Run("NothingWritten", func(t *testing.T) {
		if n := a.count(t, "projects"); n != 0 {
			t.Fatalf("%d projects written by refused requests", n)
		}
	})
}

func TestProjectUpdate(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	bob := a.as(t, "bob")
	b := newPTTenant(t, env, "tenant_b", "bea")
	b.as(t, "ben")
	b.as(t, "bo")
	id := a.project(t, "Original", "Original description")
	path := fmt.Sprintf("/api/projects/%d/", id)
	const ro = `"id": 1, "client_name": "Tenant tenant_a"`

	t.Run("PatchChangesOnlyGivenFields", func(t *testing.T) {
		r := a.do(t, "PATCH", path, map[string]any{"name": "Renamed"})
		ptAssertBody(t, r, http.StatusOK, `{`+ro+`, "name": "Renamed", "description": "Original description", "owner": 1, "owner_name": "alice"}`, "created_at")
	})
	t.Run("PatchEmptyBodyChangesNothing", func(t *testing.T) {
		r := a.do(t, "PATCH", path, map[string]any{})
		ptAssertBody(t, r, http.StatusOK, `{`+ro+`, "name": "Renamed", "description": "Original description", "owner": 1, "owner_name": "alice"}`, "created_at")
	})
	t.Run("PatchOwnerByAnotherUser", func(t *testing.T) {
		r := bob.do(t, "PATCH", path, map[string]any{"owner": bob.userID})
		ptAssertBody(t, r, http.StatusOK, `{`+ro+`, "name": "Renamed", "description": "Original description", "owner": 2, "owner_name": "bob"}`, "created_at")
	})
	t.Run("PatchReadOnlyFieldsIgnored", func(t *testing.T) {
		before := a.must(t, http.StatusOK, "GET", path, nil)
		r := a.must(t, http.StatusOK, "PATCH", path, map[string]any{"id": 5, "created_at": "2000-01-01T00:00:00Z", "owner_name": "x"})
		if string(r.Raw) != string(before.Raw) {
			t.Fatalf("read-only fields changed the project: %s, was %s", r.Raw, before.Raw)
		}
	})
	t.Run("ErrPatchOwnerOfOtherTenant", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PATCH", path, map[string]any{"owner": 3}), http.StatusBadRequest, `{"owner": ["`+ptInvalidPK(3)+`"]}`)
	})
	t.Run("ErrPatchBlankName", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PATCH", path, map[string]any{"name": " ", "description": "changed"}), http.StatusBadRequest, `{"name": ["This field may not be blank."]}`)
	})
	t.Run("ErrPutWithoutName", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PUT", path, map[string]any{"description": "changed"}), http.StatusBadRequest, `{"name": ["This field is required."]}`)
	})
	t.Run("RefusedChangesLeftNothing", func(t *testing.T) {
		r := a.do(t, "GET", path, nil)
		ptAssertBody(t, r, http.StatusOK, `{`+ro+`, "name": "Renamed", "description": "Original description", "owner": 2, "owner_name": "bob"}`, "created_at")
	})
	t.Run("PutKeepsOmittedOptionalFields", func(t *testing.T) {
		r := a.do(t, "PUT", path, map[string]any{"name": "Put"})
		ptAssertBody(t, r, http.StatusOK, `{`+ro+`, "name": "Put", "description": "Original description", "owner": 2, "owner_name": "bob"}`, "created_at")
	})
	t.Run("PutReplacesGivenFields", func(t *testing.T) {
		r := a.do(t, "PUT", path, map[string]any{"name": "Put again", "description": "", "owner": 1})
		ptAssertBody(t, r, http.StatusOK, `{`+ro+`, "name": "Put again", "description": "", "owner": 1, "owner_name": "alice"}`, "created_at")
	})
	t.Run("ErrUnknownProject", func(t *testing.T) {
		for _, m := range []string{"PUT", "PATCH"} {
			// The missing object is reported before the invalid body.
			ptAssertBody(t, a.do(t, m, "/api/projects/99/", map[string]any{"name": ""}), http.StatusNotFound, `{"detail": "Not found."}`)
		}
	})
}

func TestProjectDelete(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	doomed := a.project(t, "Doomed", "")
	kept := a.project(t, "Kept", "")
	todo1, todo2 := a.todo(t, "one"), a.todo(t, "two")
	t1 := a.task(t, doomed, todo1, "2024-11-20")
	t2 := a.task(t, doomed, todo2, "2024-11-21")
	t3 := a.task(t, kept, todo1, "2024-11-22")

	t.Run("Deleted", func(t *testing.T) {
		r := a.do(t, "DELETE", fmt.Sprintf("/api/projects/%d/", doomed), nil)
		if r.Status != http.StatusNoContent || len(r.Raw) != 0 {
			t.Fatalf("status %d body %q, want 204 and no body", r.Status, r.Raw)
		}
		ptAssertBody(t, a.do(t, "GET", fmt.Sprintf("/api/projects/%d/", doomed), nil), http.StatusNotFound, `{"detail": "Not found."}`)
	})
	t.Run("TasksDeletedWithIt", func(t *testing.T) {
		for _, id := range []int64{t1, t2} {
			a.must(t, http.StatusNotFound, "GET", fmt.Sprintf("/api/tasks/%d/", id), nil)
		}
		a.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/tasks/%d/", t3), nil)
		if n := a.count(t, "tasks"); n != 1 {
			t.Fatalf("%d tasks left, want 1", n)
		}
	})
	t.Run("TodosAndOtherProjectsKept", func(t *testing.T) {
		a.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/todos/%d/", todo2), nil)
		a.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/", kept), nil)
	})
	t.Run("ErrDeletedTwice", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "DELETE", fmt.Sprintf("/api/projects/%d", doomed), nil), http.StatusNotFound, `{"detail": "Not found."}`)
	})
}

// TestProjectOwnerless: a project without an owner (a tenant cloned
// without its users keeps its projects so) is listed and read with null
// owner and owner_name, and any user of the tenant may change, analyse
// and delete it, as an ownerless todo.
func TestProjectOwnerless(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	bob := a.as(t, "bob")
	orphan := a.project(t, "Orphan", "left behind")
	owned := a.project(t, "Owned", "")
	todo := a.todo(t, "in the orphan")
	task := a.task(t, orphan, todo, "2024-11-20")
	disown := func(t *testing.T) {
		t.Helper()
		a.exec(t, `UPDATE {s}.projects SET owner_id = NULL WHERE id = ?`, orphan)
	}
	disown(t)
	for id, day := range map[int64]int{orphan: 1, owned: 2} {
		a.exec(t, `UPDATE {s}.projects SET created_at = ? WHERE id = ?`, time.Date(2024, 1, day, 12, 0, 0, 0, time.UTC), id)
	}
	path := fmt.Sprintf("/api/projects/%d/", orphan)
	const ro = `"client_name": "Tenant tenant_a", "owner": null, "owner_name": null`

	t.Run("DetailOwnerNull", func(t *testing.T) {
		for _, u := range []*ptTenant{a, bob} {
			ptAssertBody(t, u.do(t, "GET", path, nil), http.StatusOK, fmt.Sprintf(`{"id": %d, "name": "Orphan", "description": "left behind", `+ro+`, "created_at": "2024-01-01T12:00:00Z"}`, orphan))
		}
	})
	t.Run("ListedWithOwnerNull", func(t *testing.T) {
		r := bob.must(t, http.StatusOK, "GET", "/api/projects/", nil)
		if got := ptResultIDs(t, r); !reflect.DeepEqual(got, []int64{owned, orphan}) || r.Body["count"] != 2.0 {
			t.Fatalf("ids %v count %v, want [%d %d] 2", got, r.Body["count"], owned, orphan)
		}
		results := r.Body["results"].([]any)
		item := results[1].(map[string]any)
		want := map[string]any{"id": float64(orphan), "name": "Orphan", "description": "left behind", "owner": nil,
			"owner_name": nil, "client_name": "Tenant tenant_a", "created_at": "2024-01-01T12:00:00Z"}
		if !reflect.DeepEqual(item, want) {
			t.Fatalf("item %v, want %v", item, want)
		}
		if o := results[0].(map[string]any); o["owner"] != float64(a.userID) || o["owner_name"] != "alice" {
			t.Fatalf("owned project listed as %v", o)
		}
	})
	t.Run("FiltersAndOrdering", func(t *testing.T) {
		for query, want := range map[string][]int64{
			"search=behind":                     {orphan},
			"ordering=name":                     {orphan, owned},
			fmt.Sprintf("owner=%d", a.userID):   {owned},
			fmt.Sprintf("owner=%d", bob.userID): {},
		} {
			if got := ptResultIDs(t, a.must(t, http.StatusOK, "GET", "/api/projects/?"+query, nil)); !reflect.DeepEqual(got, want) {
				t.Errorf("?%s: ids %v, want %v", query, got, want)
			}
		}
	})
	t.Run("TaskStillListed", func(t *testing.T) {
		r := bob.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/tasks/?project=%d", orphan), nil)
		if got := ptResultIDs(t, r); !reflect.DeepEqual(got, []int64{task}) {
			t.Fatalf("tasks %v, want [%d]", got, task)
		}
		r = bob.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/tasks/%d/", task), nil)
		if r.Body["project"] != float64(orphan) || r.Body["project_name"] != "Orphan" {
			t.Fatalf("task %s", r.Raw)
		}
		bob.task(t, orphan, bob.todo(t, "bob's"), "2024-11-21")
	})
	t.Run("Analytics", func(t *testing.T) {
		ptAssertBody(t, bob.do(t, "GET", path+"analytics/", nil), http.StatusOK, `{"total_tasks": 2, "completed_tasks": 0,
			"pending_tasks": 2, "overdue_tasks": 2, "average_completion_time": null, "average_completion_seconds": null}`)
	})
	t.Run("PatchByAnyUserKeepsItOwnerless", func(t *testing.T) {
		r := bob.do(t, "PATCH", path, map[string]any{"name": "Adopted?"})
		ptAssertBody(t, r, http.StatusOK, fmt.Sprintf(`{"id": %d, "name": "Adopted?", "description": "left behind", `+ro+`}`, orphan), "created_at")
	})
	t.Run("PutByAnyUserKeepsItOwnerless", func(t *testing.T) {
		r := a.do(t, "PUT", path, map[string]any{"name": "Put", "description": ""})
		ptAssertBody(t, r, http.StatusOK, fmt.Sprintf(`{"id": %d, "name": "Put", "description": "", `+ro+`}`, orphan), "created_at")
	})
	t.Run("PatchOwnerAdoptsIt", func(t *testing.T) {
		r := bob.do(t, "PATCH", path, map[string]any{"owner": bob.userID})
		ptAssertBody(t, r, http.StatusOK, fmt.Sprintf(`{"id": %d, "name": "Put", "description": "", "client_name": "Tenant tenant_a", "owner": %d, "owner_name": "bob"}`, orphan, bob.userID), "created_at")
		disown(t)
	})
	t.Run("ErrPatchUnknownOwner", func(t *testing.T) {
		ptAssertBody(t, bob.do(t, "PATCH", path, map[string]any{"owner": 99}), http.StatusBadRequest, `{"owner": ["`+ptInvalidPK(99)+`"]}`)
		ptAssertBody(t, a.do(t, "GET", path, nil), http.StatusOK, fmt.Sprintf(`{"id": %d, "name": "Put", "description": "", `+ro+`}`, orphan), "created_at")
	})
	t.Run("DeleteByAnyUser", func(t *testing.T) {
		bob.must(t, http.StatusNoContent, "DELETE", path, nil)
		a.must(t, http.StatusNotFound, "GET", path, nil)
		a.must(t, http.StatusNotFound, "GET", fmt.Sprintf("/api/tasks/%d/", task), nil)
		if n := a.count(t, "tasks"); n != 0 {
			t.Fatalf("%d tasks left, want 0", n)
		}
		if got := ptResultIDs(t, a.must(t, http.StatusOK, "GET", "/api/projects/", nil)); !reflect.DeepEqual(got, []int64{owned}) {
			t.Fatalf("projects %v, want [%d]", got, owned)
		}
	})
}

func TestProjectList(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	bob := a.as(t, "bob")
	p1 := a.project(t, "Alpha", "first")
	p2 := bob.project(t, "Beta 100%", "has_underscore")
	p3 := a.project(t, "Gamma", "ALPHA centauri")
	p4 := bob.project(t, "Delta", "")
	for id, day := range map[int64]int{p1: 3, p2: 1, p3: 4, p4: 2} {
		a.exec(t, `UPDATE {s}.projects SET created_at = ? WHERE id = ?`, time.Date(2024, 1, day, 12, 0, 0, 0, time.UTC), id)
	}

	cases := []struct {
		name  string
		query string
		want  []int64
	}{
		{"DefaultNewestFirst", "", []int64{p3, p1, p4, p2}},
		{"OrderingCreatedAt", "ordering=created_at", []int64{p2, p4, p1, p3}},
		{"OrderingName", "ordering=name", []int64{p1, p2, p4, p3}},
		{"OrderingNameDescending", "ordering=-name", []int64{p3, p4, p2, p1}},
		{"OrderingID", "ordering=id", []int64{p1, p2, p3, p4}},
		{"OrderingIDDescending", "ordering=-id", []int64{p4, p3, p2, p1}},
		{"OrderingTwoKeys", "ordering=-created_at,name", []int64{p3, p1, p4, p2}},
		{"FilterOwner", "owner=1", []int64{p3, p1}},
		{"FilterOtherOwner", "owner=2", []int64{p4, p2}},
		{"FilterOwnerNobody", "owner=99", []int64{}},
		{"SearchCaseInsensitiveNameOrDescription", "search=alpha", []int64{p3, p1}},
		{"SearchPercentIsLiteral", "search=%25", []int64{p2}},
		{"SearchUnderscoreIsLiteral", "search=_", []int64{p2}},
		{"SearchNoMatch", "search=zeta", []int64{}},
		{"SearchOwnerAndOrdering", "search=ALPHA&owner=1&ordering=id", []int64{p1, p3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.must(t, http.StatusOK, "GET", "/api/projects/?"+tc.query, nil)
			if got := ptResultIDs(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
			if r.Body["count"] != float64(len(tc.want)) {
				t.Fatalf("count %v, want %d", r.Body["count"], len(tc.want))
			}
		})
	}

	t.Run("ListItemShape", func(t *testing.T) {
		r := a.must(t, http.StatusOK, "GET", "/api/projects/?ordering=id&limit=1", nil)
		item := r.Body["results"].([]any)[0].(map[string]any)
		want := map[string]any{"id": float64(p1), "name": "Alpha", "description": "first", "owner": float64(1),
			"owner_name": "alice", "client_name": "Tenant tenant_a", "created_at": "2024-01-03T12:00:00Z"}
		if !reflect.DeepEqual(item, want) {
			t.Fatalf("item %v, want %v", item, want)
		}
	})

	errs := []struct{ name, query, field string }{
		{"ErrOrderingUnknownField", "ordering=owner", "ordering"},
		{"ErrOrderingHiddenColumn", "ordering=-description", "ordering"},
		{"ErrOrderingInjection", "ordering=id%3BDROP%20TABLE%20projects", "ordering"},
		{"ErrOwnerNotANumber", "owner=abc", "owner"},
		{"ErrOwnerZero", "owner=0", "owner"},
		{"ErrLimitZero", "limit=0", "limit"},
		{"ErrLimitNotANumber", "limit=ten", "limit"},
		{"ErrOffsetNegative", "offset=-1", "offset"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			r := a.must(t, http.StatusBadRequest, "GET", "/api/projects/?"+tc.query, nil)
			if len(r.Body) != 1 || r.Body[tc.field] == nil {
				t.Fatalf("body %s, want an error for %s only", r.Raw, tc.field)
			}
		})
	}
	t.Run("ErrSeveralParametersNamedTogether", func(t *testing.T) {
		r := a.must(t, http.StatusBadRequest, "GET", "/api/projects/?owner=x&ordering=nope&limit=-1", nil)
		for _, f := range []string{"owner", "ordering", "limit"} {
			if r.Body[f] == nil {
				t.Fatalf("body %s names no %s", r.Raw, f)
			}
		}
	})

	base := "http://" + a.host + "/api/projects/"
	pages := []struct {
		name       string
		query      string
		want       []int64
		next, prev any
	}{
		{"FirstPage", "limit=2", []int64{p3, p1}, base + "?limit=2&offset=2", nil},
		{"LastFullPage", "limit=2&offset=2", []int64{p4, p2}, nil, base + "?limit=2"},
		{"PartialLastPage", "limit=2&offset=3", []int64{p2}, nil, base + "?limit=2&offset=1"},
		{"PastTheEndKeepsCount", "limit=2&offset=10", []int64{}, nil, base + "?limit=2&offset=2"},
		{"LimitCappedAt500", "limit=100000", []int64{p3, p1, p4, p2}, nil, nil},
		{"LinksKeepFilters", "limit=1&owner=1", []int64{p3}, base + "?limit=1&offset=1&owner=1", nil},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			r := a.must(t, http.StatusOK, "GET", "/api/projects?"+tc.query, nil)
			if got := ptResultIDs(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
			wantCount := 4.0
			if strings.Contains(tc.query, "owner=1") {
				wantCount = 2
			}
			if r.Body["count"] != wantCount || r.Body["next"] != tc.next || r.Body["previous"] != tc.prev {
				t.Fatalf("count %v next %v previous %v, want %v %v %v", r.Body["count"], r.Body["next"], r.Body["previous"], wantCount, tc.next, tc.prev)
			}
		})
	}
}

func TestProjectTenantIsolation(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	b := newPTTenant(t, env, "tenant_b", "bea")
	id := a.project(t, "A's secret", "only for tenant_a")
	a.task(t, id, a.todo(t, "A's todo"), "2024-11-20")
	path := fmt.Sprintf("/api/projects/%d/", id)

	t.Run("ErrForeignTenantID", func(t *testing.T) {
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", path, nil},
			{"PUT", path, map[string]any{"name": "hijacked"}},
			{"PATCH", path, map[string]any{"name": "hijacked"}},
			{"DELETE", path, nil},
			{"GET", path + "analytics/", nil},
		} {
			r := b.do(t, req.method, req.path, req.body)
			ptAssertBody(t, r, http.StatusNotFound, `{"detail": "Not found."}`)
			if strings.Contains(string(r.Raw), "secret") {
				t.Fatalf("%s %s leaked data: %s", req.method, req.path, r.Raw)
			}
		}
	})
	t.Run("ForeignListIsEmpty", func(t *testing.T) {
		r := b.must(t, http.StatusOK, "GET", "/api/projects/", nil)
		ptAssertBody(t, r, http.StatusOK, `{"count": 0, "next": null, "previous": null, "results": []}`)
	})
	t.Run("ErrForeignTokenOnThisHost", func(t *testing.T) {
		r := env.Do(t, apptest.Request{Method: "GET", Host: b.host, Path: path, Token: a.token})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
	})
	t.Run("SameIDInOtherTenantIsItsOwn", func(t *testing.T) {
		if got := b.project(t, "B's", ""); got != id {
			t.Fatalf("tenant_b's first project has id %d, want %d", got, id)
		}
		r := b.must(t, http.StatusOK, "GET", path, nil)
		if r.Body["name"] != "B's" || r.Body["client_name"] != "Tenant tenant_b" {
			t.Fatalf("tenant_b reads %s", r.Raw)
		}
		ptAssertBody(t, b.do(t, "GET", path+"analytics/", nil), http.StatusOK, `{"total_tasks": 0, "completed_tasks": 0,
			"pending_tasks": 0, "overdue_tasks": 0, "average_completion_time": null, "average_completion_seconds": null}`)
		b.must(t, http.StatusNoContent, "DELETE", path, nil)
	})
	t.Run("OwnRowsUntouched", func(t *testing.T) {
		r := a.must(t, http.StatusOK, "GET", path, nil)
		if r.Body["name"] != "A's secret" {
			t.Fatalf("tenant_a's project is now %s", r.Raw)
		}
		if n := a.count(t, "tasks"); n != 1 {
			t.Fatalf("tenant_a has %d tasks, want 1", n)
		}
	})
}

func TestProjectAnalytics(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	today := time.Now().UTC()
	day := func(offset int) string { return today.AddDate(0, 0, offset).Format("2006-01-02") }
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

	// addTask adds a task of project due on due; completedAfter, when
	// given, completes its todo that long after the todo's creation.
	addTask := func(t *testing.T, project int64, due string, completed bool, completedAfter *time.Duration) {
		t.Helper()
		todo := a.todo(t, "todo")
		a.task(t, project, todo, due)
		var completion any
		if completedAfter != nil {
			completion = start.Add(*completedAfter)
		}
		a.exec(t, `UPDATE {s}.todos SET created_at = ?, completed = ?, completion_time = ? WHERE id = ?`, start, completed, completion, todo)
	}
	dur := func(d time.Duration) *time.Duration { return &d }
	analytics := func(t *testing.T, project int64) apptest.Response {
		t.Helper()
		return a.do(t, "GET", fmt.Sprintf("/api/projects/%d/analytics/", project), nil)
	}

	t.Run("KnownDataSet", func(t *testing.T) {
		p := a.project(t, "Measured", "")
		addTask(t, p, day(-30), true, dur(time.Hour))  // completed, overdue date does not count
		addTask(t, p, day(10), true, dur(2*time.Hour)) // completed
		addTask(t, p, day(-1), true, nil)              // completed without a time: not averaged
		addTask(t, p, day(-1), false, nil)             // overdue
		addTask(t, p, day(0), false, nil)              // due today: not overdue
		addTask(t, p, day(1), false, dur(time.Minute)) // open, stale completion time: not averaged
		other := a.project(t, "Other", "")
		addTask(t, other, day(-5), true, dur(10*time.Hour))
		addTask(t, other, day(-5), false, nil)
		ptAssertBody(t, analytics(t, p), http.StatusOK, `{"total_tasks": 6, "completed_tasks": 3, "pending_tasks": 3,
			"overdue_tasks": 1, "average_completion_time": "P0DT01H30M00S", "average_completion_seconds": 5400}`)
		ptAssertBody(t, analytics(t, other), http.StatusOK, `{"total_tasks": 2, "completed_tasks": 1, "pending_tasks": 1,
			"overdue_tasks": 1, "average_completion_time": "P0DT10H00M00S", "average_completion_seconds": 36000}`)
	})
	t.Run("EmptyProjectZerosAndNulls", func(t *testing.T) {
		p := a.project(t, "Empty", "")
		ptAssertBody(t, analytics(t, p), http.StatusOK, `{"total_tasks": 0, "completed_tasks": 0, "pending_tasks": 0,
			"overdue_tasks": 0, "average_completion_time": null, "average_completion_seconds": null}`)
	})
	t.Run("NoCompletedTasksAverageNull", func(t *testing.T) {
		p := a.project(t, "Open", "")
		addTask(t, p, day(-2), false, nil)
		addTask(t, p, day(2), false, nil)
		ptAssertBody(t, analytics(t, p), http.StatusOK, `{"total_tasks": 2, "completed_tasks": 0, "pending_tasks": 2,
			"overdue_tasks": 1, "average_completion_time": null, "average_completion_seconds": null}`)
	})
	t.Run("DaysAndMicroseconds", func(t *testing.T) {
		p := a.project(t, "Long", "")
		addTask(t, p, day(1), true, dur(26*time.Hour+3*time.Minute+4*time.Second+500*time.Millisecond))
		ptAssertBody(t, analytics(t, p), http.StatusOK, `{"total_tasks": 1, "completed_tasks": 1, "pending_tasks": 0,
			"overdue_tasks": 0, "average_completion_time": "P1DT02H03M04.500000S", "average_completion_seconds": 93784.5}`)
	})
	t.Run("NegativeDurationAsDjango", func(t *testing.T) {
		p := a.project(t, "Backwards", "")
		addTask(t, p, day(1), true, dur(-90*time.Minute))
		ptAssertBody(t, analytics(t, p), http.StatusOK, `{"total_tasks": 1, "completed_tasks": 1, "pending_tasks": 0,
			"overdue_tasks": 0, "average_completion_time": "-P0DT01H30M00S", "average_completion_seconds": -5400}`)
	})
	t.Run("ErrUnknownProject", func(t *testing.T) {
		ptAssertBody(t, analytics(t, 999), http.StatusNotFound, `{"detail": "Not found."}`)
		ptAssertBody(t, analytics(t, 0), http.StatusNotFound, `{"detail": "Not found."}`)
		ptAssertBody(t, a.do(t, "GET", "/api/projects/abc/analytics/", nil), http.StatusNotFound, `{"detail": "Not found."}`)
	})
}
