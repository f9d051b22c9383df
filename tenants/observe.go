package tenants

import (
	"context"
	"strconv"
	"time"

	"github.com/strictmt/strictmt/repository"
)

// SetProvisionObserver makes CreateTenant report, after each creation
// commits, how long provisioning the schema and role took (claiming a
// spare or building them). Call it before the service is used.
func (s *Service) SetProvisionObserver(f func(time.Duration)) { s.provisioned = f }

// CountTenants returns the number of tenants in the catalog.
func (s *Service) CountTenants(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(repository.CountTenantsSQL).Scan(&n).Error
	return n, err
}

// SparesReady returns the number of spare schemas a creation could claim
// now: built by the latest migration and with their role.
func (s *Service) SparesReady(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(repository.SparesReadySQL,
		sparePrefix+strconv.FormatInt(s.latestVersion(), 10)+"-").Scan(&n).Error
	return n, err
}
