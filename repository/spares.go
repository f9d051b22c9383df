package repository

// Spare schemas: tenant schemas, each with a role of the same name, built
// ahead of need and claimed by renaming them (see tenants.KeepSpares).

// ClaimSpareSQL reads the name of one spare whose name starts with ?, that
// has its role, and whose advisory lock (?, hashtext(name)) this
// transaction could take; it takes that lock until the transaction ends
// (GORM's placeholders: prefix, then lock class). The inner query picks
// candidates (in random order, so concurrent claims rarely contend); the
// outer one tries their locks, one at a time, until one is free.
const ClaimSpareSQL = `SELECT nspname FROM (
			SELECT nspname FROM pg_catalog.pg_namespace
			WHERE starts_with(nspname, ?)
			  AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = nspname)
			ORDER BY random() LIMIT 32
		) c WHERE pg_try_advisory_xact_lock(?, hashtext(nspname)) LIMIT 1`

// SparesSQL lists the schemas whose names start with ? (name) and whether
// each has its role (has_role) (GORM's placeholder).
const SparesSQL = `SELECT nspname AS name, EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = nspname) AS has_role
			FROM pg_catalog.pg_namespace WHERE starts_with(nspname, ?)`

// DropSpareStmts drop the spare name: its schema, its role and the
// catalog's copy of its versions.
func DropSpareStmts(name string) []string {
	q := QuoteIdent(name)
	return []string{
		"DROP SCHEMA " + q + " CASCADE",
		"DROP ROLE IF EXISTS " + q,
		deleteVersionRecordStmt(name),
	}
}

// claimSavepoint is where RollBackClaimStmt returns to.
const claimSavepoint = "strictmt_claim"

// ClaimSpareStmts turn the spare into schema with role after a savepoint
// (see RollBackClaimStmt): the spare's schema and role are renamed (the
// role's grants and default privileges follow), the role is made what
// roles makes a tenant role (a spare may come from before the group role,
// or from the other mode), and the catalog's copy of the spare's versions
// follows it (the copy holds oids, which a rename keeps).
func ClaimSpareStmts(spare, schema, role string, roles TenantRoles) []string {
	stmts := []string{
		"SAVEPOINT " + claimSavepoint,
		"ALTER SCHEMA " + QuoteIdent(spare) + " RENAME TO " + QuoteIdent(schema),
		"ALTER ROLE " + QuoteIdent(spare) + " RENAME TO " + QuoteIdent(role),
	}
	stmts = append(stmts, roles.MatchStmts(role)...)
	return append(stmts, "UPDATE public.tenant_versions SET schema_name = "+quoteLiteral(schema)+" WHERE schema_name = "+quoteLiteral(spare))
}

// RollBackClaimStmt undoes what ClaimSpareStmts did, leaving the
// transaction as it was before them.
const RollBackClaimStmt = "ROLLBACK TO SAVEPOINT " + claimSavepoint
