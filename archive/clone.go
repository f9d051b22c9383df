package archive

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
)

// CloneParams describes a clone: the tenant Source is copied into a new
// tenant with the schema name Schema and Domains (the first primary),
// named Name or, when empty, as Source is.
type CloneParams struct {
	Source  string
	Schema  string
	Name    string
	Domains []string
	// WithoutUsers leaves the users out: the rows they owned are kept,
	// ownerless (as todos imported from the Django application are), and
	// the tasks assigned to them unassigned.
	WithoutUsers bool
}

// Cloned is what a clone created.
type Cloned struct {
	Tenant *models.Tenant
	Tables []TableRows
}

// sessionTables hold what a clone never copies: the tenant's refresh
// tokens (a token names the tenant it was issued for, so none would be
// accepted by the clone anyway) and the stored responses of its users'
// idempotent writes (their retries go to the source).
var sessionTables = map[string]bool{"outstanding_tokens": true, "idempotency_keys": true}

// Clone creates a tenant as tenants.Service.CreateTenant does and copies
// the source's rows into it, all in one transaction and inside the
// database: one statement reads every table of the source in one
// snapshot, so the copy is consistent while the source keeps serving.
// Ids are kept; the new tenant's id sequences go past them. The clone's
// paid_until and on_trial are the source's. ENOTFOUND when there is no
// source, ECONFLICT when the schema name, a domain or the role is in use
// or the source is not at the latest migration version, EINVALID for bad
// input.
func (s *Service) Clone(ctx context.Context, p CloneParams) (*Cloned, error) {
	src, err := s.tenants.FindTenant(ctx, p.Source)
	if err != nil {
		return nil, err
	}
	params := tenants.CreateParams{Name: p.Name, SchemaName: p.Schema, Domains: p.Domains, PaidUntil: src.PaidUntil, OnTrial: src.OnTrial}
	if params.Name == "" {
		params.Name = src.Name
	}
	out := &Cloned{}
	tenant, err := s.tenants.CreateTenantWith(ctx, params, tenants.CreateOptions{
		Populate: func(ctx context.Context, conn *pgx.Conn, c *models.Tenant) error {
			t, err := s.copyRows(ctx, conn, src.SchemaName, c.SchemaName, p.WithoutUsers)
			out.Tables = t
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	out.Tenant = tenant
	return out, nil
}

// copyRows copies the rows of the schema src into dst, a schema just
// made, on conn in the creating transaction.
func (s *Service) copyRows(ctx context.Context, conn *pgx.Conn, src, dst string, withoutUsers bool) ([]TableRows, error) {
	version, err := s.schemaVersion(ctx, conn, src)
	if err != nil {
		return nil, err
	}
	if version != s.latest {
		return nil, apperr.Errorf(apperr.ECONFLICT, "The tenant %q is at tenant migration version %d, not the latest (%d): run strictmt migrate first.", src, version, s.latest)
	}
	from, err := readTables(ctx, conn, src)
	if err != nil {
		return nil, err
	}
	to, err := readTables(ctx, conn, dst)
	if err != nil {
		return nil, err
	}
	if !slices.EqualFunc(from, to, func(a, b schemaTable) bool { return a.Name == b.Name && slices.Equal(a.Columns, b.Columns) }) {
		return nil, apperr.Errorf(apperr.ECONFLICT, "The tables of the tenant %q are not those of its migration version %d.", src, version)
	}
	var tables []repository.CloneTable
	var plan []Table
	for _, t := range to {
		if sessionTables[t.Name] || withoutUsers && t.Name == userTable {
			continue
		}
		ct := repository.CloneTable{Name: t.Name, Columns: t.columnNames(), Null: map[string]bool{}}
		for col, ref := range t.refs {
			if withoutUsers && ref == userTable {
				ct.Null[col] = true
			}
		}
		tables = append(tables, ct)
		plan = append(plan, t.Table)
	}
	if err := countRows(ctx, conn, src, plan); err != nil {
		return nil, err
	}
	indexed, keyed := deferKeys(dst, plan)
	rebuild, err := tenants.DeferBuild(ctx, conn, indexed, keyed)
	if err != nil {
		return nil, err
	}
	n := make([]int64, len(tables))
	dest := make([]any, len(tables))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := conn.QueryRow(ctx, repository.CloneRowsSQL(src, dst, tables)).Scan(dest...); err != nil {
		return nil, err
	}
	if err := rebuild(ctx); err != nil {
		return nil, err
	}
	out := make([]TableRows, len(tables))
	for i, t := range tables {
		out[i] = TableRows{Name: t.Name, Rows: n[i]}
	}
	return out, setSequences(ctx, conn, dst, plan)
}

// userTable is the table of a tenant's users.
const userTable = "users"
