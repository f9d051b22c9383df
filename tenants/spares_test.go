package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/gorm"
)

// spares returns how many spare schemas exist.
func spares(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Raw("SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, 'strictmt-spare-')").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func fill(t *testing.T, svc *tenants.Service, target int) {
	t.Helper()
	if _, err := svc.FillSpares(context.Background(), target); err != nil {
		t.Fatal(err)
	}
}

func TestCreateTenantClaimsSpare(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	svc, db := env.App.Tenants, env.App.DB
	if n, err := svc.FillSpares(ctx, 2); err != nil || n != 2 {
		t.Fatalf("fill: %d %v", n, err)
	}
	if n, err := svc.FillSpares(ctx, 2); err != nil || n != 0 || spares(t, db) != 2 {
		t.Fatalf("a full pool was filled again: %d %v, %d spares", n, err, spares(t, db))
	}

	env.CreateTenant(t, "claimed", "claimed.localhost")
	if n := spares(t, db); n != 1 {
		t.Fatalf("%d spares left, want 1", n)
	}
	if c, d, s, r := counts(t, db, "claimed"); c != 1 || d != 1 || s != 1 || r != 1 {
		t.Fatalf("clients=%d domains=%d schemas=%d roles=%d", c, d, s, r)
	}
	var tables []string
	db.Raw("SELECT table_name FROM information_schema.tables WHERE table_schema = 'claimed' ORDER BY 1").Scan(&tables)
	if got := strings.Join(tables, ","); got != "goose_db_version,idempotency_keys,outstanding_tokens,projects,tasks,todos,users" {
		t.Fatalf("tables in claimed: %s", got)
	}
	// A claimed tenant works in strict isolation: its role has its grants.
	access, _, _ := env.Register(t, "claimed.localhost", "alice")
	r := env.Do(t, apptest.Request{Method: "POST", Host: "claimed.localhost", Path: "/api/todos/", Token: access, Body: map[string]any{"title": "first"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create todo in a claimed tenant: %d %s", r.Status, r.Raw)
	}
	// ...and migrate knows it is up to date.
	rep, err := tenants.MigrateTenants(ctx, env.App.SQL, apptest.Logger(t), tenants.MigrateOptions{Tenants: true})
	if err != nil || rep.UpToDate != 1 {
		t.Fatalf("migrate: %v %+v", err, rep)
	}
}

func TestClaimFailingMidwayKeepsTheSpare(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	db := env.App.DB
	fill(t, env.App.Tenants, 1)

	t.Run("ErrRoleExists", func(t *testing.T) {
		role := tenants.RoleName(currentDB(t, db), "spare_role")
		if err := db.Exec("CREATE ROLE " + tenants.QuoteIdent(role) + " NOLOGIN").Error; err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Exec("DROP ROLE IF EXISTS " + tenants.QuoteIdent(role)) })
		_, err := env.App.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "R", SchemaName: "spare_role", Domains: []string{"spare-role.localhost"}})
		if !errors.Is(err, apperr.Conflict) {
			t.Fatalf("want conflict on the role, got %v", err)
		}
		if c, d, s, _ := counts(t, db, "spare_role"); c+d+s != 0 || spares(t, db) != 1 {
			t.Fatalf("left clients=%d domains=%d schemas=%d; %d spares", c, d, s, spares(t, db))
		}
	})
	t.Run("ErrInjectedAtProvisioned", func(t *testing.T) {
		svc, err := tenants.NewService(ctx, db, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		failing := tenants.CreateOptions{Populate: func(context.Context, *pgx.Conn, *models.Tenant) error { return errors.New("populate failed") }}
		if _, err := svc.CreateTenantWith(ctx, tenants.CreateParams{Name: "F", SchemaName: "spare_fail", Domains: []string{"spare-fail.localhost"}}, failing); err == nil {
			t.Fatal("creation did not fail")
		}
		if c, d, s, r := counts(t, db, "spare_fail"); c+d+s+r != 0 || spares(t, db) != 1 {
			t.Fatalf("left clients=%d domains=%d schemas=%d roles=%d; %d spares", c, d, s, r, spares(t, db))
		}
	})
	t.Run("ErrSchemaExists", func(t *testing.T) {
		if err := db.Exec("CREATE SCHEMA spare_taken").Error; err != nil {
			t.Fatal(err)
		}
		_, err := env.App.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "T", SchemaName: "spare_taken", Domains: []string{"spare-taken.localhost"}})
		if !errors.Is(err, apperr.Conflict) || !strings.Contains(err.Error(), "schema") {
			t.Fatalf("want schema conflict, got %v", err)
		}
		if spares(t, db) != 1 {
			t.Fatal("a failed claim used up the spare")
		}
	})
}

func TestConcurrentCreationsClaimDistinctSpares(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	db := env.App.DB
	fill(t, env.App.Tenants, 3)
	const n = 6 // more than the spares: the rest take the full path
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := fmt.Sprintf("many_%d", i)
			_, errs[i] = env.App.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: s, SchemaName: s, Domains: []string{fmt.Sprintf("many-%d.localhost", i)}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creation %d: %v", i, err)
		}
		if c, _, s, r := counts(t, db, fmt.Sprintf("many_%d", i)); c != 1 || s != 1 || r != 1 {
			t.Fatalf("many_%d: clients=%d schemas=%d roles=%d", i, c, s, r)
		}
	}
	if left := spares(t, db); left != 0 {
		t.Fatalf("%d spares left after %d creations", left, n)
	}
}

func TestFillDropsOnlyOlderSpares(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	db := env.App.DB
	// An older binary's spare and a newer binary's spare.
	for _, s := range []string{"strictmt-spare-0-aaaa", "strictmt-spare-999999-bbbb"} {
		if err := db.Exec("CREATE SCHEMA " + tenants.QuoteIdent(s)).Error; err != nil {
			t.Fatal(err)
		}
	}
	fill(t, env.App.Tenants, 1)
	var names []string
	db.Raw("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'strictmt-spare-') ORDER BY 1").Scan(&names)
	if len(names) != 2 || names[1] != "strictmt-spare-999999-bbbb" || strings.HasPrefix(names[0], "strictmt-spare-0-") {
		t.Fatalf("spares after fill: %v", names)
	}
	// A spare of another version is never claimed.
	if err := db.Exec(`DROP SCHEMA "` + names[0] + `" CASCADE`).Error; err != nil {
		t.Fatal(err)
	}
	env.CreateTenant(t, "not_newer", "not-newer.localhost")
	if spares(t, db) != 1 {
		t.Fatal("the newer version's spare was claimed")
	}
}

func TestKeepSparesRefillsInTheBackground(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	ctx := context.Background()
	db := env.App.DB
	svc, err := tenants.NewService(ctx, db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.KeepSpares(2, apptest.Logger(t))
	defer svc.Close()
	waitFor := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for spares(t, db) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d spares, want %d", spares(t, db), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	names := func() string {
		var ns []string
		db.Raw("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'strictmt-spare-') ORDER BY 1").Scan(&ns)
		return strings.Join(ns, ",")
	}
	waitFor(2)
	before := names()
	if _, err := svc.CreateTenant(ctx, tenants.CreateParams{Name: "K", SchemaName: "kept", Domains: []string{"kept.localhost"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for names() == before || spares(t, db) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the claimed spare was not replaced: %s, then %s", before, names())
		}
		time.Sleep(20 * time.Millisecond)
	}
	svc.Close()
	svc.Close() // idempotent
}
