package importer

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/tenants"
)

// TestDeferredBuildSendsOneCommandPerMessage records what the importer
// sends to drop a large table's indexes and foreign keys before its COPY
// and to make them again after it: each statement in a message of its
// own, as Citus needs (see tenants.ExecEach), and the schema as it was.
func TestDeferredBuildSendsOneCommandPerMessage(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "bulk_a", "bulk-a.localhost")
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(env.App.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	rec := pgtest.Record(cfg)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	defs := func() string {
		t.Helper()
		var s string
		if err := conn.QueryRow(ctx, `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
			SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid IN ('"bulk_a".todos'::regclass, '"bulk_a".tasks'::regclass)
			UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '"bulk_a".tasks'::regclass) x`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := defs()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	restore, err := tenants.DeferBuild(ctx, conn, []string{`"bulk_a"."todos"`}, [][2]string{{`"bulk_a"."tasks"`, "project_id"}, {`"bulk_a"."tasks"`, "todo_id"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := restore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if after := defs(); after != before {
		t.Fatalf("the schema changed:\n%s\nwant\n%s", after, before)
	}
	sent := rec.Texts()
	var all strings.Builder
	for _, m := range sent {
		all.WriteString(m.SQL + "\n")
	}
	for _, want := range []string{"DROP INDEX", "CREATE INDEX", "DROP CONSTRAINT", "ADD CONSTRAINT"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("nothing recorded holds %q", want)
		}
	}
	for _, q := range pgtest.MultiCommand(t, env.App.DatabaseURL, sent) {
		t.Errorf("a message with several commands:\n%s", q)
	}
}
