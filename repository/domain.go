package repository

import (
	"context"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
)

// CreateDomain inserts a domain. ECONFLICT when the domain is taken.
func (c *Catalog) CreateDomain(ctx context.Context, d *models.Domain) error {
	err := c.db.WithContext(ctx).Create(d).Error
	if pgerr.Is(err, pgerr.UniqueViolation) {
		return apperr.Wrap(apperr.ECONFLICT, err, "The domain \""+d.Domain+"\" is already in use.")
	}
	return translate(err, "")
}

// FindDomain returns the domain row of a canonical host name.
// ENOTFOUND when there is none.
func (c *Catalog) FindDomain(ctx context.Context, domain string) (*models.Domain, error) {
	var d models.Domain
	if err := c.db.WithContext(ctx).Where("domain = ?", domain).Take(&d).Error; err != nil {
		return nil, translate(err, "No such domain \""+domain+"\".")
	}
	return &d, nil
}

// FindClientByDomain returns the client that owns a canonical host name.
// ENOTFOUND when no tenant has it.
func (c *Catalog) FindClientByDomain(ctx context.Context, domain string) (*models.Client, error) {
	var client models.Client
	err := c.db.WithContext(ctx).
		Joins("JOIN public.domains d ON d.tenant_id = clients.id").
		Where("d.domain = ?", domain).Take(&client).Error
	if err != nil {
		return nil, translate(err, "No tenant for domain \""+domain+"\".")
	}
	return &client, nil
}

// DeleteDomain deletes a domain row. ENOTFOUND when there is none.
func (c *Catalog) DeleteDomain(ctx context.Context, id int64) error {
	res := c.db.WithContext(ctx).Where("id = ?", id).Delete(&models.Domain{})
	if res.Error != nil {
		return translate(res.Error, "")
	}
	if res.RowsAffected == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "No such domain.")
	}
	return nil
}

// SetPrimaryDomain makes the domain with id the only primary domain of its
// tenant.
func (c *Catalog) SetPrimaryDomain(ctx context.Context, tenantID, id int64) error {
	db := c.db.WithContext(ctx)
	if err := db.Model(&models.Domain{}).Where("tenant_id = ? AND is_primary", tenantID).Update("is_primary", false).Error; err != nil {
		return translate(err, "")
	}
	return translate(db.Model(&models.Domain{}).Where("id = ?", id).Update("is_primary", true).Error, "")
}
