package importer

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// schemaShape lists the indexes and constraints of schema's tables, each
// by table, name and definition, with the schema's name taken out.
func schemaShape(t *testing.T, f *fixture, schema string) []string {
	t.Helper()
	var rows []string
	err := f.env.App.DB.Raw(`
		SELECT 'index ' || tablename || ' ' || indexname || ': ' || replace(indexdef, quote_ident(schemaname) || '.', '')
		  FROM pg_indexes WHERE schemaname = ?
		UNION ALL
		SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || contype::text || ': ' || pg_get_constraintdef(oid)
		  FROM pg_constraint WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = ?)
		UNION ALL
		SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgfoid::regproc::text || ' ' || tgtype::text
		  FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = ?))
		ORDER BY 1`, schema, schema, schema).Scan(&rows).Error
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i] = strings.ReplaceAll(rows[i], schema+".", "")
	}
	return rows
}

// TestImportBuildsIndexesAfterCopy imports with every table on the bulk
// path (indexes and foreign keys dropped before the COPY and made again
// after it): the schemas end with the indexes, constraints and triggers
// of a tenant created afresh, and the rows are served.
func TestImportBuildsIndexesAfterCopy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.env.CreateTenant(t, "fresh", "fresh.localhost")
	want := schemaShape(t, f, "fresh")
	if !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, "index tasks tasks_due_date_idx: ") }) ||
		!slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, "constraint tasks tasks_todo_id_fkey f: ") }) {
		t.Fatalf("a fresh tenant's shape lacks what the import drops and makes again: %q", want)
	}
	rep := f.run(t, Options{bulkRows: 1})
	for _, s := range []string{"tenant_a", "tenant_b"} {
		wantStatus(t, rep, s, Imported)
		if got := schemaShape(t, f, s); !slices.Equal(got, want) {
			t.Fatalf("%s differs from a fresh tenant:\n got %q\nwant %q", s, got, want)
		}
	}
	// The keys made again are enforced.
	var n int64
	if err := f.env.App.DB.Raw("SELECT count(*) FROM tenant_a.tasks").Scan(&n).Error; err != nil || n == 0 {
		t.Fatalf("tenant_a tasks: %d %v", n, err)
	}
	if err := f.env.App.DB.Exec("INSERT INTO tenant_a.tasks (project_id, todo_id, due_date) VALUES (1, 999999, current_date)").Error; err == nil ||
		!strings.Contains(err.Error(), "tasks_todo_id_fkey") {
		t.Fatalf("a task on a missing todo: %v", err)
	}
	token := f.login(t, hostA, "testuser", password)
	if got := f.list(t, hostA, "/api/tasks/", token); len(got) != int(n) {
		t.Fatalf("tasks through the API: %d, want %d", len(got), n)
	}
}

// TestImportBulkFailureLeavesNothing fails the import after the COPY of
// a table whose indexes and keys were dropped: nothing of the tenant is
// left, and a later run imports it whole.
func TestImportBulkFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rep := f.run(t, Options{bulkRows: 1, failAfter: "tasks"})
	for _, s := range []string{"tenant_a", "tenant_b"} {
		if r := wantStatus(t, rep, s, Failed); !strings.Contains(r.Err.Error(), "injected failure after copying tasks") {
			t.Fatalf("%s: %v", s, r.Err)
		}
	}
	if s := catalogState(t, f); s != "clients=0 domains=0 schemas=0 roles=0" {
		t.Fatalf("a failed import left %s", s)
	}
	if r := f.do(t, "POST", hostA, "/api/token/", "", map[string]string{"username": "testuser", "password": password}); r.Status != http.StatusNotFound {
		t.Fatalf("tenant1.localhost after the failure: %d %s", r.Status, r.Raw)
	}
	rep = f.run(t, Options{bulkRows: 1})
	wantStatus(t, rep, "tenant_a", Imported)
	wantStatus(t, rep, "tenant_b", Imported)
	f.login(t, hostB, "carol", carolPw)
}
