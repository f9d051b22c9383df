// Package importer moves the tenants of a Django + django-tenants database
// (the application strictmt replaces) into strictmt: each tenant with its
// domains, users, todos, projects and tasks, ids and timestamps kept, in
// one transaction per tenant, reading the source in one read-only,
// repeatable-read transaction per tenant.
package importer

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/gorm"
)

// Tables names the source tables. The shared ones (Client, Domain, User)
// may be schema-qualified ("public.tenants_client"); the per-tenant ones
// are looked up in each tenant's schema.
type Tables struct {
	Client  string // django-tenants' tenant model
	Domain  string // django-tenants' domain model
	User    string // django.contrib.auth's user, shared by all tenants
	Todo    string
	Project string
	Task    string
}

// DefaultTables returns the table names of the Django application:
// tenants_client, tenants_domain, auth_user, todo_todo,
// project_management_project and project_management_task.
func DefaultTables() Tables {
	return Tables{
		Client:  "tenants_client",
		Domain:  "tenants_domain",
		User:    "auth_user",
		Todo:    "todo_todo",
		Project: "project_management_project",
		Task:    "project_management_task",
	}
}

// Users modes: every user of the source in every tenant, or in a tenant
// only the users its rows reference.
const (
	UsersAll        = "all"
	UsersReferenced = "referenced"
)

// Options configures a Run.
type Options struct {
	// Source is the URL of the django-tenants database; it is only read.
	Source string
	// Tables names the source tables; empty names take DefaultTables'.
	Tables Tables
	// Users is UsersAll (the default when empty) or UsersReferenced.
	Users string
	// Schema, when not empty, limits the run to the tenant with this
	// schema name.
	Schema string
	// DryRun reads the source and strictmt's catalog, reports what would
	// be created and every conflict, and writes nothing.
	DryRun bool
	// Replace re-imports tenants already in strictmt (they are deleted,
	// with their rows, in the import's transaction); otherwise they are
	// skipped.
	Replace bool
	// Workers is how many tenants are imported at once (default 4: each
	// tenant's commit waits on the disk, so more than the CPU count
	// helps).
	Workers int
	// PublicHosts are the hosts that can never be tenant domains
	// (tenancy.public_hosts); a source domain among them is a conflict.
	PublicHosts []string
	// Progress, when not nil, is called after each tenant, one call at a
	// time.
	Progress func(done, total int, r TenantResult)

	// failAfter, set only by tests, makes the import of every tenant fail
	// once the named table has been copied.
	failAfter string
	// bulkRows, set only by tests, replaces tenants.BulkIndexRows and
	// tenants.BulkKeyRows (see tenants.DeferBuild), so that a small source takes the bulk
	// path too.
	bulkRows                   int
	bulkIndexRows, bulkKeyRows int
}

// DefaultWorkers is how many tenants a run imports at once unless told.
const DefaultWorkers = 4

// Status is what a run did with one tenant.
type Status string

// The statuses of a TenantResult.
const (
	Imported    Status = "imported"
	Replaced    Status = "replaced"
	Skipped     Status = "skipped"
	Failed      Status = "failed"
	WouldImport Status = "would import"
	WouldSkip   Status = "would skip"
)

// TenantResult is the outcome for one source tenant.
type TenantResult struct {
	Schema                        string
	Name                          string
	Status                        Status
	Domains                       []string // as strictmt stores them, the primary first
	Users, Todos, Projects, Tasks int
	// Conflicts lists every reason the tenant cannot be imported.
	Conflicts []string
	// Note says why a tenant was skipped.
	Note    string
	Err     error
	Elapsed time.Duration
}

// Rows is the number of rows the tenant has (or would have) in strictmt.
func (r TenantResult) Rows() int { return r.Users + r.Todos + r.Projects + r.Tasks }

// Report is the outcome of a Run.
type Report struct {
	Tenants []TenantResult // in the source's order
	Elapsed time.Duration
}

// Rows is the number of rows written (or, in a dry run, to be written).
func (r *Report) Rows() int {
	n := 0
	for _, t := range r.Tenants {
		if t.Status == Imported || t.Status == Replaced || t.Status == WouldImport {
			n += t.Rows()
		}
	}
	return n
}

// Failed returns the schema names of the tenants that failed, or that
// would fail in a dry run.
func (r *Report) Failed() []string {
	var out []string
	for _, t := range r.Tenants {
		if t.Status == Failed {
			out = append(out, t.Schema)
		}
	}
	return out
}

// Count returns how many tenants have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, t := range r.Tenants {
		if t.Status == s {
			n++
		}
	}
	return n
}

// Target is the strictmt database a run writes into.
type Target struct {
	DB      *gorm.DB
	Tenants *tenants.Service
}

// tableNameRe is what a table name flag may hold: an identifier, or a
// schema and an identifier.
var tableNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$`)

// normalize fills in the defaults of o's empty fields and checks every
// option, naming the flag of the first one that is wrong.
func (o *Options) normalize() error {
	d := DefaultTables()
	t := &o.Tables
	for _, f := range []struct {
		flag string
		v    *string
		def  string
		qual bool
	}{
		{"client-table", &t.Client, d.Client, true},
		{"domain-table", &t.Domain, d.Domain, true},
		{"user-table", &t.User, d.User, true},
		{"todo-table", &t.Todo, d.Todo, false},
		{"project-table", &t.Project, d.Project, false},
		{"task-table", &t.Task, d.Task, false},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
		if !tableNameRe.MatchString(*f.v) || (!f.qual && strings.Contains(*f.v, ".")) {
			return fmt.Errorf("--%s: %q is not a table name", f.flag, *f.v)
		}
	}
	switch o.Users {
	case "":
		o.Users = UsersAll
	case UsersAll, UsersReferenced:
	default:
		return fmt.Errorf("--users: %q is neither %q nor %q", o.Users, UsersAll, UsersReferenced)
	}
	if o.Schema != "" {
		if err := tenants.ValidateSchemaName(o.Schema); err != nil {
			return fmt.Errorf("--schema: %w", err)
		}
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	o.bulkIndexRows, o.bulkKeyRows = tenants.BulkIndexRows, tenants.BulkKeyRows
	if o.bulkRows > 0 {
		o.bulkIndexRows, o.bulkKeyRows = o.bulkRows, o.bulkRows
	}
	if o.Source == "" {
		return errors.New("--from: the URL of the django-tenants database is required")
	}
	return nil
}

// Run imports the source's tenants into t. It returns a report of every
// tenant even when some fail; the error is for what stops the whole run
// (bad options, an unreachable source, a missing shared table).
func Run(ctx context.Context, t Target, o Options) (*Report, error) {
	start := time.Now()
	if err := o.normalize(); err != nil {
		return nil, err
	}
	list, owners, err := listTenants(ctx, o)
	if err != nil {
		return nil, err
	}
	rep := &Report{Tenants: make([]TenantResult, len(list))}
	im := &run{t: t, o: o, public: publicHosts(o.PublicHosts), owners: owners}

	jobs := make(chan int)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	var connErr error
	for range min(o.Workers, max(len(list), 1)) {
		src, err := pgx.Connect(ctx, o.Source)
		if err != nil {
			connErr = fmt.Errorf("connecting to the source: %w", err)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer src.Close(context.WithoutCancel(ctx))
			for i := range jobs {
				r := im.tenant(ctx, src, list[i])
				mu.Lock()
				rep.Tenants[i] = r
				done++
				if o.Progress != nil {
					o.Progress(done, len(list), r)
				}
				mu.Unlock()
			}
		}()
	}
	if connErr == nil {
	feed:
		for i := range list {
			select {
			case jobs <- i:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if connErr != nil {
		return nil, connErr
	}
	for i := range rep.Tenants {
		if rep.Tenants[i].Status == "" { // never started: the run was cancelled
			rep.Tenants[i] = TenantResult{Schema: list[i].Schema, Name: list[i].Name, Status: Failed, Err: ctx.Err()}
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, ctx.Err()
}

// publicHosts returns the set of hosts, each normalized as strictmt
// compares hosts.
func publicHosts(hosts []string) map[string]bool {
	m := map[string]bool{}
	for _, h := range hosts {
		m[tenants.NormalizeHost(h)] = true
	}
	return m
}

// run is the state shared by a Run's workers.
type run struct {
	t      Target
	o      Options
	public map[string]bool
	owners map[string][]string // see domainOwners
}

// tenant imports (or, in a dry run, checks) the source tenant st, read
// on src, and returns what came of it.
func (im *run) tenant(ctx context.Context, src *pgx.Conn, st sourceTenant) (r TenantResult) {
	start := time.Now()
	r = TenantResult{Schema: st.Schema, Name: st.Name}
	defer func() { r.Elapsed = time.Since(start) }()
	if st.Schema == "public" {
		// django-tenants' public tenant holds the shared apps, not a
		// tenant's data.
		r.Status, r.Note = Skipped, "the public schema is django-tenants' shared schema, not a tenant"
		if im.o.DryRun {
			r.Status = WouldSkip
		}
		return r
	}
	if err := tenants.ValidateSchemaName(st.Schema); err != nil {
		r.Status = Failed
		r.Conflicts = append(r.Conflicts, fmt.Sprintf("schema name %q is refused by strictmt: %s", st.Schema, fieldMessage(err)))
		r.Err = errors.New(r.Conflicts[0])
		return r
	}
	data, err := readTenant(ctx, src, im.o, st)
	if err != nil {
		r.Status, r.Err = Failed, err
		return r
	}
	r.Name = data.tenant.Name
	r.Users, r.Todos, r.Projects, r.Tasks = len(data.users), len(data.todos), len(data.projects), len(data.tasks)

	plan, err := im.check(ctx, data)
	if err != nil {
		r.Status, r.Err = Failed, err
		return r
	}
	r.Domains, r.Conflicts = plan.domains, plan.conflicts
	switch {
	case plan.exists && !im.o.Replace:
		r.Status, r.Note, r.Conflicts = Skipped, "already in strictmt (--replace to import it again)", nil
		if im.o.DryRun {
			r.Status = WouldSkip
		}
		return r
	case len(r.Conflicts) > 0:
		r.Status = Failed
		r.Err = fmt.Errorf("%d conflict(s): %s", len(r.Conflicts), strings.Join(r.Conflicts, "; "))
		return r
	case im.o.DryRun:
		r.Status = WouldImport
		if plan.exists {
			r.Note = "replaces the tenant already in strictmt"
		}
		return r
	}
	if err := im.write(ctx, data, plan); err != nil {
		r.Status, r.Err = Failed, err
		return r
	}
	r.Status = Imported
	if plan.exists {
		r.Status = Replaced
	}
	return r
}
