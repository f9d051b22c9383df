package repository

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenancy"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Catalog reads and writes the public schema's clients and domains in the
// one style of docs/DATA-ACCESS.md: GORM builds each statement without
// running it, and the statements of one call go to PostgreSQL together,
// as one pgx batch (tenancy.Send), in one round trip, and are scanned
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

// ClientFilter selects clients in FindClients.
type ClientFilter struct {
	Search string // case-insensitive match on name or schema name
	Limit  int
	Offset int
}

// ClientUpdate holds the fields of a client to change; nil means unchanged.
type ClientUpdate struct {
	Name      *string
	PaidUntil **models.Date
	OnTrial   *bool
}

// clientColumns are the columns a client is read with, in scanClient's
// order.
const clientColumns = "id, name, schema_name, role_name, paid_until, on_trial, created_on, created_at"

// scanClient reads a row of clientColumns into c.
func scanClient(r pgx.Row, c *models.Client) error {
	return r.Scan(&c.ID, &c.Name, &c.SchemaName, &c.RoleName, &c.PaidUntil, &c.OnTrial, &c.CreatedOn, &c.CreatedAt)
}

// build returns the statement q builds on the catalog's models, without
// running it: GORM sees a connection that refuses everything, and wraps
// nothing in a transaction of its own (its default transaction would
// begin, and commit, on the catalog's connection, ending the caller's).
// EINTERNAL when GORM reports an error.
func (c *Catalog) build(ctx context.Context, q func(db *gorm.DB) *gorm.DB) (tenancy.Stmt, error) {
	db := c.db.Session(&gorm.Session{DryRun: true, NewDB: true, SkipDefaultTransaction: true, Context: ctx})
	db.Statement.ConnPool = noConn{}
	res := q(db)
	if res.Error != nil {
		return tenancy.Stmt{}, apperr.Wrap(apperr.EINTERNAL, res.Error, "")
	}
	return tenancy.Stmt{SQL: res.Statement.SQL.String(), Args: res.Statement.Vars}, nil
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
func (c *Catalog) send(ctx context.Context, stmts ...tenancy.Stmt) error {
	run := func(conn *sql.Conn) error {
		return conn.Raw(func(driverConn any) error {
			dc, ok := driverConn.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("repository: the database driver is %T, not pgx", driverConn)
			}
			return tenancy.Send(ctx, dc.Conn(), stmts...)
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

// rows returns a statement's Rows reading each row with scan into a new
// element of *out.
func rows[T any](out *[]T, scan func(pgx.Row, *T) error) func(pgx.Rows) error {
	return func(rs pgx.Rows) error {
		for rs.Next() {
			var v T
			if err := scan(rs, &v); err != nil {
				return err
			}
			*out = append(*out, v)
		}
		return rs.Err()
	}
}

// affected returns a statement's Exec storing its count of rows in *n.
func affected(n *int64) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error { *n = tag.RowsAffected(); return nil }
}

// insert builds the INSERT of row (associations and id omitted) with the
// RETURNING of its new id, which it stores in *id.
func (c *Catalog) insert(ctx context.Context, row any, id *int64) (tenancy.Stmt, error) {
	st, err := c.build(ctx, func(db *gorm.DB) *gorm.DB { return db.Omit(clause.Associations, "id").Create(row) })
	st.Row = func(r pgx.Row) error { return r.Scan(id) }
	return st, err
}

// CreateClient inserts a client (not its domains) and fills in its id.
// ECONFLICT when its schema name is taken.
func (c *Catalog) CreateClient(ctx context.Context, client *models.Client) error {
	st, err := c.insert(ctx, client, &client.ID)
	if err != nil {
		return err
	}
	err = c.send(ctx, st)
	if pgerr.Is(err, pgerr.UniqueViolation) {
		return apperr.Wrap(apperr.ECONFLICT, err, "A tenant with schema_name \""+client.SchemaName+"\" already exists.")
	}
	return translate(err, "")
}

// FindClientBySchema returns the client with the given schema name, with
// its domains, primary first. ENOTFOUND when there is none.
func (c *Catalog) FindClientBySchema(ctx context.Context, schema string) (*models.Client, error) {
	return c.findClient(ctx, apperr.NoTenant(schema).Message, "is_primary DESC, domain", false, func(db *gorm.DB) *gorm.DB {
		return db.Where("schema_name = ?", schema)
	})
}

// FindClientForUpdate returns the client with id, with its domains by
// name, and locks its row until the transaction of the catalog's
// connection ends. ENOTFOUND when there is none.
func (c *Catalog) FindClientForUpdate(ctx context.Context, id int64) (*models.Client, error) {
	return c.findClient(ctx, apperr.ErrNoSuchTenant.Message, "domain", true, func(db *gorm.DB) *gorm.DB {
		return db.Where("id = ?", id)
	})
}

// findClient reads the one client where selects and its domains in
// domainOrder, in one round trip; lock locks the client's row.
func (c *Catalog) findClient(ctx context.Context, notFound, domainOrder string, lock bool, where func(*gorm.DB) *gorm.DB) (*models.Client, error) {
	client, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		q := where(db.Model(&models.Client{}).Select(clientColumns))
		if lock {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
		}
		return q.Take(&models.Client{})
	})
	if err != nil {
		return nil, err
	}
	domains, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		ids := where(db.Model(&models.Client{}).Select("id"))
		return db.Model(&models.Domain{}).Select(domainColumns).Where("tenant_id IN (?)", ids).Order(domainOrder).Find(&[]models.Domain{})
	})
	if err != nil {
		return nil, err
	}
	var found []models.Client
	client.Rows = rows(&found, scanClient)
	var doms []models.Domain
	domains.Rows = rows(&doms, scanDomain)
	if err := c.send(ctx, client, domains); err != nil {
		return nil, translate(err, notFound)
	}
	if len(found) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "%s", notFound)
	}
	found[0].Domains = doms
	return &found[0], nil
}

// FindClients returns a page of clients ordered by schema name, with their
// domains (primary first), and the total count matching the filter: one
// round trip.
func (c *Catalog) FindClients(ctx context.Context, f ClientFilter) ([]models.Client, int64, error) {
	filtered := func(db *gorm.DB) *gorm.DB {
		q := db.Model(&models.Client{})
		if s := strings.TrimSpace(f.Search); s != "" {
			cond, args := contains(s, "name", "schema_name")
			q = q.Where(cond, args...)
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
	list, err := c.build(ctx, func(db *gorm.DB) *gorm.DB { return page(db).Select(clientColumns).Find(&[]models.Client{}) })
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
	var clients []models.Client
	list.Rows = rows(&clients, scanClient)
	var doms []models.Domain
	domains.Rows = rows(&doms, scanDomain)
	if err := c.send(ctx, count, list, domains); err != nil {
		return nil, 0, translate(err, "")
	}
	at := make(map[int64]int, len(clients))
	for i := range clients {
		at[clients[i].ID] = i
	}
	for _, d := range doms {
		if i, ok := at[d.TenantID]; ok {
			clients[i].Domains = append(clients[i].Domains, d)
		}
	}
	return clients, total, nil
}

// UpdateClient changes the given fields of the client with id.
// ENOTFOUND when there is none.
func (c *Catalog) UpdateClient(ctx context.Context, id int64, u ClientUpdate) error {
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
	if len(fields) == 0 {
		return nil
	}
	return c.changeRow(ctx, apperr.ErrNoSuchTenant, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Client{}).Where("id = ?", id).Updates(fields)
	})
}

// DeleteClient deletes the client with id and, by cascade, its domains.
// ENOTFOUND when there is none.
func (c *Catalog) DeleteClient(ctx context.Context, id int64) error {
	return c.changeRow(ctx, apperr.ErrNoSuchTenant, func(db *gorm.DB) *gorm.DB {
		return db.Where("id = ?", id).Delete(&models.Client{})
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
