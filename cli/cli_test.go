package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmt/strictmt/cli"
	"github.com/strictmt/strictmt/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, env, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func testEnv(t *testing.T) []string {
	t.Helper()
	return []string{
		"STRICTMT_DATABASE_URL=" + pgtest.NewDatabase(t),
		"STRICTMT_AUTH_JWT_SECRET=cli-test-secret-0123456789abcdef0123",
		"STRICTMT_LOG_LEVEL=warn",
	}
}

func TestTenantsLifecycle(t *testing.T) {
	t.Parallel()
	env := testEnv(t)

	r := run(t, env, "tenants", "create", "--name", "Tenant A", "--schema", "tenant_a", "--domain", "tenant1.localhost",
		"--domain", "more.example.com", "--paid-until", "2024-12-31", "--on-trial")
	if r.code != 0 || !strings.Contains(r.stdout, "created tenant tenant_a") {
		t.Fatalf("create: code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	r = run(t, env, "tenants", "list", "--json")
	var list []struct {
		Name       string `json:"name"`
		SchemaName string `json:"schema_name"`
		PaidUntil  string `json:"paid_until"`
		OnTrial    bool   `json:"on_trial"`
		Domains    []struct {
			Domain    string `json:"domain"`
			IsPrimary bool   `json:"is_primary"`
		} `json:"domains"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("list --json: code %d err %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(list) != 1 || list[0].SchemaName != "tenant_a" || list[0].Name != "Tenant A" || list[0].PaidUntil != "2024-12-31" ||
		!list[0].OnTrial || len(list[0].Domains) != 2 || list[0].Domains[0].Domain != "tenant1.localhost" || !list[0].Domains[0].IsPrimary {
		t.Fatalf("list: %+v", list)
	}

	r = run(t, env, "domains", "add", "tenant_a", "third.example.com")
	if r.code != 0 {
		t.Fatalf("domains add: %d %s", r.code, r.stderr)
	}
	r = run(t, env, "domains", "list", "tenant_a")
	if r.code != 0 || !strings.Contains(r.stdout, "third.example.com") {
		t.Fatalf("domains list: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, "domains", "remove", "third.example.com")
	if r.code != 0 {
		t.Fatalf("domains remove: %d %s", r.code, r.stderr)
	}

	r = run(t, env, "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, "1 total, 0 migrated") {
		t.Fatalf("migrate: %d %s %s", r.code, r.stdout, r.stderr)
	}

	t.Run("ErrDeleteWithoutYes", func(t *testing.T) {
		r := run(t, env, "tenants", "delete", "tenant_a", "--drop-schema")
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "--yes") {
			t.Fatalf("want one-line refusal, got %d %q", r.code, r.stderr)
		}
	})

	r = run(t, env, "tenants", "delete", "tenant_a", "--drop-schema", "--yes")
	if r.code != 0 {
		t.Fatalf("delete: %d %s", r.code, r.stderr)
	}
	r = run(t, env, "tenants", "list", "--json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("after delete: %s", r.stdout)
	}
}

func TestCommandErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	for name, args := range map[string][]string{
		"ErrHostileSchema":  {"tenants", "create", "--name", "X", "--schema", "a;drop schema public", "--domain", "x.localhost"},
		"ErrMissingFlag":    {"tenants", "create", "--name", "X"},
		"ErrBadDate":        {"tenants", "create", "--name", "X", "--schema", "x", "--domain", "x.localhost", "--paid-until", "31/12/2024"},
		"ErrUnknownTenant":  {"tenants", "delete", "nobody", "--yes"},
		"ErrUnknownCommand": {"frobnicate"},
		"ErrBadConfigValue": {"--isolation", "loose", "tenants", "list"},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, env, args...)
			line := strings.TrimSpace(r.stderr)
			if r.code == 0 || line == "" || strings.Contains(line, "\n") || !strings.HasPrefix(line, "strictmt: ") {
				t.Fatalf("want exit 1 with one line on stderr, got %d %q", r.code, r.stderr)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServeEmbedded runs what `go run .` runs: serve on the embedded
// PostgreSQL default, with the demo tenant, then stops on cancel.
func TestServeEmbedded(t *testing.T) {
	t.Parallel()
	// Not t.TempDir: its parent is private, and as root the embedded
	// server runs as the postgres user, who must reach the data dir.
	dir, err := os.MkdirTemp("", "strictmt-serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"STRICTMT_DATABASE_EMBEDDED_DATA_DIR=" + filepath.Join(dir, "data", "postgres"),
		"STRICTMT_HTTP_ADDR=127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- cli.Run(ctx, nil, env, &bytes.Buffer{}, &stderr) }()

	curlRe := regexp.MustCompile(`curl -H 'Host: ([^']+)' (http://[0-9.:]+/api/)`)
	var m []string
	for deadline := time.Now().Add(60 * time.Second); m == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("no curl line logged within 60s:\n%s", stderr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d:\n%s", code, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		m = curlRe.FindStringSubmatch(stderr.String())
	}
	base := strings.TrimSuffix(m[2], "/api/")
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, resp)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", m[2], nil)
	req.Host = m[1]
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("the logged curl line: %v %v", err, resp)
	}
	resp.Body.Close()

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit code %d:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of cancel")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "postgres", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("embedded PostgreSQL still running after stop (postmaster.pid: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "jwt_secret")); err != nil {
		t.Fatalf("development JWT secret not kept: %v", err)
	}
}
