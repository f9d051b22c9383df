package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"gorm.io/gorm"
)

// scoped returns a context carrying the request scope of the tenant at
// host, as the Scope middleware builds it, and a function ending it.
func scoped(t *testing.T, env *apptest.Env, host string, strict bool) (context.Context, *datapath.Scope) {
	t.Helper()
	ctx := context.Background()
	tn, err := env.App.Resolver.Resolve(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	s := datapath.NewScope(tn, strict)
	return datapath.NewContextWithScope(datapath.NewContextWithTenant(ctx, tn), s), s
}

// runSQL runs hand-written sql in the scope of ctx, as the pipeline runs
// a request's statements, scanning its row into dest when dest is given.
func runSQL(ctx context.Context, sql string, dest ...any) error {
	st := datapath.Stmt{SQL: sql}
	if len(dest) > 0 {
		st.Row = func(r pgx.Row) error { return r.Scan(dest...) }
	}
	return datapath.Run(ctx, st)
}

// TestStrictIsolationIsEnforcedByPostgres runs hand-written cross-schema
// SQL through tenant A's request-scoped handle: in strict mode PostgreSQL
// refuses it (SQLSTATE 42501); in prefix mode the same SQL reads B's rows,
// which is why strict is the default.
func TestStrictIsolationIsEnforcedByPostgres(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "iso_a", "a.localhost")
	env.CreateTenant(t, "iso_b", "b.localhost")
	env.Register(t, "b.localhost", "victim")

	attacks := map[string]string{
		"ReadOtherTenantTable":   `SELECT count(*) FROM "iso_b".users`,
		"WriteOtherTenantTable":  `UPDATE "iso_b".users SET email = 'pwned@example.com'`,
		"ReadCatalogClients":     `SELECT count(*) FROM public.clients`,
		"ReadCatalogDomains":     `SELECT count(*) FROM public.domains`,
		"ReadOwnVersionTable":    `UPDATE "iso_a".goose_db_version SET is_applied = false`,
		"CreateTableInOtherSch":  `CREATE TABLE "iso_b".evil (id int)`,
		"CreateTableInPublic":    `CREATE TABLE public.evil (id int)`,
		"ReadOtherTenantPrefixd": `SELECT count(*) FROM iso_b.users`,
	}
	for name, sql := range attacks {
		t.Run("ErrPermissionDenied_"+name, func(t *testing.T) {
			ctx, s := scoped(t, env, "a.localhost", true)
			defer s.Rollback()
			err := runSQL(ctx, sql)
			if code := pgerr.Code(err); code != "42501" {
				t.Fatalf("%s: want permission denied (42501), got %v", sql, err)
			}
		})
	}
	t.Run("OwnTablesWork", func(t *testing.T) {
		ctx, s := scoped(t, env, "a.localhost", true)
		defer s.Rollback()
		var who string
		var n int64
		if err := runSQL(ctx, "SELECT current_user", &who); err != nil {
			t.Fatal(err)
		}
		count, err := datapath.Build(ctx, func(db *gorm.DB) *gorm.DB { return db.Model(&models.User{}).Count(&n) })
		if err == nil {
			count.Row = func(r pgx.Row) error { return r.Scan(&n) }
			err = datapath.Run(ctx, count)
		}
		if err != nil {
			t.Fatalf("own table through the prefixed handle: %v", err)
		}
		tn := datapath.TenantFromContext(ctx)
		if who != tn.Role {
			t.Fatalf("statements run as %q, want the tenant role %q", who, tn.Role)
		}
	})
	t.Run("PrefixModeDoesNotStopRawSQL", func(t *testing.T) {
		ctx, s := scoped(t, env, "a.localhost", false)
		defer s.Rollback()
		var n int64
		if err := runSQL(ctx, `SELECT count(*) FROM "iso_b".users`, &n); err != nil || n != 1 {
			t.Fatalf("prefix mode: got %d, %v", n, err)
		}
	})
}

// TestScopesOnASmallPoolNeverMix runs 1,000 concurrent scopes alternating
// two tenants on a pool of 2 connections: each sees only its own role and
// rows, whichever connection it gets.
func TestScopesOnASmallPoolNeverMix(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Database.MaxOpenConns = 2
	cfg.Database.MaxIdleConns = 2
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "mix_a", "mix-a.localhost")
	env.CreateTenant(t, "mix_b", "mix-b.localhost")
	for i := range 3 {
		env.Register(t, "mix-a.localhost", fmt.Sprintf("a%d", i))
	}
	env.Register(t, "mix-b.localhost", "b0")
	want := map[string]int64{"mix-a.localhost": 3, "mix-b.localhost": 1}

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 1000 {
		host := "mix-a.localhost"
		if i%2 == 1 {
			host = "mix-b.localhost"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, s := scoped(t, env, host, true)
			var row struct {
				Who string
				N   int64
			}
			if err := runSQL(ctx, "SELECT current_user AS who, (SELECT count(*) FROM "+datapath.TenantFromContext(ctx).Schema+".users) AS n", &row.Who, &row.N); err != nil {
				errs <- err
			} else if row.Who != datapath.TenantFromContext(ctx).Role || row.N != want[host] {
				errs <- fmt.Errorf("%s saw role %s and %d users", host, row.Who, row.N)
			}
			if i%3 == 0 {
				s.Rollback()
			} else if err := s.End(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// After all that, pooled connections carry no tenant role.
	var who string
	env.App.DB.Raw("SELECT current_user").Scan(&who)
	if who != "postgres" {
		t.Fatalf("pooled connection left as role %q", who)
	}
}

// TestPanicRollsBackAndLeavesConnectionClean panics in a handler after a
// write, on a pool of one connection: the write is gone, the client gets
// 500 JSON, and the next statement on that connection runs as the login
// role again.
func TestPanicRollsBackAndLeavesConnectionClean(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Database.MaxOpenConns = 1
	cfg.Database.MaxIdleConns = 1
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "boom", "boom.localhost")
	log := apptest.Logger(t)

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(middleware.Recovery(log), middleware.Tenant(log, env.App.Resolver, middleware.TenantHeader{}), middleware.Scope(log, cfg.Tenancy.Isolation == config.IsolationStrict))
	r.POST("/panic", func(c *gin.Context) {
		u := &models.User{Username: "ghost", Email: "g@example.com", PasswordHash: "x", IsActive: true}
		if err := repository.CreateUser(c.Request.Context(), u); err != nil {
			t.Errorf("insert before panic: %v", err)
		}
		panic("handler bug")
	})
	req := httptest.NewRequest("POST", "/panic", nil)
	req.Host = "boom.localhost"
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("panic response: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var n int64
	var who, path string
	env.App.DB.Raw(`SELECT count(*) FROM "boom".users`).Scan(&n)
	env.App.DB.Raw(`SELECT current_user`).Scan(&who)
	env.App.DB.Raw(`SHOW search_path`).Scan(&path)
	if n != 0 || who != "postgres" || path != `"$user", public` {
		t.Fatalf("after panic: users=%d current_user=%q search_path=%q", n, who, path)
	}
}

// TestConcurrentRequestsOnASmallPoolNeverMix sends 1,000 concurrent list
// requests alternating two tenants through the real HTTP server, on a pool
// of 2 database connections: every answer holds its own tenant's rows only.
func TestConcurrentRequestsOnASmallPoolNeverMix(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Database.MaxOpenConns = 2
	cfg.Database.MaxIdleConns = 2
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "conc_a", "conc-a.localhost")
	env.CreateTenant(t, "conc_b", "conc-b.localhost")
	tokens := map[string]string{}
	for _, host := range []string{"conc-a.localhost", "conc-b.localhost"} {
		tokens[host], _, _ = env.Register(t, host, "owner")
		for i := range 3 {
			r := env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/todos/", Token: tokens[host], Body: map[string]string{"title": fmt.Sprintf("%s #%d", host, i)}})
			if r.Status != 201 {
				t.Fatalf("seed %s: %d %s", host, r.Status, r.Raw)
			}
		}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 1000 {
		host := "conc-a.localhost"
		if i%2 == 1 {
			host = "conc-b.localhost"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", env.Server.URL+"/api/todos/", nil)
			req.Host = host
			req.Header.Set("Authorization", "Bearer "+tokens[host])
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var body struct {
				Count   int
				Results []struct{ Title string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
				errs <- fmt.Errorf("%s: %d %v", host, resp.StatusCode, err)
				return
			}
			if body.Count != 3 || len(body.Results) != 3 {
				errs <- fmt.Errorf("%s saw %d todos", host, body.Count)
			}
			for _, r := range body.Results {
				if !strings.HasPrefix(r.Title, host+" #") {
					errs <- fmt.Errorf("%s saw %q", host, r.Title)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of 1000 requests went wrong", n)
	}
}
