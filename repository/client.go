package repository

import (
	"context"
	"strings"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// Catalog queries the public schema's clients and domains.
type Catalog struct{ db *gorm.DB }

// NewCatalog returns a Catalog on db.
func NewCatalog(db *gorm.DB) *Catalog { return &Catalog{db: db} }

// ClientFilter selects clients in FindClients.
type ClientFilter struct {
	Search string // case-insensitive match on name or schema name
	Limit  int
	Offset int
}

// ClientUpdate holds the fields of a client to change; nil means unchanged.
type ClientUpdate struct {
	Name      *string
	PaidUntil **models.Date
	OnTrial   *bool
}

// CreateClient inserts a client. ECONFLICT when its schema name is taken.
func (c *Catalog) CreateClient(ctx context.Context, client *models.Client) error {
	err := c.db.WithContext(ctx).Omit("Domains").Create(client).Error
	if pgerr.Is(err, pgerr.UniqueViolation) {
		return apperr.Wrap(apperr.ECONFLICT, err, "A tenant with schema_name \""+client.SchemaName+"\" already exists.")
	}
	return translate(err, "")
}

// FindClientBySchema returns the client with the given schema name, with
// its domains. ENOTFOUND when there is none.
func (c *Catalog) FindClientBySchema(ctx context.Context, schema string) (*models.Client, error) {
	var client models.Client
	err := c.db.WithContext(ctx).Preload("Domains", func(db *gorm.DB) *gorm.DB { return db.Order("is_primary DESC, domain") }).
		Where("schema_name = ?", schema).Take(&client).Error
	if err != nil {
		return nil, translate(err, apperr.NoTenant(schema).Message)
	}
	return &client, nil
}

// FindClients returns a page of clients ordered by schema name, with their
// domains, and the total count matching the filter.
func (c *Catalog) FindClients(ctx context.Context, f ClientFilter) ([]models.Client, int64, error) {
	q := c.db.WithContext(ctx).Model(&models.Client{})
	if s := strings.TrimSpace(f.Search); s != "" {
		cond, args := contains(s, "name", "schema_name")
		q = q.Where(cond, args...)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, translate(err, "")
	}
	var clients []models.Client
	q = q.Preload("Domains", func(db *gorm.DB) *gorm.DB { return db.Order("is_primary DESC, domain") }).Order("schema_name")
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	if err := q.Find(&clients).Error; err != nil {
		return nil, 0, translate(err, "")
	}
	return clients, total, nil
}

// UpdateClient changes the given fields of the client with id.
// ENOTFOUND when there is none.
func (c *Catalog) UpdateClient(ctx context.Context, id int64, u ClientUpdate) error {
	fields := map[string]any{}
	if u.Name != nil {
		fields["name"] = *u.Name
	}
	if u.PaidUntil != nil {
		fields["paid_until"] = *u.PaidUntil
	}
	if u.OnTrial != nil {
		fields["on_trial"] = *u.OnTrial
	}
	if len(fields) == 0 {
		return nil
	}
	res := c.db.WithContext(ctx).Model(&models.Client{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return translate(res.Error, "")
	}
	if res.RowsAffected == 0 {
		return apperr.ErrNoSuchTenant
	}
	return nil
}

// DeleteClient deletes the client with id and, by cascade, its domains.
// ENOTFOUND when there is none.
func (c *Catalog) DeleteClient(ctx context.Context, id int64) error {
	res := c.db.WithContext(ctx).Where("id = ?", id).Delete(&models.Client{})
	if res.Error != nil {
		return translate(res.Error, "")
	}
	if res.RowsAffected == 0 {
		return apperr.ErrNoSuchTenant
	}
	return nil
}
