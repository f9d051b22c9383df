package tenants

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
)

// Fleet is what the operators' console shows of every tenant at once.
type Fleet struct {
	// ByState counts the tenants in each state (every state, 0
	// included); Tenants is their sum.
	Tenants int64
	ByState map[string]int64
	// SparesReady counts the spare schemas a creation could claim now.
	SparesReady int64
	// LatestVersion is the newest tenant migration this binary has.
	LatestVersion int64
	// Pending holds, for each tenant schema that lacks migrations, the
	// versions it lacks, by schema name. A migration that failed was
	// rolled back, so its schema is listed here until a migrate succeeds.
	Pending map[string][]int64
	// Unreadable holds the schemas whose migration versions could not be
	// read at all (a schema dropped by hand, say), with the reason.
	Unreadable map[string]error
}

// PendingSchemas returns the schema names of Pending, sorted.
func (f *Fleet) PendingSchemas() []string { return sortedKeys(f.Pending) }

// UnreadableSchemas returns the schema names of Unreadable, sorted.
func (f *Fleet) UnreadableSchemas() []string { return sortedKeys(f.Unreadable) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Fleet counts the tenants by state and the spare schemas ready, and
// lists the tenant schemas with pending migrations, as `strictmt migrate
// --dry-run` does: it changes nothing, and schemas the catalog vouches
// for cost a share of one query.
func (s *Service) Fleet(ctx context.Context) (*Fleet, error) {
	byState, err := s.CountTenantsByState(ctx)
	if err != nil {
		return nil, err
	}
	spares, err := s.SparesReady(ctx)
	if err != nil {
		return nil, err
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	s.groupMu.Lock()
	cluster := s.cluster
	s.groupMu.Unlock()
	// The dry run's per-schema failures come back in its report; its log
	// would call them failed migrations, which they are not.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rep, err := MigrateTenants(ctx, sqlDB, quiet, MigrateOptions{Tenants: true, DryRun: true, Migrations: s.migrations, Cluster: &cluster})
	var failed *MigrateError
	if err != nil && !errors.As(err, &failed) {
		return nil, err
	}
	f := &Fleet{ByState: byState, SparesReady: spares, LatestVersion: s.latestVersion(), Pending: rep.Pending, Unreadable: rep.Failed}
	for _, n := range byState {
		f.Tenants += n
	}
	return f, nil
}
