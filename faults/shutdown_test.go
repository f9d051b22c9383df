package faults_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/internal/pgtest"
)

// TestSIGTERMUnderLoad runs the real binary, puts requests in flight that
// wait on a row lock the test holds, and sends SIGTERM: the listener
// closes at once (new connections are refused), the requests in flight
// complete with 200 once the lock is released, and the process exits 0
// well within http.shutdown_timeout.
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dbURL := pgtest.NewDatabase(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	const shutdownTimeout = 10 * time.Second
	workDir := t.TempDir() // no config.yaml: defaults, then the variables below
	env := append(environWithout("STRICTMT_"),
		"STRICTMT_DATABASE_URL="+dbURL,
		"STRICTMT_HTTP_ADDR="+addr,
		"STRICTMT_AUTH_JWT_SECRET="+secret,
		"STRICTMT_DEV_DEMO_TENANT=false",
		"STRICTMT_HTTP_SHUTDOWN_TIMEOUT="+shutdownTimeout.String(),
		"STRICTMT_HTTP_REQUEST_TIMEOUT=15s",
		"STRICTMT_LOG_LEVEL=info",
	)

	const host = "a.faults.localhost"
	cli := exec.Command(bin, "tenants", "create", "--name", "Tenant A", "--schema", "tenant_a", "--domain", host)
	cli.Dir, cli.Env = workDir, env
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("strictmt tenants create: %v\n%s", err, out)
	}

	srv := startProcess(t, bin, workDir, env)
	base := "http://" + addr
	c := newClient(base, 30*time.Second)
	if err := eventually(30*time.Second, 50*time.Millisecond, func() error {
		select {
		case <-srv.exited:
			return errors.New("exited")
		default:
		}
		r := c.do(context.Background(), "GET", "127.0.0.1", "/healthz", "", nil)
		if r.Err != nil || r.Status != http.StatusOK {
			return fmt.Errorf("%v", r)
		}
		return nil
	}); err != nil {
		t.Fatalf("strictmt did not start: %v\n%s", err, srv.log.String())
	}
	body := c.mustDo(t, "POST", host, "/api/register/", "", map[string]string{
		"username": "alice", "email": "alice@example.com", "password": "correct-horse-battery",
	}, http.StatusCreated)
	token := body["access"].(string)
	todo := c.createTodo(t, host, token, "locked")
	c.createTodo(t, host, token, "other")

	// Hold the row lock every PATCH of the todo needs.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lockConn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer lockConn.Close(context.Background())
	lockTx, err := lockConn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lockTx.Rollback(context.Background())
	if _, err := lockTx.Exec(ctx, "SELECT id FROM tenant_a.todos WHERE id = $1 FOR UPDATE", todo); err != nil {
		t.Fatal(err)
	}

	const inFlight = 6
	patched := make([]result, inFlight)
	var patches sync.WaitGroup
	for i := range inFlight {
		patches.Go(func() {
			patched[i] = c.do(context.Background(), "PATCH", host, fmt.Sprintf("/api/todos/%d/", todo), token,
				map[string]any{"title": fmt.Sprintf("patched %d", i)})
		})
	}
	loadCtx, stopLoad := context.WithTimeout(context.Background(), time.Minute)
	defer stopLoad()
	loaded := make(chan []result, 1)
	go func() {
		loaded <- load(loadCtx, c, 3, 2000, 5*time.Millisecond, func(int, int) (string, string, string, string, any) {
			return "GET", host, "/api/todos/", token, nil
		})
	}()
	if err := eventually(15*time.Second, 20*time.Millisecond, func() error {
		n := queryInt(t, dbURL, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
		if n < inFlight {
			return fmt.Errorf("%d of %d PATCH requests wait on the lock", n, inFlight)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Taken before the signal: the server may close its listener before
	// this goroutine runs again, and a request refused then must count as
	// after the signal.
	signalled := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	t.Run("NewConnectionsRefused", func(t *testing.T) {
		if err := eventually(3*time.Second, 10*time.Millisecond, func() error {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				return errors.New("a new connection was accepted")
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Errorf("want connection refused, got %w", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		fresh := &client{base: base, hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
		if r := fresh.do(context.Background(), "GET", host, "/api/todos/", token, nil); !errors.Is(r.Err, syscall.ECONNREFUSED) {
			t.Errorf("a request on a new connection after SIGTERM: want connection refused, got %v", r)
		}
	})

	// The requests in flight are slow: they wait on the lock a while
	// after the signal.
	time.Sleep(time.Second)
	select {
	case <-srv.exited:
		t.Fatalf("strictmt exited with requests in flight\n%s", srv.log.String())
	default:
	}
	if err := lockTx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	patches.Wait()
	stopLoad()
	results := <-loaded

	var exitErr error
	var exitedAfter time.Duration
	select {
	case <-srv.exited:
		exitErr, exitedAfter = srv.err, srv.at.Sub(signalled)
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("strictmt still running %v after SIGTERM\n%s", shutdownTimeout+5*time.Second, srv.log.String())
	}
	t.Logf("exited %v after SIGTERM (shutdown timeout %v): %v", exitedAfter.Round(time.Millisecond), shutdownTimeout, exitErr)
	if exitErr != nil {
		t.Errorf("exit: %v, want status 0\n%s", exitErr, srv.log.String())
	}
	if exitedAfter > shutdownTimeout {
		t.Errorf("exited %v after SIGTERM, past the shutdown timeout %v", exitedAfter, shutdownTimeout)
	}
	if !strings.Contains(srv.log.String(), "shutting down") {
		t.Errorf("no shutdown logged:\n%s", srv.log.String())
	}

	for _, r := range patched {
		if r.Err != nil || r.Status != http.StatusOK {
			t.Errorf("in flight at SIGTERM, want 200: %v", r)
			continue
		}
		if r.Start.Add(r.Dur).Before(signalled) {
			t.Errorf("completed before SIGTERM, so it was not in flight: %v", r)
		}
	}
	var title string
	if err := lockConn.QueryRow(ctx, "SELECT title FROM tenant_a.todos WHERE id = $1", todo).Scan(&title); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(title, "patched ") {
		t.Errorf("todo title %q: the PATCH requests in flight were not committed", title)
	}

	var before, refused int
	for _, r := range results {
		ended := r.Start.Add(r.Dur)
		switch {
		case r.Err == nil && (r.Status < 200 || r.Status > 299):
			t.Errorf("want 2xx: %v", r)
		case r.Err == nil && ended.Before(signalled):
			before++
		case r.Err != nil && ended.Before(signalled):
			t.Errorf("failed before SIGTERM: %v", r)
		case r.Err != nil:
			// Sent after the listener closed, or on a keep-alive
			// connection the server closed while idle.
			refused++
		}
	}
	t.Logf("load: %d requests, %d completed before SIGTERM, %d failed to connect after it", len(results), before, refused)
	if before == 0 {
		t.Errorf("no request of the load completed before SIGTERM")
	}
}

// buildBinary builds strictmt from the repository root into a temporary
// directory and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the source tree")
	}
	root := filepath.Dir(filepath.Dir(file))
	// go test puts its own toolchain's bin first on PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("cannot find the go command to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "strictmt")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running strictmt.
type process struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{} // closed once it has exited; then err and at are set
	err    error
	at     time.Time
}

// startProcess starts bin serving in dir with env; it is killed at the
// end of the test if it is still running.
func startProcess(t *testing.T, bin, dir string, env []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin), log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// Do not outlive the test process.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.at = time.Now()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// environWithout returns the environment without the variables whose
// names start with prefix.
func environWithout(prefix string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
