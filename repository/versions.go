package repository

import (
	"strconv"
	"strings"
)

// Goose's version tables, one in every schema, and the catalog's copies
// of the tenant schemas' versions (public.tenant_versions, kept by
// shared migration 00002).

// VersionTable is the goose version table kept in every schema.
const VersionTable = "goose_db_version"

// versionTable returns schema's version table, qualified.
func versionTable(schema string) string { return QuoteIdent(schema) + "." + VersionTable }

// InsertVersionsStmt records versions as applied in the version table of
// the search_path's schema, after version 0, which goose records when it
// creates the table.
func InsertVersionsStmt(versions []int64) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + VersionTable + " (version_id, is_applied) VALUES (0, true)")
	for _, v := range versions {
		b.WriteString(", (" + strconv.FormatInt(v, 10) + ", true)")
	}
	return b.String()
}

// AddVersionsStmt records versions as applied in schema's version table.
func AddVersionsStmt(schema string, versions []int64) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + versionTable(schema) + " (version_id, is_applied) VALUES ")
	for i, v := range versions {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + strconv.FormatInt(v, 10) + ", true)")
	}
	return b.String()
}

// RecordVersionsStmt has the catalog copy what schema's version table
// holds now, as RecordVersionsSQL does, without parameters.
func RecordVersionsStmt(schema string) string {
	return "SELECT public.strictmt_record_versions(" + quoteLiteral(schema) + ")"
}

// TenantMigrationStmts returns a tenant migration's statements, body,
// preceded by those that make schema the search_path and, on Citus,
// accept the migration's triggers (see UnsafeTriggersStmt). SET LOCAL
// ends with the transaction, so the search_path never leaks to another
// user of the pooled connection.
func TenantMigrationStmts(schema string, citus bool, body []string) []string {
	stmts := []string{SearchPathStmt(schema)}
	if citus {
		stmts = append(stmts, unsafeTriggersStmt)
	}
	return append(stmts, body...)
}

// VersionTableExistsQuery reads whether schema has a version table.
func VersionTableExistsQuery(schema string) (string, []any) {
	return "SELECT to_regclass($1) IS NOT NULL", []any{versionTable(schema)}
}

// AppliedVersionsSQL lists the versions schema's version table records
// as applied.
func AppliedVersionsSQL(schema string) string {
	return "SELECT version_id FROM " + versionTable(schema) + " WHERE is_applied"
}

// VersionTablesQuery lists which of schemas have a version table.
func VersionTablesQuery(schemas []string) (string, []any) {
	return `SELECT n.nspname FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = $1 AND c.relkind = 'r' AND n.nspname = ANY($2)`, []any{VersionTable, schemas}
}

// MaxVersionsSQL reads, from each of schemas' version tables, one row:
// the schema's index in schemas, its highest version (NULL when the table
// is empty) and the number of distinct versions above 0 recorded as
// applied. The index, not the name, identifies the schema: no tenant
// string is pasted into the query but as a quoted identifier.
func MaxVersionsSQL(schemas []string) string {
	var q strings.Builder
	for k, s := range schemas {
		if k > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString("SELECT " + strconv.Itoa(k) + ", max(version_id), count(DISTINCT version_id) FILTER (WHERE is_applied AND version_id > 0) FROM " +
			versionTable(s))
	}
	return q.String()
}

// HasVersionRecordsSQL reads whether the catalog keeps copies of the
// tenant schemas' versions (shared migration 00002 has run).
const HasVersionRecordsSQL = "SELECT to_regclass('public.tenant_versions_current') IS NOT NULL AND to_regprocedure('public.strictmt_record_versions(text)') IS NOT NULL"

// RecordedSchemasSQL lists which of the schemas $1 the catalog vouches
// for as holding every one of the versions $2: the view believes a
// record only while the schema's version table and its change trigger
// are the ones recorded.
const RecordedSchemasSQL = `SELECT schema_name FROM public.tenant_versions_current
		WHERE schema_name = ANY($1) AND versions @> $2::bigint[]`

// RecordVersionsSQL has the catalog copy what the version tables of the
// schemas $1 hold now.
const RecordVersionsSQL = "SELECT public.strictmt_record_versions(s) FROM unnest($1::text[]) s"

// recordCurrentVersionsStmt has the catalog copy what the version table
// of the search_path's schema holds now.
const recordCurrentVersionsStmt = "SELECT public.strictmt_record_versions(current_schema())"

// DeleteVersionRecordSQL deletes the catalog's copy of the versions of
// the schema ? (GORM's placeholder).
const DeleteVersionRecordSQL = "DELETE FROM public.tenant_versions WHERE schema_name = ?"

// deleteVersionRecordStmt is DeleteVersionRecordSQL for schema, without
// parameters, for statements sent a message each (tenants.ExecEach).
func deleteVersionRecordStmt(schema string) string {
	return "DELETE FROM public.tenant_versions WHERE schema_name = " + quoteLiteral(schema)
}

// revokeVersionTableStmt takes from role every right on schema's version
// table, which the role's default privileges in schema would grant.
func revokeVersionTableStmt(schema, role string) string {
	return "REVOKE ALL ON " + versionTable(schema) + " FROM " + QuoteIdent(role)
}
