package importer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
)

// sourceTenant is a row of the tenant model table.
type sourceTenant struct {
	ID        int64
	Schema    string
	Name      string
	PaidUntil *time.Time
	OnTrial   bool
}

type sourceDomain struct {
	ID        int64
	Domain    string
	IsPrimary bool
}

type sourceUser struct {
	ID         int64
	Username   string
	Email      string
	Password   string
	IsActive   bool
	DateJoined time.Time
}

type sourceTodo struct {
	ID                 int64
	Title              string
	Description        string
	Completed          bool
	RecurrenceInterval *int32
	CreatedAt          time.Time
	CompletionTime     *time.Time
}

type sourceProject struct {
	ID          int64
	Name        string
	Description string
	OwnerID     int64
}

type sourceTask struct {
	ID             int64
	DueDate        time.Time
	AssignedUserID *int64
	ProjectID      int64
	TodoID         int64
}

// tenantData is everything the import of one tenant reads from the source,
// in one snapshot.
type tenantData struct {
	tenant   sourceTenant
	domains  []sourceDomain // the primary first, then by id
	users    []sourceUser
	todos    []sourceTodo
	projects []sourceProject
	tasks    []sourceTask
}

// readOnly is the transaction every read of the source runs in: one
// snapshot, and the source cannot be written to by mistake.
var readOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// listTenants returns the source's tenants (the one of o.Schema only,
// when set) in id order, and every tenant's domains as strictmt would
// store them, each with the schema names of the tenants that have it (see
// domainOwners).
func listTenants(ctx context.Context, o Options) ([]sourceTenant, map[string][]string, error) {
	conn, err := pgx.Connect(ctx, o.Source)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the source: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var out []sourceTenant
	var owners map[string][]string
	err = pgx.BeginTxFunc(ctx, conn, readOnly, func(tx pgx.Tx) error {
		q := repository.SourceClientsSQL(o.Tables.Client)
		var args []any
		if o.Schema != "" {
			q = repository.SourceClientsBySchemaSQL(o.Tables.Client)
			args = append(args, o.Schema)
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("reading the tenants (%s): %w", o.Tables.Client, err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (sourceTenant, error) {
			var t sourceTenant
			err := r.Scan(&t.ID, &t.Schema, &t.Name, &t.PaidUntil, &t.OnTrial)
			return t, err
		})
		if err != nil {
			return fmt.Errorf("reading the tenants (%s): %w", o.Tables.Client, err)
		}
		owners, err = domainOwners(ctx, tx, o.Tables)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if o.Schema != "" && len(out) == 0 {
		return nil, nil, fmt.Errorf("--schema: the source has no tenant with schema_name %q", o.Schema)
	}
	return out, owners, nil
}

// domainOwners maps every domain of the source's tenants, normalized as
// strictmt stores it (lower case, no port, no leading "www."), to the
// schema names of the tenants that have it, in id order: two source
// domains that differ only in those ways are one domain in strictmt. All
// tenants count, whatever --schema says; the public schema (django-tenants'
// shared one, never imported), schema names strictmt refuses and domains
// that are not host names do not.
func domainOwners(ctx context.Context, tx pgx.Tx, tb Tables) (map[string][]string, error) {
	rows, err := tx.Query(ctx, repository.SourceDomainOwnersSQL(tb.Domain, tb.Client))
	if err != nil {
		return nil, fmt.Errorf("reading the domains (%s): %w", tb.Domain, err)
	}
	owners := map[string][]string{}
	var schema, domain string
	_, err = pgx.ForEachRow(rows, []any{&schema, &domain}, func() error {
		if schema == "public" || tenants.ValidateSchemaName(schema) != nil {
			return nil
		}
		d, err := tenants.NormalizeDomain(domain)
		if err != nil {
			return nil
		}
		if s := owners[d]; len(s) == 0 || s[len(s)-1] != schema {
			owners[d] = append(s, schema)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the domains (%s): %w", tb.Domain, err)
	}
	return owners, nil
}

// readTenant reads one tenant, its domains, users and rows in one
// read-only, repeatable-read transaction.
func readTenant(ctx context.Context, src *pgx.Conn, o Options, st sourceTenant) (*tenantData, error) {
	d := &tenantData{}
	tb := o.Tables
	err := pgx.BeginTxFunc(ctx, src, readOnly, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, repository.SourceClientByIDSQL(tb.Client), st.ID).
			Scan(&d.tenant.ID, &d.tenant.Schema, &d.tenant.Name, &d.tenant.PaidUntil, &d.tenant.OnTrial)
		if err == pgx.ErrNoRows {
			return fmt.Errorf("the tenant is no longer in the source")
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", tb.Client, err)
		}
		if d.tenant.Schema != st.Schema {
			return fmt.Errorf("the tenant's schema_name changed in the source to %q", d.tenant.Schema)
		}
		s := d.tenant.Schema
		d.domains, err = collect(ctx, tx, tb.Domain, repository.SourceDomainsSQL(tb.Domain), []any{d.tenant.ID},
			func(r pgx.CollectableRow) (v sourceDomain, err error) {
				return v, r.Scan(&v.ID, &v.Domain, &v.IsPrimary)
			})
		if err != nil {
			return err
		}
		users := repository.SourceUsersSQL(tb.User)
		if o.Users == UsersReferenced {
			users = repository.SourceReferencedUsersSQL(tb.User, s, tb.Project, tb.Task)
		}
		d.users, err = collect(ctx, tx, tb.User, users, nil,
			func(r pgx.CollectableRow) (v sourceUser, err error) {
				return v, r.Scan(&v.ID, &v.Username, &v.Email, &v.Password, &v.IsActive, &v.DateJoined)
			})
		if err != nil {
			return err
		}
		d.todos, err = collect(ctx, tx, s+"."+tb.Todo, repository.SourceTodosSQL(s, tb.Todo), nil,
			func(r pgx.CollectableRow) (v sourceTodo, err error) {
				return v, r.Scan(&v.ID, &v.Title, &v.Description, &v.Completed, &v.RecurrenceInterval, &v.CreatedAt, &v.CompletionTime)
			})
		if err != nil {
			return err
		}
		d.projects, err = collect(ctx, tx, s+"."+tb.Project, repository.SourceProjectsSQL(s, tb.Project), nil,
			func(r pgx.CollectableRow) (v sourceProject, err error) {
				return v, r.Scan(&v.ID, &v.Name, &v.Description, &v.OwnerID)
			})
		if err != nil {
			return err
		}
		d.tasks, err = collect(ctx, tx, s+"."+tb.Task, repository.SourceTasksSQL(s, tb.Task), nil,
			func(r pgx.CollectableRow) (v sourceTask, err error) {
				return v, r.Scan(&v.ID, &v.DueDate, &v.AssignedUserID, &v.ProjectID, &v.TodoID)
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// collect runs q with args in tx and returns its rows, each read with
// scan; its errors name table.
func collect[T any](ctx context.Context, tx pgx.Tx, table, q string, args []any, scan pgx.RowToFunc[T]) ([]T, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	return out, nil
}
