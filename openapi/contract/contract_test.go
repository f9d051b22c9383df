package contract_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/openapi/contract"
)

const (
	todoJSON = `{"id": 1, "title": "Sample Todo", "description": "Description of the todo", "completed": false,
		"recurrence_interval": 5, "completion_time": null, "due_at": null, "previous": null,
		"created_at": "2024-11-15T15:05:00.123456Z", "owner": 1, "owner_name": "alice", "client_name": "Tenant A"}`
	taskJSON = `{"id": 3, "project": 1, "todo": 2, "assigned_user": null, "due_date": "2024-11-20",
		"created_at": "2024-11-15T15:05:00Z", "completed": true, "project_name": "P", "todo_title": "T"}`
	jsonCT = "application/json; charset=utf-8"
)

// response is one fabricated exchange.
type response struct {
	method, path string
	reqHeader    map[string]string
	status       int
	header       map[string]string
	body         string
}

func check(t *testing.T, r response) error {
	t.Helper()
	spec, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(r.method, "http://tenant.localhost"+r.path, nil)
	for k, v := range r.reqHeader {
		req.Header.Set(k, v)
	}
	h := http.Header{}
	if r.body != "" {
		h.Set("Content-Type", jsonCT)
	}
	for k, v := range r.header {
		h.Set(k, v)
	}
	return spec.Check(req, r.status, h, []byte(r.body))
}

func TestCheckAccepts(t *testing.T) {
	t.Parallel()
	unauthorized := map[string]string{"WWW-Authenticate": `Bearer realm="api"`}
	tests := map[string]response{
		"Todo":                 {method: "GET", path: "/api/todos/1/", status: 200, body: todoJSON},
		"TodoWithoutSlash":     {method: "GET", path: "/api/todos/1", status: 200, body: todoJSON},
		"TodoCompleted":        {method: "PATCH", path: "/api/todos/1/", status: 200, body: strings.Replace(todoJSON, `"completion_time": null`, `"completion_time": "2024-11-16T08:00:00Z"`, 1)},
		"TodoNotRecurring":     {method: "POST", path: "/api/todos/", status: 201, body: strings.Replace(todoJSON, `"recurrence_interval": 5`, `"recurrence_interval": null`, 1)},
		"TodoList":             {method: "GET", path: "/api/todos/?limit=1", status: 200, body: `{"count": 2, "next": "http://tenant.localhost/api/todos/?limit=1&offset=1", "previous": null, "results": [` + todoJSON + `]}`},
		"EmptyTaskList":        {method: "GET", path: "/api/tasks/", status: 200, body: `{"count": 0, "next": null, "previous": null, "results": []}`},
		"Task":                 {method: "GET", path: "/api/tasks/3/", status: 200, body: taskJSON},
		"Deleted":              {method: "DELETE", path: "/api/projects/1/", status: 204},
		"Analytics":            {method: "GET", path: "/api/projects/1/analytics/", status: 200, body: `{"total_tasks": 3, "completed_tasks": 1, "pending_tasks": 2, "overdue_tasks": 1, "average_completion_time": "P0DT01H30M00S", "average_completion_seconds": 5400}`},
		"AnalyticsEmpty":       {method: "GET", path: "/api/projects/1/analytics", status: 200, body: `{"total_tasks": 0, "completed_tasks": 0, "pending_tasks": 0, "overdue_tasks": 0, "average_completion_time": null, "average_completion_seconds": null}`},
		"ValidationError":      {method: "POST", path: "/api/todos/", status: 400, body: `{"title": ["This field is required."]}`},
		"ParseErrorDetail":     {method: "POST", path: "/api/tasks/", status: 400, body: `{"detail": "JSON parse error - empty request body"}`},
		"Unauthorized":         {method: "GET", path: "/api/todos/", status: 401, header: unauthorized, body: `{"detail": "Authentication credentials were not provided."}`},
		"PaymentRequired":      {method: "POST", path: "/api/token/", status: 402, body: `{"detail": "The subscription of this tenant ended on 2024-01-01. Renew it to use the API."}`},
		"UnknownPathNotFound":  {method: "GET", path: "/api/nothing/here/", status: 404, body: `{"detail": "Not found."}`},
		"NotAllowed":           {method: "DELETE", path: "/api/todos/", status: 405, body: `{"detail": "Method \"DELETE\" not allowed."}`},
		"PreflightAllowed":     {method: "OPTIONS", path: "/api/todos/", reqHeader: map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}, status: 204},
		"PreflightRefused":     {method: "OPTIONS", path: "/api/todos/", reqHeader: map[string]string{"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}, status: 403, body: `{"detail": "The origin \"https://evil.example.com\" is not allowed."}`},
		"TooLarge":             {method: "PUT", path: "/api/tasks/1/", status: 413, body: `{"detail": "Request body is larger than 1048576 bytes."}`},
		"Unavailable":          {method: "GET", path: "/api/projects/", status: 503, body: `{"detail": "The database is unavailable."}`},
		"NotReady":             {method: "GET", path: "/readyz", status: 503, body: `{"status": "unavailable", "detail": "The database is unavailable."}`},
		"OutsideTheTenantAPI":  {method: "POST", path: "/admin/tenants", status: 201, body: `{"anything": true}`},
		"AssetNotModified":     {method: "GET", path: "/api/docs/assets/redoc.standalone.js", status: 304},
		"RegisterWithMessage":  {method: "POST", path: "/api/register/", status: 201, body: `{"message": "User created successfully", "user": {"id": 1, "username": "a", "email": "a@example.com"}, "access": "x", "refresh": "y"}`},
		"RefreshedAccessToken": {method: "POST", path: "/api/token/refresh", status: 200, body: `{"access": "x"}`},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := check(t, r); err != nil {
				t.Errorf("want the response accepted, got:\n%v", err)
			}
		})
	}
}

func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		r    response
		want string // in the error
	}{
		"ErrMissingRequiredField": {
			r:    response{method: "GET", path: "/api/todos/1/", status: 200, body: strings.Replace(todoJSON, `"owner_name": "alice", `, "", 1)},
			want: "owner_name",
		},
		"ErrNullInNonNullableField": {
			r:    response{method: "GET", path: "/api/todos/1/", status: 200, body: strings.Replace(todoJSON, `"title": "Sample Todo"`, `"title": null`, 1)},
			want: "title",
		},
		"ErrWrongType": {
			r:    response{method: "GET", path: "/api/tasks/3/", status: 200, body: strings.Replace(taskJSON, `"completed": true`, `"completed": "yes"`, 1)},
			want: "completed",
		},
		"ErrUndocumentedField": {
			r:    response{method: "GET", path: "/api/tasks/3/", status: 200, body: strings.Replace(taskJSON, `"id": 3`, `"id": 3, "url": "x"`, 1)},
			want: "url",
		},
		"ErrBadDate": {
			r:    response{method: "GET", path: "/api/tasks/3/", status: 200, body: strings.Replace(taskJSON, `"2024-11-20"`, `"20.11.2024"`, 1)},
			want: "due_date",
		},
		"ErrBadDuration": {
			r:    response{method: "GET", path: "/api/projects/1/analytics/", status: 200, body: `{"total_tasks": 1, "completed_tasks": 1, "pending_tasks": 0, "overdue_tasks": 0, "average_completion_time": "1h30m0s", "average_completion_seconds": 5400}`},
			want: "average_completion_time",
		},
		"ErrListWithoutEnvelope": {
			r:    response{method: "GET", path: "/api/todos/", status: 200, body: `[` + todoJSON + `]`},
			want: "todos_list",
		},
		"ErrValidationErrorNotArrays": {
			r:    response{method: "POST", path: "/api/todos/", status: 400, body: `{"title": "This field is required."}`},
			want: "todos_create",
		},
		"ErrUndocumentedStatus": {
			r:    response{method: "GET", path: "/api/todos/1/", status: 500, body: `{"detail": "An internal error occurred."}`},
			want: "does not list status 500",
		},
		"ErrCreatedAnswered200": {
			r:    response{method: "POST", path: "/api/projects/", status: 200, body: `{"id": 1}`},
			want: "does not list status 200",
		},
		"ErrWrongContentType": {
			r:    response{method: "GET", path: "/api/todos/1/", status: 200, header: map[string]string{"Content-Type": "text/plain"}, body: todoJSON},
			want: "text/plain",
		},
		"ErrUnauthorizedWithoutChallenge": {
			r:    response{method: "GET", path: "/api/todos/", status: 401, body: `{"detail": "Authentication credentials were not provided."}`},
			want: "WWW-Authenticate",
		},
		"ErrBodyOnNoContent": {
			r:    response{method: "DELETE", path: "/api/todos/1/", status: 204, body: `{}`},
			want: "without a body",
		},
		"ErrUndocumentedPath": {
			r:    response{method: "GET", path: "/api/secret/", status: 200, body: `{}`},
			want: "not in the document",
		},
		"ErrUndocumentedMethod": {
			r:    response{method: "DELETE", path: "/api/projects/1/analytics/", status: 204},
			want: "no DELETE operation",
		},
		"ErrNotFoundNotDetail": {
			r:    response{method: "GET", path: "/api/nothing/", status: 404, body: `{"error": "not found"}`},
			want: "detail",
		},
		"ErrHealthzShape": {
			r:    response{method: "GET", path: "/healthz", status: 200, body: `{"status": "OK"}`},
			want: "healthz",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := check(t, tc.r)
			if err == nil {
				t.Fatalf("want the response refused, it was accepted")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want the error to mention %q, got:\n%v", tc.want, err)
			}
		})
	}
}

func TestLoadRefusesOpenAPI30(t *testing.T) {
	t.Parallel()
	_, err := contract.Load([]byte(`{"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": {}}`))
	if err == nil || !strings.Contains(err.Error(), "want 3.1") {
		t.Fatalf("want an error for a 3.0 document, got %v", err)
	}
}
