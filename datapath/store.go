package datapath

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Store is the tenant data path every tenant shares: the connection pool
// and one GORM handle whose models are parsed once for all tenants. A
// statement built on it gets its tenant's schema as table-name prefix
// ("tenant_a"."todos") from the scope it is built in, so a tenant costs
// the bytes of its Tenant, not a handle of its own.
type Store struct {
	sql    *sql.DB   // the catalog's pool: tenantExists
	groups []*sql.DB // tenant connections, in affinity groups
	// route, with two or more groups, hands them to scopes (route.go);
	// nil: one pool.
	route    *router
	orm      *gorm.DB
	comments bool
	prepared int // statements prepared per connection; 0: none
	users    *userCache
	// maxSchemas retires a connection that has served more distinct
	// schemas than this (0: never); retired counts them.
	maxSchemas int
	retired    atomic.Int64
	// schemas is, per group, how many distinct schemas the connection
	// it got back last had served (see ConnSchemas).
	schemas []atomic.Int64

	mu     sync.RWMutex
	shapes map[string]string // BuildShape's statements, by shape
}

// maxShapes bounds the statements BuildShape keeps. Shapes do not depend
// on tenants, so a few dozen are in use; the bound is a safety net.
const maxShapes = 4096

// shapeSchema stands for the tenant's schema in a statement kept by
// BuildShape; no statement GORM builds contains it otherwise (schema
// names are [a-z0-9_], values travel as arguments).
const shapeSchema = "#tenant#"

// StoreOptions configures a Store.
type StoreOptions struct {
	// StatementComments starts every statement a tenant request sends
	// with /* tenant=<schema> */, so pg_stat_activity and the server's
	// logs show whose statement it is.
	StatementComments bool
	// Groups, when there are two or more, are the pools tenant scopes
	// take their connections from (affinity groups, see route.go):
	// pools of their own on the same server, together the size of the
	// tenant pool, one connection each by default. Empty: scopes use
	// the pool given to NewStore. The caller closes them.
	Groups []*sql.DB
	// HomeWait is how long a scope waits for its tenant's busy home
	// group before it may take a fallback (route.go); 0:
	// DefaultHomeWait.
	HomeWait time.Duration
	// PreparedStatements is how many statements the scopes' pipelines
	// keep prepared on each connection (see prepared.go); 0 prepares
	// none. It must be 0 when the pool's connections go through a
	// transaction pooler or use the simple protocol.
	PreparedStatements int
	// KnownUsers is how many users (of all tenants) the token check
	// remembers as found, for KnownUserTTL at most and only while
	// ListenForUsers says a listener runs (see users.go); 0 remembers
	// none.
	KnownUsers   int
	KnownUserTTL time.Duration
	// GroupsPerTenant, when not 0, is the most groups of its order a
	// tenant's scopes take however many it has in flight (route.go):
	// they wait for one of those rather than spread further. On Citus
	// in strict isolation every coordinator backend keeps a connection
	// to a worker per tenant role it served (see docs/SCALE-OUT.md §3),
	// so a tenant spread over the whole pool costs the workers a
	// connection per backend. 0: as many as it has scopes in flight.
	GroupsPerTenant int
	// MaxSchemasPerConn retires a connection once it has served more
	// distinct tenant schemas than this: it is closed when its scope
	// ends, and its pool opens another. PostgreSQL keeps the catalog
	// entries of every schema a backend touched until the backend exits;
	// this bounds them. 0: no bound.
	MaxSchemasPerConn int
}

// NewStore returns the tenant data path on pool.
func NewStore(pool *sql.DB, opts StoreOptions) *Store {
	orm, err := gorm.Open(postgres.New(postgres.Config{Conn: pool}), &gorm.Config{
		SkipDefaultTransaction: true,
		TranslateError:         true,
		DisableAutomaticPing:   true,
		// Failed statements come back as errors, logged once where
		// they are handled.
		Logger:  logger.Discard,
		NowFunc: func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		panic(err) // opening on an existing pool does no I/O and cannot fail
	}
	cb := orm.Callback()
	_ = cb.Query().Before("gorm:query").Register("strictmt:tenant_table", tenantTable)
	_ = cb.Row().Before("gorm:row").Register("strictmt:tenant_table", tenantTable)
	_ = cb.Create().Before("gorm:create").Register("strictmt:tenant_table", tenantTable)
	_ = cb.Update().Before("gorm:update").Register("strictmt:tenant_table", tenantTable)
	_ = cb.Delete().Before("gorm:delete").Register("strictmt:tenant_table", tenantTable)
	groups := opts.Groups
	if len(groups) < 2 {
		groups = []*sql.DB{pool}
	}
	st := &Store{sql: pool, groups: groups, orm: orm, comments: opts.StatementComments, prepared: max(opts.PreparedStatements, 0),
		users: newUserCache(opts.KnownUsers, opts.KnownUserTTL), shapes: map[string]string{}, maxSchemas: max(opts.MaxSchemasPerConn, 0),
		schemas: make([]atomic.Int64, len(groups))}
	if len(groups) > 1 && st.maxOpen() > 0 {
		wait := opts.HomeWait
		if wait <= 0 {
			wait = DefaultHomeWait
		}
		st.route = newRouter(groups, wait, opts.GroupsPerTenant)
	}
	return st
}

// send runs qs on pc as one pipeline: with the connection's prepared
// statements when the store keeps them, else as a pgx batch in the pool's
// query exec mode.
func (s *Store) send(ctx context.Context, pc *pgx.Conn, qs []Stmt) error {
	if s.prepared > 0 {
		return sendQueued(ctx, pc, s.prepared, qs)
	}
	return Send(ctx, pc, qs...)
}

// Send sends stmts on pc as one pgx batch, in one round trip, in the
// connection's query mode and outside any scope: the catalog's
// statements (repository.Catalog) go this way, on a pooled connection or
// the one a transaction of the tenants package is open on. Without an
// open transaction the batch is one implicit transaction.
func Send(ctx context.Context, pc *pgx.Conn, stmts ...Stmt) error {
	b := &pgx.Batch{}
	for _, q := range stmts {
		qq := b.Queue(q.SQL, q.Args...)
		switch {
		case q.Rows != nil:
			qq.Query(q.Rows)
		case q.Row != nil:
			qq.QueryRow(q.Row)
		case q.Exec != nil:
			qq.Exec(q.Exec)
		}
	}
	return pc.SendBatch(ctx, b).Close()
}

// connSchemasKey is the key of the schemas a connection has served in its
// pgconn.PgConn's CustomData: they live and die with the connection.
const connSchemasKey = "strictmt.schemas"

// served records that pc, a connection of group, served schema and
// reports whether pc has now served more distinct schemas than the store
// allows, and is to be retired.
func (s *Store) served(pc *pgconn.PgConn, group int, schema string) (retire bool) {
	data := pc.CustomData()
	seen, _ := data[connSchemasKey].(map[string]struct{})
	if seen == nil {
		seen = map[string]struct{}{}
		data[connSchemasKey] = seen
	}
	seen[schema] = struct{}{}
	retire = s.maxSchemas > 0 && len(seen) > s.maxSchemas
	if retire {
		s.schemas[group].Store(0) // the pool opens a new connection
	} else {
		s.schemas[group].Store(int64(len(seen)))
	}
	return retire
}

// ConnSchemas returns, per affinity group (one connection each by
// default), how many distinct tenant schemas the connection the group got
// back last had served: the schemas whose catalog entries its PostgreSQL
// backend holds.
func (s *Store) ConnSchemas() []int64 {
	n := make([]int64, len(s.schemas))
	for i := range s.schemas {
		n[i] = s.schemas[i].Load()
	}
	return n
}

// Retired returns how many connections the store has retired for having
// served more schemas than StoreOptions.MaxSchemasPerConn.
func (s *Store) Retired() int64 { return s.retired.Load() }

// conn returns a connection for a scope of t: from t's groups in the
// order route.go gives, or from the one pool.
func (s *Store) conn(ctx context.Context, t *Tenant) (*lease, error) {
	if s.route == nil {
		c, err := s.groups[0].Conn(ctx)
		if err != nil {
			return nil, err
		}
		return &lease{Conn: c}, nil
	}
	return s.route.conn(ctx, t.Schema, t.order)
}

// put hands a connection that conn gave a scope of t back to its pool
// (conn.Close), and its group to the next scope that may take it.
func (s *Store) put(c *lease, t *Tenant) {
	c.Close()
	if s.route != nil {
		s.route.release(c.group, t.Schema, t.order)
	}
}

// maxOpen returns the number of tenant connections the store may open,
// over all its groups (0: unbounded).
func (s *Store) maxOpen() int {
	n := 0
	for _, g := range s.groups {
		m := g.Stats().MaxOpenConnections
		if m <= 0 {
			return 0
		}
		n += m
	}
	return n
}

// Stats returns the statistics of the tenant connections, summed over the
// affinity groups.
func (s *Store) Stats() sql.DBStats {
	var sum sql.DBStats
	for _, g := range s.groups {
		st := g.Stats()
		sum.MaxOpenConnections += st.MaxOpenConnections
		sum.OpenConnections += st.OpenConnections
		sum.InUse += st.InUse
		sum.Idle += st.Idle
		sum.WaitCount += st.WaitCount
		sum.WaitDuration += st.WaitDuration
		sum.MaxIdleClosed += st.MaxIdleClosed
		sum.MaxIdleTimeClosed += st.MaxIdleTimeClosed
		sum.MaxLifetimeClosed += st.MaxLifetimeClosed
	}
	return sum
}

// NewTenant returns t served by s: its requests reach its schema through
// s's pool and models. t.Schema and t.Role must come from the catalog.
func (s *Store) NewTenant(t Tenant) *Tenant {
	t.store = s
	if s.route != nil {
		t.order = s.route.order(t.Schema)
	}
	return &t
}

// tenantConn is implemented by the connections a scope hands GORM: they
// know whose statements they carry.
type tenantConn interface{ tenantSchema() string }

var errNoTenant = errors.New("datapath: a tenant statement built outside a tenant scope")

// tenantTable gives a statement on a tenant model its tenant's schema as
// table-name prefix. The schema comes from the scope's connection; a
// statement built anywhere else fails instead of reaching an unqualified
// table through search_path.
func tenantTable(db *gorm.DB) {
	st := db.Statement
	if st.Schema == nil {
		return
	}
	if st.TableExpr != nil {
		// db.Table("name") without a schema is the model's own table
		// named by hand: qualify it like the model's.
		if len(st.TableExpr.Vars) != 0 || st.TableExpr.SQL != st.Quote(st.Table) || strings.Contains(st.Table, ".") {
			return
		}
	}
	tc, ok := st.ConnPool.(tenantConn)
	if !ok {
		_ = db.AddError(errNoTenant)
		return
	}
	table := st.Table
	if table == "" {
		table = st.Schema.Table
	}
	st.Table = table
	st.TableExpr = &clause.Expr{SQL: pgx.Identifier{tc.tenantSchema(), table}.Sanitize()}
}

// Table returns the table of model in db's tenant schema, as a value GORM
// quotes ("tenant_a"."users") wherever it is passed as an argument of a
// SQL fragment: joins and subqueries name other tables with it. db must
// be a handle of a scope (DB, or the one Build passes).
func Table(db *gorm.DB, model any) (clause.Table, error) {
	tc, ok := db.Statement.ConnPool.(tenantConn)
	if !ok {
		return clause.Table{}, apperr.Wrap(apperr.EINTERNAL, errNoTenant, "")
	}
	stmt := &gorm.Statement{DB: db}
	if err := stmt.Parse(model); err != nil {
		return clause.Table{}, apperr.Wrap(apperr.EINTERNAL, err, "")
	}
	return clause.Table{Name: tc.tenantSchema() + "." + stmt.Schema.Table}, nil
}

// Build returns the statement that q builds on the tenant handle of ctx's
// scope, without running it: GORM writes the SQL (tables carry the
// tenant's schema as prefix) and its arguments ($1, $2, …), and Run sends
// it through the scope's pipeline. q must end with a finisher (Find, Take,
// Create, Updates, Delete, Count…); its destination is not written to.
// EINTERNAL without a scope or when GORM reports an error.
func Build(ctx context.Context, q func(db *gorm.DB) *gorm.DB) (Stmt, error) {
	s, err := scopeFrom(ctx)
	if err != nil {
		return Stmt{}, err
	}
	return build(ctx, s.tenant.store, s.tenant.Schema, q)
}

// BuildShape is Build for a statement whose text depends only on shape
// (and the tenant's schema) and whose arguments are args: GORM builds it
// once per shape for all tenants, and later calls only put the tenant's
// schema in. The first build checks that GORM's arguments are args, in
// order; a shape whose arguments differ is never kept, so a wrong args
// costs speed, not correctness.
func BuildShape(ctx context.Context, shape string, args []any, q func(db *gorm.DB) *gorm.DB) (Stmt, error) {
	s, err := scopeFrom(ctx)
	if err != nil {
		return Stmt{}, err
	}
	st := s.tenant.store
	st.mu.RLock()
	text, ok := st.shapes[shape]
	st.mu.RUnlock()
	quoted := pgx.Identifier{s.tenant.Schema}.Sanitize()
	if ok {
		return Stmt{SQL: strings.ReplaceAll(text, `"`+shapeSchema+`"`, quoted), Args: args}, nil
	}
	built, err := build(ctx, st, shapeSchema, q)
	if err != nil {
		return Stmt{}, err
	}
	if reflect.DeepEqual(built.Args, args) || (len(built.Args) == 0 && len(args) == 0) {
		st.mu.Lock()
		if len(st.shapes) < maxShapes {
			st.shapes[shape] = built.SQL
		}
		st.mu.Unlock()
	}
	built.SQL = strings.ReplaceAll(built.SQL, `"`+shapeSchema+`"`, quoted)
	return built, nil
}

func build(ctx context.Context, st *Store, schema string, q func(db *gorm.DB) *gorm.DB) (Stmt, error) {
	db := st.orm.Session(&gorm.Session{DryRun: true, NewDB: true, Context: ctx})
	db.Statement.ConnPool = dryConn{schema: schema}
	res := q(db)
	if res.Error != nil {
		return Stmt{}, apperr.Wrap(apperr.EINTERNAL, res.Error, "")
	}
	return Stmt{SQL: res.Statement.SQL.String(), Args: res.Statement.Vars}, nil
}

// dryConn is the connection Build hands GORM: it names the tenant and
// refuses to run anything.
type dryConn struct{ schema string }

func (d dryConn) tenantSchema() string { return d.schema }

var errDryRun = errors.New("datapath: Build only builds statements")

func (dryConn) PrepareContext(context.Context, string) (*sql.Stmt, error) { return nil, errDryRun }
func (dryConn) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, errDryRun
}
func (dryConn) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errDryRun
}
func (dryConn) QueryRowContext(context.Context, string, ...any) *sql.Row { return nil }

// classify turns the error of a tenant statement into ErrTenantGone when
// it says a relation, schema or role is missing and the catalog confirms
// that the tenant was deleted. A missing table of a live tenant (a typo in
// a new query, a hand-dropped table) stays the database error it is, an
// internal error for the caller.
func (s *Scope) classify(ctx context.Context, err error) error {
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case pgerr.UndefinedTable, pgerr.InvalidSchemaName, pgerr.InvalidParameterValue:
	default:
		return err
	}
	if pgErr.Code == pgerr.InvalidParameterValue && !strings.Contains(pgErr.Message, "role") {
		return err
	}
	if s.tenant.store.tenantExists(context.WithoutCancel(ctx), s.tenant.Schema) {
		return err
	}
	return TenantGone(err)
}

// tenantExists reports whether the catalog still has the tenant of
// schema. When the catalog cannot be read it answers true: the error is
// then reported as the internal error it may be, not as a deletion.
func (s *Store) tenantExists(ctx context.Context, schema string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var exists bool
	err := s.sql.QueryRowContext(ctx,
		"SELECT EXISTS (SELECT 1 FROM public.clients WHERE schema_name = $1)",
		schema).Scan(&exists)
	return err != nil || exists
}

// comment returns the statement comment of the tenant, or "".
func (s *Scope) comment() string {
	if !s.tenant.store.comments {
		return ""
	}
	// Schema names are validated ([a-z_][a-z0-9_]*): nothing in one
	// can end the comment.
	return "/* tenant=" + s.tenant.Schema + " */ "
}
