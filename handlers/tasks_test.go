package handlers_test

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
)

func TestTaskCreate(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	bob := a.as(t, "bob")

	t.Run("CreatedFromSeedPayloads", func(t *testing.T) {
		a.must(t, http.StatusCreated, "POST", "/api/todos/", map[string]any{"title": "Sample Todo", "description": "Description of the todo",
			"completed": false, "recurrence_interval": 5, "completion_time": "2024-11-15T15:05:00Z"})
		a.must(t, http.StatusCreated, "POST", "/api/projects/", map[string]any{"name": "Sample Project", "description": "Project description", "owner": 1})
		r := a.do(t, "POST", "/api/tasks/", map[string]any{"project": 1, "todo": 1, "assigned_user": 1, "due_date": "2024-11-20"})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 1, "project": 1, "todo": 1, "assigned_user": 1, "due_date": "2024-11-20",
			"completed": false, "project_name": "Sample Project", "todo_title": "Sample Todo"}`, "created_at")
		ptAssertRecent(t, r)
		got := a.must(t, http.StatusOK, "GET", "/api/tasks/1", nil)
		if string(got.Raw) != string(r.Raw) {
			t.Fatalf("GET %s differs from POST %s", got.Raw, r.Raw)
		}
	})
	t.Run("WithoutAssignedUserIsNull", func(t *testing.T) {
		r := a.do(t, "POST", "/api/tasks/", map[string]any{"project": 1, "todo": 1, "due_date": "2024-11-21"})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 2, "project": 1, "todo": 1, "assigned_user": null, "due_date": "2024-11-21",
			"completed": false, "project_name": "Sample Project", "todo_title": "Sample Todo"}`, "created_at")
	})
	t.Run("AssignedUserNullIsNull", func(t *testing.T) {
		r := a.do(t, "POST", "/api/tasks/", map[string]any{"project": "1", "todo": 1, "assigned_user": nil, "due_date": "2024-11-22"})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 3, "project": 1, "todo": 1, "assigned_user": null, "due_date": "2024-11-22",
			"completed": false, "project_name": "Sample Project", "todo_title": "Sample Todo"}`, "created_at")
	})
	t.Run("AnotherUsersTodoAndUser", func(t *testing.T) {
		todo := bob.todo(t, "Bob's todo")
		r := a.do(t, "POST", "/api/tasks/", map[string]any{"project": 1, "todo": todo, "assigned_user": bob.userID, "due_date": "2024-12-01",
			"id": 77, "completed": true, "project_name": "x", "created_at": "2000-01-01T00:00:00Z", "extra": 1})
		ptAssertBody(t, r, http.StatusCreated, `{"id": 4, "project": 1, "todo": 2, "assigned_user": 2, "due_date": "2024-12-01",
			"completed": false, "project_name": "Sample Project", "todo_title": "Bob's todo"}`, "created_at")
		ptAssertRecent(t, r)
	})
	t.Run("CompletedFollowsTheTodo", func(t *testing.T) {
		a.exec(t, `UPDATE {s}.todos SET completed = true, title = 'Renamed' WHERE id = 1`)
		r := a.must(t, http.StatusOK, "GET", "/api/tasks/1/", nil)
		if r.Body["completed"] != true || r.Body["todo_title"] != "Renamed" {
			t.Fatalf("task %s does not follow its todo", r.Raw)
		}
	})
}

func TestTaskCreateValidation(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	project, todo := a.project(t, "P", ""), a.todo(t, "T")
	// tenant_b has a project, todo and user 2, which tenant_a has not.
	b := newPTTenant(t, env, "tenant_b", "bea")
	b.project(t, "B1", "")
	b.todo(t, "B1")
	b.as(t, "ben").task(t, b.project(t, "B2", ""), b.todo(t, "B2"), "2024-11-20")

	valid := func(over map[string]any) map[string]any {
		body := map[string]any{"project": project, "todo": todo, "assigned_user": a.userID, "due_date": "2024-11-20"}
		for k, v := range over {
			if v == "<absent>" {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return body
	}
	const required = `["This field is required."]`
	cases := []struct {
		name string
		body any
		want string
	}{
		{"ErrAllRequiredMissing", map[string]any{}, `{"project": ` + required + `, "todo": ` + required + `, "due_date": ` + required + `}`},
		{"ErrDueDateMissing", valid(map[string]any{"due_date": "<absent>"}), `{"due_date": ` + required + `}`},
		{"ErrDueDateImpossible", valid(map[string]any{"due_date": "2024-13-40"}), `{"due_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}`},
		{"ErrDueDateDayFirst", valid(map[string]any{"due_date": "20-11-2024"}), `{"due_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}`},
		{"ErrDueDateNumber", valid(map[string]any{"due_date": 20241120}), `{"due_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}`},
		{"ErrDueDateNull", valid(map[string]any{"due_date": nil}), `{"due_date": ["This field may not be null."]}`},
		{"ErrProjectNull", valid(map[string]any{"project": nil}), `{"project": ["This field may not be null."]}`},
		{"ErrTodoNull", valid(map[string]any{"todo": nil}), `{"todo": ["This field may not be null."]}`},
		{"ErrProjectString", valid(map[string]any{"project": "abc"}), `{"project": ["Incorrect type. Expected pk value, received str."]}`},
		{"ErrProjectBool", valid(map[string]any{"project": true}), `{"project": ["Incorrect type. Expected pk value, received bool."]}`},
		{"ErrTodoList", valid(map[string]any{"todo": []int{1}}), `{"todo": ["Incorrect type. Expected pk value, received list."]}`},
		{"ErrAssignedUserObject", valid(map[string]any{"assigned_user": map[string]int{"id": 1}}), `{"assigned_user": ["Incorrect type. Expected pk value, received dict."]}`},
		{"ErrProjectNonexistent", valid(map[string]any{"project": 7}), `{"project": ["` + ptInvalidPK(7) + `"]}`},
		{"ErrTodoNonexistent", valid(map[string]any{"todo": 7}), `{"todo": ["` + ptInvalidPK(7) + `"]}`},
		{"ErrAssignedUserNonexistent", valid(map[string]any{"assigned_user": 7}), `{"assigned_user": ["` + ptInvalidPK(7) + `"]}`},
		{"ErrAllReferencesNonexistent", valid(map[string]any{"project": 7, "todo": 8, "assigned_user": 9}),
			`{"project": ["` + ptInvalidPK(7) + `"], "todo": ["` + ptInvalidPK(8) + `"], "assigned_user": ["` + ptInvalidPK(9) + `"]}`},
		{"ErrForeignTenantProject", valid(map[string]any{"project": 2}), `{"project": ["` + ptInvalidPK(2) + `"]}`},
		{"ErrForeignTenantTodo", valid(map[string]any{"todo": 2}), `{"todo": ["` + ptInvalidPK(2) + `"]}`},
		{"ErrForeignTenantUser", valid(map[string]any{"assigned_user": 2}), `{"assigned_user": ["` + ptInvalidPK(2) + `"]}`},
		{"ErrForeignReferencesAndBadDate", valid(map[string]any{"project": 2, "due_date": "2024-11-31"}),
			`{"project": ["` + ptInvalidPK(2) + `"], "due_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ptAssertBody(t, a.do(t, "POST", "/api/tasks/", tc.body), http.StatusBadRequest, tc.want)
		})
	}
	t.Run("NothingWritten", func(t *testing.T) {
		if n := a.count(t, "tasks"); n != 0 {
			t.Fatalf("%d tasks written by refused requests", n)
		}
	})
	t.Run("ValidBodyAccepted", func(t *testing.T) {
		a.must(t, http.StatusCreated, "POST", "/api/tasks/", valid(nil))
	})
}

func TestTaskUpdate(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	bob := a.as(t, "bob")
	b := newPTTenant(t, env, "tenant_b", "bea")
	for range 3 {
		b.todo(t, "B")
		b.project(t, "B", "")
	}
	p1, p2 := a.project(t, "P1", ""), a.project(t, "P2", "")
	t1, t2 := a.todo(t, "T1"), a.todo(t, "T2")
	id := ptID(t, a.must(t, http.StatusCreated, "POST", "/api/tasks/", map[string]any{"project": p1, "todo": t1, "assigned_user": a.userID, "due_date": "2024-11-20"}))
	path := fmt.Sprintf("/api/tasks/%d/", id)
	const ignore = "created_at"

	t.Run("PatchDueDateOnly", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PATCH", path, map[string]any{"due_date": "2025-01-31"}), http.StatusOK, `{"id": 1, "project": 1,
			"todo": 1, "assigned_user": 1, "due_date": "2025-01-31", "completed": false, "project_name": "P1", "todo_title": "T1"}`, ignore)
	})
	t.Run("PatchAssignedUserByAnotherUser", func(t *testing.T) {
		ptAssertBody(t, bob.do(t, "PATCH", path, map[string]any{"assigned_user": bob.userID}), http.StatusOK, `{"id": 1, "project": 1,
			"todo": 1, "assigned_user": 2, "due_date": "2025-01-31", "completed": false, "project_name": "P1", "todo_title": "T1"}`, ignore)
	})
	t.Run("PatchAssignedUserNullUnassigns", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PATCH", path, map[string]any{"assigned_user": nil}), http.StatusOK, `{"id": 1, "project": 1,
			"todo": 1, "assigned_user": null, "due_date": "2025-01-31", "completed": false, "project_name": "P1", "todo_title": "T1"}`, ignore)
	})
	t.Run("ErrPatchForeignTenantTodo", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PATCH", path, map[string]any{"todo": 3, "due_date": "2030-01-01"}), http.StatusBadRequest,
			`{"todo": ["`+ptInvalidPK(3)+`"]}`)
	})
	t.Run("ErrPatchBadDate", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PATCH", path, map[string]any{"due_date": "2024-02-30"}), http.StatusBadRequest,
			`{"due_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}`)
	})
	t.Run("ErrPatchNullProject", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PATCH", path, map[string]any{"project": nil}), http.StatusBadRequest, `{"project": ["This field may not be null."]}`)
	})
	t.Run("ErrPutRequiresAll", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PUT", path, map[string]any{"assigned_user": 1}), http.StatusBadRequest,
			`{"project": ["This field is required."], "todo": ["This field is required."], "due_date": ["This field is required."]}`)
	})
	t.Run("RefusedChangesLeftNothing", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "GET", path, nil), http.StatusOK, `{"id": 1, "project": 1,
			"todo": 1, "assigned_user": null, "due_date": "2025-01-31", "completed": false, "project_name": "P1", "todo_title": "T1"}`, ignore)
	})
	t.Run("PutReplaces", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PUT", path, map[string]any{"project": p2, "todo": t2, "due_date": "2024-12-24", "assigned_user": 2}), http.StatusOK,
			`{"id": 1, "project": 2, "todo": 2, "assigned_user": 2, "due_date": "2024-12-24", "completed": false, "project_name": "P2", "todo_title": "T2"}`, ignore)
	})
	t.Run("PutKeepsOmittedAssignedUser", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "PUT", path, map[string]any{"project": p1, "todo": t1, "due_date": "2024-12-25"}), http.StatusOK,
			`{"id": 1, "project": 1, "todo": 1, "assigned_user": 2, "due_date": "2024-12-25", "completed": false, "project_name": "P1", "todo_title": "T1"}`, ignore)
	})
	t.Run("ErrUnknownTask", func(t *testing.T) {
		for _, m := range []string{"PUT", "PATCH"} {
			ptAssertBody(t, a.do(t, m, "/api/tasks/99/", map[string]any{"project": 7}), http.StatusNotFound, `{"detail": "Not found."}`)
		}
	})
}

func TestTaskDelete(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	bob := a.as(t, "bob")
	p := a.project(t, "P", "")
	todo1, todo2 := a.todo(t, "one"), a.todo(t, "two")
	k1 := a.task(t, p, todo1, "2024-11-20")
	k2 := ptID(t, a.must(t, http.StatusCreated, "POST", "/api/tasks/", map[string]any{"project": p, "todo": todo2, "assigned_user": bob.userID, "due_date": "2024-11-21"}))
	k3 := a.task(t, p, todo2, "2024-11-22")

	t.Run("Deleted", func(t *testing.T) {
		r := a.do(t, "DELETE", fmt.Sprintf("/api/tasks/%d/", k1), nil)
		if r.Status != http.StatusNoContent || len(r.Raw) != 0 {
			t.Fatalf("status %d body %q, want 204 and no body", r.Status, r.Raw)
		}
		ptAssertBody(t, a.do(t, "GET", fmt.Sprintf("/api/tasks/%d/", k1), nil), http.StatusNotFound, `{"detail": "Not found."}`)
		a.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/todos/%d/", todo1), nil)
		a.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/projects/%d/", p), nil)
	})
	t.Run("ErrDeletedTwice", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "DELETE", fmt.Sprintf("/api/tasks/%d", k1), nil), http.StatusNotFound, `{"detail": "Not found."}`)
	})
	t.Run("DeletingAssignedUserUnassigns", func(t *testing.T) {
		a.exec(t, `DELETE FROM {s}.users WHERE id = ?`, bob.userID)
		r := a.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/tasks/%d/", k2), nil)
		if v, ok := r.Body["assigned_user"]; !ok || v != nil {
			t.Fatalf("assigned_user %v after its user was deleted: %s", v, r.Raw)
		}
	})
	t.Run("DeletingTodoDeletesItsTasks", func(t *testing.T) {
		a.exec(t, `DELETE FROM {s}.todos WHERE id = ?`, todo2)
		for _, id := range []int64{k2, k3} {
			a.must(t, http.StatusNotFound, "GET", fmt.Sprintf("/api/tasks/%d/", id), nil)
		}
		if n := a.count(t, "tasks"); n != 0 {
			t.Fatalf("%d tasks left, want 0", n)
		}
	})
}

func TestTaskList(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	bob := a.as(t, "bob")
	p1, p2 := a.project(t, "P1", ""), a.project(t, "P2", "")
	t1, t2, t3, t4 := a.todo(t, "T1"), a.todo(t, "T2"), a.todo(t, "T3"), a.todo(t, "T4")
	a.exec(t, `UPDATE {s}.todos SET completed = true, completion_time = now() WHERE id IN (?, ?)`, t2, t4)
	add := func(project, todo int64, user any, due string, createdDay int) int64 {
		id := ptID(t, a.must(t, http.StatusCreated, "POST", "/api/tasks/", map[string]any{"project": project, "todo": todo, "assigned_user": user, "due_date": due}))
		a.exec(t, `UPDATE {s}.tasks SET created_at = ? WHERE id = ?`, time.Date(2024, 1, createdDay, 0, 0, 0, 0, time.UTC), id)
		return id
	}
	k1 := add(p1, t1, a.userID, "2024-11-10", 2)
	k2 := add(p1, t2, bob.userID, "2024-11-20", 4)
	k3 := add(p2, t3, nil, "2024-11-15", 1)
	k4 := add(p2, t4, a.userID, "2024-11-25", 3)
	k5 := add(p1, t3, bob.userID, "2024-11-20", 5)

	cases := []struct {
		name  string
		query string
		want  []int64
	}{
		{"DefaultNewestFirst", "", []int64{k5, k2, k4, k1, k3}},
		{"OrderingCreatedAt", "ordering=created_at", []int64{k3, k1, k4, k2, k5}},
		{"OrderingDueDateTiesByIDDescending", "ordering=due_date", []int64{k1, k3, k5, k2, k4}},
		{"OrderingDueDateDescending", "ordering=-due_date", []int64{k4, k5, k2, k3, k1}},
		{"OrderingDueDateThenID", "ordering=due_date,id", []int64{k1, k3, k2, k5, k4}},
		{"OrderingID", "ordering=id", []int64{k1, k2, k3, k4, k5}},
		{"OrderingIDDescending", "ordering=-id", []int64{k5, k4, k3, k2, k1}},
		{"FilterProject", "project=1", []int64{k5, k2, k1}},
		{"FilterOtherProject", "project=2", []int64{k4, k3}},
		{"FilterTodo", fmt.Sprintf("todo=%d", t3), []int64{k5, k3}},
		{"FilterAssignedUser", "assigned_user=1", []int64{k4, k1}},
		{"FilterOtherAssignedUser", "assigned_user=2", []int64{k5, k2}},
		{"FilterDueBeforeIsExclusive", "due_before=2024-11-20", []int64{k1, k3}},
		{"FilterDueAfterIsExclusive", "due_after=2024-11-20", []int64{k4}},
		{"FilterDueBetween", "due_after=2024-11-10&due_before=2024-11-25", []int64{k5, k2, k3}},
		{"FilterCompleted", "completed=true", []int64{k2, k4}},
		{"FilterCompletedOne", "completed=1", []int64{k2, k4}},
		{"FilterNotCompleted", "completed=false", []int64{k5, k1, k3}},
		{"FiltersCombined", "project=1&completed=false&ordering=id", []int64{k1, k5}},
		{"FilterNoMatch", "project=99", []int64{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.must(t, http.StatusOK, "GET", "/api/tasks/?"+tc.query, nil)
			if got := ptResultIDs(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
			if r.Body["count"] != float64(len(tc.want)) {
				t.Fatalf("count %v, want %d", r.Body["count"], len(tc.want))
			}
		})
	}

	t.Run("ListItemShape", func(t *testing.T) {
		r := a.must(t, http.StatusOK, "GET", "/api/tasks?ordering=id&limit=1&offset=1", nil)
		item := r.Body["results"].([]any)[0].(map[string]any)
		want := map[string]any{"id": float64(k2), "project": float64(p1), "todo": float64(t2), "assigned_user": float64(bob.userID),
			"due_date": "2024-11-20", "created_at": "2024-01-04T00:00:00Z", "completed": true, "project_name": "P1", "todo_title": "T2"}
		if !reflect.DeepEqual(item, want) {
			t.Fatalf("item %v, want %v", item, want)
		}
	})

	errs := []struct{ name, query, field string }{
		{"ErrProjectNotANumber", "project=abc", "project"},
		{"ErrTodoZero", "todo=0", "todo"},
		{"ErrAssignedUserNegative", "assigned_user=-1", "assigned_user"},
		{"ErrDueBeforeImpossible", "due_before=2024-13-40", "due_before"},
		{"ErrDueAfterDayFirst", "due_after=20-11-2024", "due_after"},
		{"ErrCompletedNotABool", "completed=maybe", "completed"},
		{"ErrOrderingUnknownField", "ordering=title", "ordering"},
		{"ErrOrderingRelatedField", "ordering=project", "ordering"},
		{"ErrOrderingEmptyKey", "ordering=id,", "ordering"},
		{"ErrOffsetNotANumber", "offset=x", "offset"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			r := a.must(t, http.StatusBadRequest, "GET", "/api/tasks/?"+tc.query, nil)
			if len(r.Body) != 1 || r.Body[tc.field] == nil {
				t.Fatalf("body %s, want an error for %s only", r.Raw, tc.field)
			}
		})
	}

	base := "http://" + a.host + "/api/tasks/"
	pages := []struct {
		name       string
		query      string
		want       []int64
		next, prev any
	}{
		{"FirstPage", "limit=2", []int64{k5, k2}, base + "?limit=2&offset=2", nil},
		{"MiddlePage", "limit=2&offset=2", []int64{k4, k1}, base + "?limit=2&offset=4", base + "?limit=2"},
		{"LastPage", "limit=2&offset=4", []int64{k3}, nil, base + "?limit=2&offset=2"},
		{"PastTheEndKeepsCount", "limit=2&offset=5", []int64{}, nil, base + "?limit=2&offset=3"},
		{"OnePageForAll", "limit=5", []int64{k5, k2, k4, k1, k3}, nil, nil},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			r := a.must(t, http.StatusOK, "GET", "/api/tasks/?"+tc.query, nil)
			if got := ptResultIDs(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
			if r.Body["count"] != 5.0 || r.Body["next"] != tc.next || r.Body["previous"] != tc.prev {
				t.Fatalf("count %v next %v previous %v, want 5 %v %v", r.Body["count"], r.Body["next"], r.Body["previous"], tc.next, tc.prev)
			}
		})
	}
}

func TestTaskTenantIsolation(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	a := newPTTenant(t, env, "tenant_a", "alice")
	b := newPTTenant(t, env, "tenant_b", "bea")
	project, todo := a.project(t, "A's secret project", ""), a.todo(t, "A's secret todo")
	id := a.task(t, project, todo, "2024-11-20")
	path := fmt.Sprintf("/api/tasks/%d/", id)

	t.Run("ErrForeignTenantID", func(t *testing.T) {
		for _, req := range []struct {
			method string
			body   any
		}{
			{"GET", nil},
			{"PUT", map[string]any{"project": 1, "todo": 1, "due_date": "2030-01-01"}},
			{"PATCH", map[string]any{"due_date": "2030-01-01"}},
			{"DELETE", nil},
		} {
			ptAssertBody(t, b.do(t, req.method, path, req.body), http.StatusNotFound, `{"detail": "Not found."}`)
		}
	})
	t.Run("ForeignListIsEmpty", func(t *testing.T) {
		ptAssertBody(t, b.do(t, "GET", "/api/tasks/?project=1", nil), http.StatusOK, `{"count": 0, "next": null, "previous": null, "results": []}`)
	})
	t.Run("ErrForeignReferences", func(t *testing.T) {
		r := b.do(t, "POST", "/api/tasks/", map[string]any{"project": project, "todo": todo, "assigned_user": a.userID + 1, "due_date": "2024-11-20"})
		ptAssertBody(t, r, http.StatusBadRequest, `{"project": ["`+ptInvalidPK(project)+`"], "todo": ["`+ptInvalidPK(todo)+`"],
			"assigned_user": ["`+ptInvalidPK(a.userID+1)+`"]}`)
	})
	t.Run("OwnRowsUntouched", func(t *testing.T) {
		ptAssertBody(t, a.do(t, "GET", path, nil), http.StatusOK, `{"id": 1, "project": 1, "todo": 1, "assigned_user": null,
			"due_date": "2024-11-20", "completed": false, "project_name": "A's secret project", "todo_title": "A's secret todo"}`, "created_at")
		if n := b.count(t, "tasks"); n != 0 {
			t.Fatalf("tenant_b has %d tasks", n)
		}
	})
}
