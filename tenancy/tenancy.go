// Package tenancy carries the request's tenant, its database scope and the
// authenticated user in a context.Context, under unexported keys.
package tenancy

import (
	"context"

	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// Tenant is a resolved tenant as requests see it.
type Tenant struct {
	ID        int64
	Name      string
	Schema    string
	Role      string
	PaidUntil *models.Date
	OnTrial   bool
	// DB is the tenant's handle: its table names carry the schema as
	// prefix ("tenant_a"."todos"). Requests use Scope, not DB directly.
	DB *gorm.DB
}

// User is the authenticated user of a request.
type User struct {
	ID       int64
	Username string
}

type contextKey int

const (
	tenantKey contextKey = iota
	scopeKey
	userKey
)

// NewContextWithTenant returns a copy of ctx carrying t.
func NewContextWithTenant(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, tenantKey, t)
}

// TenantFromContext returns the tenant of ctx, or nil.
func TenantFromContext(ctx context.Context) *Tenant {
	t, _ := ctx.Value(tenantKey).(*Tenant)
	return t
}

// NewContextWithUser returns a copy of ctx carrying u.
func NewContextWithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey, u)
}

// UserFromContext returns the authenticated user of ctx, or nil.
func UserFromContext(ctx context.Context) *User {
	u, _ := ctx.Value(userKey).(*User)
	return u
}
