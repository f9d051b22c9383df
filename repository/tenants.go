package repository

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Catalog reads and writes the public schema's tenants and domains in the
// one style of docs/DATA-ACCESS.md: GORM builds each statement without
// running it, and the statements of one call go to PostgreSQL together,
// as one pgx batch (datapath.Send), in one round trip, and are scanned
// with pgx. Where they go depends on the handle the Catalog was made
// with: a pool's lends a connection for each call (a call's statements
// are then one implicit transaction); a handle bound to one connection
// (the tenants package's transactions, begun on the connection its DDL
// goes to) sends them on that connection, inside its open transaction.
type Catalog struct{ db *gorm.DB }

// NewCatalog returns a Catalog on db, a handle on a pool or on one
// connection, not on a transaction: a transaction's connection cannot be
// reached, so pass the handle of the connection it was begun on.
func NewCatalog(db *gorm.DB) *Catalog { return &Catalog{db: db} }

// TenantFilter selects tenants in FindTenants.
type TenantFilter struct {
	Search string // case-insensitive match on name or schema name
	Limit  int
	Offset int

	// Schemas, when not nil, are the only schema names selected.
	Schemas []string
}

// TenantUpdate holds the fields of a tenant to change; nil means unchanged.
type TenantUpdate struct {
	Name      *string
	PaidUntil **models.Date
	OnTrial   *bool
	// The state and what goes with it (see models.Tenant): all four are
	// set together, or none.
	State       *string
	StateReason *string
	StateUntil  **time.Time
	PurgeAfter  **time.Time
}

// tenantColumns are the columns a tenant is read with, in scanTenant's
// order.
const tenantColumns = "id, name, schema_name, role_name, paid_until, on_trial, created_on, created_at, state, state_reason, state_until, purge_after"

// scanTenant reads a row of tenantColumns into t (see scanFunc).
func scanTenant(r pgx.Row, t *models.Tenant, extra ...any) error {
	return r.Scan(append([]any{&t.ID, &t.Name, &t.SchemaName, &t.RoleName, &t.PaidUntil, &t.OnTrial, &t.CreatedOn, &t.CreatedAt,
		&t.State, &t.StateReason, &t.StateUntil, &t.PurgeAfter}, extra...)...)
}

// build returns the statement q builds on the catalog's models, without
// running it: GORM sees a connection that refuses everything, and wraps
// nothing in a transaction of its own (its default transaction would
// begin, and commit, on the catalog's connection, ending the caller's).
// EINTERNAL when GORM reports an error.
func (c *Catalog) build(ctx context.Context, q func(db *gorm.DB) *gorm.DB) (datapath.Stmt, error) {
	db := c.db.Session(&gorm.Session{DryRun: true, NewDB: true, SkipDefaultTransaction: true, Context: ctx})
	db.Statement.ConnPool = noConn{}
	res := q(db)
	if res.Error != nil {
		return datapath.Stmt{}, apperr.Wrap(apperr.EINTERNAL, res.Error, "")
	}
	return datapath.Stmt{SQL: res.Statement.SQL.String(), Args: res.Statement.Vars}, nil
}

// noConn is the connection catalog statements are built on: it runs
// nothing.
type noConn struct{}

var errBuildOnly = errors.New("repository: a catalog statement run while being built")

func (noConn) PrepareContext(context.Context, string) (*sql.Stmt, error) { return nil, errBuildOnly }
func (noConn) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, errBuildOnly
}
func (noConn) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errBuildOnly
}
func (noConn) QueryRowContext(context.Context, string, ...any) *sql.Row { return nil }

// send sends stmts in one round trip on the catalog's connection.
func (c *Catalog) send(ctx context.Context, stmts ...datapath.Stmt) error {
	run := func(conn *sql.Conn) error {
		return conn.Raw(func(driverConn any) error {
			dc, ok := driverConn.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("repository: the database driver is %T, not pgx", driverConn)
			}
			return datapath.Send(ctx, dc.Conn(), stmts...)
		})
	}
	switch pool := c.db.Statement.ConnPool.(type) {
	case *sql.Conn:
		return run(pool)
	case *sql.DB:
		conn, err := pool.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return run(conn)
	default:
		return apperr.Errorf(apperr.EINTERNAL, "repository: a catalog on %T, not on a pool or a connection", pool)
	}
}

// insert inserts row (associations and id omitted) and stores its new
// id, from the RETURNING, in *id. ECONFLICT with the message taken when
// a unique column already holds its value.
func (c *Catalog) insert(ctx context.Context, row any, id *int64, taken string) error {
	st, err := c.build(ctx, func(db *gorm.DB) *gorm.DB { return db.Omit(clause.Associations, "id").Create(row) })
	if err != nil {
		return err
	}
	st.Row = func(r pgx.Row) error { return r.Scan(id) }
	err = c.send(ctx, st)
	if pgerr.Is(err, pgerr.UniqueViolation) {
		return apperr.Wrap(apperr.ECONFLICT, err, taken)
	}
	return translate(err, "")
}

// CreateTenant inserts a tenant (not its domains) and fills in its id.
// ECONFLICT when its schema name is taken.
func (c *Catalog) CreateTenant(ctx context.Context, tenant *models.Tenant) error {
	return c.insert(ctx, tenant, &tenant.ID, "A tenant with schema_name \""+tenant.SchemaName+"\" already exists.")
}

// FindTenantBySchema returns the tenant with the given schema name, with
// its domains, primary first. ENOTFOUND when there is none.
func (c *Catalog) FindTenantBySchema(ctx context.Context, schema string) (*models.Tenant, error) {
	return c.findTenant(ctx, tenantLookup{
		where:       func(db *gorm.DB) *gorm.DB { return db.Where("schema_name = ?", schema) },
		domainOrder: "is_primary DESC, domain",
		notFound:    apperr.NoTenant(schema).Message,
	})
}

// FindTenantByID returns the tenant with id, with its domains, primary
// first. ENOTFOUND when there is none.
func (c *Catalog) FindTenantByID(ctx context.Context, id int64) (*models.Tenant, error) {
	return c.findTenant(ctx, tenantLookup{
		where:       func(db *gorm.DB) *gorm.DB { return db.Where("id = ?", id) },
		domainOrder: "is_primary DESC, domain",
		notFound:    apperr.ErrNoSuchTenant.Message,
	})
}

// FindTenantForUpdate returns the tenant with id, with its domains by
// name, and locks its row until the transaction of the catalog's
// connection ends. ENOTFOUND when there is none.
func (c *Catalog) FindTenantForUpdate(ctx context.Context, id int64) (*models.Tenant, error) {
	return c.findTenant(ctx, tenantLookup{
		where:       func(db *gorm.DB) *gorm.DB { return db.Where("id = ?", id) },
		domainOrder: "domain",
		forUpdate:   true,
		notFound:    apperr.ErrNoSuchTenant.Message,
	})
}

// tenantLookup says which tenant findTenant reads, and how.
type tenantLookup struct {
	where       func(*gorm.DB) *gorm.DB // selects the one tenant
	domainOrder string                  // the ORDER BY of its domains
	forUpdate   bool                    // lock the tenant's row
	notFound    string                  // the message when there is none
}

// findTenant reads the tenant l selects and its domains, in one round
// trip.
func (c *Catalog) findTenant(ctx context.Context, l tenantLookup) (*models.Tenant, error) {
	where, notFound := l.where, l.notFound
	tenant, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		q := where(db.Model(&models.Tenant{}).Select(tenantColumns))
		if l.forUpdate {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
		}
		return q.Take(&models.Tenant{})
	})
	if err != nil {
		return nil, err
	}
	domains, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		ids := where(db.Model(&models.Tenant{}).Select("id"))
		return db.Model(&models.Domain{}).Select(domainColumns).Where("tenant_id IN (?)", ids).Order(l.domainOrder).Find(&[]models.Domain{})
	})
	if err != nil {
		return nil, err
	}
	var found []models.Tenant
	tenant.Rows = collect(&found, scanTenant)
	var doms []models.Domain
	domains.Rows = collect(&doms, scanDomain)
	if err := c.send(ctx, tenant, domains); err != nil {
		return nil, translate(err, notFound)
	}
	if len(found) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "%s", notFound)
	}
	found[0].Domains = doms
	return &found[0], nil
}

// FindTenants returns a page of tenants ordered by schema name, with their
// domains (primary first), and the total count matching the filter: one
// round trip.
func (c *Catalog) FindTenants(ctx context.Context, f TenantFilter) ([]models.Tenant, int64, error) {
	filtered := func(db *gorm.DB) *gorm.DB {
		q := db.Model(&models.Tenant{})
		if s := strings.TrimSpace(f.Search); s != "" {
			cond, args := contains(s, "name", "schema_name")
			q = q.Where(cond, args...)
		}
		if f.Schemas != nil {
			q = q.Where("schema_name IN ?", f.Schemas)
		}
		return q
	}
	page := func(db *gorm.DB) *gorm.DB {
		return pageWindow(filtered(db).Order("schema_name"), f.Limit, f.Offset)
	}
	count, err := c.build(ctx, func(db *gorm.DB) *gorm.DB { return filtered(db).Count(new(int64)) })
	if err != nil {
		return nil, 0, err
	}
	list, err := c.build(ctx, func(db *gorm.DB) *gorm.DB { return page(db).Select(tenantColumns).Find(&[]models.Tenant{}) })
	if err != nil {
		return nil, 0, err
	}
	domains, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Domain{}).Select(domainColumns).Where("tenant_id IN (?)", page(db).Select("id")).
			Order("is_primary DESC, domain").Find(&[]models.Domain{})
	})
	if err != nil {
		return nil, 0, err
	}
	var total int64
	count.Row = func(r pgx.Row) error { return r.Scan(&total) }
	var tenants []models.Tenant
	list.Rows = collect(&tenants, scanTenant)
	var doms []models.Domain
	domains.Rows = collect(&doms, scanDomain)
	if err := c.send(ctx, count, list, domains); err != nil {
		return nil, 0, translate(err, "")
	}
	at := make(map[int64]int, len(tenants))
	for i := range tenants {
		at[tenants[i].ID] = i
	}
	for _, d := range doms {
		if i, ok := at[d.TenantID]; ok {
			tenants[i].Domains = append(tenants[i].Domains, d)
		}
	}
	return tenants, total, nil
}

// FindPurgeDue returns the tenants a purge deletes at now: suspended and
// past their purge_after, by schema name (without their domains).
func (c *Catalog) FindPurgeDue(ctx context.Context, now time.Time) ([]models.Tenant, error) {
	st, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Tenant{}).Select(tenantColumns).
			Where("state = ? AND purge_after <= ?", models.StateSuspended, now).Order("schema_name").Find(&[]models.Tenant{})
	})
	if err != nil {
		return nil, err
	}
	var out []models.Tenant
	st.Rows = collect(&out, scanTenant)
	if err := c.send(ctx, st); err != nil {
		return nil, translate(err, "")
	}
	return out, nil
}

// UpdateTenant changes the given fields of the tenant with id.
// ENOTFOUND when there is none.
func (c *Catalog) UpdateTenant(ctx context.Context, id int64, u TenantUpdate) error {
	fields := map[string]any{}
	if u.Name != nil {
		fields["name"] = *u.Name
	}
	if u.PaidUntil != nil {
		fields["paid_until"] = *u.PaidUntil
	}
	if u.OnTrial != nil {
		fields["on_trial"] = *u.OnTrial
	}
	if u.State != nil {
		fields["state"], fields["state_reason"], fields["state_until"], fields["purge_after"] = *u.State, *u.StateReason, *u.StateUntil, *u.PurgeAfter
	}
	if len(fields) == 0 {
		return nil
	}
	return c.changeRow(ctx, apperr.ErrNoSuchTenant, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Tenant{}).Where("id = ?", id).Updates(fields)
	})
}

// DeleteTenant deletes the tenant with id and, by cascade, its domains.
// ENOTFOUND when there is none.
func (c *Catalog) DeleteTenant(ctx context.Context, id int64) error {
	return c.changeRow(ctx, apperr.ErrNoSuchTenant, func(db *gorm.DB) *gorm.DB {
		return db.Where("id = ?", id).Delete(&models.Tenant{})
	})
}

// changeRow runs the UPDATE or DELETE q builds; notFound when it changed
// no row.
func (c *Catalog) changeRow(ctx context.Context, notFound error, q func(db *gorm.DB) *gorm.DB) error {
	st, err := c.build(ctx, q)
	if err != nil {
		return err
	}
	var n int64
	st.Exec = affected(&n)
	if err := c.send(ctx, st); err != nil {
		return translate(err, "")
	}
	if n == 0 {
		return notFound
	}
	return nil
}
