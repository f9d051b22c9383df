package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/tenants"
)

// connect opens a connection to the database of env.
func connect(t *testing.T, env []string) *pgx.Conn {
	t.Helper()
	var url string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "STRICTMT_DATABASE_URL="); ok {
			url = v
		}
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// sqlExec runs statements on the database of env.
func sqlExec(t *testing.T, env []string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, env)
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	env := testEnv(t)

	// Before anything ran, a dry run lists the shared migrations and
	// creates nothing.
	r := run(t, env, "migrate", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "public: pending [1") || !strings.Contains(r.stdout, "tenant schemas: 0") {
		t.Fatalf("first dry run: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, "migrate", "--dry-run")
	if !strings.Contains(r.stdout, "public: pending [1") {
		t.Fatalf("the dry run migrated the shared schema: %s", r.stdout)
	}

	for _, s := range []string{"cli_a", "cli_b", "cli_c"} {
		r := run(t, env, "tenants", "create", "--name", s, "--schema", s, "--domain", strings.ReplaceAll(s, "_", "-")+".localhost")
		if r.code != 0 {
			t.Fatalf("create %s: %d %s", s, r.code, r.stderr)
		}
	}
	r = run(t, env, "migrate", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "public: up to date") || !strings.Contains(r.stdout, "tenant schemas: 3, none has pending migrations") {
		t.Fatalf("dry run: %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Forgetting that cli_b and cli_c were migrated makes their first
	// migration run again, and fail: its tables exist.
	ms, err := tenants.TenantMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var versions []int64
	var rows []string
	for _, m := range ms {
		versions = append(versions, m.Version)
		rows = append(rows, fmt.Sprintf("(%d, true)", m.Version))
	}
	restore := func(schema string) string {
		return "INSERT INTO " + schema + ".goose_db_version (version_id, is_applied) VALUES " + strings.Join(rows, ", ")
	}
	sqlExec(t, env, "DELETE FROM cli_b.goose_db_version WHERE version_id > 0", "DELETE FROM cli_c.goose_db_version WHERE version_id > 0")
	r = run(t, env, "migrate", "--dry-run")
	pending := fmt.Sprintf("pending %v", versions)
	if r.code != 0 || !strings.Contains(r.stdout, "cli_b: "+pending) || !strings.Contains(r.stdout, "cli_c: "+pending) || strings.Contains(r.stdout, "cli_a") {
		t.Fatalf("dry run with pending: %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	t.Run("ErrFailedSchemasNamed", func(t *testing.T) {
		r := run(t, env, "migrate", "--workers", "2")
		line := strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimSpace(r.stderr), "\n")+1:])
		if r.code == 0 || !strings.HasPrefix(line, "strictmt: migrating 2 tenant schema(s) failed: cli_b, cli_c") {
			t.Fatalf("want exit 1 naming cli_b and cli_c, got %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "failed: cli_b: ") || !strings.Contains(r.stdout, "3 total, 0 migrated (0 migrations), 2 failed, 1 up to date") {
			t.Fatalf("stdout: %s", r.stdout)
		}
		// Not a terminal: plain progress lines.
		if !strings.Contains(r.stderr, "migrate: 3/3 tenant schemas done, 2 failed") {
			t.Fatalf("no progress line: %s", r.stderr)
		}
	})

	t.Run("RerunAfterFixContinues", func(t *testing.T) {
		sqlExec(t, env, restore("cli_b"))
		r := run(t, env, "migrate", "--schema", "cli_b")
		if r.code != 0 || !strings.Contains(r.stdout, "1 total, 0 migrated (0 migrations), 0 failed, 1 up to date") {
			t.Fatalf("--schema cli_b: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = run(t, env, "migrate")
		if r.code == 0 || !strings.Contains(r.stderr, "failed: cli_c") || strings.Contains(r.stderr, "cli_b") {
			t.Fatalf("only cli_c should fail now: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		sqlExec(t, env, restore("cli_c"))
		if r := run(t, env, "migrate"); r.code != 0 || !strings.Contains(r.stdout, "3 up to date") {
			t.Fatalf("final run: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}
