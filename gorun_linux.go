package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// followGoRun makes `go run .` behave like the built binary on SIGTERM.
// go run does not forward SIGTERM to the program it started: it just
// exits, which would leave this process (and its embedded PostgreSQL)
// running. When our parent is the go command, ask the kernel to send us
// SIGTERM when it dies, which shuts down gracefully. A strictmt started
// any other way is left alone: it must outlive the shell that started it.
func followGoRun() {
	ppid := os.Getppid()
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return
	}
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	// The parent may have died before the prctl took effect.
	if os.Getppid() != ppid {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}
