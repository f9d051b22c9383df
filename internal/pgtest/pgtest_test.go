package pgtest_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strictmt/strictmt/internal/pgtest"
)

// withoutMainEnv makes TestMain skip pgtest.Main, to check what happens when
// a package forgets it.
const withoutMainEnv = "PGTEST_SELFTEST_WITHOUT_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(withoutMainEnv) == "1" {
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m))
}

func connect(t *testing.T, rawURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		t.Fatalf("connect %s: %v", rawURL, err)
	}
	return conn
}

func dbName(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func TestDatabasesAreIsolatedAndDropped(t *testing.T) {
	var mu sync.Mutex
	urls := map[string]string{}

	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"first", "second"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				// Registered before NewDatabase, so it runs after the DROP:
				// the DROP must cope with this open connection.
				var conn *pgx.Conn
				t.Cleanup(func() {
					if conn != nil {
						conn.Close(context.Background())
					}
				})
				u := pgtest.NewDatabase(t)
				conn = connect(t, u)
				ctx := context.Background()
				if _, err := conn.Exec(ctx, "CREATE TABLE widgets (id int PRIMARY KEY, name text)"); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "INSERT INTO widgets VALUES (1, $1)", name); err != nil {
					t.Fatal(err)
				}
				var got string
				if err := conn.QueryRow(ctx, "SELECT name FROM widgets").Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != name {
					t.Fatalf("widgets holds %q, want %q", got, name)
				}
				mu.Lock()
				urls[name] = u
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		return
	}

	if urls["first"] == urls["second"] {
		t.Fatalf("both tests got %s", urls["first"])
	}
	admin := connect(t, pgtest.AdminURL(t))
	defer admin.Close(context.Background())
	for _, u := range urls {
		name := dbName(t, u)
		if !strings.HasPrefix(name, "t_") || name != strings.ToLower(name) || len(name) > 63 {
			t.Errorf("bad database name %q", name)
		}
		var n int
		err := admin.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after its test finished", name)
		}
	}
}

func TestManyParallelDatabases(t *testing.T) {
	for i := range 8 {
		t.Run("db", func(t *testing.T) {
			t.Parallel()
			conn := connect(t, pgtest.NewDatabase(t))
			defer conn.Close(context.Background())
			var n int
			if err := conn.QueryRow(context.Background(), "SELECT $1::int", i).Scan(&n); err != nil || n != i {
				t.Fatalf("SELECT = %d, %v", n, err)
			}
		})
	}
}

func TestLongTestNameGivesValidDatabaseName(t *testing.T) {
	t.Run(strings.Repeat("Very Long/Sub-Test Name ", 10), func(t *testing.T) {
		u := pgtest.NewDatabase(t)
		name := dbName(t, u)
		if len(name) > 63 || name != strings.ToLower(name) || !strings.HasPrefix(name, "t_") {
			t.Fatalf("bad database name %q", name)
		}
		conn := connect(t, u)
		conn.Close(context.Background())
	})
}

func TestStartServer(t *testing.T) {
	srv := pgtest.StartServer(t)
	conn := connect(t, srv.URL("postgres"))
	var one int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	conn.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, srv.URL("postgres")); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
}

func TestNewDatabaseWithoutMainFails(t *testing.T) {
	if os.Getenv(withoutMainEnv) == "1" {
		pgtest.NewDatabase(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewDatabaseWithoutMainFails$", "-test.count=1")
	cmd.Env = append(os.Environ(), withoutMainEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("NewDatabase without Main did not fail:\n%s", out)
	}
	if !strings.Contains(string(out), "os.Exit(pgtest.Main(m))") {
		t.Fatalf("failure does not say to add the TestMain:\n%s", out)
	}
}
