package repository

// Citus: the extension and its nodes, distributed schemas, where their
// tables are placed, and moving them. Every Citus object used here was
// checked against Citus's source at tag v13.2.2; the file that defines
// each is cited where it is used.

// schemaShardingStmt makes the schemas the transaction creates
// distributed schemas, their tables single-shard tables placed together
// on one node.
const schemaShardingStmt = "SET LOCAL citus.enable_schema_based_sharding TO on"

// unsafeTriggersStmt lets the transaction create triggers on, and
// distribute tables with triggers into, distributed schemas. Nothing may
// rely on what such triggers do: they fire on the workers.
const unsafeTriggersStmt = "SET LOCAL citus.enable_unsafe_triggers TO on"

// CitusInstalledSQL reads whether the citus extension is installed in the
// database.
const CitusInstalledSQL = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')"

// ActiveNodesSQL lists the active nodes of the cluster (host, port, role,
// whether it is the coordinator), coordinator first.
const ActiveNodesSQL = "SELECT nodename, nodeport, noderole::text, groupid = 0 FROM pg_catalog.pg_dist_node WHERE isactive ORDER BY groupid, nodeid"

// UndistributedSchemasSQL lists which of the schemas $1 exist and are not
// distributed schemas (pg_dist_schema, Citus 12+:
// src/backend/distributed/sql/citus--11.3-2--12.0-1.sql).
const UndistributedSchemasSQL = `SELECT n.nspname FROM pg_catalog.pg_namespace n
		WHERE n.nspname = ANY($1)
		  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_schema d WHERE d.schemaid = n.oid)`

// SchemaDistributedQuery reads whether schema is a distributed schema.
func SchemaDistributedQuery(schema string) (string, []any) {
	return "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_schema WHERE schemaid = $1::regnamespace)", []any{QuoteIdent(schema)}
}

// PrepareDistributionStmts make schema ready to be distributed, in the
// distributing transaction. The version table's trigger of plain
// PostgreSQL (shared migration 00002) would go to the worker with the
// table, where the catalog it writes does not exist, so it is dropped
// with the catalog's copy of the versions it kept. Citus refuses to
// distribute tables with triggers unless told they are safe: the users
// table's are (they only notify).
func PrepareDistributionStmts(schema string) []string {
	return []string{
		"DROP TRIGGER IF EXISTS strictmt_versions_changed ON " + versionTable(schema),
		deleteVersionRecordStmt(schema),
		unsafeTriggersStmt,
	}
}

// DistributeSchemaQuery makes schema a distributed schema
// (citus_schema_distribute, Citus 12+:
// src/backend/distributed/sql/udfs/citus_schema_distribute/12.0-1.sql):
// its tables become single-shard tables on one node.
func DistributeSchemaQuery(schema string) (string, []any) {
	return "SELECT citus_schema_distribute($1::regnamespace)", []any{QuoteIdent(schema)}
}

// PlacementTargetSQL reads the version of the citus extension (NULL
// without it) and whether $1 is "" or the schema of a tenant.
const PlacementTargetSQL = `SELECT
			(SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'),
			$1::text = '' OR EXISTS (SELECT 1 FROM public.clients WHERE schema_name = $1::text)`

// PlacementsSQL reads the placement of every tenant ($1 empty) or of one
// ($1 = its schema) in one statement: one row per tenant and node its
// tables are on, or one row without a node for a schema that is not
// distributed or has no tables.
//
//   - pg_catalog.citus_shards (view: table_name regclass, citus_table_type
//     'schema' for the tables of a distributed schema, nodename, nodeport,
//     shard_size bigint, only healthy placements):
//     src/backend/distributed/sql/udfs/citus_shards/latest.sql:1-14,34,49.
//     Its sizes come from citus_shard_sizes(), which asks every worker.
//   - pg_catalog.pg_dist_schema (schemaid oid, colocationid):
//     src/backend/distributed/sql/citus--11.3-2--12.0-1.sql:5-12.
const PlacementsSQL = `
WITH tenant AS (
	SELECT c.schema_name, n.oid AS nsp
	FROM public.clients c
	LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = c.schema_name
	WHERE $1::text = '' OR c.schema_name = $1::text
), placed AS (
	SELECT r.relnamespace AS nsp, s.nodename, s.nodeport, coalesce(sum(s.shard_size), 0)::bigint AS bytes
	FROM pg_catalog.citus_shards s
	JOIN pg_catalog.pg_class r ON r.oid = s.table_name
	WHERE s.citus_table_type = 'schema' AND r.relnamespace IN (SELECT nsp FROM tenant)
	GROUP BY r.relnamespace, s.nodename, s.nodeport
)
SELECT t.schema_name, d.schemaid IS NOT NULL, p.nodename, p.nodeport, coalesce(p.bytes, 0)
FROM tenant t
LEFT JOIN pg_catalog.pg_dist_schema d ON d.schemaid = t.nsp
LEFT JOIN placed p ON p.nsp = t.nsp
ORDER BY t.schema_name, p.nodename, p.nodeport`

// NodesSQL lists pg_dist_node: nodename, nodeport, isactive, noderole
// (enum 'primary'/'secondary'/'unavailable'), shouldhaveshards.
// Defined in src/backend/distributed/sql/citus--8.0-1.sql:401-414 (table,
// isactive at 412), :1097,1109 (noderole) and
// src/backend/distributed/sql/citus--9.0-2--9.1-1.sql:1 (shouldhaveshards).
const NodesSQL = `SELECT nodename, nodeport, isactive, noderole::text, shouldhaveshards
		FROM pg_catalog.pg_dist_node ORDER BY nodename, nodeport`

// SchemaMoveQuery moves schema to the node host:port with
// citus_schema_move, with shard_transfer_mode 'block_writes' when
// blockWrites and 'auto' otherwise.
//
// citus_schema_move(schema_id regnamespace, target_node_name text,
// target_node_port integer, shard_transfer_mode citus.shard_transfer_mode
// default 'auto') RETURNS void:
// src/backend/distributed/sql/udfs/citus_schema_move/latest.sql:1-9 (the
// other overload, :17-24, takes a node id and three arguments). The enum
// citus.shard_transfer_mode ('auto', 'force_logical', 'block_writes'):
// src/backend/distributed/sql/citus--8.0-1.sql:1477-1481. The schema is
// passed as a quoted identifier, which regnamespace's input parses back to
// exactly that name. The mode is written as a literal, not cast to
// citus.shard_transfer_mode: naming that type needs USAGE on schema
// citus, which strictmt's login role need not have, while a literal
// takes the parameter's type when the function is resolved.
func SchemaMoveQuery(schema, host string, port int, blockWrites bool) (string, []any) {
	move := "SELECT pg_catalog.citus_schema_move($1::text::regnamespace, $2::text, $3::integer)" // 'auto'
	if blockWrites {
		move = "SELECT pg_catalog.citus_schema_move($1::text::regnamespace, $2::text, $3::integer, 'block_writes')"
	}
	return move, []any{QuoteIdent(schema), host, port}
}

// MoveProgressSQL sums the steps of the move run by backend $1.
//
// get_rebalance_progress() RETURNS TABLE(sessionid integer, table_name
// regclass, shardid bigint, shard_size bigint, sourcename text, sourceport
// int, targetname text, targetport int, progress bigint, source_shard_size
// bigint, target_shard_size bigint, operation_type text, source_lsn pg_lsn,
// target_lsn pg_lsn, status text):
// src/backend/distributed/sql/udfs/get_rebalance_progress/latest.sql:3-19.
// A move started by citus_move_shard_placement, which citus_schema_move
// calls (src/backend/distributed/commands/schema_based_sharding.c:784-800),
// registers one step per shard of the schema
// (src/backend/distributed/operations/shard_transfer.c:628,1237-1269 and
// shard_rebalancer.c:934-967); sessionid is the moving backend's pid
// (src/backend/distributed/progress/multi_progress.c:66, shard_rebalancer.c:1422);
// progress is 0 waiting, 1 moving, 2 moved
// (src/include/distributed/shard_rebalancer.h:78-80).
const MoveProgressSQL = `SELECT count(*)::integer, (count(*) FILTER (WHERE progress = 2))::integer,
	coalesce(sum(shard_size), 0)::bigint, coalesce(sum(target_shard_size), 0)::bigint, coalesce(min(status), '')
FROM pg_catalog.get_rebalance_progress() WHERE sessionid = $1`
