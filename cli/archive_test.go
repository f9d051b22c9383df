package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/tenants"
)

// archiveTables are the tables of a tenant at the latest migration.
var archiveTables = []string{"users", "todos", "projects", "tasks", "outstanding_tokens", "idempotency_keys"}

// seedArchive fills the tenant schema: three users (a bcrypt, a Django
// and an unusable password hash), 2,500 todos (ownerless ones, chained
// ones, text COPY must carry as is, a hole in the ids), projects (one
// ownerless), tasks (some unassigned) and two refresh-token records, one
// of them blacklisted.
func seedArchive(t *testing.T, env []string, schema string) {
	t.Helper()
	q := schema + "."
	sqlExec(t, env,
		`INSERT INTO `+q+`users (username, email, password_hash, is_active, date_joined) VALUES
			('alice', 'alice@example.com', '$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy', true, '2024-01-02 03:04:05.123456+00'),
			('bob', 'bob@example.com', 'pbkdf2_sha256$600000$salt$c2FsdGVkaGFzaA==', false, now()),
			('carol', 'carol@example.com', '!unusable', true, now())`,
		`INSERT INTO `+q+`todos (title, description, completed, recurrence_interval, completion_time, owner_id)
			SELECT 'todo ' || g || E' \t\\ ✓', repeat('d', g % 50), g % 3 = 0, nullif(g % 7, 0),
			       CASE WHEN g % 3 = 0 THEN now() - g * interval '1 second' END, CASE WHEN g % 10 = 0 THEN NULL ELSE 1 + g % 3 END
			  FROM generate_series(1, 2500) g`,
		`UPDATE `+q+`todos SET previous_id = id - 1 WHERE id % 100 = 0`,
		`INSERT INTO `+q+`projects (name, description, owner_id)
			SELECT 'project ' || g, repeat('p', g), CASE WHEN g = 5 THEN NULL ELSE 1 + g % 3 END FROM generate_series(1, 20) g`,
		`INSERT INTO `+q+`tasks (project_id, todo_id, assigned_user_id, due_date)
			SELECT 1 + g % 20, 1 + (g * 7) % 2500, CASE WHEN g % 4 = 0 THEN NULL ELSE 1 + g % 3 END, date '2025-01-01' + g
			  FROM generate_series(1, 300) g`,
		`INSERT INTO `+q+`outstanding_tokens (user_id, jti, expires_at, blacklisted_at) VALUES
			(1, 'jti-1', now() + interval '1 day', NULL), (2, 'jti-2', now() + interval '1 day', now())`,
		`DELETE FROM `+q+`todos WHERE id = 7`,
	)
}

// sqlInt returns the one integer query q answers on the database of env.
func sqlInt(t *testing.T, env []string, q string, args ...any) int64 {
	t.Helper()
	conn := connect(t, env)
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// rowCount is the number of rows of tables in schema.
func rowCount(t *testing.T, env []string, schema string, tables ...string) int64 {
	t.Helper()
	var n int64
	for _, table := range tables {
		n += sqlInt(t, env, "SELECT count(*) FROM "+schema+"."+table)
	}
	return n
}

// sameTableRows fails unless table holds the same rows in schemas a and
// b, the columns cols of them when given.
func sameTableRows(t *testing.T, env []string, a, b, table, cols string) {
	t.Helper()
	if cols == "" {
		cols = "*"
	}
	diff := sqlInt(t, env, fmt.Sprintf(`SELECT (SELECT count(*) FROM (SELECT %[4]s FROM %[1]s.%[3]s EXCEPT ALL SELECT %[4]s FROM %[2]s.%[3]s) x)
		+ (SELECT count(*) FROM (SELECT %[4]s FROM %[2]s.%[3]s EXCEPT ALL SELECT %[4]s FROM %[1]s.%[3]s) y)`, a, b, table, cols))
	if diff != 0 {
		t.Errorf("%s: %d rows differ between %s and %s", table, diff, a, b)
	}
}

// catalogRow is a tenant as the catalog has it: id, name, paid_until,
// on_trial and domains (the primary first).
func catalogRow(t *testing.T, env []string, schema string) string {
	t.Helper()
	conn := connect(t, env)
	defer conn.Close(context.Background())
	var id int64
	var row string
	err := conn.QueryRow(context.Background(), `SELECT c.id, concat_ws('|', c.name, c.paid_until, c.on_trial,
			(SELECT string_agg(d.domain, ',' ORDER BY NOT d.is_primary, d.id) FROM public.domains d WHERE d.tenant_id = c.id))
		FROM public.clients c WHERE c.schema_name = $1`, schema).Scan(&id, &row)
	if err != nil {
		t.Fatalf("catalog row of %s: %v", schema, err)
	}
	return strconv.FormatInt(id, 10) + "|" + row
}

// noTenant fails if anything of a tenant schema is in the database:
// catalog row, schema or role.
func noTenant(t *testing.T, env []string, schema string) {
	t.Helper()
	conn := connect(t, env)
	defer conn.Close(context.Background())
	var db string
	if err := conn.QueryRow(context.Background(), `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if n := sqlInt(t, env, `SELECT (SELECT count(*) FROM public.clients WHERE schema_name = $1)
		+ (SELECT count(*) FROM pg_namespace WHERE nspname = $1)
		+ (SELECT count(*) FROM pg_roles WHERE rolname = $2)`, schema, tenants.RoleName(db, schema)); n != 0 {
		t.Fatalf("%d catalog rows, schemas or roles of %s are left", n, schema)
	}
}

// oneLineFailure fails unless r is an exit 1 with one line on stderr
// that contains want.
func oneLineFailure(t *testing.T, r result, want string) {
	t.Helper()
	line := strings.TrimSpace(r.stderr)
	if r.code != 1 || strings.Contains(line, "\n") || !strings.HasPrefix(line, "strictmt: ") || !strings.Contains(line, want) {
		t.Fatalf("want exit 1 with one line containing %q, got %d\nstdout: %s\nstderr: %s", want, r.code, r.stdout, r.stderr)
	}
}

// archiveEntries reads an archive: its entries' names, in order, and its
// checksums.json; it checks the whole SHA-256 as docs/ARCHIVES.md
// describes it (the manifest's bytes, then every table's parts in order).
func archiveEntries(t *testing.T, data []byte) (names []string, sha string) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	whole := sha256.New()
	var sums struct {
		SHA256 string `json:"sha256"`
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == "checksums.json" {
			if err := json.Unmarshal(b, &sums); err != nil {
				t.Fatal(err)
			}
			continue
		}
		whole.Write(b)
	}
	if got := hex.EncodeToString(whole.Sum(nil)); got != sums.SHA256 {
		t.Fatalf("the whole's SHA-256 is %s, checksums.json says %s", got, sums.SHA256)
	}
	return names, sums.SHA256
}

// files lists dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

var exportedRe = regexp.MustCompile(`^exported tenant (\w+): (\d+) rows in (\d+) tables, (\d+) bytes to (\S+) \(sha256 ([0-9a-f]{64})\)\n$`)

// TestArchiveCommands exports a seeded tenant, restores it under another
// schema and domain, clones it with and without users, and moves it (an
// export, a delete, a restore), with the failures each command must
// report in one line.
func TestArchiveCommands(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	if r := run(t, env, "tenants", "create", "--name", "Archive A", "--schema", "arch_a", "--domain", "arch-a.localhost",
		"--domain", "more-a.localhost", "--paid-until", "2030-01-31", "--on-trial"); r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	seedArchive(t, env, "arch_a")
	total := rowCount(t, env, "arch_a", archiveTables...)
	catalogA := catalogRow(t, env, "arch_a")

	dir := t.TempDir()
	file := filepath.Join(dir, "arch_a.tar.gz")
	r := run(t, env, "tenants", "export", "arch_a", "-o", file)
	m := exportedRe.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || r.stderr != "" {
		t.Fatalf("export: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	names, sha := archiveEntries(t, data)
	if m[1] != "arch_a" || m[2] != strconv.FormatInt(total, 10) || m[3] != strconv.Itoa(len(archiveTables)) || m[4] != strconv.Itoa(len(data)) || m[5] != file || m[6] != sha {
		t.Fatalf("export reported %q; want %d rows, %d bytes, sha256 %s", r.stdout, total, len(data), sha)
	}
	// Each table after those it references, then by name.
	want := []string{"manifest.json"}
	for _, table := range []string{"idempotency_keys", "users", "outstanding_tokens", "projects", "todos", "tasks"} {
		want = append(want, "tables/"+table+"/000000.copy")
	}
	if want = append(want, "checksums.json"); !slices.Equal(names, want) {
		t.Fatalf("entries: %v, want %v", names, want)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the archive's mode: %v %v", fi.Mode(), err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"arch_a.tar.gz"}) {
		t.Fatalf("files after the export: %v", got)
	}

	t.Run("ErrExistingFileKept", func(t *testing.T) {
		r := run(t, env, "tenants", "export", "arch_a", "-o", file)
		oneLineFailure(t, r, "refusing to overwrite "+file+" without --force")
		if now, err := os.ReadFile(file); err != nil || !bytes.Equal(now, data) {
			t.Fatalf("the archive changed: %v", err)
		}
		r = run(t, env, "tenants", "export", "arch_a", "-o", file, "--force")
		if r.code != 0 || !exportedRe.MatchString(r.stdout) {
			t.Fatalf("export --force: %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := files(t, dir); !slices.Equal(got, []string{"arch_a.tar.gz"}) {
			t.Fatalf("files after export --force: %v", got)
		}
	})

	t.Run("ErrUnknownTenantLeavesNoFile", func(t *testing.T) {
		dir := t.TempDir()
		r := run(t, env, "tenants", "export", "nosuch", "-o", filepath.Join(dir, "nosuch.tar.gz"))
		oneLineFailure(t, r, `No tenant with schema_name "nosuch".`)
		if got := files(t, dir); len(got) != 0 {
			t.Fatalf("files after a failed export: %v", got)
		}
	})

	t.Run("ToStdout", func(t *testing.T) {
		r := run(t, env, "tenants", "export", "arch_a", "-o", "-")
		m := exportedRe.FindStringSubmatch(r.stderr)
		if r.code != 0 || m == nil || m[5] != "stdout" || m[4] != strconv.Itoa(len(r.stdout)) {
			t.Fatalf("export -o -: %d, %d bytes on stdout\nstderr: %s", r.code, len(r.stdout), r.stderr)
		}
		if _, sha := archiveEntries(t, []byte(r.stdout)); sha != m[6] {
			t.Fatalf("sha256 %s reported, %s in the archive", m[6], sha)
		}
	})

	r = run(t, env, "tenants", "restore", file, "--schema", "arch_b", "--domain", "arch-b.localhost", "--name", "Archive B")
	if r.code != 0 || r.stdout != fmt.Sprintf("restored tenant arch_b (Archive B) with domains arch-b.localhost from %s: %d rows\n", file, total) {
		t.Fatalf("restore: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, table := range archiveTables {
		sameTableRows(t, env, "arch_a", "arch_b", table, "")
	}
	idA, rowA, _ := strings.Cut(catalogA, "|")
	idB, rowB, _ := strings.Cut(catalogRow(t, env, "arch_b"), "|")
	if idA == idB || rowB != "Archive B|2030-01-31|t|arch-b.localhost" || rowA != "Archive A|2030-01-31|t|arch-a.localhost,more-a.localhost" {
		t.Fatalf("catalog rows: A %s, B %s", catalogA, idB+"|"+rowB)
	}
	if id := sqlInt(t, env, `INSERT INTO arch_b.todos (title) VALUES ('next') RETURNING id`); id != 2501 {
		t.Fatalf("the next todo of arch_b has id %d, want 2501", id)
	}

	t.Run("ErrDomainInUse", func(t *testing.T) {
		r := run(t, env, "tenants", "restore", file, "--schema", "arch_x")
		oneLineFailure(t, r, "arch-a.localhost")
		noTenant(t, env, "arch_x")
	})

	t.Run("ErrDamagedArchive", func(t *testing.T) {
		dir := t.TempDir()
		for name, b := range map[string][]byte{
			"half.tar.gz":    data[:len(data)/2],
			"flipped.tar.gz": flipByte(data, len(data)*2/3),
			"text.tar.gz":    []byte("not an archive\n"),
		} {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, env, "tenants", "restore", path, "--schema", "arch_bad", "--domain", "bad.localhost")
			oneLineFailure(t, r, "archive")
			noTenant(t, env, "arch_bad")
			if n := sqlInt(t, env, `SELECT count(*) FROM public.domains WHERE domain = 'bad.localhost'`); n != 0 {
				t.Fatalf("%s: the domain is left", name)
			}
		}
	})

	t.Run("ErrNoFile", func(t *testing.T) {
		oneLineFailure(t, run(t, env, "tenants", "restore", filepath.Join(dir, "none.tar.gz")), "no such file")
	})

	r = run(t, env, "tenants", "clone", "arch_a", "arch_c", "--domain", "arch-c.localhost")
	if r.code != 0 || r.stdout != fmt.Sprintf("cloned tenant arch_a into arch_c (Archive A) with domains arch-c.localhost: %d rows\n", total-2) {
		t.Fatalf("clone: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, table := range archiveTables[:4] {
		sameTableRows(t, env, "arch_a", "arch_c", table, "")
	}
	if n := rowCount(t, env, "arch_c", "outstanding_tokens"); n != 0 {
		t.Fatalf("the clone has %d refresh-token records", n)
	}
	if _, row, _ := strings.Cut(catalogRow(t, env, "arch_c"), "|"); row != "Archive A|2030-01-31|t|arch-c.localhost" {
		t.Fatalf("the clone's catalog row: %s", row)
	}

	r = run(t, env, "tenants", "clone", "arch_a", "arch_d", "--domain", "arch-d.localhost", "--domain", "more-d.localhost", "--name", "D", "--without-users")
	if r.code != 0 || r.stdout != fmt.Sprintf("cloned tenant arch_a into arch_d (D) with domains arch-d.localhost, more-d.localhost: %d rows\n", total-2-3) {
		t.Fatalf("clone --without-users: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if n := rowCount(t, env, "arch_d", "users", "outstanding_tokens"); n != 0 {
		t.Fatalf("the clone without users has %d users and tokens", n)
	}
	sameTableRows(t, env, "arch_a", "arch_d", "todos", "id, title, description, completed, recurrence_interval, created_at, completion_time, due_at, previous_id")
	sameTableRows(t, env, "arch_a", "arch_d", "projects", "id, name, description, created_at")
	sameTableRows(t, env, "arch_a", "arch_d", "tasks", "id, project_id, todo_id, due_date, created_at")
	if n := sqlInt(t, env, `SELECT (SELECT count(*) FROM arch_d.todos WHERE owner_id IS NOT NULL) + (SELECT count(*) FROM arch_d.projects WHERE owner_id IS NOT NULL)
		+ (SELECT count(*) FROM arch_d.tasks WHERE assigned_user_id IS NOT NULL)`); n != 0 {
		t.Fatalf("%d rows of the clone without users still name a user", n)
	}

	t.Run("ErrClone", func(t *testing.T) {
		oneLineFailure(t, run(t, env, "tenants", "clone", "nosuch", "arch_y", "--domain", "y.localhost"), `No tenant with schema_name "nosuch".`)
		oneLineFailure(t, run(t, env, "tenants", "clone", "arch_a", "arch_b", "--domain", "y.localhost"), "arch_b")
		oneLineFailure(t, run(t, env, "tenants", "clone", "arch_a", "arch_y"), `"domain" not set`)
		noTenant(t, env, "arch_y")
	})

	// A move: export, delete, restore as it was.
	if r := run(t, env, "tenants", "delete", "arch_a", "--drop-schema", "--yes"); r.code != 0 {
		t.Fatalf("delete: %d %s", r.code, r.stderr)
	}
	r = run(t, env, "tenants", "restore", file)
	if r.code != 0 || r.stdout != fmt.Sprintf("restored tenant arch_a (Archive A) with domains arch-a.localhost, more-a.localhost from %s: %d rows\n", file, total) {
		t.Fatalf("restore as it was: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, table := range archiveTables[:4] {
		sameTableRows(t, env, "arch_a", "arch_c", table, "")
	}
	sameTableRows(t, env, "arch_a", "arch_b", "outstanding_tokens", "")
	if _, row, _ := strings.Cut(catalogRow(t, env, "arch_a"), "|"); row != "Archive A|2030-01-31|t|arch-a.localhost,more-a.localhost" {
		t.Fatalf("the restored catalog row: %s", row)
	}
}

// TestRestoreOlderVersion restores the archive of a schema at the
// migration version before the latest: it is restored at that version,
// migrated forward, and the report says so. The schema is made older by
// undoing the latest migration by hand (00009 creates idempotency_keys),
// since a restore compares its tables with a schema made at the older
// version.
func TestRestoreOlderVersion(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	ms, err := tenants.TenantMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var versions []int64
	for _, m := range ms {
		versions = append(versions, m.Version)
	}
	slices.Sort(versions)
	latest, older := versions[len(versions)-1], versions[len(versions)-2]
	if r := run(t, env, "tenants", "create", "--name", "Old", "--schema", "old_a", "--domain", "old-a.localhost"); r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	sqlExec(t, env,
		`INSERT INTO old_a.users (username, email, password_hash) VALUES ('alice', 'alice@example.com', '!unusable')`,
		`INSERT INTO old_a.todos (title, owner_id) VALUES ('one', 1)`,
		`INSERT INTO old_a.projects (name, owner_id) VALUES ('one', 1)`,
		`DROP TABLE old_a.idempotency_keys`,
		fmt.Sprintf(`DELETE FROM old_a.goose_db_version WHERE version_id = %d`, latest))
	file := filepath.Join(t.TempDir(), "old_a.tar.gz")
	if r := run(t, env, "tenants", "export", "old_a", "-o", file); r.code != 0 {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	}
	r := run(t, env, "tenants", "restore", file, "--schema", "old_b", "--domain", "old-b.localhost")
	want := fmt.Sprintf("restored tenant old_b (Old) with domains old-b.localhost from %s: 3 rows (migrated from version %d)\n", file, older)
	if r.code != 0 || r.stdout != want {
		t.Fatalf("restore: %d\nstdout: %s\nstderr: %s\nwant: %s(undoing the latest migration must leave the schema of the version before)", r.code, r.stdout, r.stderr, want)
	}
	if v := sqlInt(t, env, `SELECT max(version_id) FROM old_b.goose_db_version WHERE is_applied`); v != latest {
		t.Fatalf("old_b is at version %d, want %d", v, latest)
	}
}

// TestRestoreFromStdin restores an archive read from stdin (FILE -). Not
// parallel: it replaces os.Stdin, which the command reads.
func TestRestoreFromStdin(t *testing.T) {
	env := testEnv(t)
	if r := run(t, env, "tenants", "create", "--name", "In", "--schema", "in_a", "--domain", "in-a.localhost"); r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	sqlExec(t, env, `INSERT INTO in_a.users (username, email, password_hash) VALUES ('alice', 'alice@example.com', '!unusable')`)
	r := run(t, env, "tenants", "export", "in_a", "-o", "-")
	if r.code != 0 {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	}
	path := filepath.Join(t.TempDir(), "in_a.tar.gz")
	if err := os.WriteFile(path, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = stdin })

	r = run(t, env, "tenants", "restore", "-", "--schema", "in_b", "--domain", "in-b.localhost")
	if r.code != 0 || r.stdout != "restored tenant in_b (In) with domains in-b.localhost from stdin: 1 rows\n" {
		t.Fatalf("restore -: %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	sameTableRows(t, env, "in_a", "in_b", "users", "")
}

// flipByte returns a copy of b with the byte at i changed.
func flipByte(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0xff
	return out
}
