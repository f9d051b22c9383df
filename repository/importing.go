package repository

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// The statements the importer writes a tenant's rows with, in the
// transaction that creates the tenant.

// ImportTable returns the quoted name of table in schema, as the import's
// statements and their regclass arguments name it.
func ImportTable(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }

// ImportCopySQL returns the statement that copies binary COPY data into
// the columns cols, in that order, of table in schema.
func ImportCopySQL(schema, table string, cols []string) string {
	return "COPY " + ImportTable(schema, table) + " (" + importColumnList(cols) + ") FROM STDIN (FORMAT binary)"
}

// importColumnList quotes each column name and joins them with commas.
func importColumnList(cols []string) string {
	q := make([]string, len(cols))
	for i, n := range cols {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// ImportSetSequenceSQL sets the id sequence of the table $1 (a quoted
// name, see ImportTable) to $2, so that the next id follows it.
const ImportSetSequenceSQL = "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)"

// ImportSchemaExistsSQL tells whether the database has a schema named ?
// (a GORM placeholder).
const ImportSchemaExistsSQL = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ?)"

// ImportDeferredBuildSQL reads what the import drops before its COPY and
// makes again after it, one row each: the statement that drops it and the
// one that makes it again, by its own name and definition as PostgreSQL
// prints it. It reads the indexes of the tables $1 (regclass[]) that back
// no constraint (an index a constraint owns or a foreign key references
// stays) and the foreign keys on the columns named by the pairs of $2
// (regclass[]) and $3 (text[]).
const ImportDeferredBuildSQL = `
		SELECT 'DROP INDEX ' || i.indexrelid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid)
		  FROM pg_catalog.pg_index i
		 WHERE i.indrelid = ANY($1::regclass[])
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid)
		UNION ALL
		SELECT 'ALTER TABLE ' || c.conrelid::regclass::text || ' DROP CONSTRAINT ' || quote_ident(c.conname),
		       'ALTER TABLE ' || c.conrelid::regclass::text || ' ADD CONSTRAINT ' || quote_ident(c.conname) || ' ' || pg_catalog.pg_get_constraintdef(c.oid)
		  FROM pg_catalog.pg_constraint c
		 WHERE c.contype = 'f' AND EXISTS (
		       SELECT 1 FROM pg_catalog.pg_attribute a, unnest($2::regclass[], $3::text[]) AS k(rel, col)
		        WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) AND k.rel = c.conrelid AND k.col = a.attname)`
