package embedpg

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDir returns a fresh directory under os.TempDir() that the postgres OS
// user can reach when the tests run as root (t.TempDir is mode 0700).
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "embedpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func stopServer(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func execSQL(t *testing.T, url string, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryInt(t *testing.T, url string, sql string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// assertGone checks that the postmaster and all its children have exited and
// that the pid file has been removed.
func assertGone(t *testing.T, s *Server) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(s.DataDir(), "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid still present after Stop (stat error: %v)", err)
	}
	if err := syscall.Kill(s.pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster pid %d still exists after Stop (kill 0: %v)", s.pid, err)
	}
	if err := syscall.Kill(-s.pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still has members after Stop (kill 0: %v)", s.pid, err)
	}
}

func TestStartStopRestartKeepsData(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(testDir(t), "data")
	s := startServer(t, Options{DataDir: dataDir, Fast: true})

	if s.Port() == 0 {
		t.Fatal("Port() = 0")
	}
	if want := "postgres://postgres@127.0.0.1:"; !strings.HasPrefix(s.URL("postgres"), want) {
		t.Fatalf("URL = %q, want prefix %q", s.URL("postgres"), want)
	}
	if got := queryInt(t, s.URL("postgres"), "SELECT 1"); got != 1 {
		t.Fatalf("SELECT 1 = %d", got)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", fi.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid == 0 {
			t.Errorf("data dir owned by root, want the postgres OS user")
		}
	}
	if fi, err := os.Stat(s.LogPath()); err != nil || fi.Size() == 0 {
		t.Errorf("server log %s missing or empty (err %v)", s.LogPath(), err)
	}

	execSQL(t, s.URL("postgres"), "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
	stopServer(t, s)
	assertGone(t, s)
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	s2 := startServer(t, Options{DataDir: dataDir, Fast: true})
	if got := queryInt(t, s2.URL("postgres"), "SELECT x FROM kept"); got != 42 {
		t.Fatalf("after restart SELECT x = %d, want 42", got)
	}
	stopServer(t, s2)
	assertGone(t, s2)
}

func TestRestartAfterKill(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(testDir(t), "data")
	s := startServer(t, Options{DataDir: dataDir, Fast: true})
	execSQL(t, s.URL("postgres"), "CREATE TABLE survivor (x int); INSERT INTO survivor VALUES (7)")
	// Fast mode commits asynchronously; make sure the commit is on disk.
	execSQL(t, s.URL("postgres"), "CHECKPOINT")

	if err := syscall.Kill(s.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("postmaster did not exit after SIGKILL")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid after SIGKILL: %v", err)
	}

	s2 := startServer(t, Options{DataDir: dataDir, Fast: true})
	if got := queryInt(t, s2.URL("postgres"), "SELECT x FROM survivor"); got != 7 {
		t.Fatalf("after restart SELECT x = %d, want 7", got)
	}
	stopServer(t, s2)
	assertGone(t, s2)
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{DataDir: filepath.Join(testDir(t), "data"), Port: port, Fast: true})
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("Start succeeded on a port in use")
	}
	if !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("error does not say the port is in use: %v", err)
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(testDir(t), "data")
	s := startServer(t, Options{DataDir: dataDir, Fast: true})
	stopServer(t, s)

	// An unknown setting makes postgres exit at start-up.
	conf := filepath.Join(dataDir, "postgresql.auto.conf")
	if err := os.WriteFile(conf, []byte("no_such_setting = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		fi, _ := os.Stat(dataDir)
		st := fi.Sys().(*syscall.Stat_t)
		if err := os.Chown(conf, int(st.Uid), int(st.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s2, err := Start(ctx, Options{DataDir: dataDir, Fast: true})
	if err == nil {
		s2.Stop(context.Background())
		t.Fatal("Start succeeded with an invalid configuration")
	}
	if !strings.Contains(err.Error(), "no_such_setting") {
		t.Fatalf("error does not include the server log: %v", err)
	}
}

func TestUnreachableDataDirAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only meaningful when running as root")
	}
	t.Parallel()
	private := t.TempDir() // mode 0700, owned by root
	dataDir := filepath.Join(private, "data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{DataDir: dataDir})
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("Start succeeded with a data dir the postgres user cannot reach")
	}
	for _, want := range []string{dataDir, "not reachable", "postgres"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir was created although it is unusable (stat: %v)", err)
	}
}

func TestMissingDataDirOption(t *testing.T) {
	if _, err := Start(context.Background(), Options{}); err == nil {
		t.Fatal("Start without DataDir succeeded")
	}
}
