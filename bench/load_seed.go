package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
)

// loadTenant is a seeded tenant as the load driver uses it.
type loadTenant struct {
	Schema string
	Host   string
	UserID int64
	Token  string // access token of the tenant's user, valid for the whole run
}

// seedLoad creates n tenants (schemas load_001…), each with one user and
// todos todos, and returns them with an access token each. Tenants are
// created through the tenant service, users through the repository in a
// tenant scope, and todos with one INSERT … SELECT generate_series per
// tenant. Tenants of an earlier run on the same database are dropped
// first.
func seedLoad(ctx context.Context, url string, n, todos, pool int) ([]loadTenant, error) {
	a, err := openLoadApp(ctx, url, config.IsolationPrefix, pool, app.MigrateOptions{Shared: true, Tenants: true}, nil)
	if err != nil {
		return nil, err
	}
	defer a.Close(context.WithoutCancel(ctx))
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	// Only the tokens matter to the benchmark; the hash is a real one so
	// the users could log in.
	hash, err := auth.HashPassword("load-password-1")
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokens([]byte(benchSecret), 24*time.Hour, 24*time.Hour)
	if err != nil {
		return nil, err
	}

	out := make([]loadTenant, 0, n)
	start := time.Now()
	for i := 1; i <= n; i++ {
		t := loadTenant{Schema: fmt.Sprintf("load_%03d", i), Host: fmt.Sprintf("t%03d.load.localhost", i)}
		if _, err := a.Tenants.FindTenant(ctx, t.Schema); err == nil {
			if err := a.Tenants.DeleteTenant(ctx, t.Schema, true); err != nil {
				return nil, fmt.Errorf("dropping %s of an earlier run: %w", t.Schema, err)
			}
		} else if !errors.Is(err, apperr.NotFound) {
			return nil, err
		}
		client, err := a.Tenants.CreateTenant(ctx, tenants.CreateParams{
			Name: fmt.Sprintf("Load %03d", i), SchemaName: t.Schema, Domains: []string{t.Host},
		})
		if err != nil {
			return nil, fmt.Errorf("creating tenant %s: %w", t.Schema, err)
		}
		if t.UserID, err = createLoadUser(ctx, a, t.Host, hash); err != nil {
			return nil, fmt.Errorf("creating the user of %s: %w", t.Schema, err)
		}
		// Newest first is the list's default order: spread created_at so
		// that order is the one a real table would have.
		_, err = conn.Exec(ctx, "INSERT INTO "+pgx.Identifier{t.Schema, "todos"}.Sanitize()+
			" (title, description, owner_id, created_at)"+
			" SELECT 'todo ' || i, 'seeded todo number ' || i, $1, now() - make_interval(secs => $2 - i)"+
			" FROM generate_series(1, $2::int) AS i", t.UserID, todos)
		if err != nil {
			return nil, fmt.Errorf("seeding the todos of %s: %w", t.Schema, err)
		}
		if t.Token, err = tokens.IssueAccess(t.UserID, auth.Tenant{ID: client.ID, Schema: t.Schema}); err != nil {
			return nil, err
		}
		out = append(out, t)
		if i%25 == 0 || i == n {
			fmt.Fprintf(os.Stderr, "  %d/%d tenants seeded (%s)\n", i, n, time.Since(start).Round(100*time.Millisecond))
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, err
	}
	return out, nil
}

// createLoadUser adds the user "load" to the tenant at host, in a tenant
// scope as a request would, and returns its id.
func createLoadUser(ctx context.Context, a *app.App, host, hash string) (int64, error) {
	t, err := a.Resolver.Resolve(ctx, host)
	if err != nil {
		return 0, err
	}
	scope := datapath.NewScope(t, false)
	sctx := datapath.NewContextWithScope(datapath.NewContextWithTenant(ctx, t), scope)
	u := &models.User{Username: "load", Email: "load@example.com", PasswordHash: hash, IsActive: true, DateJoined: time.Now().UTC()}
	if err := repository.CreateUser(sctx, u); err != nil {
		scope.Rollback()
		return 0, err
	}
	return u.ID, scope.End()
}
