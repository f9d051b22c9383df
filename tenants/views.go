package tenants

import (
	"time"

	"github.com/strictmt/strictmt/models"
)

// View is a tenant as the admin API answers with it and `strictmt tenants
// list --json` prints it: one shape for both.
type View struct {
	Name       string       `json:"name"`
	SchemaName string       `json:"schema_name"`
	Domains    []DomainView `json:"domains"`
	PaidUntil  *models.Date `json:"paid_until"`
	OnTrial    bool         `json:"on_trial"`
	CreatedOn  models.Date  `json:"created_on"`
	// State is active, read_only or suspended (the effective state: one
	// whose state_until has passed is active); StateReason is the
	// operators' note; StateUntil ends the state; PurgeAfter is when a
	// suspended tenant may be purged.
	State       string     `json:"state"`
	StateReason string     `json:"state_reason"`
	StateUntil  *time.Time `json:"state_until"`
	PurgeAfter  *time.Time `json:"purge_after"`
}

// DomainView is one domain of a tenant's View.
type DomainView struct {
	Domain    string `json:"domain"`
	IsPrimary bool   `json:"is_primary"`
}

// ViewOf returns the View of t, with its domains.
func ViewOf(t *models.Tenant) View {
	v := View{
		Name: t.Name, SchemaName: t.SchemaName, PaidUntil: t.PaidUntil, OnTrial: t.OnTrial, CreatedOn: t.CreatedOn,
		Domains: make([]DomainView, len(t.Domains)),
		State:   t.EffectiveState(time.Now()), StateReason: t.StateReason, StateUntil: utc(t.StateUntil), PurgeAfter: utc(t.PurgeAfter),
	}
	if v.State == models.StateActive && t.State != models.StateActive { // its state has ended
		v.StateReason, v.StateUntil = "", nil
	}
	for i, d := range t.Domains {
		v.Domains[i] = DomainView{Domain: d.Domain, IsPrimary: d.IsPrimary}
	}
	return v
}

// utc returns t in UTC, nil for nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// PlacementView is a tenant's placement as the admin API answers with it
// and `strictmt tenants placement --json` prints it.
type PlacementView struct {
	SchemaName  string `json:"schema_name"`
	Distributed bool   `json:"distributed"`
	// Node is HOST:PORT; null when the schema is not distributed.
	Node      *string `json:"node"`
	SizeBytes int64   `json:"size_bytes"`
	// Note explains a placement that is not plainly one node, e.g. a
	// schema that is not distributed; "" otherwise.
	Note string `json:"note"`
}

// View returns the PlacementView of p.
func (p *Placement) View() PlacementView {
	v := PlacementView{SchemaName: p.Schema, Distributed: p.Distributed, SizeBytes: p.SizeBytes, Note: p.Note()}
	if p.Node != "" {
		node := p.Node
		v.Node = &node
	}
	return v
}

// TenantDomainView is a domain with the schema of its tenant, as the admin
// API answers an added domain with it and `strictmt domains list --json`
// prints each domain.
type TenantDomainView struct {
	Domain    string `json:"domain"`
	Tenant    string `json:"tenant"`
	IsPrimary bool   `json:"is_primary"`
}

// DomainsOf returns the domains of ts, each with its tenant's schema.
func DomainsOf(ts ...models.Tenant) []TenantDomainView {
	out := []TenantDomainView{}
	for _, t := range ts {
		for _, d := range t.Domains {
			out = append(out, TenantDomainView{Domain: d.Domain, Tenant: t.SchemaName, IsPrimary: d.IsPrimary})
		}
	}
	return out
}
