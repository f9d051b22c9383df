package cli_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
)

// usageView is the JSON of `strictmt tenants usage`.
type usageView struct {
	SchemaName string `json:"schema_name"`
	Bytes      int64  `json:"bytes"`
	Rows       int64  `json:"rows"`
	Users      int64  `json:"users"`
	Exact      bool   `json:"exact"`
	Tables     []struct {
		Name string `json:"name"`
		Rows int64  `json:"rows"`
	} `json:"tables"`
	LastRequest *string `json:"last_request"`
	Requests    *int64  `json:"requests"`
}

// TestTenantsUsage: `tenants usage SCHEMA` prints pg_total_relation_size
// summed and count(*); without SCHEMA every tenant, from the catalog, in
// the order --sort asks, --top of them.
func TestTenantsUsage(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	url := strings.TrimPrefix(env[0], "STRICTMT_DATABASE_URL=")
	truth := apptest.SeedUsageTenants(t, url, apptest.UsageTenants("c"), func(schema, domain string) {
		if r := run(t, env, "tenants", "create", "--name", schema, "--schema", schema, "--domain", domain); r.code != 0 {
			t.Fatalf("create %s: %d %s", schema, r.code, r.stderr)
		}
	})

	t.Run("OneTenantExactJSON", func(t *testing.T) {
		r := run(t, env, "tenants", "usage", "c_big", "--json")
		var u usageView
		if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || r.code != 0 {
			t.Fatalf("code %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		want := truth["c_big"]
		if u.SchemaName != "c_big" || !u.Exact || u.Bytes != want.ExactBytes || u.Rows != want.Sum() || u.Users != want.Rows["users"] ||
			len(u.Tables) != len(apptest.UsageTables) || u.LastRequest != nil || u.Requests != nil {
			t.Errorf("%+v, want %d bytes, %d rows", u, want.ExactBytes, want.Sum())
		}
		for _, tbl := range u.Tables {
			if tbl.Rows != want.Rows[tbl.Name] {
				t.Errorf("%s: %d rows, count(*) says %d", tbl.Name, tbl.Rows, want.Rows[tbl.Name])
			}
		}
	})
	t.Run("OneTenantTable", func(t *testing.T) {
		r := run(t, env, "tenants", "usage", "c_big")
		want := truth["c_big"]
		for _, line := range []string{
			fmt.Sprintf(`(?m)^bytes\s+%d \(\d+ kB\)$`, want.ExactBytes),
			fmt.Sprintf(`(?m)^rows\s+%d$`, want.Sum()),
			fmt.Sprintf(`(?m)^users\s+%d$`, want.Rows["users"]),
			`(?m)^last request\s+-$`,
			fmt.Sprintf(`(?m)^todos\s+%d$`, want.Rows["todos"]),
			`(?m)^TABLE\s+ROWS$`,
		} {
			if !regexp.MustCompile(line).MatchString(r.stdout) {
				t.Errorf("no line %s in:\n%s", line, r.stdout)
			}
		}
	})
	t.Run("EveryTenantJSON", func(t *testing.T) {
		r := run(t, env, "tenants", "usage", "--json")
		var all []usageView
		if err := json.Unmarshal([]byte(r.stdout), &all); err != nil || r.code != 0 {
			t.Fatalf("code %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		var order []string
		for _, u := range all {
			order = append(order, u.SchemaName)
			want := truth[u.SchemaName]
			if u.Exact || u.Bytes != want.MainForkBytes || u.Rows != want.Sum() || u.Users != want.Rows["users"] {
				t.Errorf("%+v, want %d bytes, %d rows", u, want.MainForkBytes, want.Sum())
			}
		}
		if want := []string{"c_big", "c_small", "c_empty"}; !slices.Equal(order, want) {
			t.Errorf("order %v, want %v (by bytes)", order, want)
		}
	})
	t.Run("TopAndSort", func(t *testing.T) {
		cases := []struct {
			args []string
			want []string
		}{
			{[]string{"--top", "1"}, []string{"c_big"}},
			{[]string{"--sort", "schema"}, []string{"c_big", "c_empty", "c_small"}},
			{[]string{"--sort", "users", "--top", "2"}, []string{"c_big", "c_small"}},
			{[]string{"--sort", "rows"}, []string{"c_big", "c_small", "c_empty"}},
			{[]string{"--sort", "requests"}, []string{"c_big", "c_empty", "c_small"}}, // none served: by schema
		}
		for _, c := range cases {
			r := run(t, env, append([]string{"tenants", "usage"}, c.args...)...)
			if r.code != 0 {
				t.Fatalf("%v: %d %s", c.args, r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if !regexp.MustCompile(`^SCHEMA\s+SIZE\s+BYTES\s+ROWS\s+USERS\s+LAST REQUEST$`).MatchString(lines[0]) {
				t.Errorf("%v: header %q", c.args, lines[0])
			}
			var got []string
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				got = append(got, f[0])
				if want := truth[f[0]]; f[3] != fmt.Sprint(want.MainForkBytes) || f[4] != fmt.Sprint(want.Sum()) || f[6] != "-" {
					t.Errorf("%v: line %q, want %d bytes and %d rows", c.args, l, want.MainForkBytes, want.Sum())
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%v: %v, want %v", c.args, got, c.want)
			}
		}
	})
	t.Run("ErrUnknownTenant", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "usage", "nobody"), `strictmt: No tenant with schema_name "nobody".`)
	})
	t.Run("ErrNotASchemaName", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "usage", "a;drop schema c_big"), "strictmt: schema_name: …")
	})
	t.Run("ErrTopWithSchema", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "usage", "c_big", "--top", "2"), "strictmt: --top and --sort order the list of every tenant; with SCHEMA there is one")
	})
	t.Run("ErrUnknownSort", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "usage", "--sort", "size"), `strictmt: sort: Invalid field "size"; use one of bytes, rows, users, requests, last_request, schema.`)
	})
	t.Run("ErrNegativeTop", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "usage", "--top", "-1"), "strictmt: --top: must be 0 (every tenant) or more")
	})
}

// TestTenantsUsageCountsWithMetrics: with metrics on the table has the
// request columns (none served by a command).
func TestTenantsUsageCountsWithMetrics(t *testing.T) {
	t.Parallel()
	env := append(testEnv(t), "STRICTMT_METRICS_ENABLED=true")
	if r := run(t, env, "tenants", "create", "--name", "M", "--schema", "c_metrics", "--domain", "c-metrics.localhost"); r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	r := run(t, env, "tenants", "usage")
	if r.code != 0 || !regexp.MustCompile(`(?m)^SCHEMA\s+SIZE\s+BYTES\s+ROWS\s+USERS\s+LAST REQUEST\s+REQUESTS\s+DB TIME\nc_metrics\s.*\s-\s+0\s+0\.000 s$`).MatchString(r.stdout) {
		t.Errorf("code %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, "tenants", "usage", "c_metrics", "--json")
	var u usageView
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.Requests == nil || *u.Requests != 0 || u.LastRequest != nil {
		t.Errorf("%v: %s", err, r.stdout)
	}
}
