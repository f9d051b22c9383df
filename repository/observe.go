package repository

// Counts for metrics.

// CountTenantsSQL counts the tenants in the catalog.
const CountTenantsSQL = "SELECT count(*) FROM public.clients"

// SparesReadySQL counts the spare schemas whose names start with ? and
// that have their role, that is the spares a creation could claim (GORM's
// placeholder; see SparesSQL).
const SparesReadySQL = `SELECT count(*) FROM pg_catalog.pg_namespace n
		WHERE starts_with(n.nspname, ?) AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = n.nspname)`
