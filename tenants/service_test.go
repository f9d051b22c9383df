package tenants_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// counts returns how many catalog rows and schemas exist for schema.
func counts(t *testing.T, db *gorm.DB, schema string) (clients, domains, schemas, roles int64) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Raw("SELECT count(*) FROM public.clients WHERE schema_name = ?", schema).Scan(&clients).Error)
	must(db.Raw("SELECT count(*) FROM public.domains d JOIN public.clients c ON c.id = d.tenant_id WHERE c.schema_name = ?", schema).Scan(&domains).Error)
	must(db.Raw("SELECT count(*) FROM pg_namespace WHERE nspname = ?", schema).Scan(&schemas).Error)
	must(db.Raw("SELECT count(*) FROM pg_roles WHERE rolname = ?", tenants.RoleName(currentDB(t, db), schema)).Scan(&roles).Error)
	return
}

func currentDB(t *testing.T, db *gorm.DB) string {
	t.Helper()
	var name string
	if err := db.Raw("SELECT current_database()").Scan(&name).Error; err != nil {
		t.Fatal(err)
	}
	return name
}

func TestCreateListDeleteTenant(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	svc, db := env.App.Tenants, env.App.DB
	paid, _ := models.ParseDate("2024-12-31")

	c, err := svc.CreateTenant(ctx, tenants.CreateParams{
		Name: "Tenant A", SchemaName: "tenant_a", Domains: []string{"Tenant1.LOCALHOST:8080", "more.example.com."},
		PaidUntil: &paid, OnTrial: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Domains[0].Domain != "tenant1.localhost" || !c.Domains[0].IsPrimary || c.Domains[1].Domain != "more.example.com" || c.Domains[1].IsPrimary {
		t.Fatalf("domains not normalised or primary wrong: %+v", c.Domains)
	}
	if n, d, s, r := counts(t, db, "tenant_a"); n != 1 || d != 2 || s != 1 || r != 1 {
		t.Fatalf("after create: clients=%d domains=%d schemas=%d roles=%d", n, d, s, r)
	}
	var tables []string
	db.Raw("SELECT table_name FROM information_schema.tables WHERE table_schema = 'tenant_a' ORDER BY 1").Scan(&tables)
	if got := strings.Join(tables, ","); got != "goose_db_version,idempotency_keys,outstanding_tokens,projects,tasks,todos,users" {
		t.Fatalf("tables in tenant_a: %s", got)
	}

	list, total, err := svc.ListTenants(ctx, tenants.ListParams{})
	if err != nil || total != 1 || list[0].SchemaName != "tenant_a" || list[0].PaidUntil.String() != "2024-12-31" || !list[0].OnTrial {
		t.Fatalf("list: %v %d %+v", err, total, list)
	}

	t.Run("ErrDuplicateSchema", func(t *testing.T) {
		_, err := svc.CreateTenant(ctx, tenants.CreateParams{Name: "Again", SchemaName: "tenant_a", Domains: []string{"other.localhost"}})
		if !errors.Is(err, apperr.Conflict) {
			t.Fatalf("want conflict, got %v", err)
		}
	})
	t.Run("ErrDuplicateDomain", func(t *testing.T) {
		_, err := svc.CreateTenant(ctx, tenants.CreateParams{Name: "B", SchemaName: "tenant_b", Domains: []string{"www.tenant1.localhost"}})
		if !errors.Is(err, apperr.Conflict) {
			t.Fatalf("want conflict, got %v", err)
		}
		if n, _, s, r := counts(t, db, "tenant_b"); n+s+r != 0 {
			t.Fatalf("failed creation left clients=%d schemas=%d roles=%d", n, s, r)
		}
	})

	if err := svc.DeleteTenant(ctx, "tenant_a", true); err != nil {
		t.Fatal(err)
	}
	if n, d, s, r := counts(t, db, "tenant_a"); n+d+s+r != 0 {
		t.Fatalf("after delete: clients=%d domains=%d schemas=%d roles=%d", n, d, s, r)
	}
	if err := svc.DeleteTenant(ctx, "tenant_a", true); !errors.Is(err, apperr.NotFound) {
		t.Fatalf("second delete: want not found, got %v", err)
	}
}

func TestDeleteTenantKeepsSchemaWithoutDrop(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	env.CreateTenant(t, "keep_me", "keep.localhost")
	if err := env.App.Tenants.DeleteTenant(ctx, "keep_me", false); err != nil {
		t.Fatal(err)
	}
	if n, d, s, r := counts(t, env.App.DB, "keep_me"); n != 0 || d != 0 || s != 1 || r != 0 {
		t.Fatalf("clients=%d domains=%d schemas=%d roles=%d; want only the schema kept", n, d, s, r)
	}
	// The kept schema blocks a new tenant of the same name, clearly.
	_, err := env.App.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "x", SchemaName: "keep_me", Domains: []string{"keep2.localhost"}})
	if !errors.Is(err, apperr.Conflict) || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("want schema conflict, got %v", err)
	}
}

func TestHostileSchemaNamesAreRefused(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	var before int64
	env.App.DB.Raw("SELECT count(*) FROM pg_namespace").Scan(&before)

	for _, name := range []string{
		"Tenant-A", "a;drop schema public", "pg_x", "public", "information_schema",
		strings.Repeat("a", 64), `x"y`, "", "1abc", "select", "pg_catalog", "a b", "tenant_ä",
		"a\x00b", "a'; DROP TABLE public.clients; --",
	} {
		t.Run("ErrInvalid", func(t *testing.T) {
			_, err := env.App.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "Hostile", SchemaName: name, Domains: []string{"hostile.localhost"}})
			var e *apperr.Error
			if !errors.As(err, &e) || e.Code != apperr.EINVALID || len(e.Fields["schema_name"]) == 0 {
				t.Fatalf("schema %q: want EINVALID on schema_name, got %v", name, err)
			}
		})
	}
	var after, clients int64
	env.App.DB.Raw("SELECT count(*) FROM pg_namespace").Scan(&after)
	env.App.DB.Raw("SELECT count(*) FROM public.clients").Scan(&clients)
	if after != before || clients != 0 {
		t.Fatalf("hostile names changed something: schemas %d -> %d, clients %d", before, after, clients)
	}
	if err := tenants.ValidateSchemaName(strings.Repeat("a", 63)); err != nil {
		t.Fatalf("63 characters is allowed: %v", err)
	}
}

func TestCreateTenantFailingMidwayLeavesNothing(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	db := env.App.DB

	t.Run("ErrRoleExists", func(t *testing.T) {
		// A role of that name already in the cluster makes creation fail
		// after the schema and its tables were made.
		role := tenants.RoleName(currentDB(t, db), "half_done")
		if err := db.Exec("CREATE ROLE " + tenants.QuoteIdent(role) + " NOLOGIN").Error; err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Exec("DROP ROLE IF EXISTS " + tenants.QuoteIdent(role)) })
		_, err := env.App.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "Half", SchemaName: "half_done", Domains: []string{"half.localhost"}})
		if !errors.Is(err, apperr.Conflict) {
			t.Fatalf("want conflict on the role, got %v", err)
		}
		if n, d, s, _ := counts(t, db, "half_done"); n+d+s != 0 {
			t.Fatalf("left clients=%d domains=%d schemas=%d", n, d, s)
		}
	})
	// A failure after the catalog rows were written: PostgreSQL refuses
	// the tenant's second domain. A failure after provisioning: Populate
	// fails. Both on the service's handle and on one with GORM's default
	// transactions (a statement that began and committed one of its own
	// would end the creation's transaction early).
	if err := db.Exec(`CREATE FUNCTION public.refuse_domain() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused domain %', NEW.domain; END $$;
		CREATE TRIGGER refuse_domain BEFORE INSERT ON public.domains FOR EACH ROW
		WHEN (NEW.domain LIKE 'refused-%') EXECUTE FUNCTION public.refuse_domain()`).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TRIGGER refuse_domain ON public.domains; DROP FUNCTION public.refuse_domain()") })
	plain, err := gorm.Open(postgres.New(postgres.Config{Conn: env.App.SQL}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	errPopulate := errors.New("populate failed")
	for _, h := range []struct {
		name string
		db   *gorm.DB
	}{{"", db}, {"DefaultTransactions_", plain}} {
		for _, step := range []string{"catalog", "provisioned"} {
			t.Run("ErrInjectedAt_"+h.name+step, func(t *testing.T) {
				svc, err := tenants.NewService(ctx, h.db, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				schema := strings.ToLower("fail_" + h.name + step)
				host := strings.ReplaceAll(schema, "_", "-")
				p := tenants.CreateParams{Name: "F", SchemaName: schema, Domains: []string{host + ".localhost"}}
				var o tenants.CreateOptions
				if step == "catalog" {
					p.Domains = append(p.Domains, "refused-"+host+".localhost")
				} else {
					o.Populate = func(context.Context, *pgx.Conn, *models.Tenant) error { return errPopulate }
				}
				_, err = svc.CreateTenantWith(ctx, p, o)
				if err == nil {
					t.Fatal("creation did not fail")
				}
				if want := "refused domain"; (step == "catalog" && !strings.Contains(err.Error(), want)) || (step != "catalog" && !errors.Is(err, errPopulate)) {
					t.Fatalf("creation failed with %v, not the injected failure", err)
				}
				if n, d, s, r := counts(t, db, schema); n+d+s+r != 0 {
					t.Fatalf("left clients=%d domains=%d schemas=%d roles=%d", n, d, s, r)
				}
			})
		}
	}
}

func TestConcurrentCreationOfOneSchema(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = env.App.Tenants.CreateTenant(ctx, tenants.CreateParams{
				Name: "Race", SchemaName: "race", Domains: []string{"race" + string(rune('a'+i)) + ".localhost"},
			})
		}()
	}
	wg.Wait()
	ok, conflicts := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, apperr.Conflict):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("successes=%d conflicts=%d; want 1 and %d", ok, conflicts, n-1)
	}
	if c, _, s, r := counts(t, env.App.DB, "race"); c != 1 || s != 1 || r != 1 {
		t.Fatalf("clients=%d schemas=%d roles=%d", c, s, r)
	}
}

func TestDomains(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	svc := env.App.Tenants
	env.CreateTenant(t, "dom", "one.localhost")

	if _, err := svc.AddDomain(ctx, "dom", "Two.Example.COM:443", true); err != nil {
		t.Fatal(err)
	}
	c, _ := svc.FindTenant(ctx, "dom")
	if len(c.Domains) != 2 || c.Domains[0].Domain != "two.example.com" || !c.Domains[0].IsPrimary || c.Domains[1].IsPrimary {
		t.Fatalf("after add primary: %+v", c.Domains)
	}
	for _, bad := range []string{"", "bad host", "a..b", "-x.com", "localhost", "127.0.0.1", "ünicode.com", strings.Repeat("a", 64) + ".com"} {
		if _, err := svc.AddDomain(ctx, "dom", bad, false); !errors.Is(err, apperr.Invalid) {
			t.Errorf("domain %q: want EINVALID, got %v", bad, err)
		}
	}
	if _, err := svc.AddDomain(ctx, "dom", "one.localhost", false); !errors.Is(err, apperr.Conflict) {
		t.Errorf("duplicate domain: want ECONFLICT, got %v", err)
	}
	if _, err := svc.AddDomain(ctx, "nope", "x.localhost", false); !errors.Is(err, apperr.NotFound) {
		t.Errorf("unknown tenant: want ENOTFOUND, got %v", err)
	}
	if err := svc.RemoveDomain(ctx, "two.example.com"); err != nil {
		t.Fatal(err)
	}
	c, _ = svc.FindTenant(ctx, "dom")
	if len(c.Domains) != 1 || !c.Domains[0].IsPrimary {
		t.Fatalf("removing the primary must promote another: %+v", c.Domains)
	}
	if err := svc.RemoveDomain(ctx, "one.localhost"); !errors.Is(err, apperr.Invalid) {
		t.Fatalf("removing the last domain: want EINVALID, got %v", err)
	}
	if err := svc.RemoveDomain(ctx, "missing.localhost"); !errors.Is(err, apperr.NotFound) {
		t.Fatalf("want ENOTFOUND, got %v", err)
	}
}

func TestCreateTenantWithPopulateAndReplace(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	svc, db := env.App.Tenants, env.App.DB
	p := tenants.CreateParams{Name: "Tenant A", SchemaName: "tenant_a", Domains: []string{"a.localhost"}}
	insert := func(ctx context.Context, conn *pgx.Conn, c *models.Tenant) error {
		_, err := conn.Exec(ctx, `INSERT INTO "`+c.SchemaName+`".todos (id, title) VALUES (7, 'in the creation')`)
		return err
	}

	t.Run("ErrPopulateRollsBackAll", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := svc.CreateTenantWith(ctx, p, tenants.CreateOptions{Populate: func(ctx context.Context, conn *pgx.Conn, c *models.Tenant) error {
			if err := insert(ctx, conn, c); err != nil {
				return err
			}
			return boom
		}})
		if !errors.Is(err, boom) {
			t.Fatalf("want boom, got %v", err)
		}
		if n, d, s, r := counts(t, db, "tenant_a"); n+d+s+r != 0 {
			t.Fatalf("left clients=%d domains=%d schemas=%d roles=%d", n, d, s, r)
		}
	})

	if _, err := svc.CreateTenantWith(ctx, p, tenants.CreateOptions{Populate: insert}); err != nil {
		t.Fatal(err)
	}
	var owner *int64
	var title string
	if err := db.Raw(`SELECT title, owner_id FROM tenant_a.todos WHERE id = 7`).Row().Scan(&title, &owner); err != nil || title != "in the creation" || owner != nil {
		t.Fatalf("populated row: %q %v %v", title, owner, err)
	}

	t.Run("ErrReplaceKeepsOldOnFailure", func(t *testing.T) {
		_, err := svc.CreateTenantWith(ctx, p, tenants.CreateOptions{Replace: true, Populate: func(context.Context, *pgx.Conn, *models.Tenant) error {
			return errors.New("boom")
		}})
		if err == nil {
			t.Fatal("no error")
		}
		var n int64
		if err := db.Raw(`SELECT count(*) FROM tenant_a.todos`).Scan(&n).Error; err != nil || n != 1 {
			t.Fatalf("old rows after a failed replace: %d %v", n, err)
		}
	})

	t.Run("ReplaceDropsOldRows", func(t *testing.T) {
		p2 := p
		p2.Domains = []string{"a.localhost", "b.localhost"}
		c, err := svc.CreateTenantWith(ctx, p2, tenants.CreateOptions{Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := db.Raw(`SELECT count(*) FROM tenant_a.todos`).Scan(&n).Error; err != nil || n != 0 || len(c.Domains) != 2 {
			t.Fatalf("after replace: %d todos, %v, %+v", n, err, c.Domains)
		}
		if n, d, s, r := counts(t, db, "tenant_a"); n != 1 || d != 2 || s != 1 || r != 1 {
			t.Fatalf("after replace: clients=%d domains=%d schemas=%d roles=%d", n, d, s, r)
		}
	})
}
