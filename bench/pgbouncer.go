package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/strictmt/strictmt/internal/pgtest"
)

// directURL, when set, is the database.direct_url of every strictmt
// under test: the database itself, while database.url goes through the
// PgBouncer that -pgbouncer starts.
var directURL string

// pgbouncerFlag adds -pgbouncer to fs.
func pgbouncerFlag(fs *flag.FlagSet) *int {
	return fs.Int("pgbouncer", 0, "run every server through a PgBouncer in transaction pooling with this default_pool_size "+
		"(strictmt with database.direct_url to the database itself); 0: connect directly")
}

// viaPgBouncer starts PgBouncer with poolSize server connections in front
// of the server of dbURL when poolSize > 0, and returns serverURL pointed at
// it (in pgx's exec query mode unless serverURL chose one: every server
// then runs in a mode a transaction pooler carries) and a function that
// stops it. With poolSize 0 it returns serverURL unchanged.
func viaPgBouncer(poolSize int, serverURL, dbURL string) (string, func(), error) {
	if poolSize <= 0 {
		return serverURL, func() {}, nil
	}
	b, err := pgtest.RunPgBouncer(dbURL, pgtest.PgBouncerOptions{PoolSize: poolSize})
	if err != nil {
		return "", nil, err
	}
	pooled := b.URL(serverURL)
	if u, err := url.Parse(pooled); err == nil && !u.Query().Has("default_query_exec_mode") {
		if pooled, err = withConnParam(pooled, "default_query_exec_mode", "exec"); err != nil {
			b.Stop()
			return "", nil, err
		}
	}
	directURL = dbURL
	version := "PgBouncer"
	if out, err := exec.Command("pgbouncer", "--version").Output(); err == nil {
		version = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	}
	fmt.Printf("through %s: pool_mode transaction, default_pool_size %d, every server in query exec mode exec unless -query-exec-mode says otherwise\n", version, poolSize)
	fmt.Fprintf(os.Stderr, "PgBouncer on port %d in front of the database\n", b.Port())
	return pooled, b.Stop, nil
}
