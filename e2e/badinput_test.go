package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
)

// snapshot returns a digest of every row of every tenant table of schema:
// it changes with any committed insert, update or delete.
func snapshot(t testing.TB, env *apptest.Env, schema string) string {
	t.Helper()
	var parts []string
	for _, table := range []string{"users", "todos", "projects", "tasks"} {
		parts = append(parts, fmt.Sprintf(`(SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM %q.%q x)`, schema, table))
	}
	var s string
	if err := env.App.DB.Raw(`SELECT concat_ws('|', ` + strings.Join(parts, ", ") + `)`).Scan(&s).Error; err != nil {
		t.Fatalf("snapshot of %s: %v", schema, err)
	}
	return s
}

// badEndpoint is a create or update endpoint and the values its fields
// refuse.
type badEndpoint struct {
	name, method, path string
	auth               bool
	// required are the fields, with valid raw JSON values, that a body
	// needs besides the one under test.
	required [][2]string
	// invalid maps each field to raw JSON values it refuses.
	invalid map[string][]string
}

// body is a JSON object with the endpoint's required fields and field set
// to the raw JSON value raw.
func (e badEndpoint) body(field, raw string) string {
	return "{" + strings.Join(append(e.others(field), fmt.Sprintf("%q: %s", field, raw)), ", ") + "}"
}

// without is a JSON object with the endpoint's required fields but field.
func (e badEndpoint) without(field string) string {
	return "{" + strings.Join(e.others(field), ", ") + "}"
}

func (e badEndpoint) others(field string) []string {
	var parts []string
	for _, kv := range e.required {
		if kv[0] != field {
			parts = append(parts, fmt.Sprintf("%q: %s", kv[0], kv[1]))
		}
	}
	return parts
}

// Invalid raw JSON values by field type.
var (
	badText = []string{`null`, `5`, `false`, `[]`, `{}`, `["x"]`, `"a\u0000b"`, `"\u0000"`}
	badName = append([]string{`""`, `"   "`, `"\t\n"`, `"` + strings.Repeat("x", 256) + `"`, `"` + strings.Repeat("é", 256) + `"`,
		`"` + strings.Repeat("x", 100000) + `"`}, badText...)
	badBool = []string{`null`, `"maybe"`, `""`, `2`, `-1`, `0.5`, `1e309`, `[]`, `{}`, `"true "`, `[true]`}
	badInt  = []string{`"abc"`, `""`, `"1 2"`, `1e309`, `-1e309`, `99999999999999999999`, `-9223372036854775809`, `-1`, `0`,
		`2147483648`, `1.5`, `true`, `[]`, `{}`, `[1]`, `"0x10"`, `1e-400`}
	badTime = []string{`"yesterday"`, `""`, `5`, `true`, `[]`, `{}`, `"2024-13-01T00:00:00Z"`, `"2024-11-15T25:00:00Z"`,
		`"2024-02-30T00:00:00Z"`, `"0000-01-01T00:00:00Z"`, `"10000-01-01T00:00:00Z"`, `"2024-11-15T15:05:00+25:00"`,
		`"2024-11-15T15:05:00Z\u0000"`, `"` + strings.Repeat("9", 10000) + `"`}
	badPK = []string{`"abc"`, `""`, `-1`, `0`, `1e309`, `99999999999999999999`, `9223372036854775807`, `1.5`, `true`, `[]`, `{}`,
		`[1]`, `{"id": 1}`, `424242`, `"1; DROP TABLE todos"`, `"1 OR 1=1"`}
	badDate = []string{`null`, `""`, `"2024-02-30"`, `"20241120"`, `20241120`, `"2024-11-20T00:00:00Z"`, `"0000-01-01"`,
		`"99999-01-01"`, `"2024-1-2"`, `"-2024-01-01"`, `[]`, `{}`, `true`, `"2024-11-20\u0000"`}
)

// badEndpoints are the create and update endpoints of the API.
func badEndpoints() []badEndpoint {
	todo := map[string][]string{
		"title": badName, "description": badText, "completed": badBool,
		"recurrence_interval": badInt, "completion_time": badTime,
	}
	project := map[string][]string{"name": badName, "description": badText, "owner": append([]string{`null`}, badPK...)}
	task := map[string][]string{
		"project": append([]string{`null`}, badPK...), "todo": append([]string{`null`}, badPK...),
		"assigned_user": badPK, "due_date": badDate,
	}
	taskReq := [][2]string{{"project", "1"}, {"todo", "1"}, {"due_date", `"2024-11-20"`}}
	creds := func(user string) [][2]string {
		return [][2]string{{"username", `"` + user + `"`}, {"email", `"` + user + `@example.com"`}, {"password", `"correct-horse-battery"`}}
	}
	return []badEndpoint{
		{"CreateTodo", "POST", "/api/todos/", true, [][2]string{{"title", `"ok"`}}, todo},
		{"PutTodo", "PUT", "/api/todos/1/", true, [][2]string{{"title", `"ok"`}}, todo},
		{"PatchTodo", "PATCH", "/api/todos/1/", true, nil, todo},
		{"CreateProject", "POST", "/api/projects/", true, [][2]string{{"name", `"ok"`}}, project},
		{"PutProject", "PUT", "/api/projects/1/", true, [][2]string{{"name", `"ok"`}}, project},
		{"PatchProject", "PATCH", "/api/projects/1/", true, nil, project},
		{"CreateTask", "POST", "/api/tasks/", true, taskReq, task},
		{"PutTask", "PUT", "/api/tasks/1/", true, taskReq, task},
		{"PatchTask", "PATCH", "/api/tasks/1/", true, nil, task},
		{"Register", "POST", "/api/register/", false, creds("newcomer"), map[string][]string{
			"username": append([]string{`"bob smith"`, `"alice"`, `"ALICE"`, `"` + strings.Repeat("x", 151) + `"`,
				`"ａｌｉｃｅ"`, `"alice\u200b"`, `"\u202eecila"`, `"al\u00adice"`, `"alice\ufeff"`, `"` + strings.Repeat("ﷺ", 9) + `"`}, badName...),
			"email":    append([]string{`"x"`, `"a@b"`, `"a@b.c\u0000"`, `"<a@b.co>"`}, badName...),
			"password": append([]string{`"short"`, `"12345678901"`, `"` + strings.Repeat("é", 37) + `"`}, badName...),
		}},
		{"Token", "POST", "/api/token/", false, [][2]string{{"username", `"alice"`}, {"password", `"correct-horse-battery"`}}, map[string][]string{
			"username": {`null`, `5`, `[]`, `{}`, `""`}, "password": {`null`, `5`, `[]`, `{}`, `""`},
		}},
		{"TokenRefresh", "POST", "/api/token/refresh/", false, nil, map[string][]string{
			"refresh": {`null`, `5`, `[]`, `{}`, `""`, `"x.y.z"`, `"` + strings.Repeat("a", 100000) + `"`},
		}},
		{"TokenVerify", "POST", "/api/token/verify/", false, nil, map[string][]string{
			"token": {`null`, `5`, `[]`, `{}`, `""`, `"x.y.z"`, `"` + strings.Repeat("a", 100000) + `"`},
		}},
		{"TokenBlacklist", "POST", "/api/token/blacklist/", false, nil, map[string][]string{
			"refresh": {`null`, `5`, `[]`, `{}`, `""`, `"x.y.z"`, `"` + strings.Repeat("a", 100000) + `"`},
		}},
	}
}

// nested returns a JSON array nested depth deep.
func nested(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

// badBody is a request body every create and update endpoint refuses,
// whatever its fields.
type badBody struct {
	name    string
	ct      string
	body    []byte
	chunked bool
	status  int
}

func badBodies() []badBody {
	const json = "application/json"
	valid := []byte(`{"title": "ok", "name": "ok", "project": 1, "todo": 1, "due_date": "2024-11-20"}`)
	tenMB := append(append([]byte(`{"title": "`), bytes.Repeat([]byte("x"), 10<<20)...), `"}`...)
	return []badBody{
		{"ErrMalformedJSON", json, []byte(`{"title": "x",`), false, 400},
		{"ErrTruncatedKey", json, []byte(`{"title`), false, 400},
		{"ErrMissingColon", json, []byte(`{"title" "x"}`), false, 400},
		{"ErrTrailingComma", json, []byte(`{"title": "x",}`), false, 400},
		{"ErrSingleQuotes", json, []byte(`{'title': 'x'}`), false, 400},
		{"ErrComment", json, []byte(`{"title": "x" /* c */}`), false, 400},
		{"ErrNaN", json, []byte(`{"title": NaN}`), false, 400},
		{"ErrTrailingData", json, []byte(`{"title": "x"} x`), false, 400},
		{"ErrTwoObjects", json, []byte(`{}{}`), false, 400},
		{"ErrEmptyBody", json, []byte{}, false, 400},
		{"ErrWhitespaceBody", json, []byte(" \n\t "), false, 400},
		{"ErrNullBody", json, []byte(`null`), false, 400},
		{"ErrArray", json, []byte(`[{"title": "x"}]`), false, 400},
		{"ErrString", json, []byte(`"x"`), false, 400},
		{"ErrNumber", json, []byte(`42`), false, 400},
		{"ErrBOM", json, append([]byte("\xef\xbb\xbf"), valid...), false, 400},
		{"ErrInvalidUTF8Value", json, []byte("{\"title\": \"\xff\xfe\", \"name\": \"\xc3\x28\"}"), false, 400},
		{"ErrInvalidUTF8Key", json, []byte("{\"\xff\": 1}"), false, 400},
		{"ErrLatin1", "application/json; charset=latin1", []byte("{\"title\": \"caf\xe9\"}"), false, 400},
		{"ErrDuplicateKeys", json, []byte(`{"title": "a", "name": "a", "title": "b", "name": "b"}`), false, 400},
		{"ErrDuplicateKeysEscaped", json, []byte(`{"title": "a", "name": "a", "\u0074itle": "b", "na\u006de": "b"}`), false, 400},
		{"ErrDeeplyNestedArray", json, []byte(`{"title": ` + nested(100000) + `}`), false, 400},
		{"ErrDeeplyNestedObject", json, []byte(`{"x": ` + strings.Repeat(`{"x": `, 100000) + `1` + strings.Repeat("}", 100000) + `}`), false, 400},
		{"ErrTextPlain", "text/plain", valid, false, 415},
		{"ErrForm", "application/x-www-form-urlencoded", []byte("title=ok&name=ok&project=1&todo=1&due_date=2024-11-20"), false, 415},
		{"ErrMultipart", "multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nok\r\n--xyz--\r\n"), false, 415},
		{"ErrNoContentType", "", valid, false, 415},
		{"ErrXML", "application/xml", []byte(`<title>ok</title>`), false, 415},
		{"ErrBadMediaType", "application/", valid, false, 415},
		{"ErrJSONLookalike", "application/jsonx", valid, false, 415},
		{"ErrTooLarge", json, tenMB, false, 413},
		{"ErrTooLargeChunked", json, tenMB, true, 413},
	}
}

// TestBadInput sends every create and update endpoint malformed and
// invalid bodies: each gets a 4xx JSON error in DRF's shapes (naming the
// field when one is at fault), never a 500, and no row of the tenant
// changes.
func TestBadInput(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	const schema, host = "bad", "bad.localhost"
	env.CreateTenant(t, schema, host)
	access, _, _ := env.Register(t, host, "alice")
	for _, c := range []struct{ path, body string }{
		{"/api/todos/", `{"title": "seed"}`},
		{"/api/projects/", `{"name": "seed"}`},
		{"/api/tasks/", `{"project": 1, "todo": 1, "due_date": "2024-11-20"}`},
	} {
		if r := send(t, env, request{Method: "POST", Host: host, Path: c.path, Token: access, CT: "application/json", Body: []byte(c.body)}); r.Status != 201 {
			t.Fatalf("seeding %s: %d %s", c.path, r.Status, r.Raw)
		}
	}
	before := snapshot(t, env, schema)

	// check sends r and asserts a 4xx error (status, when not 0; the
	// field, when not "", on a 400) and that no row changed.
	check := func(t *testing.T, r request, status int, field string) {
		t.Helper()
		resp := send(t, env, r)
		if resp.Status < 400 || resp.Status >= 500 || (status != 0 && resp.Status != status) {
			t.Errorf("%s %s %.200q: status %d, want %d: %.500s", r.Method, r.Path, r.Body, resp.Status, status, resp.Raw)
		} else if why := checkErrorBody(resp); why != "" {
			t.Errorf("%s %s %.200q: %d %s: %.500s", r.Method, r.Path, r.Body, resp.Status, why, resp.Raw)
		} else if field != "" && resp.Status == http.StatusBadRequest && !bytes.Contains(resp.Raw, []byte(`"`+field+`":[`)) {
			t.Errorf("%s %s %.200q: want an error naming %q, got %.500s", r.Method, r.Path, r.Body, field, resp.Raw)
		}
		if after := snapshot(t, env, schema); after != before {
			t.Fatalf("%s %s %.200q (%d) changed rows", r.Method, r.Path, r.Body, resp.Status)
		}
	}

	for _, ep := range badEndpoints() {
		token := ""
		if ep.auth {
			token = access
		}
		t.Run(ep.name, func(t *testing.T) {
			for _, b := range badBodies() {
				t.Run(b.name, func(t *testing.T) {
					check(t, request{Method: ep.method, Host: host, Path: ep.path, Token: token, CT: b.ct, Body: b.body, Chunked: b.chunked}, b.status, "")
				})
			}
			for field, values := range ep.invalid {
				t.Run("ErrField_"+field, func(t *testing.T) {
					for _, v := range values {
						check(t, request{Method: ep.method, Host: host, Path: ep.path, Token: token, CT: "application/json", Body: []byte(ep.body(field, v))}, 0, field)
					}
				})
			}
			if len(ep.required) > 0 {
				t.Run("ErrMissingRequired", func(t *testing.T) {
					check(t, request{Method: ep.method, Host: host, Path: ep.path, Token: token, CT: "application/json", Body: []byte(`{}`)}, 400, ep.required[0][0])
					for _, kv := range ep.required {
						check(t, request{Method: ep.method, Host: host, Path: ep.path, Token: token, CT: "application/json", Body: []byte(ep.without(kv[0]))}, 400, kv[0])
					}
				})
			}
		})
	}
}

// TestBadPathIDs addresses every resource with ids that are not positive
// whole numbers of the id type: 404 JSON, nothing changed.
func TestBadPathIDs(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	const schema, host = "badid", "badid.localhost"
	env.CreateTenant(t, schema, host)
	access, _, _ := env.Register(t, host, "alice")
	before := snapshot(t, env, schema)
	bodies := map[string]string{
		"todos": `{"title": "x"}`, "projects": `{"name": "x"}`, "tasks": `{"project": 1, "todo": 1, "due_date": "2024-11-20"}`,
	}
	ids := []string{"-1", "0", "abc", "99999999999999999999", "9223372036854775808", "-9223372036854775808", "1.5", "1e3",
		"0x1", "%00", "%20", "1%00", "%FF", "1;2", "'", "%2e%2e", "9223372036854775807", "42"}
	for _, res := range []string{"todos", "projects", "tasks"} {
		for _, id := range ids {
			for _, method := range []string{"GET", "PUT", "PATCH", "DELETE"} {
				path := "/api/" + res + "/" + id + "/"
				r := request{Method: method, Host: host, Path: path, Token: access}
				if method == "PUT" || method == "PATCH" {
					r.CT, r.Body = "application/json", []byte(bodies[res])
				}
				t.Run("ErrNotFound_"+method+"_"+res+"_"+url.PathEscape(id), func(t *testing.T) {
					wantDetail(t, send(t, env, r), http.StatusNotFound)
				})
			}
			if res == "projects" {
				t.Run("ErrNotFound_Analytics_"+url.PathEscape(id), func(t *testing.T) {
					r := send(t, env, request{Method: "GET", Host: host, Path: "/api/projects/" + id + "/analytics/", Token: access})
					wantDetail(t, r, http.StatusNotFound)
				})
			}
		}
	}
	if after := snapshot(t, env, schema); after != before {
		t.Fatalf("requests with bad ids changed rows")
	}
}

// TestBadQueryParams sends the list endpoints invalid filters, pages and
// orderings: 400 naming the parameter, never a 500.
func TestBadQueryParams(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Admin.Token = adminToken
	env := apptest.Start(t, cfg)
	const host = "badq.localhost"
	env.CreateTenant(t, "badq", host)
	access, _, _ := env.Register(t, host, "alice")
	if r := send(t, env, request{Method: "POST", Host: host, Path: "/api/todos/", Token: access, CT: "application/json", Body: []byte(`{"title": "x"}`)}); r.Status != 201 {
		t.Fatalf("seed: %d %s", r.Status, r.Raw)
	}
	common := map[string][]string{
		"limit":    {"abc", "-1", "0", "99999999999999999999", "1.5", "\x00"},
		"offset":   {"abc", "-1", "99999999999999999999", "1e3"},
		"ordering": {"evil", "title;DROP TABLE todos", "-", ",,", "password_hash", "owner_id", "\x00", "(select 1)"},
	}
	specific := map[string]map[string][]string{
		"todos":    {"completed": {"maybe", "2", "\x00"}, "owner": {"abc", "-1", "0", "99999999999999999999", "1 OR 1=1"}, "search": {"\x00", "a\x00b", "\xff"}},
		"projects": {"owner": {"abc", "-1", "0", "99999999999999999999"}, "search": {"\x00", "a\x00b"}},
		"tasks": {"project": {"abc", "-1"}, "todo": {"abc", "0"}, "assigned_user": {"x", "-5"},
			"due_before": {"2024-02-30", "tomorrow", "0000-01-01", "\x00"}, "due_after": {"20241120", "\xff"}, "completed": {"maybe"}},
	}
	for _, res := range []string{"todos", "projects", "tasks"} {
		params := map[string][]string{}
		for k, v := range common {
			params[k] = v
		}
		for k, v := range specific[res] {
			params[k] = v
		}
		for param, values := range params {
			for _, v := range values {
				path := "/api/" + res + "/?" + param + "=" + url.QueryEscape(v)
				t.Run("Err_"+res+"_"+param+"_"+url.QueryEscape(v), func(t *testing.T) {
					skipKnownBug(t)
					r := send(t, env, request{Method: "GET", Host: host, Path: path, Token: access})
					wantField(t, r, param)
				})
			}
		}
	}
	for _, v := range []string{"\x00", "a\x00b", "\xff"} {
		t.Run("ErrAdminSearch_"+url.QueryEscape(v), func(t *testing.T) {
			skipKnownBug(t)
			r := send(t, env, request{Method: "GET", Host: "localhost", Path: "/admin/tenants/?search=" + url.QueryEscape(v), Token: adminToken})
			if r.Status >= 400 {
				wantField(t, r, "search")
			}
		})
	}
	// An offset past every row is an empty last page with no next link.
	t.Run("HugeOffset", func(t *testing.T) {
		for _, off := range []string{"9223372036854775807", "9223372036854775757", "4611686018427387904"} {
			r := send(t, env, request{Method: "GET", Host: host, Path: "/api/todos/?offset=" + off, Token: access})
			var page struct {
				Count    int64   `json:"count"`
				Next     *string `json:"next"`
				Previous *string `json:"previous"`
				Results  []any   `json:"results"`
			}
			if err := json.Unmarshal(r.Raw, &page); err != nil || r.Status != 200 || page.Next != nil || len(page.Results) != 0 || page.Count != 1 {
				// previous may point back at the last page.
				t.Errorf("offset=%s: %d %s", off, r.Status, r.Raw)
			}
		}
	})
}
