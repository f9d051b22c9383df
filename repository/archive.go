package repository

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The statements of a tenant's export, restore and clone (package
// archive). Every table and column name in them comes from the catalog
// of a schema strictmt made, never from an archive: a restore compares
// the archive's tables with the new schema's and names only the latter.

// ArchiveColumnsSQL lists the columns of every table of the schema $1
// but its version table, a row each (table, column, type as
// format_type prints it, whether it may be NULL), by table name and
// column position.
const ArchiveColumnsSQL = `
		SELECT c.relname::text, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '` + VersionTable + `'
		 ORDER BY c.relname, a.attnum`

// ArchiveReferencesSQL lists the foreign keys between the tables of the
// schema $1, a row per key column (table, column, referenced table).
const ArchiveReferencesSQL = `
		SELECT c.relname::text, a.attname::text, r.relname::text
		  FROM pg_catalog.pg_constraint k
		  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
		  JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
		 WHERE k.contype = 'f' AND n.nspname = $1
		 ORDER BY 1, 2`

// ArchiveVersionsSQL lists the tenant migration versions schema's
// version table records as applied, in order.
func ArchiveVersionsSQL(schema string) string {
	return "SELECT DISTINCT version_id FROM " + versionTable(schema) + " WHERE is_applied AND version_id > 0 ORDER BY 1"
}

// ArchiveCountSQL counts the rows of table in schema.
func ArchiveCountSQL(schema, table string) string {
	return "SELECT count(*) FROM " + ImportTable(schema, table)
}

// ArchiveCopyOutSQL returns the statement that writes the columns cols of
// table in schema, in that order, as binary COPY data.
func ArchiveCopyOutSQL(schema, table string, cols []string) string {
	return "COPY " + ImportTable(schema, table) + " (" + importColumnList(cols) + ") TO STDOUT (FORMAT binary)"
}

// ArchiveSetSequenceSQL sets the id sequence of table in schema past its
// highest id, when the table has rows and an id sequence.
func ArchiveSetSequenceSQL(schema, table string) string {
	t := ImportTable(schema, table)
	return "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence(" + quoteLiteral(t) + ", 'id'), max(id)) FROM " + t + " HAVING max(id) IS NOT NULL"
}

// CloneTable is one table a clone copies: its columns, and those of them
// the copy leaves NULL (a clone without users: the columns that name a
// user).
type CloneTable struct {
	Name    string
	Columns []string
	Null    map[string]bool
}

// CloneRowsSQL returns the one statement that copies the rows of tables
// from the schema src into the schema dst, each table's in a
// data-modifying WITH of its own, and returns their numbers of rows, one
// column per table in the order of tables. One statement reads the
// source in one snapshot, so what it copies is consistent (every task's
// project and todo are copied with it) while the source keeps serving;
// the foreign keys are checked when the statement ends, after every
// table is filled.
func CloneRowsSQL(src, dst string, tables []CloneTable) string {
	var with, counts []string
	for i, t := range tables {
		sel := make([]string, len(t.Columns))
		for k, c := range t.Columns {
			sel[k] = pgx.Identifier{c}.Sanitize()
			if t.Null[c] {
				sel[k] = "NULL"
			}
		}
		name := "t" + strconv.Itoa(i)
		with = append(with, name+" AS (INSERT INTO "+ImportTable(dst, t.Name)+" ("+importColumnList(t.Columns)+") SELECT "+
			strings.Join(sel, ", ")+" FROM "+ImportTable(src, t.Name)+" RETURNING 1)")
		counts = append(counts, "(SELECT count(*) FROM "+name+")")
	}
	return "WITH " + strings.Join(with, ", ") + " SELECT " + strings.Join(counts, ", ")
}

// ArchiveSetRoleSQL makes $1, a tenant's role, the role of the rest of
// the transaction: an export reads the tenant's tables as the tenant.
const ArchiveSetRoleSQL = "SELECT pg_catalog.set_config('role', $1, true)"
