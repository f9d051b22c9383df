package repository

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
)

// What each tenant's schema takes up: its bytes on disk and the rows of
// its tables. Two ways to read it:
//
//   - every tenant (or those a search matches) in one catalog query,
//     UsageAllSQL, from what the catalog and the statistics say: no
//     tenant table is opened, so 10,000 tenants (60,000 tables) take
//     about a second and leave 25 MB in the backend;
//   - chosen tenants, UsageOfSQL: the same estimates for a page of
//     tenants, or, for one tenant, the exact figures:
//     pg_total_relation_size of each table and a count(*) of its rows
//     (CountRowsSQL).
//
// Why not the exact bytes for every tenant: pg_total_relation_size opens
// each table, each of its indexes and its TOAST table, and stats every
// file of each. Over 10,000 tenants that took 22 s on the 2-core machine
// of docs/BENCHMARKS.md ("Scale: usage read"), against 0.6 to 1.7 s for
// UsageAllSQL, and left the backend that ran it holding 1.07 GB of
// relation cache.

// UsageAllSQL reads the usage of every tenant, or of those whose name or
// schema name matches the ILIKE pattern $1 (NULL: every tenant), one row
// per tenant by schema name: schema_name, bytes, the names of its tables
// and their rows (two arrays in the same order; NULL when the schema has
// no table, or is missing).
//
// Bytes are relpages × block_size summed over the schema's tables and
// indexes, their TOAST tables and the TOAST tables' indexes: the size of
// their main forks as of the last VACUUM, ANALYZE or CREATE INDEX of each
// (autovacuum runs them as tables change; a table that never had one
// counts 0 pages; an index at least its first page, which the catalog
// does not count for an index built on an empty table, as every TOAST
// index is). The free space and visibility maps are not counted.
//
// Rows are pg_stat_get_live_tuples (pg_stat_user_tables.n_live_tup),
// not pg_class.reltuples: reltuples is only set by VACUUM, ANALYZE and
// CREATE INDEX (-1 before the first), so a small tenant's tables, which
// autovacuum may never visit, would keep showing nothing; n_live_tup
// follows every committed insert and delete, seconds after the commit (a
// backend reports its counts when idle, at most once a second), and is
// exact but for what ANALYZE estimates on large tables. Counting the
// rows instead would be a count(*) of every table of every tenant.
// The version table's rows are left out.
//
// The statement reads pg_class once (no index leads by namespace) and
// its TOAST relations by oid. Run it with JIT off (UsageJITOffSQL): the
// planner expects millions of rows from these joins, which turns JIT on,
// and compiling took 0.4 to 0.5 s of a 1.4 s read at 10,000 tenants.
const UsageAllSQL = `
WITH tenant AS (
	SELECT c.schema_name, n.oid AS nsp
	FROM public.clients c
	LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = c.schema_name
	WHERE $1::text IS NULL OR c.name ILIKE $1::text OR c.schema_name ILIKE $1::text
), used AS (
	SELECT r.relnamespace AS nsp,
	       sum(CASE WHEN r.relkind = 'i' THEN greatest(r.relpages, 1) ELSE r.relpages END::bigint
	           + CASE WHEN r.reltoastrelid <> 0 THEN (
	               SELECT tt.relpages + coalesce((
	                   SELECT sum(greatest(ti.relpages, 1))
	                   FROM pg_catalog.pg_index x
	                   JOIN pg_catalog.pg_class ti ON ti.oid = x.indexrelid
	                   WHERE x.indrelid = tt.oid), 0)
	               FROM pg_catalog.pg_class tt
	               WHERE tt.oid = r.reltoastrelid) ELSE 0 END)::bigint AS pages,
	       array_agg(r.relname::text) FILTER (WHERE r.relkind IN ('r', 'p') AND r.relname <> '` + VersionTable + `') AS tables,
	       array_agg(pg_catalog.pg_stat_get_live_tuples(r.oid)) FILTER (WHERE r.relkind IN ('r', 'p') AND r.relname <> '` + VersionTable + `') AS rows
	FROM pg_catalog.pg_class r
	WHERE r.relnamespace IN (SELECT nsp FROM tenant) AND r.relkind IN ('r', 'p', 'i', 'I')
	GROUP BY r.relnamespace
)
SELECT t.schema_name, coalesce(u.pages, 0) * current_setting('block_size')::bigint, u.tables, u.rows
FROM tenant t
LEFT JOIN used u ON u.nsp = t.nsp
ORDER BY t.schema_name`

// UsageOfSQL reads the usage of the tenants whose schemas are in $1, a
// row per tenant and table (schema_name, table name, bytes, rows) by
// schema and table, the version table included (its rows NULL); a tenant
// whose schema is missing or has no table has one row with NULLs. With
// $2 false the figures are UsageAllSQL's estimates, with $2 true bytes
// are pg_total_relation_size (the table, its indexes and TOAST, every
// fork; it opens each of them) and rows NULL, for CountRowsSQL to count.
//
// A tenant's tables are found through pg_depend (every table has a
// dependency on its namespace; pg_depend_reference_index leads by it),
// not by reading the whole of pg_class, so a page of tenants takes
// milliseconds whatever the number of tenants.
const UsageOfSQL = `
WITH tenant AS (
	SELECT c.schema_name, n.oid AS nsp
	FROM public.clients c
	LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = c.schema_name
	WHERE c.schema_name = ANY ($1::text[])
), tbl AS (
	SELECT d.refobjid AS nsp, r.oid, r.relname, r.relpages, r.reltoastrelid
	FROM pg_catalog.pg_depend d
	JOIN pg_catalog.pg_class r ON r.oid = d.objid
	WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.refobjid IN (SELECT nsp FROM tenant)
	  AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND r.relkind IN ('r', 'p')
)
SELECT t.schema_name, b.relname::text,
       CASE WHEN $2::bool THEN pg_catalog.pg_total_relation_size(b.oid)
       ELSE (b.relpages::bigint + coalesce(tt.relpages, 0) + (
            SELECT coalesce(sum(greatest(i.relpages, 1)), 0)
            FROM pg_catalog.pg_index x
            JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid IN (b.oid, b.reltoastrelid))) * current_setting('block_size')::bigint
       END,
       CASE WHEN NOT $2::bool AND b.relname <> '` + VersionTable + `' THEN pg_catalog.pg_stat_get_live_tuples(b.oid) END
FROM tenant t
LEFT JOIN tbl b ON b.nsp = t.nsp
LEFT JOIN pg_catalog.pg_class tt ON tt.oid = b.reltoastrelid
ORDER BY t.schema_name, b.relname`

// UsageJITOffSQL turns JIT compilation off until the end of the
// transaction (the implicit one of a batch): see UsageAllSQL.
const UsageJITOffSQL = "SELECT pg_catalog.set_config('jit', 'off', true)"

// jitOff is UsageJITOffSQL as the statement before a usage read.
var jitOff = datapath.Stmt{SQL: UsageJITOffSQL, Exec: func(pgconn.CommandTag) error { return nil }}

// CountRowsSQL counts the rows of each of tables in schema: one
// statement, a column per table in the order of tables. The names come
// from the catalog of a schema strictmt made, and are quoted.
func CountRowsSQL(schema string, tables []string) string {
	cols := make([]string, len(tables))
	for i, t := range tables {
		cols[i] = "(SELECT count(*) FROM " + pgx.Identifier{schema, t}.Sanitize() + ")"
	}
	return "SELECT " + strings.Join(cols, ", ")
}

// TenantUsage is what one tenant's schema takes up.
type TenantUsage struct {
	Schema string
	// Bytes are the schema's tables with their indexes and TOAST.
	Bytes int64
	// Tables are its tables by name, without the version table.
	Tables []TableRows
	// Exact says that Bytes are pg_total_relation_size and the rows a
	// count(*); otherwise they are the catalog's and the statistics'
	// figures (see UsageAllSQL).
	Exact bool
}

// TableRows is the number of rows of one table.
type TableRows struct {
	Name string
	Rows int64
}

// FindUsage returns the estimated usage of every tenant, by schema name,
// or of those whose name or schema name contains search (as
// FindTenants's search): one statement.
func (c *Catalog) FindUsage(ctx context.Context, search string) ([]TenantUsage, error) {
	var pattern *string
	if s := strings.TrimSpace(search); s != "" {
		p := "%" + escapeLike(s) + "%"
		pattern = &p
	}
	var out []TenantUsage
	st := datapath.Stmt{SQL: UsageAllSQL, Args: []any{pattern}, Rows: func(rows pgx.Rows) error {
		for rows.Next() {
			var u TenantUsage
			var names []string
			var counts []int64
			if err := rows.Scan(&u.Schema, &u.Bytes, &names, &counts); err != nil {
				return err
			}
			for i, n := range names {
				u.Tables = append(u.Tables, TableRows{Name: n, Rows: counts[i]})
			}
			// array_agg's order is the scan's.
			slices.SortFunc(u.Tables, func(a, b TableRows) int { return strings.Compare(a.Name, b.Name) })
			out = append(out, u)
		}
		return rows.Err()
	}}
	if err := c.send(ctx, jitOff, st); err != nil {
		return nil, translate(err, "")
	}
	return out, nil
}

// FindUsageOf returns the estimated usage of the tenants whose schemas
// are schemas (those that exist), by schema name: one statement.
func (c *Catalog) FindUsageOf(ctx context.Context, schemas []string) ([]TenantUsage, error) {
	return c.usageOf(ctx, schemas, false)
}

// FindExactUsage returns the exact usage of the tenant whose schema is
// schema: the bytes of each table (pg_total_relation_size) in one
// statement, then a count(*) of each table in another. ENOTFOUND when
// no tenant has the schema.
func (c *Catalog) FindExactUsage(ctx context.Context, schema string) (*TenantUsage, error) {
	found, err := c.usageOf(ctx, []string{schema}, true)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, apperr.NoTenant(schema)
	}
	u := &found[0]
	if len(u.Tables) == 0 {
		return u, nil
	}
	names := make([]string, len(u.Tables))
	dest := make([]any, len(u.Tables))
	for i := range u.Tables {
		names[i] = u.Tables[i].Name
		dest[i] = &u.Tables[i].Rows
	}
	st := datapath.Stmt{SQL: CountRowsSQL(schema, names), Row: func(r pgx.Row) error { return r.Scan(dest...) }}
	if err := c.send(ctx, st); err != nil {
		return nil, translate(err, "")
	}
	return u, nil
}

// usageOf runs UsageOfSQL and folds its rows into one TenantUsage per
// tenant.
func (c *Catalog) usageOf(ctx context.Context, schemas []string, exact bool) ([]TenantUsage, error) {
	var out []TenantUsage
	st := datapath.Stmt{SQL: UsageOfSQL, Args: []any{schemas, exact}, Rows: func(rows pgx.Rows) error {
		for rows.Next() {
			var schema string
			var table *string
			var bytes, count *int64
			if err := rows.Scan(&schema, &table, &bytes, &count); err != nil {
				return err
			}
			if n := len(out); n == 0 || out[n-1].Schema != schema {
				out = append(out, TenantUsage{Schema: schema, Exact: exact})
			}
			u := &out[len(out)-1]
			if bytes != nil {
				u.Bytes += *bytes
			}
			if table != nil && *table != VersionTable {
				var rows int64
				if count != nil {
					rows = *count
				}
				u.Tables = append(u.Tables, TableRows{Name: *table, Rows: rows})
			}
		}
		return rows.Err()
	}}
	if err := c.send(ctx, jitOff, st); err != nil {
		return nil, translate(err, "")
	}
	return out, nil
}
