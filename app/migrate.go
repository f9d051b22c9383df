package app

import (
	"context"

	"github.com/strictmt/strictmt/tenants"
)

// MigrateOptions selects what Migrate does.
type MigrateOptions = tenants.MigrateOptions

// Migrate applies pending migrations: the shared schema's, then every
// tenant schema's, on the direct connection (database.direct_url).
func (a *App) Migrate(ctx context.Context, opts MigrateOptions) error {
	if opts.Shared {
		if err := tenants.MigrateShared(ctx, a.DirectSQL); err != nil {
			return err
		}
	}
	if !opts.Tenants {
		return nil
	}
	_, err := tenants.MigrateTenants(ctx, a.DirectSQL, a.Log, opts)
	return err
}
