package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/strictmt/strictmt/internal/embedpg"
)

// noPgBouncerHint is the failure of a test that needs PgBouncer on a
// machine without it. Such tests fail; they are never skipped.
const noPgBouncerHint = "pgbouncer not found (looked on PATH and in /usr/sbin, /usr/bin): " +
	"install it (Debian/Ubuntu: apt-get install pgbouncer); .ci/run installs it"

// PgBouncerOptions configures StartPgBouncer.
type PgBouncerOptions struct {
	// PoolSize is default_pool_size: the server connections PgBouncer
	// keeps per database and user. The default is 2.
	PoolSize int
	// PoolMode is pool_mode; the default is "transaction".
	PoolMode string
	// Users are extra login roles (name → password, "" for none) that may
	// connect through the pooler besides the harness's own user.
	Users map[string]string
}

// PgBouncer is a running pgbouncer in front of the harness server, owned
// by one test.
type PgBouncer struct {
	port      int
	adminUser string
	logPath   string
	dir       string
	proc      *pgbouncerProc
}

// ServerConn is one server connection PgBouncer holds (a row of its admin
// console's SHOW SERVERS).
type ServerConn struct {
	User, Database, State string
	// RemotePID is the PostgreSQL backend's process id.
	RemotePID int
}

// StartPgBouncer starts Debian's pgbouncer on a free port of 127.0.0.1 in
// front of the harness server (the throw-away cluster, or
// STRICTMT_TEST_DATABASE_URL's server), with opts.PoolMode pooling (default
// transaction) and default_pool_size opts.PoolSize, and stops it in
// t.Cleanup. Every database of the server is reachable through it under
// its own name. It fails the test, with what to install, when pgbouncer is
// missing. When the test process is root, pgbouncer (which refuses to run
// as root) runs as the postgres OS user.
//
// No server_reset_query runs in transaction pooling (PgBouncer's default
// server_reset_query_always = 0 is kept): whatever state a client leaves on
// a server connection reaches the next client, which is what tests of
// leaks need to see.
func StartPgBouncer(t testing.TB, opts PgBouncerOptions) *PgBouncer {
	t.Helper()
	h := harnessFor(t)
	b, err := RunPgBouncer(h.adminURL.String(), opts)
	if err != nil {
		t.Fatal("pgtest: " + err.Error())
	}
	t.Cleanup(b.Stop)
	return b
}

// RunPgBouncer starts pgbouncer as StartPgBouncer does, in front of the
// server of serverURL (whose user connects to pgbouncer's admin console),
// for callers that are not tests, such as benchmarks. Stop stops it and
// removes its files.
func RunPgBouncer(serverURL string, opts PgBouncerOptions) (_ *PgBouncer, err error) {
	server, err := url.Parse(serverURL)
	if err != nil {
		return nil, err
	}
	bin, err := findPgBouncer()
	if err != nil {
		return nil, err
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = 2
	}
	if opts.PoolMode == "" {
		opts.PoolMode = "transaction"
	}
	cred, err := pgbouncerCredential()
	if err != nil {
		return nil, err
	}
	dir, err := pgbouncerDir(cred)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()

	s := &pgbouncerSetup{bin: bin, dir: dir, cred: cred, opts: opts}
	s.adminUser, s.auth = pgbouncerUsers(server, opts.Users)
	s.backendHost, s.backendPort = pgbouncerBackend(server)
	return s.launch()
}

// pgbouncerDir creates the directory of pgbouncer's files, owned by
// cred's user when pgbouncer runs as another one. It removes the directory
// again when it fails.
func pgbouncerDir(cred *syscall.Credential) (dir string, err error) {
	dir, err = os.MkdirTemp("", tempPrefix+"pgbouncer-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	if cred != nil {
		// pgbouncer writes its log here.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// pgbouncerUsers returns the admin console's user (the user of server,
// default postgres) and the auth_file that lets it and the users of
// extra (name → password) log in.
func pgbouncerUsers(server *url.URL, extra map[string]string) (adminUser, authFile string) {
	adminUser = server.User.Username()
	if adminUser == "" {
		adminUser = "postgres"
	}
	users := map[string]string{}
	for u, p := range extra {
		users[u] = p
	}
	adminPass, _ := server.User.Password()
	users[adminUser] = adminPass

	var auth strings.Builder
	for u, p := range users {
		fmt.Fprintf(&auth, "%s %s\n", quoteAuth(u), quoteAuth(p))
	}
	return adminUser, auth.String()
}

// pgbouncerBackend returns the host and port pgbouncer reaches server at:
// 127.0.0.1 for a missing host or localhost, 5432 for a missing port.
func pgbouncerBackend(server *url.URL) (host, port string) {
	host, port = server.Hostname(), server.Port()
	if port == "" {
		port = "5432"
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	return host, port
}

// pgbouncerSetup is what every attempt to start pgbouncer shares: its
// binary, directory and OS user, its options, the server it forwards to,
// and who may log in.
type pgbouncerSetup struct {
	bin, dir                 string
	cred                     *syscall.Credential // nil: pgbouncer runs as this process's user
	opts                     PgBouncerOptions
	backendHost, backendPort string
	adminUser                string
	auth                     string // the auth_file's content
}

// launch starts pgbouncer on a free port and waits until it answers,
// trying up to three ports.
func (s *pgbouncerSetup) launch() (*PgBouncer, error) {
	var lastErr error
	for range 3 { // a free port may be taken before pgbouncer binds it
		port, err := freeTCPPort()
		if err != nil {
			return nil, err
		}
		b, err := s.start(port)
		if err != nil {
			return nil, err
		}
		if err := b.waitReady(b.proc.exited); err != nil {
			b.proc.kill()
			lastErr = fmt.Errorf("%w\n--- %s ---\n%s", err, b.logPath, logTail(b.logPath, 0))
			continue
		}
		return b, nil
	}
	return nil, fmt.Errorf("pgbouncer did not start: %w", lastErr)
}

// start writes pgbouncer's configuration for port and its auth_file, and
// starts it without waiting for it to answer.
func (s *pgbouncerSetup) start(port int) (*PgBouncer, error) {
	logPath := filepath.Join(s.dir, "pgbouncer.log")
	iniPath := filepath.Join(s.dir, "pgbouncer.ini")
	if err := writeOwned(iniPath, s.ini(port, logPath), s.cred); err != nil {
		return nil, err
	}
	if err := writeOwned(filepath.Join(s.dir, "users.txt"), s.auth, s.cred); err != nil {
		return nil, err
	}
	proc, err := runPgBouncer(s.bin, iniPath, s.dir, s.cred)
	if err != nil {
		return nil, fmt.Errorf("starting pgbouncer: %w", err)
	}
	return &PgBouncer{port: port, adminUser: s.adminUser, logPath: logPath, dir: s.dir, proc: proc}, nil
}

// ini returns pgbouncer.ini for listening on port and logging to logPath.
func (s *pgbouncerSetup) ini(port int, logPath string) string {
	return strings.Join([]string{
		"[databases]",
		// The fallback entry: every database under its own name.
		"* = host=" + s.backendHost + " port=" + s.backendPort,
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		"listen_port = " + strconv.Itoa(port),
		"unix_socket_dir =",
		"auth_type = trust",
		"auth_file = " + filepath.Join(s.dir, "users.txt"),
		"admin_users = " + s.adminUser,
		"pool_mode = " + s.opts.PoolMode,
		"default_pool_size = " + strconv.Itoa(s.opts.PoolSize),
		"min_pool_size = 0",
		"reserve_pool_size = 0",
		"max_client_conn = 1000",
		"max_db_connections = 0",
		// Keep server connections for the whole run, so that the
		// ones inspected after a run are the ones that served it.
		"server_idle_timeout = 3600",
		"server_lifetime = 3600",
		"logfile = " + logPath,
		"log_connections = 0",
		"log_disconnections = 0",
		"",
	}, "\n")
}

// Stop stops pgbouncer (an immediate shutdown) and removes its files.
func (b *PgBouncer) Stop() {
	b.proc.kill()
	os.RemoveAll(b.dir)
}

// URL returns rawURL (a URL of the harness server, as from NewDatabase)
// with its host and port replaced by the pooler's.
func (b *PgBouncer) URL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic("pgtest: PgBouncer.URL: " + err.Error())
	}
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))
	return u.String()
}

// Port returns the port pgbouncer listens on at 127.0.0.1.
func (b *PgBouncer) Port() int { return b.port }

// Servers returns the server connections pgbouncer holds now, from its
// admin console's SHOW SERVERS.
func (b *PgBouncer) Servers(ctx context.Context) ([]ServerConn, error) {
	conn, err := b.console(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	res, err := conn.Exec(ctx, "SHOW SERVERS").ReadAll()
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, fmt.Errorf("SHOW SERVERS returned %d results", len(res))
	}
	col := map[string]int{}
	for i, f := range res[0].FieldDescriptions {
		col[f.Name] = i
	}
	for _, name := range []string{"user", "database", "state", "remote_pid"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("SHOW SERVERS has no column %q", name)
		}
	}
	var out []ServerConn
	for _, row := range res[0].Rows {
		pid, _ := strconv.Atoi(string(row[col["remote_pid"]]))
		out = append(out, ServerConn{
			User: string(row[col["user"]]), Database: string(row[col["database"]]),
			State: string(row[col["state"]]), RemotePID: pid,
		})
	}
	return out, nil
}

// console connects to pgbouncer's admin console (the virtual database
// "pgbouncer", simple query protocol only).
func (b *PgBouncer) console(ctx context.Context) (*pgconn.PgConn, error) {
	u := url.URL{
		Scheme: "postgres", User: url.User(b.adminUser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)),
		Path:     "/pgbouncer",
		RawQuery: "sslmode=disable&connect_timeout=5",
	}
	return pgconn.Connect(ctx, u.String())
}

func (b *PgBouncer) waitReady(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := b.console(ctx)
		if err == nil {
			_, err = conn.Exec(ctx, "SHOW VERSION").ReadAll()
			conn.Close(ctx)
			if err == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("pgbouncer exited")
		case <-ctx.Done():
			return fmt.Errorf("pgbouncer does not answer: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type pgbouncerProc struct {
	pid    int
	exited chan struct{}
}

func (p *pgbouncerProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	// SIGTERM is pgbouncer's immediate shutdown.
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.exited
	}
}

func runPgBouncer(bin, iniPath, dir string, cred *syscall.Credential) (*pgbouncerProc, error) {
	cmd := exec.Command(bin, iniPath)
	cmd.Dir = dir
	out, err := os.OpenFile(filepath.Join(dir, "stderr.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGTERM}
	p := &pgbouncerProc{exited: make(chan struct{})}
	if err := embedpg.StartOnLockedThread(cmd, func(error) { close(p.exited) }); err != nil {
		return nil, err
	}
	p.pid = cmd.Process.Pid
	return p, nil
}

// findPgBouncer locates the pgbouncer binary.
func findPgBouncer() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New(noPgBouncerHint)
}

// pgbouncerCredential returns nil when the process is not root, else the
// postgres OS user's credential: pgbouncer refuses to run as root.
func pgbouncerCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, pgbouncer must run as another OS user: %w (create the postgres user)", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// writeOwned writes a file pgbouncer can read, owned by its user when it
// runs as another one (it may hold passwords, so it is private to it).
func writeOwned(path, content string, cred *syscall.Credential) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	if cred != nil {
		return os.Chown(path, int(cred.Uid), int(cred.Gid))
	}
	return nil
}

// quoteAuth quotes a value for pgbouncer's auth_file.
func quoteAuth(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last lines of a log file from offset.
func logTail(path string, offset int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(log unavailable: " + err.Error() + ")"
	}
	if offset > 0 && offset < int64(len(data)) {
		data = data[offset:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
