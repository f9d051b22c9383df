package repository

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// TaskFilter selects tasks in FindTasks.
type TaskFilter struct {
	ProjectID      *int64
	TodoID         *int64
	AssignedUserID *int64
	// DueBefore keeps tasks due strictly before the date (due_date <
	// DueBefore).
	DueBefore *models.Date
	// DueAfter keeps tasks due strictly after the date (due_date >
	// DueAfter).
	DueAfter *models.Date
	// Completed keeps tasks whose todo is (or is not) completed.
	Completed *bool
	// Order is an ORDER BY list over the columns id, project_id, todo_id,
	// assigned_user_id, due_date, created_at, completed, todo_title and
	// project_name. It must come from a whitelist (handlers'
	// readOrdering), never from the client verbatim.
	Order  string
	Limit  int
	Offset int
}

// TaskUpdate holds the fields of a task to change; nil means unchanged.
// AssignedUserID set to a nil *int64 unassigns the task.
type TaskUpdate struct {
	ProjectID      *int64
	TodoID         *int64
	AssignedUserID **int64
	DueDate        *models.Date
}

// TaskRefs are the rows a task refers to; nil fields are not checked.
type TaskRefs struct {
	ProjectID      *int64
	TodoID         *int64
	AssignedUserID *int64
}

// taskColumns are the columns a task is read with, over the derived
// table tasks names tasks, in scanTask's order.
const taskColumns = "id, project_id, todo_id, assigned_user_id, due_date, created_at, completed, todo_title, project_name"

// scanTask reads a row of taskColumns into t, with its project's name and
// its todo's title and completion (see scanFunc).
func scanTask(r pgx.Row, t *models.Task, extra ...any) error {
	var completed bool
	var title, project string
	dest := []any{&t.ID, &t.ProjectID, &t.TodoID, &t.AssignedUserID, &t.DueDate, &t.CreatedAt, &completed, &title, &project}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	t.Project = &models.Project{ID: t.ProjectID, Name: project}
	t.Todo = &models.Todo{ID: t.TodoID, Title: title, Completed: completed}
	return nil
}

// tasks returns db reading from the tenant's tasks joined with their
// todos and projects, as a derived table named tasks, so filters and
// ORDER BY lists use plain column names.
func tasks(db *gorm.DB) (*gorm.DB, error) {
	t, err := datapath.Table(db, &models.Task{})
	if err != nil {
		return nil, err
	}
	td, err := datapath.Table(db, &models.Todo{})
	if err != nil {
		return nil, err
	}
	p, err := datapath.Table(db, &models.Project{})
	if err != nil {
		return nil, err
	}
	return db.Table(`(SELECT t.*, td.completed, td.title AS todo_title, p.name AS project_name
		FROM ? t JOIN ? td ON td.id = t.todo_id JOIN ? p ON p.id = t.project_id) AS tasks`, t, td, p), nil
}

// taskForeignKeys maps the foreign keys of tasks to API fields.
var taskForeignKeys = map[string]string{
	"tasks_project_id_fkey":       "project",
	"tasks_todo_id_fkey":          "todo",
	"tasks_assigned_user_id_fkey": "assigned_user",
}

// CheckTaskRefs returns an EINVALID error naming each given reference
// (project, todo, assigned_user) that is not a row of the tenant of ctx,
// with DRF's message; nil when all are.
func CheckTaskRefs(ctx context.Context, r TaskRefs) error {
	return checkRefs(ctx, []ref{
		{field: "project", id: r.ProjectID, model: &models.Project{}},
		{field: "todo", id: r.TodoID, model: &models.Todo{}},
		{field: "assigned_user", id: r.AssignedUserID, model: &models.User{}},
	})
}

// CreateTask inserts t into the tenant of ctx and fills in its id,
// creation time, project name and todo title and completion. EINVALID
// naming the field when a reference is not a row of the tenant. Two
// round trips, the second with the COMMIT.
func CreateTask(ctx context.Context, t *models.Task) error {
	c := *t
	c.Project, c.Todo, c.AssignedUser = nil, nil, nil
	st, err := insertStmt(ctx, &c, &t.ID)
	if err != nil {
		return err
	}
	if err := datapath.Run(ctx, st); err != nil {
		return translateRefs(err, taskForeignKeys, map[string]*int64{
			"project": &t.ProjectID, "todo": &t.TodoID, "assigned_user": t.AssignedUserID,
		}, "")
	}
	return commitTask(ctx, t, t.ID, nil)
}

// commitTask commits the scope's transaction with the statements before
// it and the read of the task with id into t, all sent with the COMMIT
// (see datapath.Commit); ids are the references the statements set, for
// the error of a foreign key. ENOTFOUND when there is no such task.
func commitTask(ctx context.Context, t *models.Task, id int64, ids map[string]*int64, before ...datapath.Stmt) error {
	var rows []models.Task
	st, err := taskByID(ctx, id, &rows)
	if err != nil {
		return err
	}
	if err := datapath.Commit(ctx, append(before, st)...); err != nil {
		return translateRefs(err, taskForeignKeys, ids, detailNotFound)
	}
	if len(rows) == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, detailNotFound)
	}
	*t = rows[0]
	return nil
}

// taskByID builds the read of the task with id, with its project's name
// and its todo's title and completion, into *rows.
func taskByID(ctx context.Context, id int64, rows *[]models.Task) (datapath.Stmt, error) {
	return rowsStmt(ctx, func(db *gorm.DB) *gorm.DB {
		src, err := tasks(db)
		if err != nil {
			return withError(db, err)
		}
		return src.Select(taskColumns).Where("id = ?", id).Take(&models.Task{})
	}, rows, scanTask)
}

// FindTaskByID returns the task with id of the tenant of ctx, with its
// project's name and its todo's title and completion. ENOTFOUND when
// there is none.
func FindTaskByID(ctx context.Context, id int64) (*models.Task, error) {
	var rows []models.Task
	st, err := taskByID(ctx, id, &rows)
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

// FindTasks returns a page of the tasks of the tenant of ctx that match
// f, with their projects' names and their todos' titles and completion,
// and the number of all matches.
func FindTasks(ctx context.Context, f TaskFilter) ([]models.Task, int64, error) {
	filtered := func(db *gorm.DB) (*gorm.DB, error) {
		src, err := tasks(db)
		if err != nil {
			return nil, err
		}
		q := src
		if f.ProjectID != nil {
			q = q.Where("project_id = ?", *f.ProjectID)
		}
		if f.TodoID != nil {
			q = q.Where("todo_id = ?", *f.TodoID)
		}
		if f.AssignedUserID != nil {
			q = q.Where("assigned_user_id = ?", *f.AssignedUserID)
		}
		if f.DueBefore != nil {
			q = q.Where("due_date < ?", *f.DueBefore)
		}
		if f.DueAfter != nil {
			q = q.Where("due_date > ?", *f.DueAfter)
		}
		if f.Completed != nil {
			q = q.Where("completed = ?", *f.Completed)
		}
		// A new session, so the page query and the count query do not
		// add their clauses to each other.
		return q.Session(&gorm.Session{}), nil
	}
	return findPage(ctx, filtered, taskColumns, scanTask, f.Order, f.Limit, f.Offset)
}

// UpdateTask changes the given fields of the task with id of the tenant
// of ctx and returns it; the update and the read travel with the
// COMMIT. ENOTFOUND when there is none; EINVALID naming the field
// when a new reference is not a row of the tenant.
func UpdateTask(ctx context.Context, id int64, u TaskUpdate) (*models.Task, error) {
	fields := map[string]any{}
	ids := map[string]*int64{"project": u.ProjectID, "todo": u.TodoID}
	if u.ProjectID != nil {
		fields["project_id"] = *u.ProjectID
	}
	if u.TodoID != nil {
		fields["todo_id"] = *u.TodoID
	}
	if u.AssignedUserID != nil {
		fields["assigned_user_id"] = *u.AssignedUserID
		ids["assigned_user"] = *u.AssignedUserID
	}
	if u.DueDate != nil {
		fields["due_date"] = *u.DueDate
	}
	if len(fields) == 0 {
		return FindTaskByID(ctx, id)
	}
	// No row read back: no such task (the update changed nothing).
	st, err := updateStmt(ctx, &models.Task{}, id, fields)
	if err != nil {
		return nil, err
	}
	var t models.Task
	if err := commitTask(ctx, &t, id, ids, st); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteTask deletes the task with id of the tenant of ctx, and commits.
// ENOTFOUND when there is none.
func DeleteTask(ctx context.Context, id int64) error {
	return deleteRow(ctx, id, &models.Task{})
}
