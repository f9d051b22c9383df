package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

const notCitus = "This database is not on Citus: every tenant schema is on this one PostgreSQL server."

// wantOneErrorLine asserts exit 1 with one line on stderr, equal to want
// or, when want ends with "…", starting with it.
func wantOneErrorLine(t *testing.T, r result, want string) {
	t.Helper()
	line := strings.TrimSpace(r.stderr)
	ok := line == want
	if prefix, cut := strings.CutSuffix(want, "…"); cut {
		ok = strings.HasPrefix(line, prefix)
	}
	if r.code != 1 || strings.Contains(line, "\n") || !ok {
		t.Fatalf("want exit 1 with the one line %q, got %d\nstdout: %s\nstderr: %s", want, r.code, r.stdout, r.stderr)
	}
}

func TestTenantPlacementOnPlainPostgreSQL(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	if r := run(t, env, "tenants", "create", "--name", "Placed", "--schema", "cli_place", "--domain", "cli-place.localhost"); r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}

	for name, args := range map[string][]string{
		"NotOnCitusAllTenants": {"tenants", "placement"},
		"NotOnCitusOneTenant":  {"tenants", "placement", "cli_place"},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, env, args...)
			if r.code != 0 || r.stdout != notCitus+"\n" || r.stderr != "" {
				t.Fatalf("want exit 0 and the one line %q, got %d\nstdout: %q\nstderr: %s", notCitus, r.code, r.stdout, r.stderr)
			}
		})
	}
	t.Run("NotOnCitusJSON", func(t *testing.T) {
		r := run(t, env, "tenants", "placement", "--json")
		var body map[string]string
		if err := json.Unmarshal([]byte(r.stdout), &body); err != nil || r.code != 0 || len(body) != 1 || body["detail"] != notCitus {
			t.Fatalf(`want exit 0 and {"detail": %q}, got %d (%v)\n%s%s`, notCitus, r.code, err, r.stdout, r.stderr)
		}
	})
	t.Run("ErrUnknownSchema", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "placement", "nobody"), `strictmt: No tenant with schema_name "nobody".`)
	})
	t.Run("ErrMoveNotOnCitus", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "move", "cli_place", "--node", "10.0.0.7:5432"), "strictmt: "+notCitus)
	})
	t.Run("ErrMoveBlockingWritesNotOnCitus", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "move", "cli_place", "--node", "worker-2:5432", "--block-writes"), "strictmt: "+notCitus)
	})
	t.Run("ErrMoveUnknownSchema", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "move", "nobody", "--node", "10.0.0.7:5432"), `strictmt: No tenant with schema_name "nobody".`)
	})
	t.Run("ErrMoveWithoutNode", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "move", "cli_place"), `strictmt: required flag(s) "node" not set`)
	})
	t.Run("ErrMoveWithoutSchema", func(t *testing.T) {
		wantOneErrorLine(t, run(t, env, "tenants", "move", "--node", "10.0.0.7:5432"), "strictmt: accepts 1 arg(s), received 0")
	})
}

// TestTenantPlacementRefusesHostileInputWithoutSQL runs the commands on a
// database that cannot be reached: an error other than the connection's
// was given before any SQL ran.
func TestTenantPlacementRefusesHostileInputWithoutSQL(t *testing.T) {
	t.Parallel()
	env := []string{
		"STRICTMT_DATABASE_URL=postgres://strictmt@127.0.0.1:1/none?sslmode=disable&connect_timeout=5",
		"STRICTMT_AUTH_JWT_SECRET=cli-test-secret-0123456789abcdef0123",
		"STRICTMT_LOG_LEVEL=warn",
	}
	hostile := `x"; DROP SCHEMA public --`
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"ErrHostileSchemaPlacement": {[]string{"tenants", "placement", hostile}, "strictmt: schema_name: Enter a valid schema name…"},
		"ErrHostileSchemaMove":      {[]string{"tenants", "move", hostile, "--node", "10.0.0.7:5432"}, "strictmt: schema_name: Enter a valid schema name…"},
		"ErrReservedSchemaMove":     {[]string{"tenants", "move", "pg_catalog", "--node", "10.0.0.7:5432"}, `strictmt: schema_name: "pg_catalog" is a reserved name.`},
		"ErrHostileNode":            {[]string{"tenants", "move", "acme", "--node", "w1:5432'; DROP SCHEMA public; --"}, "strictmt: node: Enter the node as HOST:PORT…"},
		"ErrNodeWithoutPort":        {[]string{"tenants", "move", "acme", "--node", "worker-2"}, "strictmt: node: Enter the node as HOST:PORT…"},
	} {
		t.Run(name, func(t *testing.T) {
			wantOneErrorLine(t, run(t, env, tc.args...), tc.want)
		})
	}
	// The control: valid input reaches the database, which is not there.
	t.Run("ValidInputReachesTheDatabase", func(t *testing.T) {
		r := run(t, env, "tenants", "move", "acme", "--node", "10.0.0.7:5432")
		if r.code != 1 || !strings.Contains(r.stderr, "127.0.0.1:1") {
			t.Fatalf("want a failure to connect, got %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})
}
