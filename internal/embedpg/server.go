// Package embedpg initialises, starts and stops a local PostgreSQL cluster
// from the server binaries installed on the machine. The service uses it when
// no database URL is configured, and the test harness uses it for throw-away
// clusters.
package embedpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Superuser is the name of the superuser role created by initdb. It can log
// in over TCP from 127.0.0.1 without a password.
const Superuser = "postgres"

// Options configures Start.
type Options struct {
	// DataDir is the cluster directory. It is required, created if missing
	// and initialised with initdb when it holds no PG_VERSION file.
	DataDir string
	// Port is the TCP port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// BinDir is the directory holding postgres and initdb; when empty the
	// binaries are located with FindBinaries.
	BinDir string
	// OSUser is the operating-system user that runs initdb and postgres when
	// the current process is root (PostgreSQL refuses to run as root).
	// The default is "postgres".
	OSUser string
	// Fast turns off durability (fsync, synchronous_commit,
	// full_page_writes) for tests. Data may be lost on a machine crash.
	Fast bool
	// MaxConnections sets max_connections; the default is 100.
	MaxConnections int
	// Logger receives progress messages; nil discards them. The output of
	// initdb and postgres always goes to the file reported by
	// Server.LogPath, never to stdout.
	Logger *slog.Logger
}

// Server is a running PostgreSQL cluster started by Start.
type Server struct {
	dataDir string
	logPath string
	port    int
	pid     int
	logger  *slog.Logger

	exited  chan struct{} // closed when the postmaster has exited
	waitErr error         // result of cmd.Wait, valid once exited is closed

	stopOnce sync.Once
	stopErr  error
}

const (
	// startAttempts bounds retries when an automatically chosen port is
	// taken by someone else between choosing it and postgres binding it.
	startAttempts = 3
	// orphanWait bounds retries while processes of a killed server exit.
	orphanWait = 30 * time.Second
)

// Start initialises opts.DataDir if needed, starts postgres listening on
// 127.0.0.1 only (no Unix socket), and returns once the server accepts
// connections. ctx bounds the whole start-up; on failure the error includes
// the tail of the server log and no process is left running.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("embedpg: Options.DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedpg: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 100
	}
	if opts.Port != 0 {
		if err := checkPortFree(opts.Port); err != nil {
			return nil, err
		}
	}
	binDir, err := FindBinaries(opts.BinDir)
	if err != nil {
		return nil, fmt.Errorf("embedpg: %w", err)
	}
	cred, err := runAs(opts.OSUser)
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(dataDir, cred); err != nil {
		return nil, err
	}
	logPath := filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+".log")

	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		logger.Info("initializing PostgreSQL data directory", "dir", dataDir, "log", logPath)
		if err := initdb(ctx, binDir, dataDir, logPath, cred, opts.Fast); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("embedpg: %w", err)
	}

	// Children of a postmaster that was killed outright linger for a moment
	// and keep its shared memory attached; postgres refuses to start until
	// they are gone, so retry for a while.
	orphanDeadline := time.Now().Add(orphanWait)
	for portAttempts := 1; ; {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		s, err := start(ctx, binDir, dataDir, logPath, port, cred, opts, logger)
		switch {
		case err == nil:
			logger.Info("PostgreSQL started", "port", port, "dir", dataDir, "log", logPath)
			return s, nil
		case errors.Is(err, errPortInUse) && opts.Port == 0 && portAttempts < startAttempts:
			portAttempts++
			logger.Warn("port taken during PostgreSQL start, retrying", "port", port)
		case errors.Is(err, errOldProcesses) && time.Now().Before(orphanDeadline):
			logger.Warn("processes of a previous PostgreSQL run are still exiting, retrying", "dir", dataDir)
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(250 * time.Millisecond):
			}
		default:
			return nil, err
		}
	}
}

// URL returns the connection URL of database dbname as the superuser.
func (s *Server) URL(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int { return s.port }

// DataDir returns the absolute path of the cluster directory.
func (s *Server) DataDir() string { return s.dataDir }

// LogPath returns the file receiving the output of initdb and postgres:
// a file named after the data directory with a ".log" suffix, next to it.
func (s *Server) LogPath() string { return s.logPath }

// Stop shuts the server down with a fast shutdown (SIGINT: active sessions
// are disconnected, no crash recovery is needed on the next start) and waits
// for it to exit. If ctx ends first it escalates to SIGQUIT and then SIGKILL
// for the whole process group, and returns an error. Stop is idempotent:
// later calls return the result of the first one.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	s.logger.Info("stopping PostgreSQL", "port", s.port)
	_ = syscall.Kill(s.pid, syscall.SIGINT)
	select {
	case <-s.exited:
		return nil
	case <-ctx.Done():
	}
	s.logger.Warn("PostgreSQL did not stop in time, sending SIGQUIT", "port", s.port)
	_ = syscall.Kill(s.pid, syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		// Setpgid made the postmaster a process-group leader, so this
		// reaches its children as well.
		_ = syscall.Kill(-s.pid, syscall.SIGKILL)
		<-s.exited
	}
	return fmt.Errorf("embedpg: PostgreSQL on port %d did not shut down cleanly: %w", s.port, ctx.Err())
}

var (
	// errPortInUse marks start failures caused by the port being taken.
	errPortInUse = errors.New("port already in use")
	// errOldProcesses marks start failures caused by processes of a
	// previous server on the same data directory.
	errOldProcesses = errors.New("old server processes still running")
)

// start launches postgres and waits until it accepts connections.
func start(ctx context.Context, binDir, dataDir, logPath string, port int, cred *syscall.Credential, opts Options, logger *slog.Logger) (*Server, error) {
	logFile, logStart, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{
		"-D", dataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=" + strconv.Itoa(opts.MaxConnections),
	}
	if opts.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	cmd.Dir = dataDir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Keep terminal signals (Ctrl-C) away from postgres so that it is
		// stopped in order by Stop.
		Setpgid: true,
		// Stop postgres if this process dies without calling Stop.
		Pdeathsig: syscall.SIGINT,
	}

	s := &Server{
		dataDir: dataDir,
		logPath: logPath,
		port:    port,
		logger:  logger,
		exited:  make(chan struct{}),
	}
	err = StartOnLockedThread(cmd, func(waitErr error) {
		s.waitErr = waitErr
		close(s.exited)
	})
	logFile.Close() // the child holds its own descriptor
	if err != nil {
		return nil, fmt.Errorf("embedpg: starting postgres: %w", err)
	}
	s.pid = cmd.Process.Pid

	if err := s.waitReady(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.Stop(stopCtx)
		cancel()
		tail := logTail(logPath, logStart)
		switch {
		case strings.Contains(tail, "Address already in use"):
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		case strings.Contains(tail, "pre-existing shared memory block"):
			err = fmt.Errorf("%w: %w", errOldProcesses, err)
		}
		return nil, fmt.Errorf("embedpg: PostgreSQL did not start (data dir %s, port %d): %w\n--- %s ---\n%s",
			dataDir, port, err, logPath, tail)
	}
	return s, nil
}

// waitReady polls until the server accepts a connection to the postgres
// database, the postmaster exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgconn.Connect(attemptCtx, s.URL("postgres")+"&connect_timeout=2")
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("waiting for PostgreSQL to accept connections: %w (last error: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// initdb creates a new cluster in dataDir.
func initdb(ctx context.Context, binDir, dataDir, logPath string, cred *syscall.Credential, fast bool) error {
	logFile, logStart, err := openLog(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{
		"-D", dataDir,
		"-U", Superuser,
		"--auth=trust",
		"--encoding=UTF8",
		"--locale=C",
	}
	if fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), args...)
	cmd.Dir = dataDir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// On SIGINT initdb removes what it created, so an interrupted run does
	// not leave a half-initialised cluster behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("embedpg: initdb %s failed: %w\n--- %s ---\n%s", dataDir, err, logPath, logTail(logPath, logStart))
	}
	return nil
}

// runAs returns the credential to run PostgreSQL programs with: nil when the
// process is not root, else that of osUser (default "postgres").
func runAs(osUser string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if osUser == "" {
		osUser = "postgres"
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		return nil, fmt.Errorf("embedpg: running as root, PostgreSQL must run as another OS user: %w "+
			"(create it, e.g. `useradd --system postgres`, or choose another user)", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("embedpg: user %s: bad uid %q", osUser, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("embedpg: user %s: bad gid %q", osUser, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("embedpg: OS user %s is root; PostgreSQL refuses to run as root", osUser)
	}
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				groups = append(groups, uint32(g))
			}
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}, nil
}

// prepareDataDir creates dataDir (and missing parents), gives the new
// directories to the credential's user when cred is set, and makes dataDir
// mode 0700 as PostgreSQL requires. When cred is set it first checks that
// the user can reach the directory, so that nothing is created in vain.
func prepareDataDir(dataDir string, cred *syscall.Credential) error {
	missing := []string{dataDir}
	parent := filepath.Dir(dataDir)
	for ; parent != filepath.Dir(parent); parent = filepath.Dir(parent) {
		if _, err := os.Stat(parent); err == nil {
			break
		}
		missing = append(missing, parent)
	}
	if cred != nil && !canReach(parent, cred) {
		blocked := parent
		for dir := filepath.Dir(parent); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if !canReach(dir, cred) {
				blocked = dir
			}
		}
		name := strconv.Itoa(int(cred.Uid))
		if u, err := user.LookupId(name); err == nil {
			name = u.Username
		}
		return fmt.Errorf("embedpg: data dir %s is not reachable by OS user %s, which runs PostgreSQL "+
			"because this process is root: directory %s is not searchable by that user; "+
			"use a data dir that user can reach, e.g. /var/lib/strictmt/pgdata (or %s for throw-away data)",
			dataDir, name, blocked, filepath.Join(os.TempDir(), "strictmt", "pgdata"))
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("embedpg: creating data dir: %w", err)
	}
	if cred != nil {
		// The data dir may already exist (owned by root, say); it must
		// belong to the user either way.
		for _, dir := range missing {
			if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("embedpg: %w", err)
			}
		}
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return fmt.Errorf("embedpg: %w", err)
	}
	return nil
}

// canReach reports whether the credential's user can search dir, which
// requires search permission on all of its parents. It asks the kernel by
// running test(1) as that user, so ACLs and group membership count.
// When test(1) is not installed it assumes the directory is reachable and
// leaves the error, if any, to initdb and postgres.
func canReach(dir string, cred *syscall.Credential) bool {
	testBin, err := exec.LookPath("test")
	if err != nil {
		return true
	}
	cmd := exec.Command(testBin, "-x", dir)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd.Run() == nil
}

// openLog opens the server log for appending and returns its current size,
// so that error messages can show only what the current run wrote.
func openLog(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("embedpg: opening server log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("embedpg: %w", err)
	}
	return f, fi.Size(), nil
}

// logTail returns up to the last 20 lines written to the log after offset.
func logTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(log unavailable: " + err.Error() + ")"
	}
	defer f.Close()
	const maxBytes = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > maxBytes {
		offset = fi.Size() - maxBytes
	}
	data, err := io.ReadAll(io.NewSectionReader(f, offset, maxBytes))
	if err != nil {
		return "(log unavailable: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("embedpg: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// checkPortFree fails with a clear message when port is taken on 127.0.0.1.
func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("embedpg: port %d on 127.0.0.1 is already in use (%w); choose another port or 0 for a free one", port, err)
	}
	return l.Close()
}

// StartOnLockedThread starts cmd and, once it has exited, calls exited
// with cmd.Wait's result. The child is started from a goroutine locked to
// its OS thread, which it keeps until the child exits: a parent-death
// signal (SysProcAttr.Pdeathsig) fires when the thread that started the
// child exits, not the whole process (https://go.dev/issue/27505). The
// error is cmd.Start's; exited is not called when it is not nil.
func StartOnLockedThread(cmd *exec.Cmd, exited func(waitErr error)) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited(cmd.Wait())
	}()
	return <-started
}
