package repository

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// The statements the importer reads a django-tenants source database
// with. The shared tables (the tenant model, the domain model, the users)
// are named as given, an identifier or a schema and an identifier
// ("public.tenants_client"); a tenant's own tables are named by the
// tenant's schema and the table. Every function quotes the names it is
// given.

// sourceClientSelect reads a row of the tenant model, up to its FROM.
const sourceClientSelect = "SELECT id, schema_name, name, paid_until::timestamp, on_trial FROM "

// SourceClientsSQL returns the statement that reads every tenant of the
// tenant model table, in id order.
func SourceClientsSQL(table string) string {
	return sourceClientSelect + sourceSharedTable(table) + " ORDER BY id"
}

// SourceClientsBySchemaSQL returns the statement that reads the tenants of
// the tenant model table whose schema name is $1, in id order.
func SourceClientsBySchemaSQL(table string) string {
	return sourceClientSelect + sourceSharedTable(table) + " WHERE schema_name = $1 ORDER BY id"
}

// SourceClientByIDSQL returns the statement that reads the tenant of the
// tenant model table whose id is $1.
func SourceClientByIDSQL(table string) string {
	return sourceClientSelect + sourceSharedTable(table) + " WHERE id = $1"
}

// SourceDomainOwnersSQL returns the statement that reads every domain of
// domainTable with the schema name of its tenant in clientTable, by
// tenant id, then domain id.
func SourceDomainOwnersSQL(domainTable, clientTable string) string {
	return "SELECT c.schema_name, d.domain FROM " + sourceSharedTable(domainTable) + " d JOIN " + sourceSharedTable(clientTable) +
		" c ON c.id = d.tenant_id ORDER BY c.id, d.id"
}

// SourceDomainsSQL returns the statement that reads the domains of the
// tenant whose id is $1 from the domain model table, the primary first,
// then by id.
func SourceDomainsSQL(table string) string {
	return "SELECT id, domain, is_primary FROM " + sourceSharedTable(table) + " WHERE tenant_id = $1 ORDER BY is_primary DESC, id"
}

// sourceUserSelect reads a row of the user table, up to its FROM.
const sourceUserSelect = "SELECT id, username, email, password, is_active, date_joined FROM "

// SourceUsersSQL returns the statement that reads every user of the user
// table, in id order.
func SourceUsersSQL(table string) string {
	return sourceUserSelect + sourceSharedTable(table) + " ORDER BY id"
}

// SourceReferencedUsersSQL returns the statement that reads the users of
// the user table that own a project of projectTable or are assigned a
// task of taskTable, both tables in schema, in id order.
func SourceReferencedUsersSQL(table, schema, projectTable, taskTable string) string {
	return sourceUserSelect + sourceSharedTable(table) +
		" WHERE id IN (SELECT owner_id FROM " + sourceTenantTable(schema, projectTable) +
		" UNION SELECT assigned_user_id FROM " + sourceTenantTable(schema, taskTable) + ")" +
		" ORDER BY id"
}

// SourceTodosSQL returns the statement that reads every todo of table in
// schema, in id order.
func SourceTodosSQL(schema, table string) string {
	return "SELECT id, title, description, completed, recurrence_interval, created_at, completion_time FROM " +
		sourceTenantTable(schema, table) + " ORDER BY id"
}

// SourceProjectsSQL returns the statement that reads every project of
// table in schema, in id order.
func SourceProjectsSQL(schema, table string) string {
	return "SELECT id, name, description, owner_id FROM " + sourceTenantTable(schema, table) + " ORDER BY id"
}

// SourceTasksSQL returns the statement that reads every task of table in
// schema, in id order.
func SourceTasksSQL(schema, table string) string {
	return "SELECT id, due_date::timestamp, assigned_user_id, project_id, todo_id FROM " + sourceTenantTable(schema, table) + " ORDER BY id"
}

// sourceSharedTable quotes a shared table name, qualified or not.
func sourceSharedTable(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

// sourceTenantTable quotes table in schema.
func sourceTenantTable(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }
