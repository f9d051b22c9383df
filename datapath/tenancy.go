// Package datapath carries the request's tenant, its database scope and the
// authenticated user in a context.Context, under unexported keys, and is
// the only path to a tenant's data: a tenant's rows are reachable only
// through the scope of a request (see Scope), never through a handle a
// caller could keep.
package datapath

import (
	"context"
	"time"

	"github.com/strictmt/strictmt/models"
)

// Tenant is a resolved tenant as requests see it. It holds no database
// handle: its data is reached only through a Scope. A Tenant costs the
// bytes of its fields; the parsed models and the pool are its Store's,
// shared by every tenant.
type Tenant struct {
	ID        int64
	Name      string
	Schema    string
	Role      string
	PaidUntil *models.Date
	OnTrial   bool
	// State and StateUntil are the tenant's state (models.Tenant's): a
	// request checks its EffectiveState.
	State      string
	StateUntil *time.Time

	store *Store
	order []int // the store's groups in the order its scopes take them (route.go)
}

// EffectiveState is the state t is in at now (see
// models.Tenant.EffectiveState).
func (t *Tenant) EffectiveState(now time.Time) string {
	return (&models.Tenant{State: t.State, StateUntil: t.StateUntil}).EffectiveState(now)
}

// User is the authenticated user of a request. ID comes from the request's
// token; Username is filled in by the check that the user still exists
// (see DeferCheck), which rides with the request's first statement.
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
