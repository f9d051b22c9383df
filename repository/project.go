package repository

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ProjectFilter selects projects in FindProjects.
type ProjectFilter struct {
	OwnerID *int64
	// Search matches name or description, case-insensitively, as a
	// substring; % and _ match themselves.
	Search string
	// Order is an ORDER BY list over the columns id, name, description,
	// owner_id, owner_name and created_at. It must come from a whitelist
	// (handlers' readOrdering), never from the client verbatim.
	Order  string
	Limit  int
	Offset int
}

// ProjectUpdate holds the fields of a project to change; nil means
// unchanged.
type ProjectUpdate struct {
	Name        *string
	Description *string
	OwnerID     *int64
}

// ProjectAnalytics is the summary of a project's tasks.
type ProjectAnalytics struct {
	TotalTasks     int64
	CompletedTasks int64
	// PendingTasks is TotalTasks − CompletedTasks.
	PendingTasks int64
	// OverdueTasks counts tasks due before today (UTC) whose todo is not
	// completed.
	OverdueTasks int64
	// AverageCompletionMicros is the mean, in microseconds, of
	// completion_time − created_at over the todos of the project's
	// completed tasks that have a completion time; nil when there are
	// none. Microseconds are the precision PostgreSQL keeps.
	AverageCompletionMicros *int64
}

// projectColumns are the columns a project is read with, over the
// derived table projects names projects, in scanProject's order.
const projectColumns = "id, name, description, owner_id, created_at, owner_name"

// scanProject reads a row of projectColumns into p, with its owner's id
// and username; an ownerless project has neither (see scanFunc).
func scanProject(r pgx.Row, p *models.Project, extra ...any) error {
	var owner pgtype.Text
	if err := r.Scan(append([]any{&p.ID, &p.Name, &p.Description, &p.OwnerID, &p.CreatedAt, &owner}, extra...)...); err != nil {
		return err
	}
	p.Owner = nil
	if p.OwnerID != nil {
		p.Owner = &models.User{ID: *p.OwnerID, Username: owner.String}
	}
	return nil
}

// projects returns db reading from the tenant's projects left-joined with
// their owners' usernames (NULL for an ownerless project), as a derived
// table named projects, so filters and ORDER BY lists use plain column
// names.
func projects(db *gorm.DB) (*gorm.DB, error) {
	p, err := datapath.Table(db, &models.Project{})
	if err != nil {
		return nil, err
	}
	u, err := datapath.Table(db, &models.User{})
	if err != nil {
		return nil, err
	}
	return db.Table("(SELECT p.*, u.username AS owner_name FROM ? p LEFT JOIN ? u ON u.id = p.owner_id) AS projects", p, u), nil
}

// CheckProjectRefs returns an EINVALID error naming "owner", with DRF's
// message, when ownerID is given and is not a user of the tenant of ctx;
// nil when it is (or is nil).
func CheckProjectRefs(ctx context.Context, ownerID *int64) error {
	return checkRefs(ctx, []ref{{field: "owner", id: ownerID, model: &models.User{}}})
}

// projectForeignKeys maps the foreign keys of projects to API fields.
var projectForeignKeys = map[string]string{"projects_owner_id_fkey": "owner"}

// CreateProject inserts p into the tenant of ctx and fills in its id,
// creation time and owner. EINVALID (field owner) when the owner is not
// a user of the tenant. Two round trips, the second with the COMMIT.
func CreateProject(ctx context.Context, p *models.Project) error {
	c := *p
	c.Owner = nil
	st, err := insertStmt(ctx, &c, &p.ID)
	if err != nil {
		return err
	}
	if err := datapath.Run(ctx, st); err != nil {
		return translateRefs(err, projectForeignKeys, map[string]*int64{"owner": p.OwnerID}, "")
	}
	return commitProject(ctx, p, p.ID, nil)
}

// commitProject commits the scope's transaction with the statements
// before it and the read of the project with id into p, all sent with
// the COMMIT (see datapath.Commit); ids are the references the statements
// set, for the error of a foreign key. ENOTFOUND when there is no such
// project.
func commitProject(ctx context.Context, p *models.Project, id int64, ids map[string]*int64, before ...datapath.Stmt) error {
	var rows []models.Project
	st, err := projectByID(ctx, id, &rows)
	if err != nil {
		return err
	}
	if err := datapath.Commit(ctx, append(before, st)...); err != nil {
		return translateRefs(err, projectForeignKeys, ids, detailNotFound)
	}
	if len(rows) == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, detailNotFound)
	}
	*p = rows[0]
	return nil
}

// projectByID builds the read of the project with id, with its owner's
// id and username, into *rows.
func projectByID(ctx context.Context, id int64, rows *[]models.Project) (datapath.Stmt, error) {
	return rowsStmt(ctx, func(db *gorm.DB) *gorm.DB {
		src, err := projects(db)
		if err != nil {
			return withError(db, err)
		}
		return src.Select(projectColumns).Where("id = ?", id).Take(&models.Project{})
	}, rows, scanProject)
}

// FindProjectByID returns the project with id of the tenant of ctx, with
// its owner's id and username. ENOTFOUND when there is none.
func FindProjectByID(ctx context.Context, id int64) (*models.Project, error) {
	var rows []models.Project
	st, err := projectByID(ctx, id, &rows)
	if err != nil {
		return nil, err
	}
	if err := datapath.Run(ctx, st); err != nil {
		return nil, translate(err, detailNotFound)
	}
	if len(rows) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, detailNotFound)
	}
	return &rows[0], nil
}

// FindProjects returns a page of the projects of the tenant of ctx that
// match f, with their owners' usernames, and the number of all matches.
func FindProjects(ctx context.Context, f ProjectFilter) ([]models.Project, int64, error) {
	filtered := func(db *gorm.DB) (*gorm.DB, error) {
		src, err := projects(db)
		if err != nil {
			return nil, err
		}
		q := src
		if f.OwnerID != nil {
			q = q.Where("owner_id = ?", *f.OwnerID)
		}
		if s := strings.TrimSpace(f.Search); s != "" {
			cond, args := contains(s, "name", "description")
			q = q.Where(cond, args...)
		}
		// A new session, so the page query and the count query do not
		// add their clauses to each other.
		return q.Session(&gorm.Session{}), nil
	}
	return findPage(ctx, filtered, projectColumns, scanProject, f.Order, f.Limit, f.Offset)
}

// UpdateProject changes the given fields of the project with id of the
// tenant of ctx and returns it; the update and the read travel with the
// COMMIT. ENOTFOUND when there is none; EINVALID (field owner)
// when the new owner is not a user of the tenant.
func UpdateProject(ctx context.Context, id int64, u ProjectUpdate) (*models.Project, error) {
	fields := map[string]any{}
	if u.Name != nil {
		fields["name"] = *u.Name
	}
	if u.Description != nil {
		fields["description"] = *u.Description
	}
	if u.OwnerID != nil {
		fields["owner_id"] = *u.OwnerID
	}
	if len(fields) == 0 {
		return FindProjectByID(ctx, id)
	}
	// No row read back: no such project (the update changed nothing).
	st, err := updateStmt(ctx, &models.Project{}, id, fields)
	if err != nil {
		return nil, err
	}
	var p models.Project
	if err := commitProject(ctx, &p, id, map[string]*int64{"owner": u.OwnerID}, st); err != nil {
		return nil, err
	}
	return &p, nil
}

// DeleteProject deletes the project with id of the tenant of ctx and, by
// cascade, its tasks, and commits. ENOTFOUND when there is none.
func DeleteProject(ctx context.Context, id int64) error {
	return deleteRow(ctx, id, &models.Project{})
}

// scanAnalytics reads a row of FindProjectAnalytics's statement into a
// (see scanFunc).
func scanAnalytics(r pgx.Row, a *ProjectAnalytics, extra ...any) error {
	return r.Scan(append([]any{&a.TotalTasks, &a.CompletedTasks, &a.OverdueTasks, &a.AverageCompletionMicros}, extra...)...)
}

// FindProjectAnalytics summarises the tasks of the project with id of the
// tenant of ctx in one query (see ProjectAnalytics). A task counts as
// completed when its todo is. ENOTFOUND when there is no such project.
func FindProjectAnalytics(ctx context.Context, id int64) (*ProjectAnalytics, error) {
	// Starting from the project makes an unknown id yield no row (404)
	// and a project without tasks one row of zeros. The epoch of a
	// difference of timestamptz values is exact (days and microseconds,
	// no months), and so is the numeric mean, rounded to microseconds.
	const q = `SELECT
	count(t.id) AS total_tasks,
	count(t.id) FILTER (WHERE td.completed) AS completed_tasks,
	count(t.id) FILTER (WHERE NOT td.completed AND t.due_date < (now() AT TIME ZONE 'UTC')::date) AS overdue_tasks,
	round(avg(extract(epoch FROM td.completion_time - td.created_at) * 1000000)
		FILTER (WHERE td.completed AND td.completion_time IS NOT NULL))::bigint AS average_completion_micros
FROM ? p
LEFT JOIN ? t ON t.project_id = p.id
LEFT JOIN ? td ON td.id = t.todo_id
WHERE p.id = ?
GROUP BY p.id`
	rows, err := findRows(ctx, func(db *gorm.DB) *gorm.DB {
		var tables [3]clause.Table
		for i, m := range []any{&models.Project{}, &models.Task{}, &models.Todo{}} {
			t, err := datapath.Table(db, m)
			if err != nil {
				return withError(db, err)
			}
			tables[i] = t
		}
		return db.Raw(q, tables[0], tables[1], tables[2], id)
	}, scanAnalytics)
	if err != nil {
		return nil, translate(err, detailNotFound)
	}
	if len(rows) == 0 {
		return nil, apperr.Errorf(apperr.ENOTFOUND, detailNotFound)
	}
	a := rows[0]
	a.PendingTasks = a.TotalTasks - a.CompletedTasks
	return &a, nil
}
