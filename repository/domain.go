package repository

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// domainColumns are the columns a domain is read with, in scanDomain's
// order.
const domainColumns = "id, domain, tenant_id, is_primary"

// scanDomain reads a row of domainColumns into d (see scanFunc).
func scanDomain(r pgx.Row, d *models.Domain, extra ...any) error {
	return r.Scan(append([]any{&d.ID, &d.Domain, &d.TenantID, &d.IsPrimary}, extra...)...)
}

// errNoSuchDomain is the error of a domain id that is not there.
var errNoSuchDomain = apperr.Errorf(apperr.ENOTFOUND, "No such domain.")

// CreateDomain inserts a domain and fills in its id. ECONFLICT when the
// domain is taken.
func (c *Catalog) CreateDomain(ctx context.Context, d *models.Domain) error {
	return c.insert(ctx, d, &d.ID, "The domain \""+d.Domain+"\" is already in use.")
}

// FindDomain returns the domain row of a canonical host name.
// ENOTFOUND when there is none.
func (c *Catalog) FindDomain(ctx context.Context, domain string) (*models.Domain, error) {
	st, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Domain{}).Select(domainColumns).Where("domain = ?", domain).Take(&models.Domain{})
	})
	if err != nil {
		return nil, err
	}
	var d models.Domain
	st.Row = func(r pgx.Row) error { return scanDomain(r, &d) }
	if err := c.send(ctx, st); err != nil {
		return nil, translate(err, "No such domain \""+domain+"\".")
	}
	return &d, nil
}

// FindTenantByDomain returns the tenant that owns a canonical host name,
// without its domains. ENOTFOUND when no tenant has it.
func (c *Catalog) FindTenantByDomain(ctx context.Context, domain string) (*models.Tenant, error) {
	st, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		owner := db.Model(&models.Domain{}).Select("tenant_id").Where("domain = ?", domain)
		return db.Model(&models.Tenant{}).Select(tenantColumns).Where("id = (?)", owner).Take(&models.Tenant{})
	})
	if err != nil {
		return nil, err
	}
	var tenant models.Tenant
	st.Row = func(r pgx.Row) error { return scanTenant(r, &tenant) }
	if err := c.send(ctx, st); err != nil {
		return nil, translate(err, "No tenant for domain \""+domain+"\".")
	}
	return &tenant, nil
}

// DeleteDomain deletes a domain row. ENOTFOUND when there is none.
func (c *Catalog) DeleteDomain(ctx context.Context, id int64) error {
	return c.changeRow(ctx, errNoSuchDomain, func(db *gorm.DB) *gorm.DB {
		return db.Where("id = ?", id).Delete(&models.Domain{})
	})
}

// SetPrimaryDomain makes the domain with id the only primary domain of its
// tenant: both changes in one round trip.
func (c *Catalog) SetPrimaryDomain(ctx context.Context, tenantID, id int64) error {
	off, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Domain{}).Where("tenant_id = ? AND is_primary", tenantID).Update("is_primary", false)
	})
	if err != nil {
		return err
	}
	on, err := c.build(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Domain{}).Where("id = ?", id).Update("is_primary", true)
	})
	if err != nil {
		return err
	}
	return translate(c.send(ctx, off, on), "")
}
