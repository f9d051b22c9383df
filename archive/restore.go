package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
)

// RestoreParams says what tenant a restore creates; an empty field takes
// the archive's.
type RestoreParams struct {
	Schema  string
	Name    string
	Domains []string // the first is primary
}

// Restored is what a restore created.
type Restored struct {
	Tenant *models.Tenant
	// Version is the tenant migration version the archive was at; the
	// tenant is at the latest.
	Version int64
	Tables  []TableRows
}

// Restore creates a tenant from the archive read from in, as
// tenants.Service.CreateTenant does (catalog rows, role, schema), and
// loads its rows, in one transaction: a tenant is restored whole or not
// at all. Ids are kept and each id sequence is set past the highest. The
// schema is made at the archive's migration version, the rows loaded,
// then the later migrations applied; an archive from a newer strictmt is
// refused. The archive is checked as it is read (its gzip and tar
// framing, each table's checksum, rows and columns against the schema
// the restore makes, the whole's checksum, nothing after its end) and
// anything wrong is EINVALID with what it was, before the transaction
// commits. ECONFLICT when the schema name, a domain or the role is in
// use.
func (s *Service) Restore(ctx context.Context, in io.Reader, p RestoreParams) (*Restored, error) {
	rd, err := newReader(in)
	if err != nil {
		return nil, err
	}
	m, err := rd.manifest()
	if err != nil {
		return nil, err
	}
	if err := s.checkManifest(m); err != nil {
		return nil, err
	}
	params, err := restoreParams(m, p)
	if err != nil {
		return nil, err
	}
	res := &Restored{Version: m.MigrationVersion}
	tenant, err := s.tenants.CreateTenantWith(ctx, params, tenants.CreateOptions{
		AtVersion: m.MigrationVersion,
		Populate: func(ctx context.Context, conn *pgx.Conn, c *models.Tenant) error {
			return load(ctx, conn, c.SchemaName, m, rd, res)
		},
	})
	if err != nil {
		return nil, err
	}
	res.Tenant = tenant
	return res, nil
}

// checkManifest refuses what no restore by this strictmt can do.
func (s *Service) checkManifest(m *Manifest) error {
	switch {
	case m.MigrationVersion > s.latest:
		return refused("its tenant migration version is %d and this strictmt knows versions up to %d; restore it with a newer strictmt", m.MigrationVersion, s.latest)
	case !s.known[m.MigrationVersion]:
		return refused("no tenant migration has its version %d", m.MigrationVersion)
	case len(m.Tables) == 0:
		return damaged("its manifest lists no tables")
	}
	return nil
}

// restoreParams returns the creation of the tenant m describes, with p's
// fields where given.
func restoreParams(m *Manifest, p RestoreParams) (tenants.CreateParams, error) {
	out := tenants.CreateParams{Name: m.Tenant.Name, SchemaName: m.Tenant.SchemaName, OnTrial: m.Tenant.OnTrial, Domains: p.Domains}
	if p.Name != "" {
		out.Name = p.Name
	}
	if p.Schema != "" {
		out.SchemaName = p.Schema
	}
	if len(out.Domains) == 0 {
		for _, d := range m.Domains {
			out.Domains = append(out.Domains, d.Domain)
		}
	}
	if m.Tenant.PaidUntil != nil {
		d, err := models.ParseDate(*m.Tenant.PaidUntil)
		if err != nil {
			return out, damaged("the manifest's paid_until %q is not a date", *m.Tenant.PaidUntil)
		}
		out.PaidUntil = &d
	}
	return out, nil
}

// load loads the rows of the archive being read by rd, whose manifest is
// m, into schema on conn (in the creating transaction), checks the rest
// of the archive, and sets the id sequences.
func load(ctx context.Context, conn *pgx.Conn, schema string, m *Manifest, rd *reader, res *Restored) error {
	have, err := readTables(ctx, conn, schema)
	if err != nil {
		return err
	}
	if err := sameTables(m, have); err != nil {
		return err
	}
	indexed, keyed := deferKeys(schema, m.Tables)
	rebuild, err := tenants.DeferBuild(ctx, conn, indexed, keyed)
	if err != nil {
		return err
	}
	for i, t := range m.Tables {
		n, err := loadTable(ctx, conn, schema, t, rd)
		var refusedRows *rowsRefused
		if errors.As(err, &refusedRows) {
			// Damage PostgreSQL noticed first is reported as the damage
			// the checksums show, when they do: read the rest to tell.
			if cerr := skipRest(m.Tables[i+1:], rd, m); cerr != nil {
				return cerr
			}
			return damaged("PostgreSQL refused the rows of the table %q: %v", t.Name, refusedRows.err)
		}
		if err != nil {
			return err
		}
		res.Tables = append(res.Tables, TableRows{Name: t.Name, Rows: n})
	}
	if err := rd.check(m); err != nil {
		return err
	}
	if err := rebuild(ctx); err != nil {
		return err
	}
	return setSequences(ctx, conn, schema, m.Tables)
}

// rowsRefused is PostgreSQL's refusal of a table's COPY data.
type rowsRefused struct{ err error }

func (e *rowsRefused) Error() string { return e.err.Error() }

// skipRest reads the data of tables, the rest of the archive's, without
// loading it, then checks the archive.
func skipRest(tables []Table, rd *reader, m *Manifest) error {
	for _, t := range tables {
		if _, err := io.Copy(io.Discard, rd.table(t.Name)); err != nil {
			return err
		}
	}
	return rd.check(m)
}

// sameTables checks that the tables m lists are those of the schema the
// restore made at m's version, column for column: the restore names only
// the schema's tables and columns, never the archive's.
func sameTables(m *Manifest, have []schemaTable) error {
	if len(have) != len(m.Tables) {
		return damaged("its manifest lists %d tables; a schema at tenant migration version %d has %d", len(m.Tables), m.MigrationVersion, len(have))
	}
	for _, t := range m.Tables {
		i := slices.IndexFunc(have, func(h schemaTable) bool { return h.Name == t.Name })
		if i < 0 {
			return damaged("its manifest lists the table %q, which a schema at tenant migration version %d does not have", t.Name, m.MigrationVersion)
		}
		if !slices.Equal(have[i].Columns, t.Columns) {
			return damaged("the columns of the table %q in its manifest are not those of tenant migration version %d", t.Name, m.MigrationVersion)
		}
		if t.Rows < 0 {
			return damaged("its manifest gives the table %q %d rows", t.Name, t.Rows)
		}
	}
	return nil
}

// loadTable copies table t's data, the archive's next entries, into
// schema and returns the number of rows; a *rowsRefused when PostgreSQL
// refuses the data (its entries are read to their end).
func loadTable(ctx context.Context, conn *pgx.Conn, schema string, t Table, rd *reader) (int64, error) {
	if rd.hdr == nil || rd.hdr.Name != partName(t.Name, 0) {
		got := "its end"
		if rd.hdr != nil {
			got = fmt.Sprintf("%q", rd.hdr.Name)
		}
		return 0, damaged("the data of the table %q was expected, not %s", t.Name, got)
	}
	data := rd.table(t.Name)
	tag, err := conn.PgConn().CopyFrom(ctx, data, repository.ImportCopySQL(schema, t.Name, t.columnNames()))
	if err != nil {
		if data.err != nil {
			return 0, data.err // the archive's stream failed
		}
		if ctx.Err() != nil {
			return 0, err
		}
		if _, rerr := io.Copy(io.Discard, data); rerr != nil {
			return 0, rerr
		}
		return 0, &rowsRefused{err}
	}
	if tag.RowsAffected() != t.Rows {
		return 0, damaged("the table %q holds %d rows, its manifest says %d", t.Name, tag.RowsAffected(), t.Rows)
	}
	return t.Rows, nil
}
