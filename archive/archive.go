package archive

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/gorm"
)

// Service exports, restores and clones tenants. The CLI and the admin API
// both go through it.
type Service struct {
	db      *gorm.DB
	tenants *tenants.Service
	latest  int64 // the latest tenant migration version
	known   map[int64]bool
}

// New returns a Service on the catalog handle db, creating tenants with
// ts.
func New(db *gorm.DB, ts *tenants.Service) (*Service, error) {
	ms, err := tenants.TenantMigrations()
	if err != nil {
		return nil, err
	}
	s := &Service{db: db, tenants: ts, known: map[int64]bool{}}
	for _, m := range ms {
		s.known[m.Version] = true
		s.latest = max(s.latest, m.Version)
	}
	return s, nil
}

// TableRows is how many rows one table of a tenant has, in a restore or a
// clone's report.
type TableRows struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// onPgx runs fn on one connection of db: conn is its GORM handle (for
// the catalog's statements and a transaction), and pgx reaches the same
// session's driver connection (for COPY), in whatever transaction conn
// has open.
func onPgx(ctx context.Context, db *gorm.DB, fn func(conn *gorm.DB, pgxConn func(func(*pgx.Conn) error) error) error) error {
	return db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		sc, ok := conn.Statement.ConnPool.(*sql.Conn)
		if !ok {
			return fmt.Errorf("archive: a connection handle holds %T, not *sql.Conn", conn.Statement.ConnPool)
		}
		return fn(conn, func(f func(*pgx.Conn) error) error {
			return sc.Raw(func(dc any) error {
				pc, ok := dc.(*stdlib.Conn)
				if !ok {
					return fmt.Errorf("archive: the database driver is %T, not pgx", dc)
				}
				return f(pc.Conn())
			})
		})
	})
}

// schemaTable is a table of a schema as the catalog describes it.
type schemaTable struct {
	Table
	nullable map[string]bool
	refs     map[string]string // column → the table its foreign key references
}

// readTables reads the tables of schema with their columns and foreign
// keys, each table after those it references (users before todos before
// tasks), then by name.
func readTables(ctx context.Context, conn *pgx.Conn, schema string) ([]schemaTable, error) {
	rows, err := conn.Query(ctx, repository.ArchiveColumnsSQL, schema)
	if err != nil {
		return nil, err
	}
	var out []schemaTable
	for rows.Next() {
		var table, col, typ string
		var null bool
		if err := rows.Scan(&table, &col, &typ, &null); err != nil {
			rows.Close()
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Name != table {
			out = append(out, schemaTable{Table: Table{Name: table}, nullable: map[string]bool{}, refs: map[string]string{}})
		}
		t := &out[len(out)-1]
		t.Columns = append(t.Columns, Column{Name: col, Type: typ})
		t.nullable[col] = null
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = conn.Query(ctx, repository.ArchiveReferencesSQL, schema)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var table, col, ref string
		if err := rows.Scan(&table, &col, &ref); err != nil {
			rows.Close()
			return nil, err
		}
		for i := range out {
			if out[i].Name == table {
				out[i].refs[col] = ref
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return referencedFirst(out), nil
}

// referencedFirst orders tables so that each comes after the tables its
// foreign keys reference (a table referencing itself is no constraint),
// and otherwise by name.
func referencedFirst(tables []schemaTable) []schemaTable {
	var out []schemaTable
	placed := map[string]bool{}
	for len(out) < len(tables) {
		progress := false
		for _, t := range tables {
			if placed[t.Name] {
				continue
			}
			ready := true
			for _, ref := range t.refs {
				if ref != t.Name && !placed[ref] {
					ready = false
				}
			}
			if ready {
				out = append(out, t)
				placed[t.Name] = true
				progress = true
			}
		}
		if !progress { // a cycle: the rest by name (their keys are deferred anyway)
			for _, t := range tables {
				if !placed[t.Name] {
					out = append(out, t)
					placed[t.Name] = true
				}
			}
		}
	}
	return out
}

// schemaVersion reads the tenant migration version of schema: the last
// of the versions its version table records, which must be every known
// version up to it. ECONFLICT otherwise: a schema that a newer strictmt
// migrated, or one damaged by hand.
func (s *Service) schemaVersion(ctx context.Context, conn *pgx.Conn, schema string) (int64, error) {
	rows, err := conn.Query(ctx, repository.ArchiveVersionsSQL(schema))
	if err != nil {
		return 0, err
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	var want []int64
	for v := range s.known {
		if len(vs) > 0 && v <= vs[len(vs)-1] {
			want = append(want, v)
		}
	}
	slices.Sort(want)
	if len(vs) == 0 || !slices.Equal(vs, want) {
		return 0, apperr.Errorf(apperr.ECONFLICT, "The schema %q is not at a tenant migration version this strictmt knows (it records %v); run strictmt migrate, or use the strictmt that migrated it.", schema, vs)
	}
	return vs[len(vs)-1], nil
}

// countRows sets the Rows of each of tables to the number of rows it has
// in schema, one round trip for all.
func countRows(ctx context.Context, conn *pgx.Conn, schema string, tables []Table) error {
	b := &pgx.Batch{}
	for _, t := range tables {
		b.Queue(repository.ArchiveCountSQL(schema, t.Name))
	}
	res := conn.SendBatch(ctx, b)
	for i := range tables {
		if err := res.QueryRow().Scan(&tables[i].Rows); err != nil {
			res.Close()
			return fmt.Errorf("counting the rows of %s: %w", tables[i].Name, err)
		}
	}
	return res.Close()
}

// setSequences sets the id sequence of each of tables that has an id
// column in schema past its highest id, one round trip for all.
func setSequences(ctx context.Context, conn *pgx.Conn, schema string, tables []Table) error {
	b := &pgx.Batch{}
	for _, t := range tables {
		if slices.ContainsFunc(t.Columns, func(c Column) bool { return c.Name == "id" }) {
			b.Queue(repository.ArchiveSetSequenceSQL(schema, t.Name))
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("setting id sequences: %w", err)
	}
	return nil
}

// deferKeys is DeferBuild's plan for a bulk load of tables into schema:
// every foreign key of them is added after the load (a load in any table
// order then passes, and a key is checked once, with one join), and the
// secondary indexes of the tables of at least BulkIndexRows rows are
// built after it.
func deferKeys(schema string, tables []Table) (indexed []string, keyed [][2]string) {
	for _, t := range tables {
		name := repository.ImportTable(schema, t.Name)
		if t.Rows >= tenants.BulkIndexRows {
			indexed = append(indexed, name)
		}
		for _, c := range t.Columns {
			keyed = append(keyed, [2]string{name, c.Name})
		}
	}
	return indexed, keyed
}
