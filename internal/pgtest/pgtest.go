// Package pgtest gives tests real PostgreSQL databases.
//
// A package that uses it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Main starts one throw-away cluster for the package's test run, or uses the
// server named by STRICTMT_TEST_DATABASE_URL when that is set. Each test then
// calls NewDatabase for a fresh, empty database of its own.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strictmt/strictmt/internal/embedpg"
)

// EnvDatabaseURL names the environment variable that points the tests at an
// existing server instead of a throw-away cluster. Its value is the URL of a
// database on a server where the user may CREATE DATABASE and CREATE ROLE,
// for example postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const EnvDatabaseURL = "STRICTMT_TEST_DATABASE_URL"

const (
	// tempPrefix names the directories created for clusters under
	// os.TempDir().
	tempPrefix = "strictmt-pgtest-"
	// ownerFile, inside such a directory, holds the pid of the test process
	// that created it, so that later runs can remove what a crashed run
	// left behind.
	ownerFile = "owner.pid"

	startTimeout = 2 * time.Minute
	stopTimeout  = time.Minute
	sqlTimeout   = time.Minute
)

const noBinariesHint = "PostgreSQL server binaries (postgres, initdb) not found: " +
	"install them (Debian/Ubuntu: apt-get install postgresql) or set " + EnvDatabaseURL +
	" to the URL of a database on a server where the user may CREATE DATABASE and CREATE ROLE"

const missingMainHint = "pgtest: no test server; add to this package's tests: " +
	"func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }"

// harness is the server shared by the tests of one package.
type harness struct {
	adminURL *url.URL
	pool     *pgxpool.Pool
}

// current is set while Main runs the tests.
var current atomic.Pointer[harness]

// Main starts one throw-away cluster for the whole `go test` package run (or
// uses STRICTMT_TEST_DATABASE_URL when set), runs the tests, and removes
// everything afterwards. It returns the exit code for os.Exit. Without
// PostgreSQL binaries and without the variable it prints what to install
// and returns 1; it never skips the tests.
func Main(m *testing.M) int {
	removeAbandoned()
	h, shutdown, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer shutdown()
	current.Store(h)
	defer current.Store(nil)
	return m.Run()
}

// setup connects to the configured server or starts a cluster, and returns
// a function that undoes it.
func setup() (*harness, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	if raw := os.Getenv(EnvDatabaseURL); raw != "" {
		h, err := connect(ctx, raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", EnvDatabaseURL, err)
		}
		return h, h.pool.Close, nil
	}

	srv, dir, err := startCluster(ctx, embedpg.Options{Fast: true, MaxConnections: 300})
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		os.RemoveAll(dir)
	}
	h, err := connect(ctx, srv.URL("postgres"))
	if err != nil {
		stop()
		return nil, nil, err
	}
	return h, func() { h.pool.Close(); stop() }, nil
}

// connect opens the admin pool on rawURL and checks that it works.
func connect(ctx context.Context, rawURL string) (*harness, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("want a postgres:// URL, got %q", rawURL)
	}
	pool, err := pgxpool.New(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to %s: %w", u.Redacted(), err)
	}
	return &harness{adminURL: u, pool: pool}, nil
}

// startCluster starts a cluster in a new directory under os.TempDir() and
// returns it with that directory, which the caller removes after stopping it.
func startCluster(ctx context.Context, opts embedpg.Options) (*embedpg.Server, string, error) {
	bin, err := embedpg.FindBinaries("")
	if errors.Is(err, embedpg.ErrNoBinaries) {
		return nil, "", errors.New(noBinariesHint)
	} else if err != nil {
		return nil, "", err
	}
	// Under os.TempDir() rather than a private 0700 directory so that the
	// postgres OS user can reach it when the tests run as root.
	dir, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		return nil, "", err
	}
	owner := filepath.Join(dir, ownerFile)
	if err := errors.Join(
		os.Chmod(dir, 0o755),
		os.WriteFile(owner, []byte(strconv.Itoa(os.Getpid())), 0o644),
	); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	opts.BinDir = bin
	opts.DataDir = filepath.Join(dir, "data")
	srv, err := embedpg.Start(ctx, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return srv, dir, nil
}

// removeAbandoned deletes cluster directories left under os.TempDir() by
// test processes that died without cleaning up (a panicking test ends the
// process without running Main's deferred calls; the server itself stops
// when its parent dies).
func removeAbandoned() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, dir := range dirs {
		owner, ok := readPid(filepath.Join(dir, ownerFile))
		if !ok || alive(owner) {
			continue
		}
		if pm, ok := readPid(filepath.Join(dir, "data", "postmaster.pid")); ok && alive(pm) {
			continue
		}
		os.RemoveAll(dir)
	}
}

// readPid reads the process id on the first line of file.
func readPid(file string) (int, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return pid, err == nil && pid > 0
}

// alive reports whether a process with this pid may exist.
func alive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func harnessFor(t testing.TB) *harness {
	t.Helper()
	h := current.Load()
	if h == nil {
		t.Fatal(missingMainHint)
	}
	return h
}

// NewDatabase creates a fresh empty database for this test, registers its
// DROP in t.Cleanup (DROP DATABASE ... WITH (FORCE), which also ends
// connections left open), and returns its URL. The name is "t_" followed by
// the test name and a random suffix. It is safe for concurrent use by
// parallel tests.
func NewDatabase(t testing.TB) string {
	t.Helper()
	h := harnessFor(t)
	name := databaseName(t.Name())
	ident := pgx.Identifier{name}.Sanitize()

	ctx, cancel := context.WithTimeout(context.Background(), sqlTimeout)
	defer cancel()
	// template0 is never modified, so every database starts identical.
	if _, err := h.pool.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), sqlTimeout)
		defer cancel()
		if _, err := h.pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})

	u := *h.adminURL
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// databaseName returns "t_<test name>_<random>", lower case and at most 63
// bytes (PostgreSQL's identifier limit).
func databaseName(testName string) string {
	var b strings.Builder
	underscore := false
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			underscore = false
		} else if !underscore && b.Len() > 0 {
			b.WriteByte('_')
			underscore = true
		}
	}
	slug := strings.TrimSuffix(b.String(), "_")
	suffix := make([]byte, 5)
	rand.Read(suffix)
	if slug == "" {
		return "t_" + hex.EncodeToString(suffix)
	}
	return "t_" + slug + "_" + hex.EncodeToString(suffix)
}

// AdminURL returns the URL of the maintenance database of the harness
// server (the postgres database of the throw-away cluster, or
// STRICTMT_TEST_DATABASE_URL). Its user may create databases and roles.
func AdminURL(t testing.TB) string {
	t.Helper()
	return harnessFor(t).adminURL.String()
}

// StartServer starts a separate cluster owned by this test only, for
// fault-injection tests that stop and restart PostgreSQL; it is stopped and
// its directory removed in t.Cleanup. It needs local PostgreSQL binaries
// even when STRICTMT_TEST_DATABASE_URL is set, and does not need Main.
func StartServer(t testing.TB) *embedpg.Server {
	t.Helper()
	return startServer(t, true)
}

// StartDurableServer is StartServer with PostgreSQL's durability on
// (fsync, synchronous_commit): for tests of what survives a crash of
// PostgreSQL, where a commit it acknowledged must not be lost.
func StartDurableServer(t testing.TB) *embedpg.Server {
	t.Helper()
	return startServer(t, false)
}

func startServer(t testing.TB, fast bool) *embedpg.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, dir, err := startCluster(ctx, embedpg.Options{Fast: fast})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("pgtest: %v", err)
		}
		os.RemoveAll(dir)
	})
	return srv
}
