package datapath

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
)

// Scope is one request's view of its tenant's data, and the only way to
// it. Its statements run in a transaction, as the tenant's PostgreSQL
// role in strict isolation (SET LOCAL semantics: the role ends with the
// transaction and never outlives it on a pooled connection).
//
// Statements travel in pipelines (see Run): BEGIN, the role switch, the
// checks deferred so far (DeferCheck: the token's user still exists) and
// the request's statements go to PostgreSQL together, in one round trip.
//
// A read-only scope (GET, HEAD) runs READ ONLY in both isolation modes, so
// a write from a read path fails loudly. Each Run of a read-only scope is
// a whole transaction — BEGIN READ ONLY … COMMIT in the same round trip —
// so a read never holds a connection between its statements, nor while
// its response is written. At read committed every statement reads its
// own snapshot anyway. A writing scope keeps its transaction (and its
// connection) open from its first statement until Commit or Rollback; the
// Commit function sends its last statements with the COMMIT.
type Scope struct {
	tenant   *Tenant
	strict   bool
	readOnly bool
	held     bool // see HoldCommit

	mu      sync.Mutex
	conn    *lease  // holds the open transaction; nil when none
	pending []Check // sent with the next pipeline
	done    bool
	dbTime  time.Duration // see DatabaseTime
}

// NewScope returns a scope on t that may write; strict selects role
// switching.
func NewScope(t *Tenant, strict bool) *Scope { return &Scope{tenant: t, strict: strict} }

// NewReadOnlyScope returns a scope for a request that writes nothing (GET,
// HEAD): its transactions are READ ONLY in both isolation modes.
func NewReadOnlyScope(t *Tenant, strict bool) *Scope {
	return &Scope{tenant: t, strict: strict, readOnly: true}
}

// HoldCommit makes ctx's writing scope keep its transaction open to the
// end of the request: Commit sends its statements without the COMMIT, and
// Read runs in the transaction, so that whatever the request records at
// its end (the response of an idempotent write) commits with its writes,
// in the same pipeline as the COMMIT (see EndWith). A no-op on a
// read-only scope.
func HoldCommit(ctx context.Context) error {
	s, err := scopeFrom(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.readOnly {
		s.held = true
	}
	return nil
}

// NewContextWithScope returns a copy of ctx carrying s.
func NewContextWithScope(ctx context.Context, s *Scope) context.Context {
	return context.WithValue(ctx, scopeKey, s)
}

func scopeFrom(ctx context.Context) (*Scope, error) {
	s, _ := ctx.Value(scopeKey).(*Scope)
	if s == nil || s.tenant == nil || s.tenant.store == nil {
		return nil, apperr.Errorf(apperr.EINTERNAL, "datapath: no tenant scope in context")
	}
	return s, nil
}

// Stmt is one statement of a pipeline.
type Stmt struct {
	SQL  string
	Args []any
	// Rows reads the statement's rows, when set.
	Rows func(pgx.Rows) error
	// Row reads its single row, when set (and Rows is not); a missing
	// row is pgx.ErrNoRows, which Row may return: Run then returns it
	// after the whole pipeline ran.
	Row func(pgx.Row) error
	// Exec reads the command tag of a statement returning no rows
	// (UPDATE, DELETE without RETURNING), when set.
	Exec func(pgconn.CommandTag) error
}

// Check is a statement deferred to the scope's next pipeline (see
// DeferCheck). Verify runs after the pipeline; its error is the
// pipeline's, and in a writing scope it rolls back everything sent with
// it.
type Check struct {
	Stmt
	Verify func() error
}

// DeferCheck queues c to travel with the first statements of ctx's scope,
// or on its own when the request sends none (see Finish). Authentication
// uses it for the check that the token's user still exists: it costs no
// round trip of its own.
func DeferCheck(ctx context.Context, c Check) error {
	s, err := scopeFrom(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errEnded(s)
	}
	if s.conn != nil {
		// The transaction is open: nothing can ride with its BEGIN
		// any more, so the check goes now.
		return s.sendLocked(ctx, nil, []Check{c}, keepTx)
	}
	s.pending = append(s.pending, c)
	return nil
}

// Run sends stmts in ctx's scope as one pipeline: one round trip, with
// BEGIN, the role switch and the deferred checks when the scope has no
// open transaction, and COMMIT too when the scope is read-only.
// EINTERNAL without a scope, EUNAVAILABLE when the database cannot be
// reached; other errors are the database's, for the repository to
// translate (ErrTenantGone in their chain when the tenant was deleted).
func Run(ctx context.Context, stmts ...Stmt) error {
	s, err := scopeFrom(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(ctx, stmts, nil, keepTx)
}

// Commit sends stmts and commits the scope's transaction: a writing
// request's last statements travel with its COMMIT. When the scope has no
// open transaction yet and checks are pending, the checks and stmts go
// first and the COMMIT after them, so a failed check commits nothing; a
// scope without pending checks sends everything in one round trip. The
// scope has ended afterwards. In a read-only scope Commit is Run.
func Commit(ctx context.Context, stmts ...Stmt) error {
	s, err := scopeFrom(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readOnly {
		return s.sendLocked(ctx, stmts, nil, keepTx)
	}
	if s.held {
		if len(stmts) == 0 {
			return nil // the COMMIT goes with EndWith's statements
		}
		return s.sendLocked(ctx, stmts, nil, keepTx)
	}
	if s.conn == nil && len(s.pending) > 0 {
		if err := s.sendLocked(ctx, stmts, nil, keepTx); err != nil {
			return err
		}
		stmts = nil
	}
	return s.sendLocked(ctx, stmts, nil, commitTx)
}

// Read sends stmts, which must only read, in ctx's scope so that no
// transaction stays open and no connection stays held after it returns,
// even in a writing scope: when the scope has no open transaction, the
// statements go as a whole READ ONLY transaction of their own — BEGIN
// READ ONLY, the role switch, the pending checks, stmts and COMMIT — in
// one round trip, and the scope's writing transaction begins later with
// its first write. A request reads with it what it needs before
// CPU-heavy work (a password check), so that its transaction is not held
// idle while that work runs. The pending checks travel with stmts, their
// failure is Read's error as with Run, and they are not sent again: like
// the checks of a read-only scope, they held when the request read.
// When the scope's transaction is open already, Read is Run: stmts see
// that transaction's writes and it stays open. Errors are Run's.
func Read(ctx context.Context, stmts ...Stmt) error {
	s, err := scopeFrom(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errEnded(s)
	}
	if s.conn != nil || s.readOnly || s.held {
		return s.sendLocked(ctx, stmts, nil, keepTx)
	}
	// As Finish does: a read-only transaction that ends in the same
	// pipeline, retried on a dead pooled connection like any read, and
	// leaving the scope open for its writes.
	s.readOnly = true
	defer func() { s.readOnly = false }()
	return s.beginLocked(ctx, stmts, nil, commitTx)
}

func errEnded(s *Scope) error {
	return apperr.Errorf(apperr.EINTERNAL, "datapath: scope of tenant %q already ended", s.tenant.Schema)
}

// sendLocked sends one pipeline: on the open transaction, or beginning
// one; commitTx ends it with COMMIT. A read-only scope always sends a whole
// transaction and keeps no connection.
func (s *Scope) sendLocked(ctx context.Context, stmts []Stmt, checks []Check, end txEnd) error {
	if s.done {
		return errEnded(s)
	}
	if s.conn == nil {
		if s.readOnly {
			end = commitTx
		}
		return s.beginLocked(ctx, stmts, checks, end)
	}
	noRows, err := s.pipeline(ctx, s.conn, onOpenTx, stmts, checks, end)
	if err == nil {
		err = noRows
	}
	if end == commitTx {
		s.done = true
		s.release(s.conn, rollbackTx) // the COMMIT ran, or failed: nothing is left to keep
		s.conn = nil
	}
	return err
}

// txEnd says whether a pipeline ends its transaction.
type txEnd bool

const (
	// keepTx leaves the transaction open: a beginning pipeline's
	// connection stays the scope's.
	keepTx txEnd = false
	// commitTx sends COMMIT last: a beginning pipeline's connection goes
	// back to the pool.
	commitTx txEnd = true
	// rollbackTx is how release ends what is left of a transaction that
	// is not to be committed.
	rollbackTx = keepTx
)

// txStart says whether a pipeline begins its transaction.
type txStart bool

const (
	beginTx  txStart = true  // BEGIN and the role switch go first
	onOpenTx txStart = false // the scope's transaction is open already
)

// beginLocked takes a connection and sends BEGIN, the role switch, the
// pending checks and stmts, ending the transaction (COMMIT) or keeping
// it, and the connection with it, the scope's, as end says.
func (s *Scope) beginLocked(ctx context.Context, stmts []Stmt, checks []Check, end txEnd) error {
	checks = append(s.pending, checks...)
	// A pipeline that commits writes may be sent again only when none
	// of it reached PostgreSQL; one that does not commit rolls back with
	// its connection.
	retry := pgerr.Retry{Max: s.openConnections(), If: func(err error) bool { return DeadConnection(ctx, err) }}
	if end == commitTx && !s.readOnly {
		retry.If = pgconn.SafeToRetry
	}
	// Nothing reached PostgreSQL, so beginning again is safe. The pool
	// hands out a connection the server has since closed (a restart, an
	// administrator's kill) until it is used: the driver checks an idle
	// connection only after a second. The failed one is discarded and
	// each retry spends one more, so the dead connections are at most
	// those open now.
	var conn *lease
	var noRows error
	err := retry.Do(ctx, func() (err error) {
		conn, noRows, err = s.begin(ctx, stmts, checks, end)
		return err
	})
	s.pending = nil
	if err != nil {
		return unavailable(err)
	}
	if end == keepTx {
		s.conn = conn
	} else if !s.readOnly {
		s.done = true
	}
	return noRows
}

// begin runs one beginning pipeline on a fresh connection; see
// beginLocked.
func (s *Scope) begin(ctx context.Context, stmts []Stmt, checks []Check, end txEnd) (_ *lease, noRows, err error) {
	conn, err := s.tenant.store.conn(ctx, s.tenant)
	if err != nil {
		return nil, nil, err
	}
	noRows, err = s.pipeline(ctx, conn, beginTx, stmts, checks, end)
	if err != nil || end == commitTx {
		s.release(conn, rollbackTx)
		if err != nil {
			return nil, noRows, err
		}
		return nil, noRows, nil
	}
	return conn, noRows, nil
}

// pipeline sends one pgx batch on conn: BEGIN and the role switch when
// start is beginTx, then the checks, stmts and, when end is commitTx,
// COMMIT; one round trip. The checks' Verify run after it; a failed
// check is the pipeline's error.
func (s *Scope) pipeline(ctx context.Context, conn *lease, start txStart, stmts []Stmt, checks []Check, end txEnd) (noRows, err error) {
	b := s.batch(start, stmts, checks, end)
	var failed bool
	sent := time.Now()
	defer func() { s.dbTime += time.Since(sent) }()
	err = conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		err := s.tenant.store.send(ctx, pc, b.qs)
		if err == nil && start == beginTx && end == keepTx && pc.PgConn().TxStatus() != 'T' {
			err = errors.New("datapath: BEGIN left no open transaction")
		}
		if err == nil && end == commitTx && pc.PgConn().TxStatus() != 'I' {
			err = errors.New("datapath: transaction still open after COMMIT")
		}
		failed = err != nil
		return err
	})
	if failed || err != nil {
		// A check that ran and failed explains what came after it (an
		// INSERT owned by a user who is gone fails its foreign key).
		if verr := verify(checks, b.ran); verr != nil {
			return nil, verr
		}
		if isConnError(err) {
			if start == beginTx {
				return nil, err // for beginLocked's retry
			}
			return nil, unavailable(err)
		}
		return nil, s.classify(ctx, err)
	}
	if err := verify(checks, nil); err != nil {
		return nil, err
	}
	return b.noRows, nil
}

// batch is the statements of one pipeline as they are sent: each with
// the comment of the scope in front, the checks' rows marked as read in
// ran, and the first missing row of a statement that reads one kept in
// noRows (the pipeline goes on; Run reports it).
type batch struct {
	qs     []Stmt
	ran    []bool
	noRows error
}

// batch lays out one pipeline; see pipeline.
func (s *Scope) batch(start txStart, stmts []Stmt, checks []Check, end txEnd) *batch {
	comment := s.comment()
	b := &batch{qs: make([]Stmt, 0, len(checks)+len(stmts)+3), ran: make([]bool, len(checks))}
	if start == beginTx {
		// A read-only tenant's transactions are READ ONLY whatever the
		// request: PostgreSQL refuses a write the state check missed.
		if s.readOnly || s.tenant.EffectiveState(time.Now()) == models.StateReadOnly {
			b.qs = append(b.qs, Stmt{SQL: comment + "BEGIN READ ONLY"})
		} else {
			b.qs = append(b.qs, Stmt{SQL: comment + "BEGIN"})
		}
		if s.strict {
			b.qs = append(b.qs, Stmt{SQL: comment + "SELECT set_config('role', $1, true)", Args: []any{s.tenant.Role}})
		}
	}
	for i, c := range checks {
		st := c.Stmt
		if st.Row != nil {
			row := st.Row
			st.Row = func(r pgx.Row) error {
				err := row(r)
				if err == nil || errors.Is(err, pgx.ErrNoRows) {
					b.ran[i] = true
				}
				return err
			}
		}
		b.queue(comment, st)
	}
	for _, st := range stmts {
		b.queue(comment, st)
	}
	if end == commitTx {
		b.qs = append(b.qs, Stmt{SQL: comment + "COMMIT"})
	}
	return b
}

// queue adds st, with comment in front, to the batch.
func (b *batch) queue(comment string, st Stmt) {
	q := Stmt{SQL: comment + st.SQL, Args: st.Args}
	switch {
	case st.Rows != nil:
		q.Rows = st.Rows
	case st.Row != nil:
		q.Row = func(r pgx.Row) error {
			err := st.Row(r)
			if errors.Is(err, pgx.ErrNoRows) {
				if b.noRows == nil {
					b.noRows = err
				}
				return nil
			}
			return err
		}
	case st.Exec != nil:
		q.Exec = st.Exec
	}
	b.qs = append(b.qs, q)
}

// verify runs the Verify of the checks that ran (every check when ran is
// nil) and returns the first error.
func verify(checks []Check, ran []bool) error {
	for i, c := range checks {
		if c.Verify != nil && (ran == nil || ran[i]) {
			if err := c.Verify(); err != nil {
				return err
			}
		}
	}
	return nil
}

// isConnError reports whether err is neither the database's answer nor
// the application's: the connection or the context failed.
func isConnError(err error) bool {
	var pgErr *pgconn.PgError
	var appErr *apperr.Error
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	return err != nil && !errors.As(err, &pgErr) && !errors.As(err, &appErr)
}

// unavailable wraps a connection failure as EUNAVAILABLE and leaves the
// database's and the application's errors as they are.
func unavailable(err error) error {
	if !isConnError(err) {
		return err
	}
	return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
}

// release ends conn's transaction, if one is still open, with end
// (commitTx: COMMIT; rollbackTx: ROLLBACK) and hands the connection back
// to the pool, or has the pool discard it when the transaction could not
// be ended cleanly (a connection never goes back to the pool inside a
// transaction or as a tenant's role) or when it has served more schemas
// than the store allows (see StoreOptions.MaxSchemasPerConn).
func (s *Scope) release(conn *lease, end txEnd) error {
	st, comment := s.tenant.store, s.comment()
	// A cancelled request must still end its transaction.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stmt := comment + "ROLLBACK"
	if end == commitTx {
		stmt = comment + "COMMIT"
	}
	var endErr error
	sent := time.Now()
	_ = conn.Raw(func(driverConn any) error {
		defer func() { s.dbTime += time.Since(sent) }()
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
				endErr = errors.New("datapath: transaction still open after " + stmt)
			}
			// database/sql discards a connection whose Raw returns
			// ErrBadConn.
			return driver.ErrBadConn
		}
		if st.served(pc.PgConn(), conn.group, s.tenant.Schema) {
			// Retired: its work is done, the pool opens another.
			st.retired.Add(1)
			return driver.ErrBadConn
		}
		return nil
	})
	st.put(conn, s.tenant)
	return endErr
}

// ErrTenantGone is in the chain of the error a request gets when its
// tenant was deleted while the request ran (its role or schema no longer
// exists, and the catalog no longer has it). Code that turns a missing
// row into something else (a missing user into 401) must leave such
// errors alone.
var ErrTenantGone = errors.New("datapath: the tenant was deleted")

// TenantGone returns the ENOTFOUND error, answered like an unknown host,
// of a request whose tenant was deleted under it; cause is the database
// error that showed it.
func TenantGone(cause error) error {
	return &apperr.Error{Code: apperr.ENOTFOUND, Message: "No tenant is served at this host.", Err: fmt.Errorf("%w: %w", ErrTenantGone, cause)}
}

// openConnections bounds the retries of a begin that met dead pooled
// connections: the tenant pool (every affinity group: a retry may
// overflow to another one) can hold no more dead ones than its size (the
// count of those open right now would race with concurrent requests
// discarding theirs). At least 1 and at most 100.
func (s *Scope) openConnections() int {
	n := s.tenant.store.maxOpen()
	if n <= 0 {
		n = s.tenant.store.Stats().OpenConnections
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
	return !pgerr.Unreachable(err) && pgerr.ConnectionLost(err)
}

// Finish sends the checks still pending (a request that sent no
// statement) in a read-only transaction of their own, and returns their
// error. The scope stays usable.
func (s *Scope) Finish(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 || s.done {
		return nil
	}
	if s.held { // the checks' locks must last to the COMMIT
		return s.beginLocked(ctx, nil, nil, keepTx)
	}
	ro := s.readOnly
	s.readOnly = true
	defer func() { s.readOnly = ro }()
	return s.beginLocked(ctx, nil, nil, commitTx)
}

// End commits the transaction still open, if any, and ends the scope
// (Rollback ends it undoing instead). datapath.Commit, by contrast, sends a
// request's last statements with their COMMIT.
func (s *Scope) End() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.conn == nil {
		return nil
	}
	conn := s.conn
	s.conn = nil
	if err := s.release(conn, commitTx); err != nil {
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
	}
	return nil
}

// EndWith sends stmts and commits, in one pipeline: on the open
// transaction, or in one of their own (BEGIN, the role switch, stmts,
// COMMIT); the scope has ended afterwards, as with End. A scope holding
// its commit (HoldCommit) ends with it.
func (s *Scope) EndWith(ctx context.Context, stmts ...Stmt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errEnded(s)
	}
	err := s.sendLocked(ctx, stmts, nil, commitTx)
	s.done = true
	return err
}

// DatabaseTime returns the time the scope of ctx has spent in its round
// trips to PostgreSQL so far: its pipelines, from the first statement
// sent to the last result read, and the COMMIT or ROLLBACK that ended a
// transaction left open, not the wait for a connection. 0 without a
// scope.
func DatabaseTime(ctx context.Context) time.Duration {
	s, _ := ctx.Value(scopeKey).(*Scope)
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dbTime
}

// Rollback rolls the transaction back, if one is open, and ends the
// scope.
func (s *Scope) Rollback() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	s.pending = nil
	if s.conn != nil {
		_ = s.release(s.conn, rollbackTx)
		s.conn = nil
	}
}
