package archive

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/gorm"
)

// ExportOptions tunes an Export.
type ExportOptions struct {
	// Progress, when not nil, is called as rows are written: done of
	// total rows, over all tables.
	Progress func(done, total int64)
}

// Export writes the archive of the tenant schema. It reads the tenant in
// one snapshot (a REPEATABLE READ, READ ONLY transaction) while the
// tenant keeps serving: the catalog row, domains and migration version,
// then every table's rows as the tenant's own role, so that nothing but
// what the tenant itself can read is ever in its archive. Once the
// snapshot is open and the manifest read, open is called for the writer
// the archive goes to (an HTTP handler sends its headers then); an error
// before it (ENOTFOUND for no such tenant, ECONFLICT for a schema at a
// version this strictmt does not know) means nothing was written.
func (s *Service) Export(ctx context.Context, schema string, open func(*Manifest) (io.Writer, error), o ExportOptions) (*Checksums, error) {
	if err := tenants.ValidateSchemaName(schema); err != nil {
		return nil, apperr.NoTenant(schema)
	}
	var sums *Checksums
	err := onPgx(ctx, s.db, func(conn *gorm.DB, pgxConn func(func(*pgx.Conn) error) error) error {
		return conn.Transaction(func(tx *gorm.DB) error {
			tenant, err := repository.NewCatalog(conn).FindTenantBySchema(ctx, schema)
			if err != nil {
				return err
			}
			return pgxConn(func(c *pgx.Conn) error {
				m, err := s.manifest(ctx, c, tenant)
				if err != nil {
					return err
				}
				w, err := open(m)
				if err != nil {
					return err
				}
				sums, err = s.write(ctx, c, tenant, m, w, o)
				return err
			})
		}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	})
	return sums, err
}

// manifest reads what the manifest of tenant says, in the snapshot open
// on conn.
func (s *Service) manifest(ctx context.Context, conn *pgx.Conn, tenant *models.Tenant) (*Manifest, error) {
	version, err := s.schemaVersion(ctx, conn, tenant.SchemaName)
	if err != nil {
		return nil, err
	}
	tables, err := readTables(ctx, conn, tenant.SchemaName)
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Format: Format, FormatVersion: FormatVersion, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Tenant: Tenant{
			ID: tenant.ID, Name: tenant.Name, SchemaName: tenant.SchemaName, OnTrial: tenant.OnTrial,
			CreatedOn: tenant.CreatedOn.String(), CreatedAt: tenant.CreatedAt.UTC(),
		},
		MigrationVersion: version,
	}
	if tenant.PaidUntil != nil {
		d := tenant.PaidUntil.String()
		m.Tenant.PaidUntil = &d
	}
	for _, d := range tenant.Domains {
		dom := Domain{Domain: d.Domain, IsPrimary: d.IsPrimary}
		if d.IsPrimary {
			m.Domains = append([]Domain{dom}, m.Domains...)
		} else {
			m.Domains = append(m.Domains, dom)
		}
	}
	for _, t := range tables {
		m.Tables = append(m.Tables, t.Table)
	}
	return m, countRows(ctx, conn, tenant.SchemaName, m.Tables)
}

// write writes the archive of m to w, each table's rows read with COPY on
// conn as tenant's role.
func (s *Service) write(ctx context.Context, conn *pgx.Conn, tenant *models.Tenant, m *Manifest, w io.Writer, o ExportOptions) (*Checksums, error) {
	if _, err := conn.Exec(ctx, repository.ArchiveSetRoleSQL, tenant.RoleName); err != nil {
		return nil, err
	}
	aw := newWriter(w, m.CreatedAt)
	if err := aw.manifest(m); err != nil {
		return nil, err
	}
	var total, done int64
	for _, t := range m.Tables {
		total += t.Rows
	}
	for _, t := range m.Tables {
		aw.beginTable(t.Name)
		var out io.Writer = aw
		if o.Progress != nil {
			out = &rowCounter{w: aw, rows: func(n int64) { o.Progress(done+n, total) }}
		}
		tag, err := conn.PgConn().CopyTo(ctx, out, repository.ArchiveCopyOutSQL(tenant.SchemaName, t.Name, t.columnNames()))
		if err != nil {
			return nil, fmt.Errorf("exporting %s: %w", t.Name, err)
		}
		if tag.RowsAffected() != t.Rows { // the snapshot cannot change; this is a defect
			return nil, fmt.Errorf("exporting %s: counted %d rows, copied %d", t.Name, t.Rows, tag.RowsAffected())
		}
		if err := aw.endTable(t.Rows); err != nil {
			return nil, err
		}
		done += t.Rows
	}
	if o.Progress != nil {
		o.Progress(done, total)
	}
	return aw.close()
}

// rowCounter passes binary COPY data on to w and reports, as it goes, how
// many rows it has seen: it follows the format's framing (a header, then
// per row a 16-bit field count and per field a 32-bit length, -1 for
// NULL, and that many bytes), across writes.
type rowCounter struct {
	w    io.Writer
	rows func(n int64)

	n       int64
	started bool   // past the 15-byte signature and flags
	skip    int64  // bytes to pass over before the next length or count
	pending []byte // a length or count split between writes
	fields  int    // fields left in the current row
	need    int    // bytes of the next length or count: 4 or 2
	ended   bool
}

func (r *rowCounter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil {
		return n, err
	}
	before := r.n
	r.scan(p)
	if r.n/1000 != before/1000 || r.ended {
		r.rows(r.n)
	}
	return n, nil
}

func (r *rowCounter) scan(p []byte) {
	if !r.started {
		r.started, r.skip, r.need = true, 15, 4 // signature (11 bytes), flags (4); then the header extension's length
		r.fields = -1                           // reading the extension length, not a row
	}
	for len(p) > 0 && !r.ended {
		if r.skip > 0 {
			k := min(r.skip, int64(len(p)))
			r.skip -= k
			p = p[k:]
			continue
		}
		k := min(r.need-len(r.pending), len(p))
		r.pending = append(r.pending, p[:k]...)
		p = p[k:]
		if len(r.pending) < r.need {
			return
		}
		r.word()
		r.pending = r.pending[:0]
	}
}

// word handles a whole length or count in r.pending.
func (r *rowCounter) word() {
	switch {
	case r.fields == -1: // the header extension's length
		r.skip = int64(binary.BigEndian.Uint32(r.pending))
		r.fields, r.need = 0, 2
	case r.fields == 0 && r.need == 2: // a row's field count, or the trailer
		c := int16(binary.BigEndian.Uint16(r.pending))
		if c == -1 {
			r.ended = true
			return
		}
		r.n++
		r.fields = int(c)
		if r.fields > 0 {
			r.need = 4
		}
	default: // a field's length
		if l := int32(binary.BigEndian.Uint32(r.pending)); l > 0 {
			r.skip = int64(l)
		}
		r.fields--
		if r.fields == 0 {
			r.need = 2
		}
	}
}
