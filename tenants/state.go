package tenants

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"gorm.io/gorm"
)

// StateChange sets a tenant's state (models.StateActive, StateReadOnly or
// StateSuspended) with an operator's reason. Until, when set, ends the
// state at that time; PurgeAfter, for a suspended tenant only, lets
// `strictmt tenants purge` delete the tenant from that time on (and
// excludes Until). Both must be in the future. Active clears the rest.
type StateChange struct {
	State      string
	Reason     string
	Until      *time.Time
	PurgeAfter *time.Time
}

// apply validates c at now into fields (DRF messages, under the admin
// API's field names) and sets up's state fields.
func (c *StateChange) apply(up *repository.TenantUpdate, now time.Time, fields apperr.Fields) {
	switch c.State {
	case models.StateActive, models.StateReadOnly, models.StateSuspended:
	default:
		fields.Add("state", fmt.Sprintf("%q is not a valid choice.", c.State))
	}
	if utf8.RuneCountInString(c.Reason) > models.MaxStateReasonLen {
		fields.Add("state_reason", fmt.Sprintf("Ensure this field has no more than %d characters.", models.MaxStateReasonLen))
	}
	if c.Until != nil && !c.Until.After(now) {
		fields.Add("state_until", "The end of a state must be in the future.")
	}
	if c.Until != nil && c.State == models.StateActive {
		fields.Add("state_until", "An active tenant's state has no end.")
	}
	if c.PurgeAfter != nil {
		switch {
		case c.State != models.StateSuspended:
			fields.Add("purge_after", "Only a suspended tenant can be purged.")
		case !c.PurgeAfter.After(now):
			fields.Add("purge_after", "The time of a purge must be in the future.")
		case c.Until != nil:
			fields.Add("purge_after", "A suspension that ends (state_until) is not purged.")
		}
	}
	reason := c.Reason
	if c.State == models.StateActive {
		reason = ""
	}
	up.State, up.StateReason, up.StateUntil, up.PurgeAfter = &c.State, &reason, &c.Until, &c.PurgeAfter
}

// SetState changes the state of the tenant schema (see StateChange), as
// UpdateTenant does.
func (s *Service) SetState(ctx context.Context, schema string, c StateChange) (*models.Tenant, error) {
	return s.UpdateTenant(ctx, schema, UpdateParams{State: &c})
}

// Purged is a tenant a purge deleted (or, in a dry run, would delete).
type Purged struct {
	Schema     string
	Name       string
	PurgeAfter time.Time
}

// Purge deletes, each with its schema, role and catalog rows, exactly the
// tenants that are suspended and past their purge_after, and lists them;
// only those of schemas when any are named, and then every named tenant
// must be due (ECONFLICT naming those that are not, and nothing is
// deleted). Each deletion checks again, under the catalog row's lock, that
// its tenant is still due: a tenant resumed meanwhile is kept. dryRun
// lists without deleting.
func (s *Service) Purge(ctx context.Context, schemas []string, dryRun bool) ([]Purged, error) {
	now := time.Now()
	var due []Purged
	var notDue []string
	for _, schema := range schemas {
		t, err := s.FindTenant(ctx, schema)
		if err != nil {
			return nil, err
		}
		if !purgeDue(t, now) {
			notDue = append(notDue, fmt.Sprintf("%s (%s)", schema, purgeState(t)))
			continue
		}
		due = append(due, Purged{Schema: t.SchemaName, Name: t.Name, PurgeAfter: *t.PurgeAfter})
	}
	if len(notDue) > 0 {
		return nil, apperr.Errorf(apperr.ECONFLICT, "Not due for a purge: %s. Only a suspended tenant past its purge_after is purged.", strings.Join(notDue, ", "))
	}
	if len(schemas) == 0 {
		list, err := repository.NewCatalog(s.db).FindPurgeDue(ctx, now)
		if err != nil {
			return nil, err
		}
		for _, t := range list {
			due = append(due, Purged{Schema: t.SchemaName, Name: t.Name, PurgeAfter: *t.PurgeAfter})
		}
	}
	if dryRun {
		return due, nil
	}
	var done []Purged
	for _, p := range due {
		err := retryDeadlock(ctx, func() error {
			return s.deleteTenantIf(ctx, p.Schema, true, func(t *models.Tenant) error {
				if !purgeDue(t, time.Now()) {
					return errNotDue
				}
				return nil
			})
		})
		if err == errNotDue {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("purging %s: %w", p.Schema, err)
		}
		done = append(done, p)
		s.changed()
	}
	return done, nil
}

var errNotDue = apperr.Errorf(apperr.ECONFLICT, "The tenant is no longer due for a purge.")

// purgeDue reports whether t may be purged at now.
func purgeDue(t *models.Tenant, now time.Time) bool {
	return t.State == models.StateSuspended && t.PurgeAfter != nil && !now.Before(*t.PurgeAfter)
}

// purgeState says why t is not due.
func purgeState(t *models.Tenant) string {
	switch {
	case t.State != models.StateSuspended:
		return t.State
	case t.PurgeAfter == nil:
		return "suspended, no purge_after"
	default:
		return "suspended, purge_after " + t.PurgeAfter.UTC().Format(time.RFC3339)
	}
}

// deleteTenantIf deletes the tenant schema as deleteTenant does when
// check, run on its catalog row locked for the transaction, allows it.
func (s *Service) deleteTenantIf(ctx context.Context, schema string, dropSchema bool, check func(*models.Tenant) error) error {
	return catalogTx(ctx, s.db, func(tx *gorm.DB, cat *repository.Catalog) error {
		found, err := cat.FindTenantBySchema(ctx, schema)
		if err != nil {
			return err
		}
		tenant, err := cat.FindTenantForUpdate(ctx, found.ID)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(tenant); err != nil {
				return err
			}
		}
		return s.dropTenant(ctx, tx, cat, tenant, dropSchema)
	})
}
