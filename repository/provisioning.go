package repository

import "strings"

// A tenant's schema and role: creating them, granting the role what it
// needs in the schema, and dropping them.

// TenantRoles is how tenant roles are made.
type TenantRoles struct {
	// Group is the NOLOGIN role every tenant role is a member of.
	Group string
	// Login makes tenant roles able to log in, without a password (Citus
	// mode); otherwise they are NOLOGIN.
	Login bool
}

// loginClause is LOGIN or NOLOGIN, as r makes tenant roles.
func (r TenantRoles) loginClause() string {
	if r.Login {
		return "LOGIN"
	}
	return "NOLOGIN"
}

// CreateStmt creates the tenant role role, a member of the group role.
func (r TenantRoles) CreateStmt(role string) string {
	return "CREATE ROLE " + QuoteIdent(role) + " " + r.loginClause() + " IN ROLE " + QuoteIdent(r.Group)
}

// MatchStmts make the existing role role what CreateStmt would have made
// it: LOGIN or NOLOGIN, a member of the group role.
func (r TenantRoles) MatchStmts(role string) []string {
	q := QuoteIdent(role)
	return []string{"ALTER ROLE " + q + " " + r.loginClause(), "GRANT " + QuoteIdent(r.Group) + " TO " + q}
}

// GroupRoleExistsSQL reads whether the group role $1 exists.
const GroupRoleExistsSQL = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)"

// CreateGroupRoleStmt creates group, the tenant roles' group role:
// NOLOGIN, with no privileges.
func CreateGroupRoleStmt(group string) string { return "CREATE ROLE " + QuoteIdent(group) + " NOLOGIN" }

// RoleExistsSQL reads whether the role $1 exists.
const RoleExistsSQL = "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)"

// RoleExistsGormSQL is RoleExistsSQL with GORM's placeholder.
const RoleExistsGormSQL = "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?)"

// RoleStatesSQL reads, for each of the roles $1 that exists, its name,
// whether it can log in and whether it is a member of the role $2.
const RoleStatesSQL = `SELECT r.rolname, r.rolcanlogin,
			EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
			        WHERE m.member = r.oid AND g.rolname = $2)
		FROM pg_catalog.pg_roles r WHERE r.rolname = ANY($1)`

// SearchPathStmt makes schema the search_path until the transaction ends.
func SearchPathStmt(schema string) string { return "SET LOCAL search_path TO " + QuoteIdent(schema) }

// CreateSchemaStmts returns the statements that provision a tenant in one
// transaction, each a single command: schema, then role as roles makes
// it, with its grants, then body (the migrations and the version table,
// which run with schema as search_path), then the revocation of role's
// rights on the version table. With citus the schema is created
// distributed, its tables single-shard tables placed together on one
// node, and the migrations' triggers are accepted (see
// UnsafeTriggersStmt); without, the catalog copies the versions just
// recorded, so that migrate need not open the schema to know it is up to
// date (on Citus the trigger that keeps that copy true would not fire).
// SET LOCAL ends with the transaction: none of these settings outlives it
// on the pooled connection.
//
// The role's default privileges in the schema come before the tables, so
// that each table and sequence is granted as it is made: no statement has
// to find the schema's objects (GRANT ... ON ALL TABLES IN SCHEMA reads
// the whole of pg_class, which grows with every tenant).
func CreateSchemaStmts(schema, role string, roles TenantRoles, body []string, citus bool) []string {
	out := make([]string, 0, len(body)+16)
	if citus {
		out = append(out, schemaShardingStmt, unsafeTriggersStmt)
	}
	out = append(out, "CREATE SCHEMA "+QuoteIdent(schema), roles.CreateStmt(role))
	out = append(out, roleGrantStmts(schema, role)...)
	out = append(out, SearchPathStmt(schema))
	out = append(out, body...)
	out = append(out, revokeVersionTableStmt(schema, role))
	if !citus {
		out = append(out, recordCurrentVersionsStmt)
	}
	return out
}

// roleGrantStmts let role use schema and be used by the login role, and
// grant it whatever tables and sequences the login role creates there
// from now on (the version table, made by goose, is revoked explicitly).
func roleGrantStmts(schema, role string) []string {
	s, r := QuoteIdent(schema), QuoteIdent(role)
	return []string{
		// The login role must be a member to SET ROLE to the tenant role.
		"GRANT " + r + " TO CURRENT_USER",
		"GRANT USAGE ON SCHEMA " + s + " TO " + r,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + r,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO " + r,
	}
}

// SchemaRelationsSQL lists the tables, views and sequences of the schema
// $1 as Relations (name, is a sequence), by name. They are found through
// pg_depend's index on the namespace, so the cost is that of the schema,
// not of the database.
const SchemaRelationsSQL = `SELECT c.relname, c.relkind = 'S'
		FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class c ON c.oid = d.objid
		WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass
		  AND d.refobjid = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1)
		  AND d.classid = 'pg_catalog.pg_class'::regclass
		  AND c.relkind IN ('r', 'p', 'v', 'S')
		ORDER BY 1`

// Relation is a row of SchemaRelationsSQL.
type Relation struct {
	Name     string
	Sequence bool
}

// GrantExistingStmts give role the grants of a new tenant role in schema
// and rights on rels, the schema's relations, but none on its version
// table.
func GrantExistingStmts(schema, role string, rels []Relation) []string {
	s, r := QuoteIdent(schema), QuoteIdent(role)
	var tables, sequences []string
	version := false
	for _, rel := range rels {
		obj := s + "." + QuoteIdent(rel.Name)
		switch {
		case rel.Name == VersionTable:
			version = true
		case rel.Sequence:
			sequences = append(sequences, obj)
		default:
			tables = append(tables, obj)
		}
	}
	stmts := roleGrantStmts(schema, role)
	if version {
		stmts = append(stmts, revokeVersionTableStmt(schema, role))
	}
	if len(sequences) > 0 {
		stmts = append(stmts, "GRANT USAGE, SELECT, UPDATE ON SEQUENCE "+strings.Join(sequences, ", ")+" TO "+r)
	}
	if len(tables) > 0 {
		stmts = append(stmts, "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "+strings.Join(tables, ", ")+" TO "+r)
	}
	return stmts
}

// DropSchemaStmt drops schema, if it exists, with everything in it.
func DropSchemaStmt(schema string) string {
	return "DROP SCHEMA IF EXISTS " + QuoteIdent(schema) + " CASCADE"
}

// DropRoleStmts drop role. DROP OWNED revokes the role's grants in this
// database (a tenant role owns nothing) so that DROP ROLE succeeds.
func DropRoleStmts(role string) []string {
	r := QuoteIdent(role)
	return []string{"DROP OWNED BY " + r, "DROP ROLE " + r}
}
