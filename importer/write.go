package importer

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
)

// write creates the tenant and copies its rows in one transaction of
// strictmt's database: the tenant service provisions it as for any new
// tenant and calls back, in the same transaction, for the rows, which go
// in with COPY on the transaction's own connection.
func (im *run) write(ctx context.Context, d *tenantData, p *plan) error {
	params := tenants.CreateParams{
		Name:       d.tenant.Name,
		SchemaName: d.tenant.Schema,
		Domains:    p.domains,
		OnTrial:    d.tenant.OnTrial,
	}
	if d.tenant.PaidUntil != nil {
		pu := models.NewDate(*d.tenant.PaidUntil)
		params.PaidUntil = &pu
	}
	_, err := im.t.Tenants.CreateTenantWith(ctx, params, tenants.CreateOptions{
		Replace: im.o.Replace,
		Populate: func(ctx context.Context, conn *pgx.Conn, c *models.Tenant) error {
			return im.copyRows(ctx, conn, c.SchemaName, d)
		},
	})
	return err
}

// copyTable is one table copyRows fills: its columns in the order its
// rows are written, how many rows it gets and how to write one, and its
// highest id.
type copyTable struct {
	name  string
	cols  []string
	n     int
	width int // bytes a row takes, about, to size the buffer
	put   func(c *copyBuf, i int)
	maxID int64
}

// copyRows copies d's rows into schema and sets each table's id sequence
// past its highest id.
func (im *run) copyRows(ctx context.Context, conn *pgx.Conn, schema string, d *tenantData) error {
	tables := copyTables(d)
	indexed, keyed := im.bulkTargets(schema, tables)
	restore, err := tenants.DeferBuild(ctx, conn, indexed, keyed)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if err := copyTableRows(ctx, conn, schema, t); err != nil {
			return err
		}
		if im.o.failAfter == t.name {
			return fmt.Errorf("importer: injected failure after copying %s", t.name)
		}
	}
	if err := restore(ctx); err != nil {
		return err
	}
	return setSequences(ctx, conn, schema, tables)
}

// copyTables returns the tables d's rows go to, each referenced table
// before the tables that reference it.
func copyTables(d *tenantData) []copyTable {
	return []copyTable{usersTable(d), todosTable(d), projectsTable(d), tasksTable(d)}
}

// usersTable returns the users table filled with d's users.
func usersTable(d *tenantData) copyTable {
	t := copyTable{"users", []string{"id", "username", "email", "password_hash", "is_active", "date_joined"}, len(d.users), 200,
		func(c *copyBuf, i int) {
			u := &d.users[i]
			c.row(6)
			c.int8(u.ID)
			c.text(u.Username)
			c.text(u.Email)
			c.text(u.Password)
			c.bool(u.IsActive)
			c.timestamptz(u.DateJoined)
		}, 0}
	for _, u := range d.users {
		t.maxID = max(t.maxID, u.ID)
	}
	return t
}

// todosTable returns the todos table filled with d's todos. Todos had no
// owner in the Django application.
func todosTable(d *tenantData) copyTable {
	t := copyTable{"todos", []string{"id", "title", "description", "completed", "recurrence_interval", "created_at", "completion_time"}, len(d.todos), 120,
		func(c *copyBuf, i int) {
			t := &d.todos[i]
			c.row(7)
			c.int8(t.ID)
			c.text(t.Title)
			c.text(t.Description)
			c.bool(t.Completed)
			c.int4p(t.RecurrenceInterval)
			c.timestamptz(t.CreatedAt)
			c.timestamptzp(t.CompletionTime)
		}, 0}
	for _, td := range d.todos {
		t.maxID = max(t.maxID, td.ID)
	}
	return t
}

// projectsTable returns the projects table filled with d's projects.
// Projects had no creation time: they get the import's (the
// transaction's now(), the column default).
func projectsTable(d *tenantData) copyTable {
	t := copyTable{"projects", []string{"id", "name", "description", "owner_id"}, len(d.projects), 100,
		func(c *copyBuf, i int) {
			p := &d.projects[i]
			c.row(4)
			c.int8(p.ID)
			c.text(p.Name)
			c.text(p.Description)
			c.int8(p.OwnerID)
		}, 0}
	for _, p := range d.projects {
		t.maxID = max(t.maxID, p.ID)
	}
	return t
}

// tasksTable returns the tasks table filled with d's tasks. Like
// projects, tasks had no creation time and get the import's.
func tasksTable(d *tenantData) copyTable {
	t := copyTable{"tasks", []string{"id", "project_id", "todo_id", "assigned_user_id", "due_date"}, len(d.tasks), 60,
		func(c *copyBuf, i int) {
			t := &d.tasks[i]
			c.row(5)
			c.int8(t.ID)
			c.int8(t.ProjectID)
			c.int8(t.TodoID)
			c.int8p(t.AssignedUserID)
			c.date(t.DueDate)
		}, 0}
	for _, tk := range d.tasks {
		t.maxID = max(t.maxID, tk.ID)
	}
	return t
}

// bulkTargets returns, for tenants.DeferBuild, the tables of schema among tables
// whose secondary indexes are made after their COPY (those of
// o.bulkIndexRows rows or more) and the columns, as (table, column), whose
// foreign keys are (every column of a table of o.bulkKeyRows rows or more).
func (im *run) bulkTargets(schema string, tables []copyTable) (indexed []string, keyed [][2]string) {
	for _, t := range tables {
		name := repository.ImportTable(schema, t.name)
		if t.n >= im.o.bulkIndexRows {
			indexed = append(indexed, name)
		}
		if t.n >= im.o.bulkKeyRows {
			for _, c := range t.cols {
				keyed = append(keyed, [2]string{name, c})
			}
		}
	}
	return indexed, keyed
}

// copyTableRows copies t's rows, if it has any, into its table in schema
// with one binary COPY.
func copyTableRows(ctx context.Context, conn *pgx.Conn, schema string, t copyTable) error {
	if t.n == 0 {
		return nil
	}
	c := newCopyBuf(t.n, t.width)
	for i := range t.n {
		t.put(c, i)
	}
	q := repository.ImportCopySQL(schema, t.name, t.cols)
	if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(c.end()), q); err != nil {
		return fmt.Errorf("copying %s: %w", t.name, err)
	}
	return nil
}

// setSequences sets the id sequence of each of tables in schema to its
// highest id, in one batch: identity sequences start at 1, and the next
// id must follow the highest one kept.
func setSequences(ctx context.Context, conn *pgx.Conn, schema string, tables []copyTable) error {
	batch := &pgx.Batch{}
	for _, t := range tables {
		if t.maxID > 0 {
			batch.Queue(repository.ImportSetSequenceSQL, repository.ImportTable(schema, t.name), t.maxID)
		}
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("setting id sequences: %w", err)
	}
	return nil
}
