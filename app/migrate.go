package app

import (
	"context"
	"time"

	"github.com/strictmt/strictmt/tenants"
)

// MigrateOptions selects what Migrate does.
type MigrateOptions = tenants.MigrateOptions

// Migrate applies pending migrations: the shared schema's, then every
// tenant schema's, on the direct connection (database.direct_url).
func (a *App) Migrate(ctx context.Context, opts MigrateOptions) error {
	if opts.Shared {
		start := time.Now()
		if err := tenants.MigrateShared(ctx, a.DirectSQL); err != nil {
			return err
		}
		a.observeMigration("shared", start)
	}
	if !opts.Tenants {
		return nil
	}
	start := time.Now()
	if opts.Cluster == nil {
		opts.Cluster = &a.Cluster
	}
	_, err := tenants.MigrateTenants(ctx, a.DirectSQL, a.Log, opts)
	if err == nil {
		a.observeMigration("tenants", start)
	}
	return err
}

func (a *App) observeMigration(scope string, start time.Time) {
	if a.Metrics != nil {
		a.Metrics.ObserveMigration(scope, time.Since(start))
	}
}
