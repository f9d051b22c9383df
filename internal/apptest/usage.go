package apptest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// UsageTables are the tables of a tenant whose rows the usage reads
// report (every table but the migration version table).
var UsageTables = []string{"idempotency_keys", "outstanding_tokens", "projects", "tasks", "todos", "users"}

// UsageSeed is what SeedUsage writes into a tenant.
type UsageSeed struct {
	Users, Todos, Projects, Tasks int
	// LargeTodos are todos with a description of 16 KB of random
	// text, which PostgreSQL keeps in the table's TOAST.
	LargeTodos int
}

// UsageTenant is one tenant of the usage tests: its schema name and the
// rows SeedUsageTenants gives it.
type UsageTenant struct {
	Schema string
	Seed   UsageSeed
}

// UsageTenants returns the three tenants of the usage tests, the largest
// first: prefix_big, prefix_small and prefix_empty.
func UsageTenants(prefix string) []UsageTenant {
	return []UsageTenant{
		{prefix + "_big", UsageSeed{Users: 3, Todos: 40, LargeTodos: 5, Projects: 4, Tasks: 10}},
		{prefix + "_small", UsageSeed{Users: 1, Todos: 2}},
		{prefix + "_empty", UsageSeed{}},
	}
}

// SeedUsageTenants creates each of ts with create (given its schema and
// a domain made from it), writes its rows (SeedUsage) into the database at
// url, brings the catalog's figures up to date (RefreshCatalog), and
// returns what PostgreSQL says of each (MeasureUsage), by schema.
func SeedUsageTenants(t testing.TB, url string, ts []UsageTenant, create func(schema, domain string)) map[string]UsageTruth {
	t.Helper()
	truth := map[string]UsageTruth{}
	for _, u := range ts {
		create(u.Schema, strings.ReplaceAll(u.Schema, "_", "-")+".localhost")
		SeedUsage(t, url, u.Schema, u.Seed)
		RefreshCatalog(t, url, u.Schema)
		truth[u.Schema] = MeasureUsage(t, url, u.Schema)
	}
	return truth
}

// connect opens a connection to the database at url, closed in
// t.Cleanup.
func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// SeedUsage writes s's rows into the tenant schema of the database at
// url, as its owner, then has PostgreSQL's statistics take them in
// (pg_stat_force_next_flush: this backend reports its counts before it
// answers again), so that the live rows the statistics show are these.
func SeedUsage(t testing.TB, url, schema string, s UsageSeed) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	q := pgx.Identifier{schema}.Sanitize()
	big := make([]byte, 12<<10)
	rand.Read(big)
	desc := base64.StdEncoding.EncodeToString(big)
	stmts := []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO " + q + ".users (username, email, password_hash) SELECT 'user' || g, 'user' || g || '@example.com', 'x' FROM generate_series(1, $1::int) g", []any{s.Users}},
		{"INSERT INTO " + q + ".todos (title) SELECT 'todo ' || g FROM generate_series(1, $1::int) g", []any{s.Todos}},
		{"INSERT INTO " + q + ".todos (title, description) SELECT 'large todo ' || g, $2::text || g FROM generate_series(1, $1::int) g", []any{s.LargeTodos, desc}},
		{"INSERT INTO " + q + ".projects (name) SELECT 'project ' || g FROM generate_series(1, $1::int) g", []any{s.Projects}},
		{"INSERT INTO " + q + ".tasks (project_id, todo_id, due_date) SELECT (SELECT min(id) FROM " + q + ".projects), (SELECT min(id) FROM " + q + ".todos), current_date FROM generate_series(1, $1::int) g", []any{s.Tasks}},
		{"SELECT pg_catalog.pg_stat_force_next_flush()", nil},
		{"SELECT 1", nil},
	}
	for _, st := range stmts {
		if _, err := conn.Exec(ctx, st.sql, st.args...); err != nil {
			t.Fatalf("seeding %s: %s: %v", schema, st.sql, err)
		}
	}
}

// RefreshCatalog brings the catalog's figures of every table of the
// tenant schema (the version table's too) up to date, as autovacuum does in time: VACUUM (the tables' and
// their TOAST's pages), REINDEX (every index's, the TOAST's included,
// which ANALYZE does not count), ANALYZE (the tables' and indexes' pages
// and live rows).
func RefreshCatalog(t testing.TB, url, schema string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	rows, err := conn.Query(ctx, "SELECT relname FROM pg_catalog.pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r'", pgx.Identifier{schema}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"VACUUM", "REINDEX TABLE", "ANALYZE"} {
		for _, table := range tables {
			if _, err := conn.Exec(ctx, verb+" "+pgx.Identifier{schema, table}.Sanitize()); err != nil {
				t.Fatalf("%s %s.%s: %v", verb, schema, table, err)
			}
		}
	}
}

// UsageTruth is what PostgreSQL itself says a tenant takes up.
type UsageTruth struct {
	// ExactBytes is pg_total_relation_size of each table of the schema,
	// summed.
	ExactBytes int64
	// MainForkBytes is pg_relation_size (the main fork) of each table,
	// index, TOAST table and TOAST index of the schema, summed: what the
	// catalog's relpages count when they are up to date.
	MainForkBytes int64
	// Rows is a count(*) of each of UsageTables.
	Rows map[string]int64
}

// MeasureUsage reads the UsageTruth of the tenant schema.
func MeasureUsage(t testing.TB, url, schema string) UsageTruth {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	var u UsageTruth
	err := conn.QueryRow(ctx, `SELECT coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_catalog.pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p')`,
		pgx.Identifier{schema}.Sanitize()).Scan(&u.ExactBytes)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(pg_catalog.pg_relation_size(r)), 0)::bigint FROM (
			SELECT c.oid AS r FROM pg_catalog.pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p', 'i')
			UNION ALL
			SELECT c.reltoastrelid FROM pg_catalog.pg_class c WHERE c.relnamespace = $1::regnamespace AND c.reltoastrelid <> 0
			UNION ALL
			SELECT x.indexrelid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_index x ON x.indrelid = c.reltoastrelid
			WHERE c.relnamespace = $1::regnamespace
		) s`, pgx.Identifier{schema}.Sanitize()).Scan(&u.MainForkBytes)
	if err != nil {
		t.Fatal(err)
	}
	u.Rows = map[string]int64{}
	for _, table := range UsageTables {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, table}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		u.Rows[table] = n
	}
	return u
}

// Sum returns the rows of every table of u.
func (u UsageTruth) Sum() int64 {
	var n int64
	for _, r := range u.Rows {
		n += r
	}
	return n
}
