package importer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
)

// plan is what the import of one tenant will do, as far as strictmt's
// catalog and rules can tell before writing.
type plan struct {
	domains   []string // normalized, the primary first
	exists    bool     // strictmt has a tenant with the schema name
	conflicts []string // every reason the tenant cannot be imported
}

// maxYear is the last year a time can be written in RFC 3339.
const maxYear = models.MaxYear

// check compares the tenant read from the source with strictmt's catalog
// and rules, and lists every conflict: a schema name, a name or a domain
// strictmt refuses or already has, and every row it would reject.
func (im *run) check(ctx context.Context, d *tenantData) (*plan, error) {
	p := &plan{}
	add := func(format string, args ...any) { p.conflicts = append(p.conflicts, fmt.Sprintf(format, args...)) }
	t := d.tenant
	cat := repository.NewCatalog(im.t.DB)

	existing, err := cat.FindTenantBySchema(ctx, t.Schema)
	switch {
	case err == nil:
		p.exists = true
	case apperr.Code(err) != apperr.ENOTFOUND:
		return nil, fmt.Errorf("reading strictmt's catalog: %w", err)
	}
	if !p.exists {
		var orphan bool
		if err := im.t.DB.WithContext(ctx).Raw(repository.ImportSchemaExistsSQL, t.Schema).Scan(&orphan).Error; err != nil {
			return nil, err
		}
		if orphan {
			add("schema %q already exists in strictmt's database but belongs to no tenant", t.Schema)
		}
	}
	switch {
	case strings.TrimSpace(t.Name) == "":
		add("tenant name is blank")
	case utf8.RuneCountInString(t.Name) > 100:
		add("tenant name is longer than 100 characters")
	}

	if len(d.domains) == 0 {
		add("the tenant has no domain")
	}
	seen := map[string]bool{}
	for _, sd := range d.domains {
		dom, err := tenants.NormalizeDomain(sd.Domain)
		if err != nil {
			add("domain %q is not a valid host name", sd.Domain)
			continue
		}
		if im.public[dom] {
			add("domain %q is a public host of strictmt (tenancy.public_hosts)", sd.Domain)
			continue
		}
		if seen[dom] {
			continue // "www.x" and "x" are one domain in strictmt
		}
		seen[dom] = true
		p.domains = append(p.domains, dom)
		owner, err := cat.FindDomain(ctx, dom)
		switch {
		case err == nil:
			if !(p.exists && owner.TenantID == existing.ID) {
				add("domain %q is already used in strictmt by tenant %s", dom, im.schemaOf(ctx, owner.TenantID))
				continue
			}
		case apperr.Code(err) != apperr.ENOTFOUND:
			return nil, fmt.Errorf("reading strictmt's catalog: %w", err)
		}
		// Another source tenant may have the domain too, written
		// another way. Which of them owns it is for the operator to
		// say: neither is imported, in a dry run as in a real one.
		for _, other := range im.owners[dom] {
			if other != t.Schema {
				add("domain %q is also a domain of source tenant %s (domains that differ only in case, a port or a leading www. are one domain in strictmt)", dom, other)
			}
		}
	}

	checkRows(d, add)
	return p, nil
}

// schemaOf returns the schema name of strictmt's tenant tenantID, or
// "#" and the id when it cannot be read.
func (im *run) schemaOf(ctx context.Context, tenantID int64) string {
	t, err := repository.NewCatalog(im.t.DB).FindTenantByID(ctx, tenantID)
	if err != nil {
		return fmt.Sprintf("#%d", tenantID)
	}
	return t.SchemaName
}

// checkText adds a conflict when field of the row (kind, id) is blank or
// longer than max characters, as strictmt's validation would refuse it.
func checkText(add func(string, ...any), kind string, id int64, field, v string, max int) {
	switch {
	case strings.TrimSpace(v) == "":
		add("%s %d: the %s is blank", kind, id, field)
	case utf8.RuneCountInString(v) > max:
		add("%s %d: the %s is longer than %d characters", kind, id, field, max)
	}
}

// checkRows reports every row strictmt would reject: text too long or
// blank where strictmt requires some, usernames equal but for case, a
// recurrence under a day, times past year 9999, and references to rows
// the tenant will not have.
func checkRows(d *tenantData, add func(string, ...any)) {
	users := map[int64]bool{}
	names := map[string]int64{}
	for _, u := range d.users {
		users[u.ID] = true
		checkText(add, "user", u.ID, "username", u.Username, models.MaxUsernameLen)
		if utf8.RuneCountInString(u.Email) > models.MaxEmailLen {
			add("user %d: the email is longer than %d characters", u.ID, models.MaxEmailLen)
		}
		key := strings.ToLower(u.Username)
		if other, dup := names[key]; dup {
			add("user %d: username %q is user %d's but for case; strictmt's usernames are case-insensitive", u.ID, u.Username, other)
		} else {
			names[key] = u.ID
		}
		if u.DateJoined.Year() > maxYear {
			add("user %d: date_joined is after the year %d", u.ID, maxYear)
		}
	}
	todos := map[int64]bool{}
	for _, t := range d.todos {
		todos[t.ID] = true
		checkText(add, "todo", t.ID, "title", t.Title, models.MaxTitleLen)
		if t.RecurrenceInterval != nil && *t.RecurrenceInterval < 1 {
			add("todo %d: recurrence_interval %d is under 1", t.ID, *t.RecurrenceInterval)
		}
		if t.CreatedAt.Year() > maxYear || (t.CompletionTime != nil && t.CompletionTime.Year() > maxYear) {
			add("todo %d: a time is after the year %d", t.ID, maxYear)
		}
	}
	projects := map[int64]bool{}
	for _, p := range d.projects {
		projects[p.ID] = true
		checkText(add, "project", p.ID, "name", p.Name, models.MaxProjectNameLen)
		if !users[p.OwnerID] {
			add("project %d: its owner, user %d, is not among the users imported", p.ID, p.OwnerID)
		}
	}
	for _, t := range d.tasks {
		if !projects[t.ProjectID] {
			add("task %d: project %d is not in the tenant", t.ID, t.ProjectID)
		}
		if !todos[t.TodoID] {
			add("task %d: todo %d is not in the tenant", t.ID, t.TodoID)
		}
		if t.AssignedUserID != nil && !users[*t.AssignedUserID] {
			add("task %d: its assigned user, user %d, is not among the users imported", t.ID, *t.AssignedUserID)
		}
		if t.DueDate.Year() > maxYear || t.DueDate.Year() < 1 {
			add("task %d: due_date is out of range", t.ID)
		}
	}
}

// fieldMessage returns the messages of a validation error, without field
// names.
func fieldMessage(err error) string {
	var e *apperr.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err.Error()
	}
	var msgs []string
	for _, m := range e.Fields {
		msgs = append(msgs, m...)
	}
	sort.Strings(msgs)
	return strings.Join(msgs, " ")
}
