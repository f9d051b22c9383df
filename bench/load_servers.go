package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/config"
)

// runningServer is a server under test, listening on addr.
type runningServer struct {
	addr string
	// cpu returns the CPU time the server's process has used so far.
	cpu func() time.Duration
	// stop shuts the server down and waits for it.
	stop func() error
	// inProcess is true for a server running in this process, which a
	// CPU profile of this process covers.
	inProcess bool
}

// openLoadApp opens strictmt on url with the benchmark's configuration
// (pool of pool connections, isolation mode). Its log level is the
// configured "error": per-request log lines are not written, as the
// baseline writes none.
func openLoadApp(ctx context.Context, url, isolation string, pool int, migrate app.MigrateOptions, tweak func(*config.Config)) (*app.App, error) {
	cfg := benchConfig(url, isolation, pool)
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.Open(ctx, cfg, log, migrate)
	if err != nil {
		return nil, fmt.Errorf("opening strictmt: %w", err)
	}
	return a, nil
}

// startStrictmt serves strictmt in this process on a free port of
// 127.0.0.1, on an already migrated database; tweak, when not nil,
// changes the benchmark's configuration first.
func startStrictmt(ctx context.Context, url, isolation string, pool int, tweak func(*config.Config)) (*runningServer, error) {
	a, err := openLoadApp(ctx, url, isolation, pool, app.MigrateOptions{}, tweak)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close(ctx)
		return nil, err
	}
	srvCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Serve(srvCtx, ln, nil) }()
	return &runningServer{
		addr:      ln.Addr().String(),
		cpu:       selfCPU,
		inProcess: true,
		stop: func() error {
			cancel()
			err := <-done
			return errors.Join(err, a.Close(context.WithoutCancel(ctx)))
		},
	}, nil
}

// buildBaseline builds bench/baseline into dir and returns the binary.
func buildBaseline(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "baseline")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench/baseline")
	cmd.Dir = moduleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building bench/baseline: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of go.mod, found from the working directory
// up.
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// startBaseline runs the baseline binary as a child process on a free
// port of 127.0.0.1 and waits until it accepts connections. roundTrips is
// its BASELINE_ROUND_TRIPS: "" for the real baseline.
func startBaseline(ctx context.Context, bin, url string, pool int, roundTrips string) (*runningServer, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"STRICTMT_HTTP_ADDR=127.0.0.1:0",
		"STRICTMT_DATABASE_URL="+url,
		"STRICTMT_AUTH_JWT_SECRET="+benchSecret,
		"STRICTMT_DATABASE_MAX_OPEN_CONNS="+strconv.Itoa(pool),
		"BASELINE_ROUND_TRIPS="+roundTrips,
	)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		return cmd.Wait()
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(line, "listening on ")
		if !ok {
			stop()
			return nil, fmt.Errorf("baseline: unexpected output %q", line)
		}
		addr, _, _ = strings.Cut(addr, " ")
		pid := cmd.Process.Pid
		return &runningServer{addr: addr, stop: stop, cpu: func() time.Duration { return procCPU(pid) }}, nil
	case <-time.After(30 * time.Second):
		stop()
		return nil, errors.New("baseline: not listening after 30s")
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// selfCPU is the CPU time (user + system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// Linux).
const clockTick = 10 * time.Millisecond

// procStat returns the parent pid, the CPU time a process used, and the
// CPU time of its children it has waited for, from /proc/PID/stat.
func procStat(pid int) (ppid int, self, children time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0, 0, 0, false
	}
	num := func(k int) int64 { n, _ := strconv.ParseInt(f[k], 10, 64); return n }
	// Fields after the name: state(0) ppid(1) … utime(11) stime(12)
	// cutime(13) cstime(14).
	return int(num(1)), time.Duration(num(11)+num(12)) * clockTick, time.Duration(num(13)+num(14)) * clockTick, true
}

func procCPU(pid int) time.Duration {
	_, self, _, _ := procStat(pid)
	return self
}

// postgresCPU returns a function reporting the CPU time used so far by the
// PostgreSQL cluster at url: its postmaster, the children it has reaped,
// and its live children (backends and background processes).
func postgresCPU(ctx context.Context, url string) (func() time.Duration, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return nil, err
	}
	postmaster, _, _, ok := procStat(backend)
	if !ok {
		// Another machine, or another PID namespace.
		return func() time.Duration { return 0 }, nil
	}
	return func() time.Duration {
		_, self, reaped, _ := procStat(postmaster)
		total := self + reaped
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if ppid, cpu, _, ok := procStat(pid); ok && ppid == postmaster {
				total += cpu
			}
		}
		return total
	}, nil
}

// machine describes the host for the report.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				mem = fmt.Sprintf(", %.1f GiB memory", float64(kb)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s %s/%s", runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// loadAverage is the 1-minute load average, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
