package tenancy

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
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
	tx, err := s.begin(ctx)
	if err != nil && DeadConnection(ctx, err) {
		// Nothing ran yet, so beginning again is safe. The pool hands
		// out a connection the server has since closed (a restart, an
		// administrator's kill) until it is used: the driver checks an
		// idle connection only after a second. The failed one is
		// closed now and each retry spends one more, so the dead
		// connections are at most those open now.
		for retries := s.openConnections(); err != nil && retries > 0 && DeadConnection(ctx, err); retries-- {
			tx, err = s.begin(ctx)
		}
	}
	if errors.Is(err, ErrTenantGone) {
		return nil, err
	}
	if err != nil {
		return nil, apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
	}
	s.tx = tx
	return tx, nil
}

// begin begins the transaction and, in strict mode, switches it to the
// tenant's role.
func (s *Scope) begin(ctx context.Context) (*gorm.DB, error) {
	tx := s.tenant.DB.WithContext(ctx).Begin()
	if tx.Error != nil {
		return nil, tx.Error
	}
	if s.strict {
		if err := tx.Exec("SELECT set_config('role', ?, true)", s.tenant.Role).Error; err != nil {
			tx.Rollback()
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == sqlstateInvalidParameterValue {
				// The role came from the catalog a moment ago: only
				// the tenant's deletion since then removes it.
				return nil, TenantGone(err)
			}
			return nil, err
		}
	}
	return tx, nil
}

// sqlstateInvalidParameterValue is what set_config('role', …) fails with
// for a role that does not exist.
const sqlstateInvalidParameterValue = "22023"

// ErrTenantGone is in the chain of the error a request gets when its
// tenant was deleted while the request ran (its role or schema no longer
// exists). Code that turns a missing row into something else (a missing
// user into 401) must leave such errors alone.
var ErrTenantGone = errors.New("tenancy: the tenant was deleted")

// TenantGone returns the ENOTFOUND error, answered like an unknown host,
// of a request whose tenant was deleted under it; cause is the database
// error that showed it.
func TenantGone(cause error) error {
	return &apperr.Error{Code: apperr.ENOTFOUND, Message: "No tenant is served at this host.", Err: fmt.Errorf("%w: %w", ErrTenantGone, cause)}
}

// openConnections returns the number of open connections of the
// tenant's pool, at least 1 and at most 100.
func (s *Scope) openConnections() int {
	sqlDB, err := s.tenant.DB.DB()
	if err != nil {
		return 1
	}
	return min(max(sqlDB.Stats().OpenConnections, 1), 100)
}

// DeadConnection reports whether err says that an established pooled
// connection turned out to be closed by the server (a restart, an
// administrator's kill), so that work which had not started may be
// retried on another one. It is false when the server cannot be reached
// (a failed connect: retrying would only delay the answer while the
// database is down) and once ctx has ended.
func DeadConnection(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02": // admin_shutdown, crash_shutdown
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err)
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
