// Command bench measures strictmt against baselines run in the same
// process, and prints tables of ratios. Each subcommand starts its own
// throw-away PostgreSQL from the local binaries unless
// STRICTMT_BENCH_DATABASE_URL names a database it may fill.
//
//	go run ./bench scope    # strict vs prefix isolation, per request
//	go run ./bench load     # strictmt vs a hand-written pgx server, under load
//	go run ./bench scale    # tenant creation, migrations, serving and memory at 1 to 20,000 tenants
//	go run ./bench import   # import from django-tenants, rows/s vs a bare COPY
//	go run ./bench tenants-copy  # a tenant's export, restore and clone, rows/s vs a bare COPY
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string) error) {
	commands[name] = command{summary, run}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 || commands[os.Args[1]].run == nil {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(os.Stderr, "usage: go run ./bench COMMAND [flags]\n\ncommands:")
		for _, n := range names {
			fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, commands[n].summary)
		}
		os.Exit(2)
	}
	if err := commands[os.Args[1]].run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}
