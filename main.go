// Command strictmt serves a multi-tenant JSON API in which every tenant
// has its own PostgreSQL schema and role. Run without arguments it serves
// on the configured address, starting its own PostgreSQL when no
// database.url is set. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/strictmt/strictmt/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	followGoRun()
	code := cli.Run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
