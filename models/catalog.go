// Package models holds the GORM models: the catalog in the public schema
// and the per-tenant tables.
package models

import "time"

// Tenant is a tenant's row in the catalog (public.clients, the table
// django-tenants calls Client): one customer organisation with its own
// schema and role. Requests see a resolved tenant as datapath.Tenant.
type Tenant struct {
	ID         int64     `gorm:"primaryKey"`
	Name       string    `gorm:"size:100;not null"`
	SchemaName string    `gorm:"size:63;not null;uniqueIndex"`
	RoleName   string    `gorm:"size:63;not null"`
	PaidUntil  *Date     `gorm:"type:date"`
	OnTrial    bool      `gorm:"not null"`
	CreatedOn  Date      `gorm:"type:date;not null"`
	CreatedAt  time.Time `gorm:"not null"`
	// State is StateActive, StateReadOnly or StateSuspended; StateReason
	// is for operators only. StateUntil, when set, ends the state then;
	// PurgeAfter (suspended only) is when the tenant may be purged.
	State       string     `gorm:"size:16;not null;default:active"`
	StateReason string     `gorm:"size:500;not null;default:''"`
	StateUntil  *time.Time `gorm:""`
	PurgeAfter  *time.Time `gorm:""`
	Domains     []Domain   `gorm:"foreignKey:TenantID"`
}

// The states of a tenant.
const (
	StateActive    = "active"
	StateReadOnly  = "read_only"
	StateSuspended = "suspended"
)

// EffectiveState is the state t is in at now: its State, unless
// StateUntil has passed, then active.
func (t *Tenant) EffectiveState(now time.Time) string {
	if t.State == "" || t.StateUntil != nil && !now.Before(*t.StateUntil) {
		return StateActive
	}
	return t.State
}

// TableName pins the catalog to the public schema, whatever the tenant.
func (Tenant) TableName() string { return "public.clients" }

// Domain maps a host name to a tenant. Exactly one domain of a tenant is
// primary.
type Domain struct {
	ID        int64  `gorm:"primaryKey"`
	Domain    string `gorm:"size:253;not null;uniqueIndex"`
	TenantID  int64  `gorm:"not null;index"`
	IsPrimary bool   `gorm:"not null"`
}

// TableName pins the catalog to the public schema, whatever the tenant.
func (Domain) TableName() string { return "public.domains" }
