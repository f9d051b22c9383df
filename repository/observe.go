package repository

// Counts for metrics.

// CountTenantsByStateSQL counts the tenants in the catalog by their
// effective state (one whose state_until has passed is active).
const CountTenantsByStateSQL = `SELECT CASE WHEN state_until <= now() THEN 'active' ELSE state END AS state, count(*) AS n
		FROM public.clients GROUP BY 1`

// SparesReadySQL counts the spare schemas whose names start with ? and
// that have their role, that is the spares a creation could claim (GORM's
// placeholder; see SparesSQL).
const SparesReadySQL = `SELECT count(*) FROM pg_catalog.pg_namespace n
		WHERE starts_with(n.nspname, ?) AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = n.nspname)`
