package tenancy

import (
	"context"
	"sync"

	"github.com/strictmt/strictmt/apperr"
	"gorm.io/gorm"
)

// Scope is one request's view of its tenant's data: a transaction on the
// tenant's handle, begun on first use. In strict isolation every statement
// of it runs as the tenant's PostgreSQL role (SET LOCAL semantics, so the
// role ends with the transaction and never outlives it on a pooled
// connection).
type Scope struct {
	tenant *Tenant
	strict bool

	mu   sync.Mutex
	tx   *gorm.DB
	done bool
}

// NewScope returns a scope on t; strict selects role switching.
func NewScope(t *Tenant, strict bool) *Scope { return &Scope{tenant: t, strict: strict} }

// NewContextWithScope returns a copy of ctx carrying s.
func NewContextWithScope(ctx context.Context, s *Scope) context.Context {
	return context.WithValue(ctx, scopeKey, s)
}

// DB returns the tenant transaction of ctx's scope, beginning it on first
// use. It is the only way repositories reach tenant data, so a query
// cannot run outside a tenant's scope. EINTERNAL without a scope,
// EUNAVAILABLE when the database cannot be reached.
func DB(ctx context.Context) (*gorm.DB, error) {
	s, _ := ctx.Value(scopeKey).(*Scope)
	if s == nil {
		return nil, apperr.Errorf(apperr.EINTERNAL, "tenancy: no tenant scope in context")
	}
	return s.db(ctx)
}

func (s *Scope) db(ctx context.Context) (*gorm.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, apperr.Errorf(apperr.EINTERNAL, "tenancy: scope of tenant %q already ended", s.tenant.Schema)
	}
	if s.tx != nil {
		return s.tx.WithContext(ctx), nil
	}
	tx := s.tenant.DB.WithContext(ctx).Begin()
	if tx.Error != nil {
		return nil, apperr.Wrap(apperr.EUNAVAILABLE, tx.Error, "The database is unavailable.")
	}
	if s.strict {
		if err := tx.Exec("SELECT set_config('role', ?, true)", s.tenant.Role).Error; err != nil {
			tx.Rollback()
			return nil, apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
		}
	}
	s.tx = tx
	return tx, nil
}

// Began reports whether the scope's transaction was started.
func (s *Scope) Began() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx != nil
}

// Commit commits the transaction, if one was begun, and ends the scope.
func (s *Scope) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.tx == nil {
		return nil
	}
	tx := s.tx
	s.tx = nil
	if err := tx.Commit().Error; err != nil {
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
	}
	return nil
}

// Rollback rolls the transaction back, if one was begun, and ends the
// scope.
func (s *Scope) Rollback() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.tx != nil {
		s.tx.Rollback()
		s.tx = nil
	}
}
