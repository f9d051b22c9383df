package cli_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/importer/importertest"
)

func TestImportDjangoTenants(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	src := importertest.NewSource(t)

	// tenant_b's domain is taken: that tenant fails, tenant_a is imported.
	if r := run(t, env, "tenants", "create", "--name", "Other", "--schema", "other", "--domain", "tenant2.localhost"); r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	r := run(t, env, "import", "django-tenants", "--from", src, "--dry-run")
	if r.code != 1 || !strings.Contains(r.stderr, "would fail: tenant_b") ||
		!strings.Contains(r.stdout, `conflict: tenant_b: domain "tenant2.localhost" is already used in strictmt by tenant other`) ||
		!strings.Contains(r.stdout, "nothing written") {
		t.Fatalf("dry run: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, "import", "django-tenants", "--from", src)
	if r.code != 1 || !strings.HasSuffix(strings.TrimSpace(r.stderr), "strictmt: import of 1 tenant(s) failed: tenant_b") {
		t.Fatalf("import: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// Not a terminal: one plain line per tenant, then the summary table.
	for _, re := range []string{
		`(?m)^import: \d/2 tenant_a: imported, 4 users, 43 todos, 2 projects, 3 tasks in `,
		`(?m)^import: \d/2 tenant_b: failed`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stderr) {
			t.Fatalf("stderr lacks %s:\n%s", re, r.stderr)
		}
	}
	for _, re := range []string{
		`(?m)^SCHEMA +NAME +STATUS +DOMAINS +USERS +TODOS +PROJECTS +TASKS +TIME +NOTE$`,
		`(?m)^tenant_a +Tenant A +imported +tenant1\.localhost,tenant-a\.example\.com +4 +43 +2 +3 `,
		`(?m)^tenant_b +Tenant B +failed +tenant2\.localhost +4 +1 +1 +1 .*1 conflict\(s\)$`,
		`(?m)^import: 2 tenant\(s\), 1 imported, 0 replaced, 0 skipped, 1 failed; 52 rows in `,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Fatalf("stdout lacks %s:\n%s", re, r.stdout)
		}
	}

	r = run(t, env, "domains", "remove", "tenant2.localhost")
	if r.code == 0 {
		t.Fatalf("removing other's last domain succeeded")
	}
	if r = run(t, env, "tenants", "delete", "other", "--drop-schema", "--yes"); r.code != 0 {
		t.Fatalf("delete: %d %s", r.code, r.stderr)
	}
	r = run(t, env, "import", "django-tenants", "--from", src, "--users", "referenced")
	if r.code != 0 || !regexp.MustCompile(`(?m)^tenant_a +Tenant A +skipped .*already in strictmt`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^tenant_b +Tenant B +imported +tenant2\.localhost +1 +1 +1 +1 `).MatchString(r.stdout) {
		t.Fatalf("rerun: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	for _, c := range []struct{ args, want string }{
		{"--users some", `--users: "some" is neither`},
		{"--todo-table a.b", `--todo-table: "a.b" is not a table name`},
		{"--schema Bad", "--schema:"},
		{"--schema nosuch", `the source has no tenant with schema_name "nosuch"`},
	} {
		r = run(t, env, append([]string{"import", "django-tenants", "--from", src}, strings.Fields(c.args)...)...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%s: %d %s", c.args, r.code, r.stderr)
		}
	}
}
