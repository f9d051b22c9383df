package tenants_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// recordedDB opens dbURL through a pool whose connections record every
// SQL text they send (pgtest.Record).
func recordedDB(t *testing.T, dbURL string) (*sql.DB, *gorm.DB, *pgtest.Messages) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	rec := pgtest.Record(cfg)
	sqlDB := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { sqlDB.Close() })
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, TranslateError: true})
	if err != nil {
		t.Fatal(err)
	}
	return sqlDB, db, rec
}

// extraMigration is a tenant migration with what Citus forwards to its
// workers as the client's query text: an index, an ALTER TABLE, a
// function whose body holds semicolons, and a trigger.
var extraMigration = `-- An index, a column, a function and its trigger.
CREATE INDEX todos_title_idx ON todos (title);
ALTER TABLE projects ADD COLUMN color text NOT NULL DEFAULT 'blue;green';
CREATE FUNCTION touch_todo() RETRUNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    NEW.description := NEW.description || ''; -- a semicolon; or two
    RETURN NEW;
END
$body$;
CREATE TRIGGER todos_touch BEFORE UPDATE ON todos FOR EACH ROW EXECUTE FUNCTION touch_todo();
`

// TestEveryStatementIsOneCommand records, at the client's socket, every
// SQL text strictmt sends for the shared migrations, provisioning (full
// DDL and a claimed spare), spare upkeep, tenant migrations with an
// index, a trigger and an ALTER TABLE, a restored role and deletion, in
// both modes, and has PostgreSQL parse each one as a single prepared
// statement: a text with several commands fails as it would on Citus.
func TestEveryStatementIsOneCommand(t *testing.T) {
	t.Parallel()
	for _, citus := range []bool{false, true} {
		name := "PostgreSQL"
		if citus {
			name = "CitusMode"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dbURL := pgtest.NewDatabase(t)
			sqlDB, db, rec := recordedDB(t, dbURL)
			if err := tenants.MigrateShared(ctx, sqlDB); err != nil {
				t.Fatal(err)
			}
			svc, err := tenants.NewService(ctx, db, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			cluster := tenants.Cluster{Citus: citus}
			svc.SetCluster(cluster)
			mk := func(schema string) {
				t.Helper()
				if _, err := svc.CreateTenant(ctx, tenants.CreateParams{Name: schema, SchemaName: schema, Domains: []string{strings.ReplaceAll(schema, "_", "-") + ".localhost"}}); err != nil {
					t.Fatalf("creating %s: %v", schema, err)
				}
			}
			mk("one_full")
			if n, err := svc.FillSpares(ctx, 1); err != nil || n != 1 {
				t.Fatalf("FillSpares: %d, %v", n, err)
			}
			mk("one_spare")
			ms, err := tenants.TenantMigrations()
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, tenants.NewMigration(ms[len(ms)-1].Version+1, "extra.sql", strings.Replace(extraMigration, "RETRUNS", "RETURNS", 1)))
			// A role dropped by hand is restored by migrate.
			if err := db.Exec("DROP OWNED BY " + tenants.QuoteIdent(tenants.RoleName(currentDB(t, db), "one_full"))).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Exec("DROP ROLE " + tenants.QuoteIdent(tenants.RoleName(currentDB(t, db), "one_full"))).Error; err != nil {
				t.Fatal(err)
			}
			rep, err := tenants.MigrateTenants(ctx, sqlDB, apptest.Logger(t), tenants.MigrateOptions{Tenants: true, Migrations: ms, Cluster: &cluster})
			if err != nil || rep.Applied != 2 {
				t.Fatalf("migrate: %+v, %v", rep, err)
			}
			if err := svc.DeleteTenant(ctx, "one_spare", true); err != nil {
				t.Fatal(err)
			}
			// Spares of an older version are dropped by the filler.
			if _, err := svc.FillSpares(ctx, 1); err != nil {
				t.Fatal(err)
			}
			sent := rec.Texts()
			var all strings.Builder
			for _, m := range sent {
				all.WriteString(m.SQL + "\n")
			}
			for _, want := range []string{"CREATE SCHEMA", "CREATE INDEX todos_title_idx", "CREATE TRIGGER todos_touch", "ALTER SCHEMA", "DROP SCHEMA", "DROP ROLE", "CREATE ROLE"} {
				if !strings.Contains(all.String(), want) {
					t.Errorf("nothing recorded holds %q: the recorder missed messages", want)
				}
			}
			if multi := pgtest.MultiCommand(t, dbURL, sent); len(multi) > 0 {
				for _, q := range multi {
					t.Errorf("a message with several commands:\n%s", q)
				}
			}
			if citus && !strings.Contains(all.String(), "SET LOCAL citus.enable_schema_based_sharding TO on") {
				t.Error("Citus mode created tenant schemas without schema-based sharding")
			}
		})
	}
	t.Run("MultiCommandIsNoticed", func(t *testing.T) {
		t.Parallel()
		script := "CREATE SCHEMA a; CREATE TABLE a.t (id int)"
		if got := pgtest.MultiCommand(t, pgtest.NewDatabase(t), []pgtest.Message{{Kind: 'Q', SQL: script}}); !slices.Equal(got, []string{script}) {
			t.Fatalf("a two-command script was not noticed: %v", got)
		}
	})
}

// TestSplitStatements checks the splitter on what PostgreSQL's scanner
// treats as one token: quoted strings and identifiers, dollar-quoted
// bodies, comments.
func TestSplitStatements(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		in   string
		want []string
	}{
		{"Plain", "SELECT 1; SELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"NoTrailingSemicolon", "SELECT 1", []string{"SELECT 1"}},
		{"OnlyComments", "-- nothing; here\n/* nor; here */\n ;", nil},
		{"QuotedSemicolons", `SELECT ';', "a;b", E'\';' FROM t; SELECT 2`, []string{`SELECT ';', "a;b", E'\';' FROM t`, "SELECT 2"}},
		{"DoubledQuotes", `SELECT 'it''s; fine'; SELECT 2`, []string{`SELECT 'it''s; fine'`, "SELECT 2"}},
		{"DollarBodies", "CREATE FUNCTION f() RETURNS int AS $f$ SELECT 1; $$ $f$ LANGUAGE sql; DO $$ BEGIN NULL; END $$",
			[]string{"CREATE FUNCTION f() RETURNS int AS $f$ SELECT 1; $$ $f$ LANGUAGE sql", "DO $$ BEGIN NULL; END $$"}},
		{"NestedBlockComment", "SELECT /* a /* b; */ c; */ 1; SELECT 2", []string{"SELECT /* a /* b; */ c; */ 1", "SELECT 2"}},
		{"ParameterIsNoDollarQuote", "SELECT $1; SELECT 2", []string{"SELECT $1", "SELECT 2"}},
		{"LineCommentInside", "SELECT 1 -- one; two\n; SELECT 2", []string{"SELECT 1 -- one; two", "SELECT 2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := tenants.SplitStatements(c.in); !slices.Equal(got, c.want) {
				t.Fatalf("SplitStatements(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// TestCitusModeProvisioning: with Citus mode forced on (as the citus
// extension would turn it on), a tenant's role can log in, so that Citus
// can open its worker connections as that role, and in both modes it is a
// member of the tenant group; migrate makes an older role (NOLOGIN, in no
// group) match the mode, and back.
func TestCitusModeProvisioning(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	db := env.App.DB
	role := func(schema string) (login, member bool) {
		t.Helper()
		if err := db.Raw(`SELECT r.rolcanlogin, EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
				WHERE m.member = r.oid AND g.rolname = 'strictmt_tenants')
			FROM pg_roles r WHERE r.rolname = ?`, tenants.RoleName(currentDB(t, db), schema)).Row().Scan(&login, &member); err != nil {
			t.Fatal(err)
		}
		return
	}
	if env.App.Cluster.Citus {
		t.Skip("the app runs in Citus mode already (STRICTMT_TEST_CITUS)")
	}
	env.CreateTenant(t, "mode_plain", "mode-plain.localhost")
	if login, member := role("mode_plain"); login || !member {
		t.Fatalf("plain PostgreSQL: login=%v member=%v, want NOLOGIN in the group", login, member)
	}
	var recorded int
	if err := db.Raw("SELECT count(*) FROM public.tenant_versions WHERE schema_name = 'mode_plain'").Scan(&recorded).Error; err != nil || recorded != 1 {
		t.Fatalf("plain PostgreSQL keeps a version record: %d, %v", recorded, err)
	}

	citus := tenants.Cluster{Citus: true}
	env.App.Tenants.SetCluster(citus)
	env.CreateTenant(t, "mode_citus", "mode-citus.localhost")
	if login, member := role("mode_citus"); !login || !member {
		t.Fatalf("Citus mode: login=%v member=%v, want LOGIN in the group", login, member)
	}
	if err := db.Raw("SELECT count(*) FROM public.tenant_versions WHERE schema_name = 'mode_citus'").Scan(&recorded).Error; err != nil || recorded != 0 {
		t.Fatalf("Citus mode keeps no version record (its trigger would not fire there): %d, %v", recorded, err)
	}

	// A role from before the group: migrate puts it in, and makes it
	// LOGIN in Citus mode.
	old := tenants.QuoteIdent(tenants.RoleName(currentDB(t, db), "mode_plain"))
	if err := db.Exec("REVOKE strictmt_tenants FROM " + old).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.MigrateTenants(ctx, env.App.SQL, apptest.Logger(t), tenants.MigrateOptions{Tenants: true, Cluster: &citus}); err != nil {
		t.Fatal(err)
	}
	if login, member := role("mode_plain"); !login || !member {
		t.Fatalf("after migrate in Citus mode: login=%v member=%v", login, member)
	}
	plain := tenants.Cluster{}
	if _, err := tenants.MigrateTenants(ctx, env.App.SQL, apptest.Logger(t), tenants.MigrateOptions{Tenants: true, Cluster: &plain}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"mode_plain", "mode_citus"} {
		if login, member := role(s); login || !member {
			t.Fatalf("%s after migrate on plain PostgreSQL: login=%v member=%v, want NOLOGIN in the group", s, login, member)
		}
	}
}

// TestDetectCluster: auto follows the citus extension (absent here), on
// and off force the mode, anything else is refused.
func TestDetectCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sql.Open("pgx", pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		setting string
		citus   bool
	}{{"auto", false}, {"", false}, {"on", true}, {"off", false}} {
		got, err := tenants.DetectCluster(ctx, db, c.setting, "")
		if err != nil || got.Citus != c.citus || got.Extension {
			t.Errorf("%q: %+v, %v; want Citus=%v without the extension", c.setting, got, err, c.citus)
		}
	}
	if _, err := tenants.DetectCluster(ctx, db, "yes", ""); err == nil {
		t.Error(`"yes" was accepted`)
	}
	if _, err := tenants.DetectCluster(ctx, db, "auto", `x"; DROP ROLE postgres; --`); err == nil {
		t.Error("a hostile group name was accepted")
	}
}

// TestCitusModeNoticesAHandEditedVersionTable: on Citus the trigger that
// deletes the catalog's copy of a schema's versions does not fire (the
// version table is a shard on a worker), so a copy may claim versions the
// table no longer has. Here such a stale copy is made by hand: on plain
// PostgreSQL migrate believes it (its trigger would have deleted it), in
// Citus mode it reads the table and reports the hole.
func TestCitusModeNoticesAHandEditedVersionTable(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	db := env.App.DB
	env.CreateTenant(t, "stale_a", "stale-a.localhost")
	env.CreateTenant(t, "stale_b", "stale-b.localhost")
	if env.App.Cluster.Citus {
		t.Skip("the app runs in Citus mode already (STRICTMT_TEST_CITUS): it keeps no copies to forge")
	}
	ms, err := tenants.TenantMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DELETE FROM "stale_b".goose_db_version WHERE version_id = 2`,
		// What the catalog would still hold on Citus: the full list,
		// with the fingerprint of the table and trigger as they are.
		`INSERT INTO public.tenant_versions (schema_name, versions, fingerprint)
		 SELECT 'stale_b', ARRAY(SELECT generate_series(1, ` + strconv.Itoa(len(ms)) + `))::bigint[], t.oid::text || '/' || g.oid::text || '/' || g.xmin::text
		 FROM pg_class t JOIN pg_trigger g ON g.tgrelid = t.oid AND g.tgname = 'strictmt_versions_changed'
		 WHERE t.oid = '"stale_b".goose_db_version'::regclass
		 ON CONFLICT (schema_name) DO UPDATE SET versions = EXCLUDED.versions, fingerprint = EXCLUDED.fingerprint`,
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	dry := func(c tenants.Cluster) *tenants.MigrateReport {
		t.Helper()
		rep, err := tenants.MigrateTenants(ctx, env.App.SQL, apptest.Logger(t), tenants.MigrateOptions{Tenants: true, DryRun: true, Cluster: &c})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := dry(tenants.Cluster{}); len(rep.Pending) != 0 {
		t.Fatalf("plain PostgreSQL believes the catalog (the stale copy was made wrong?): %+v", rep)
	}
	rep := dry(tenants.Cluster{Citus: true})
	if got := rep.Pending["stale_b"]; !slices.Equal(got, []int64{2}) || rep.Vouched != 0 {
		t.Fatalf("Citus mode: pending %v, vouched %d; want [2] and nothing vouched for (%+v)", got, rep.Vouched, rep)
	}
	if _, ok := rep.Pending["stale_a"]; ok {
		t.Fatalf("stale_a has nothing pending: %+v", rep.Pending)
	}
}

// TestTenantRolesRefusedByOnePgHbaLine runs a server of its own whose
// pg_hba.conf admits strictmt's login role, then refuses every member of
// the tenant group, as docs/SCALE-OUT.md says to write it. In Citus mode
// (tenant roles can log in) a direct login as a tenant role is refused by
// that line, and the service works.
func TestTenantRolesRefusedByOnePgHbaLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := pgtest.StartServer(t)
	admin, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{
		"CREATE ROLE strictmt_app LOGIN CREATEROLE",
		"CREATE DATABASE app OWNER strictmt_app",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	hba := filepath.Join(srv.DataDir(), "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	lines := "host all postgres 127.0.0.1/32 trust\n" +
		"host all strictmt_app 127.0.0.1/32 trust\n" +
		"host all +strictmt_tenants 0.0.0.0/0 reject\n" +
		"host all +strictmt_tenants ::/0 reject\n"
	if err := os.WriteFile(hba, []byte(lines+string(old)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	appURL := strings.Replace(srv.URL("app"), "postgres@", "strictmt_app@", 1)
	if !strings.Contains(appURL, "strictmt_app@") {
		t.Fatalf("cannot make the app's URL from %s", srv.URL("app"))
	}
	cfg := apptest.Config(t)
	cfg.Database.URL = appURL
	cfg.Database.Citus = "on"
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "hba_a", "hba-a.localhost")
	r := env.Do(t, apptest.Request{Method: "POST", Host: "hba-a.localhost", Path: "/api/register/",
		Body: `{"username": "testuser", "email": "testuser@example.com", "password": "password123"}`})
	if r.Status != 201 {
		t.Fatalf("register through the service: %d %s", r.Status, r.Raw)
	}
	tok, _ := r.Body["access"].(string)
	if r := env.Do(t, apptest.Request{Method: "GET", Host: "hba-a.localhost", Path: "/api/todos/", Token: tok}); r.Status != 200 {
		t.Fatalf("list through the service: %d %s", r.Status, r.Raw)
	}
	var canLogin bool
	if err := admin.QueryRow(ctx, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", tenants.RoleName("app", "hba_a")).Scan(&canLogin); err != nil || !canLogin {
		t.Fatalf("the tenant role cannot log in (%v, %v): the line would refuse nothing", canLogin, err)
	}
	roleURL := strings.Replace(srv.URL("app"), "postgres@", tenants.RoleName("app", "hba_a")+"@", 1)
	c, err := pgconn.Connect(ctx, roleURL)
	if err == nil {
		c.Close(ctx)
		t.Fatal("a direct login as the tenant role was accepted")
	}
	if !strings.Contains(err.Error(), "pg_hba.conf rejects connection") {
		t.Fatalf("refused for another reason than the pg_hba line: %v", err)
	}
}
