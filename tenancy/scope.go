package tenancy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/strictmt/strictmt/apperr"
	"gorm.io/gorm"
)

// Scope is one request's view of its tenant's data: a transaction on a
// connection of the tenant's pool, begun on first use. In strict isolation
// every statement of it runs as the tenant's PostgreSQL role (SET LOCAL
// semantics, so the role ends with the transaction and never outlives it
// on a pooled connection). BEGIN, the role switch and the request's first
// query (see QueryRow) travel in one round trip.
//
// A read-only scope in prefix isolation needs no transaction: nothing is
// written and nothing is switched, so its statements go straight to the
// pool.
type Scope struct {
	tenant   *Tenant
	strict   bool
	readOnly bool

	mu   sync.Mutex
	conn *sql.Conn // holds the open transaction; nil before begin
	db   *gorm.DB  // the handle requests use; nil before begin
	done bool
}

// NewScope returns a scope on t; strict selects role switching.
func NewScope(t *Tenant, strict bool) *Scope { return &Scope{tenant: t, strict: strict} }

// NewReadOnlyScope returns a scope for a request that writes nothing (GET,
// HEAD): in prefix isolation it opens no transaction.
func NewReadOnlyScope(t *Tenant, strict bool) *Scope {
	return &Scope{tenant: t, strict: strict, readOnly: true}
}

// NewContextWithScope returns a copy of ctx carrying s.
func NewContextWithScope(ctx context.Context, s *Scope) context.Context {
	return context.WithValue(ctx, scopeKey, s)
}

func scopeFrom(ctx context.Context) (*Scope, error) {
	s, _ := ctx.Value(scopeKey).(*Scope)
	if s == nil {
		return nil, apperr.Errorf(apperr.EINTERNAL, "tenancy: no tenant scope in context")
	}
	return s, nil
}

// DB returns the tenant handle of ctx's scope, beginning its transaction
// on first use. It is the only way repositories reach tenant data, so a
// query cannot run outside a tenant's scope. EINTERNAL without a scope,
// EUNAVAILABLE when the database cannot be reached.
func DB(ctx context.Context) (*gorm.DB, error) {
	s, err := scopeFrom(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginLocked(ctx, nil); err != nil {
		return nil, err
	}
	return s.db.WithContext(ctx), nil
}

// Row is a single-row result.
type Row interface {
	Scan(dest ...any) error
}

// First is a single-row query that a scope sends together with its BEGIN.
type First struct {
	SQL  string
	Args []any
	// Scan reads the row; its error (sql.ErrNoRows or pgx.ErrNoRows
	// for none) is QueryRow's.
	Scan func(Row) error
}

// QueryRow runs a single-row query in ctx's scope. When it is the scope's
// first statement it shares the round trip of BEGIN and the role switch.
// q.SQL must name tables schema-qualified; it runs as the tenant's role in
// strict isolation like every other statement of the scope.
func QueryRow(ctx context.Context, q First) error {
	s, err := scopeFrom(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil || s.done {
		if s.done {
			return apperr.Errorf(apperr.EINTERNAL, "tenancy: scope of tenant %q already ended", s.tenant.Schema)
		}
		return q.Scan(s.queryRow(ctx, q))
	}
	var scanErr error
	q2 := q
	q2.Scan = func(r Row) error { scanErr = q.Scan(r); return nil }
	if err := s.beginLocked(ctx, &q2); err != nil {
		return err
	}
	return scanErr
}

func (s *Scope) queryRow(ctx context.Context, q First) Row {
	if s.conn != nil {
		return s.conn.QueryRowContext(ctx, q.SQL, q.Args...)
	}
	sqlDB, _ := s.tenant.DB.DB()
	return sqlDB.QueryRowContext(ctx, q.SQL, q.Args...)
}

// beginLocked begins the scope unless it has begun, running first (if not
// nil) in the same round trip.
func (s *Scope) beginLocked(ctx context.Context, first *First) error {
	if s.done {
		return apperr.Errorf(apperr.EINTERNAL, "tenancy: scope of tenant %q already ended", s.tenant.Schema)
	}
	if s.db != nil {
		return nil
	}
	if s.readOnly && !s.strict {
		s.db = s.tenant.DB
		if first != nil {
			return first.Scan(s.queryRow(ctx, *first))
		}
		return nil
	}
	conn, err := s.begin(ctx, first)
	if err != nil && DeadConnection(ctx, err) {
		// Nothing ran yet, so beginning again is safe. The pool hands
		// out a connection the server has since closed (a restart, an
		// administrator's kill) until it is used: the driver checks an
		// idle connection only after a second. The failed one is
		// discarded and each retry spends one more, so the dead
		// connections are at most those open now.
		for retries := s.openConnections(); err != nil && retries > 0 && DeadConnection(ctx, err); retries-- {
			conn, err = s.begin(ctx, first)
		}
	}
	if errors.Is(err, ErrTenantGone) {
		return err
	}
	if err != nil {
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
	}
	db := s.tenant.DB.Session(&gorm.Session{Context: ctx, NewDB: true})
	db.Statement.ConnPool = txConn{conn}
	s.conn, s.db = conn, db
	return nil
}

// begin takes a connection and sends BEGIN, the role switch (strict) and
// first as one pipelined batch: one round trip.
func (s *Scope) begin(ctx context.Context, first *First) (*sql.Conn, error) {
	sqlDB, err := s.tenant.DB.DB()
	if err != nil {
		return nil, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	err = conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		if s.strict {
			b.Queue("SELECT set_config('role', $1, true)", s.tenant.Role)
		}
		if first != nil {
			b.Queue(first.SQL, first.Args...).QueryRow(func(r pgx.Row) error { return first.Scan(r) })
		}
		if err := pc.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if pc.PgConn().TxStatus() != 'T' {
			return errors.New("tenancy: BEGIN left no open transaction")
		}
		return nil
	})
	if err != nil {
		release(conn, false)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == sqlstateInvalidParameterValue {
			// The role came from the catalog a moment ago: only the
			// tenant's deletion since then removes it.
			return nil, TenantGone(err)
		}
		return nil, err
	}
	return conn, nil
}

// release ends conn's transaction (committing when commit is true) and
// hands the connection back to the pool, or has the pool discard it when
// the transaction could not be ended cleanly: a connection never goes
// back to the pool inside a transaction or as a tenant's role.
func release(conn *sql.Conn, commit bool) error {
	// A cancelled request must still end its transaction.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stmt := "ROLLBACK"
	if commit {
		stmt = "COMMIT"
	}
	var endErr error
	_ = conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		if pc.IsClosed() {
			endErr = driver.ErrBadConn
			return driver.ErrBadConn
		}
		if pc.PgConn().TxStatus() != 'I' {
			if _, err := pc.Exec(ctx, stmt); err != nil {
				endErr = err
			}
		}
		if endErr != nil || pc.PgConn().TxStatus() != 'I' {
			if endErr == nil {
				endErr = errors.New("tenancy: transaction still open after " + stmt)
			}
			// database/sql discards a connection whose Raw returns
			// ErrBadConn.
			return driver.ErrBadConn
		}
		return nil
	})
	conn.Close()
	return endErr
}

// txConn is the scope's connection as GORM sees it: a transaction
// (Commit and Rollback make GORM nest with savepoints), not a pool that
// could begin another one. The scope alone ends the transaction.
type txConn struct{ c *sql.Conn }

func (t txConn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.c.PrepareContext(ctx, query)
}

func (t txConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.c.ExecContext(ctx, query, args...)
}

func (t txConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.c.QueryContext(ctx, query, args...)
}

func (t txConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.c.QueryRowContext(ctx, query, args...)
}

var errScopeOwnsTx = errors.New("tenancy: the request scope ends its own transaction")

// Commit refuses: only the scope commits.
func (t txConn) Commit() error { return errScopeOwnsTx }

// Rollback refuses: only the scope rolls back.
func (t txConn) Rollback() error { return errScopeOwnsTx }

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

// openConnections bounds the retries of a begin that met dead pooled
// connections: the pool can hold no more dead ones than its size (the
// count of those open right now would race with concurrent requests
// discarding theirs). At least 1 and at most 100.
func (s *Scope) openConnections() int {
	sqlDB, err := s.tenant.DB.DB()
	if err != nil {
		return 1
	}
	st := sqlDB.Stats()
	n := st.MaxOpenConnections
	if n <= 0 {
		n = st.OpenConnections
	}
	return min(max(n, 1), 100)
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
	return s.conn != nil
}

// Commit commits the transaction, if one was begun, and ends the scope.
func (s *Scope) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	s.db = nil
	if s.conn == nil {
		return nil
	}
	conn := s.conn
	s.conn = nil
	if err := release(conn, true); err != nil {
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
	s.db = nil
	if s.conn != nil {
		_ = release(s.conn, false)
		s.conn = nil
	}
}
