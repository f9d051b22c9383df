package repository

// The catalog (public.clients) as migration runs read it, and the
// notifications that announce its changes.

// CatalogExistsSQL reads whether the catalog exists: it does not before
// the shared migrations have run.
const CatalogExistsSQL = "SELECT to_regclass('public.clients') IS NOT NULL"

// TenantsSQL lists every tenant's schema and role, by schema.
const TenantsSQL = "SELECT schema_name, role_name FROM public.clients ORDER BY schema_name"

// TenantBySchemaSQL reads the schema and role of the tenant whose schema
// is $1.
const TenantBySchemaSQL = "SELECT schema_name, role_name FROM public.clients WHERE schema_name = $1"

// NotifySQL sends the payload ? on the channel ? when the transaction
// commits (GORM's placeholders: channel, then payload).
const NotifySQL = "SELECT pg_notify(?, ?)"

// ListenStmt makes the session receive the notifications on channel, a
// name strictmt defines.
func ListenStmt(channel string) string { return "LISTEN " + channel }
