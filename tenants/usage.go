package tenants

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
)

// usersTable is the table whose rows are a tenant's users.
const usersTable = "users"

// Usage is what a tenant takes up in the database and what this process
// has seen of its requests.
type Usage struct {
	Schema string
	// Bytes are its schema's tables with their indexes and TOAST.
	Bytes int64
	// Rows are the rows of all its tables, Users those of its users
	// table.
	Rows, Users int64
	// Tables are its tables by name, the version table left out.
	Tables []TableRows
	// Exact says that Bytes are pg_total_relation_size summed and the
	// rows are counted; otherwise they are the catalog's and the
	// statistics' figures (repository.UsageAllSQL).
	Exact bool
	// Activity is what this process saw of the tenant's requests.
	Activity TenantActivity
}

// TableRows is the number of rows of one table.
type TableRows = repository.TableRows

// SetActivity makes the usage reads report what a saw of each tenant's
// requests. Call it before the service is used.
func (s *Service) SetActivity(a *Activity) { s.activity = a }

// usageOf returns the Usage of u, with what s.activity saw of it.
func (s *Service) usageOf(u repository.TenantUsage) Usage {
	out := Usage{Schema: u.Schema, Bytes: u.Bytes, Tables: u.Tables, Exact: u.Exact}
	for _, t := range u.Tables {
		out.Rows += t.Rows
		if t.Name == usersTable {
			out.Users = t.Rows
		}
	}
	if s.activity != nil {
		out.Activity, _ = s.activity.Of(u.Schema)
	}
	return out
}

// Usage returns the exact usage of the tenant whose schema is schema:
// pg_total_relation_size of each of its tables summed, and a count(*) of
// each (two statements). ENOTFOUND when no tenant has it.
func (s *Service) Usage(ctx context.Context, schema string) (*Usage, error) {
	if err := ValidateSchemaName(schema); err != nil {
		return nil, apperr.NoTenant(schema)
	}
	u, err := repository.NewCatalog(s.db).FindExactUsage(ctx, schema)
	if err != nil {
		return nil, err
	}
	out := s.usageOf(*u)
	return &out, nil
}

// UsageSorts are the orders UsageAll takes: the figures largest first,
// the schema names in alphabetical order.
var UsageSorts = []string{"bytes", "rows", "users", "requests", "last_request", "schema"}

// UsageAll returns the usage of every tenant, ordered by sort (one of
// UsageSorts; "" is "bytes"), at most top of them when top > 0. The
// figures are the catalog's and the statistics' (one statement; see
// repository.UsageAllSQL), not counts. EINVALID (field "sort") for
// another sort.
func (s *Service) UsageAll(ctx context.Context, top int, sort string) ([]Usage, error) {
	if sort == "" {
		sort = "bytes"
	}
	keys := []UsageKey{{Field: sort, Desc: sort != "schema"}}
	if err := checkUsageKeys(keys, "sort"); err != nil {
		return nil, err
	}
	all, err := s.usageAll(ctx, "")
	if err != nil {
		return nil, err
	}
	SortUsage(all, keys)
	if top > 0 && len(all) > top {
		all = all[:top]
	}
	return all, nil
}

// usageAll returns the usage of the tenants matching search (every
// tenant when ""), by schema name.
func (s *Service) usageAll(ctx context.Context, search string) ([]Usage, error) {
	found, err := repository.NewCatalog(s.db).FindUsage(ctx, search)
	if err != nil {
		return nil, err
	}
	out := make([]Usage, len(found))
	for i := range found {
		out[i] = s.usageOf(found[i])
	}
	return out, nil
}

// UsageKey is one key of an ordering of usage: a field of UsageSorts,
// descending when Desc.
type UsageKey struct {
	Field string
	Desc  bool
}

// checkUsageKeys returns an EINVALID error for param unless every key
// names a field of UsageSorts.
func checkUsageKeys(keys []UsageKey, param string) error {
	for _, k := range keys {
		if !slices.Contains(UsageSorts, k.Field) {
			return apperr.FieldError(param, fmt.Sprintf("Invalid field %q; use one of %s.", k.Field, strings.Join(UsageSorts, ", ")))
		}
	}
	return nil
}

// SortUsage orders us by keys, then by schema name. Unknown fields
// compare equal.
func SortUsage(us []Usage, keys []UsageKey) {
	slices.SortStableFunc(us, func(a, b Usage) int {
		for _, k := range keys {
			c := compareUsage(a, b, k.Field)
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.Schema, b.Schema)
	})
}

func compareUsage(a, b Usage, field string) int {
	switch field {
	case "bytes":
		return cmp.Compare(a.Bytes, b.Bytes)
	case "rows":
		return cmp.Compare(a.Rows, b.Rows)
	case "users":
		return cmp.Compare(a.Users, b.Users)
	case "requests":
		return cmp.Compare(a.Activity.Requests, b.Activity.Requests)
	case "last_request":
		return a.Activity.LastRequest.Compare(b.Activity.LastRequest)
	case "schema":
		return strings.Compare(a.Schema, b.Schema)
	}
	return 0
}

// TenantWithUsage is a tenant of the catalog and its usage.
type TenantWithUsage struct {
	Tenant models.Tenant
	Usage  Usage
}

// ListTenantsWithUsage returns a page of tenants, each with its usage
// (estimated, as UsageAll's), and the total matching p.Search; every
// tenant matching when p.Limit is 0. With no order they are by schema
// name, and the usage read is the page's (milliseconds whatever the
// number of tenants). With an order (fields of
// UsageSorts, "schema" too), every matching tenant's usage is read and
// sorted (one statement over the catalog: about a second at 10,000
// tenants), then the page's tenants. EINVALID (field "ordering") for an
// unknown field.
func (s *Service) ListTenantsWithUsage(ctx context.Context, p ListParams, order []UsageKey) ([]TenantWithUsage, int64, error) {
	if err := checkUsageKeys(order, "ordering"); err != nil {
		return nil, 0, err
	}
	cat := repository.NewCatalog(s.db)
	if len(order) == 0 {
		list, total, err := cat.FindTenants(ctx, p)
		if err != nil {
			return nil, 0, err
		}
		var used []repository.TenantUsage
		if p.Limit <= 0 {
			// Every tenant matching: the catalog query of them all
			// beats looking up each one's tables.
			used, err = cat.FindUsage(ctx, p.Search)
		} else {
			schemas := make([]string, len(list))
			for i := range list {
				schemas[i] = list[i].SchemaName
			}
			used, err = cat.FindUsageOf(ctx, schemas)
		}
		if err != nil {
			return nil, 0, err
		}
		return s.withUsage(list, used), total, nil
	}
	all, err := s.usageAll(ctx, p.Search)
	if err != nil {
		return nil, 0, err
	}
	SortUsage(all, order)
	total := int64(len(all))
	page := all[min(p.Offset, len(all)):]
	if p.Limit > 0 && len(page) > p.Limit {
		page = page[:p.Limit]
	}
	if len(page) == 0 {
		return nil, total, nil
	}
	schemas := make([]string, len(page))
	for i := range page {
		schemas[i] = page[i].Schema
	}
	list, _, err := cat.FindTenants(ctx, ListParams{Schemas: schemas})
	if err != nil {
		return nil, 0, err
	}
	at := make(map[string]*models.Tenant, len(list))
	for i := range list {
		at[list[i].SchemaName] = &list[i]
	}
	out := make([]TenantWithUsage, 0, len(page))
	for _, u := range page {
		// A tenant deleted since its usage was read is left out.
		if t := at[u.Schema]; t != nil {
			out = append(out, TenantWithUsage{Tenant: *t, Usage: u})
		}
	}
	return out, total, nil
}

// withUsage pairs each tenant of list with its usage among used (none
// when its schema is missing).
func (s *Service) withUsage(list []models.Tenant, used []repository.TenantUsage) []TenantWithUsage {
	by := make(map[string]repository.TenantUsage, len(used))
	for _, u := range used {
		by[u.Schema] = u
	}
	out := make([]TenantWithUsage, len(list))
	for i := range list {
		u, ok := by[list[i].SchemaName]
		if !ok {
			u = repository.TenantUsage{Schema: list[i].SchemaName}
		}
		out[i] = TenantWithUsage{Tenant: list[i], Usage: s.usageOf(u)}
	}
	return out
}

// timeLayout is how usage views write times: RFC 3339 in UTC, with
// microseconds when there are any (as the API writes every time).
const timeLayout = "2006-01-02T15:04:05.999999Z07:00"

func formatTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(timeLayout)
	return &s
}

// UsageView is a tenant's usage as the admin API answers with it and
// `strictmt tenants usage --json` prints it. LastRequest, Requests,
// DatabaseSeconds and CountedSince are this process's: null when it has
// not seen the tenant, and the last three when it does not count (metrics
// off).
type UsageView struct {
	SchemaName      string           `json:"schema_name"`
	Bytes           int64            `json:"bytes"`
	Rows            int64            `json:"rows"`
	Users           int64            `json:"users"`
	Tables          []TableUsageView `json:"tables"`
	Exact           bool             `json:"exact"`
	LastRequest     *string          `json:"last_request"`
	Requests        *int64           `json:"requests"`
	DatabaseSeconds *float64         `json:"database_seconds"`
	CountedSince    *string          `json:"counted_since"`
}

// TableUsageView is one table of a UsageView.
type TableUsageView struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// View returns the UsageView of u.
func (u *Usage) View() UsageView {
	v := UsageView{
		SchemaName: u.Schema, Bytes: u.Bytes, Rows: u.Rows, Users: u.Users, Exact: u.Exact,
		Tables: make([]TableUsageView, len(u.Tables)), LastRequest: formatTime(u.Activity.LastRequest),
	}
	for i, t := range u.Tables {
		v.Tables[i] = TableUsageView{Name: t.Name, Rows: t.Rows}
	}
	if a := u.Activity; a.Counted {
		n, secs := a.Requests, a.DatabaseTime.Seconds()
		v.Requests, v.DatabaseSeconds = &n, &secs
		v.CountedSince = formatTime(a.Since)
	}
	return v
}

// UsageSummary is the usage of a tenant in the admin API's tenant list.
type UsageSummary struct {
	Bytes       int64   `json:"bytes"`
	Rows        int64   `json:"rows"`
	Users       int64   `json:"users"`
	LastRequest *string `json:"last_request"`
	// Requests is null when this process does not count (metrics off).
	Requests *int64 `json:"requests"`
}

// ListedView is a tenant as the admin API's tenant list answers with it:
// its View and a summary of its usage.
type ListedView struct {
	View
	Usage UsageSummary `json:"usage"`
}

// ListedViewOf returns the ListedView of t.
func ListedViewOf(t *TenantWithUsage) ListedView {
	u := t.Usage
	v := ListedView{View: ViewOf(&t.Tenant), Usage: UsageSummary{
		Bytes: u.Bytes, Rows: u.Rows, Users: u.Users, LastRequest: formatTime(u.Activity.LastRequest),
	}}
	if u.Activity.Counted {
		n := u.Activity.Requests
		v.Usage.Requests = &n
	}
	return v
}
