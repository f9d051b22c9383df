package tenants

import (
	"context"
	"strconv"
	"time"

	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
)

// SetProvisionObserver makes CreateTenant report, after each creation
// commits, how long provisioning the schema and role took (claiming a
// spare or building them). Call it before the service is used.
func (s *Service) SetProvisionObserver(f func(time.Duration)) { s.provisioned = f }

// CountTenantsByState returns the number of tenants in each state (every
// state, 0 included).
func (s *Service) CountTenantsByState(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	if err := s.db.WithContext(ctx).Raw(repository.CountTenantsByStateSQL).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := map[string]int64{models.StateActive: 0, models.StateReadOnly: 0, models.StateSuspended: 0}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// SparesReady returns the number of spare schemas a creation could claim
// now: built by the latest migration and with their role.
func (s *Service) SparesReady(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(repository.SparesReadySQL,
		sparePrefix+strconv.FormatInt(s.latestVersion(), 10)+"-").Scan(&n).Error
	return n, err
}
