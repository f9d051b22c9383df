package repository

import (
	"context"
	"strings"
	"time"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenancy"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// msgTodoNotFound is DRF's message for a missing object.
const msgTodoNotFound = "Not found."

// maxDueYear is the last year a time can be written in (RFC 3339 has four
// digits for it).
const maxDueYear = 9999

// TodoFilter selects and orders the todos FindTodos returns.
type TodoFilter struct {
	// Completed keeps only todos with this completed state, when set.
	Completed *bool
	// Search keeps todos whose title or description contains it,
	// case-insensitively, when not empty. It is matched literally.
	Search string
	// OwnerID keeps only the todos of this user, when set.
	OwnerID *int64
	// OrderBy is an ORDER BY list over todos' columns. It must come from a
	// whitelist (handlers' readOrdering), never from a client verbatim.
	OrderBy string
	// Limit and Offset select the page.
	Limit, Offset int
}

// TodoUpdate holds the fields an update changes; a nil field is left as
// it is. For the nullable columns a non-nil pointer to nil sets NULL.
type TodoUpdate struct {
	Title              *string
	Description        *string
	Completed          *bool
	RecurrenceInterval **int
	CompletionTime     **time.Time
}

// FindTodoByID returns the todo with id in the tenant of ctx, with its
// owner's id and username loaded. ENOTFOUND when there is none.
func FindTodoByID(ctx context.Context, id int64) (*models.Todo, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return nil, err
	}
	src, err := todosWithOwner(db)
	if err != nil {
		return nil, err
	}
	var row todoRow
	if err := src.Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, translate(err, msgTodoNotFound)
	}
	t := row.model()
	return &t, nil
}

// FindTodos returns one page of the todos of the tenant of ctx that match
// f, each with its owner's id and username loaded, and how many match in
// all.
func FindTodos(ctx context.Context, f TodoFilter) ([]models.Todo, int64, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return nil, 0, err
	}
	todos, err := schemaTable(db, &models.Todo{})
	if err != nil {
		return nil, 0, err
	}
	users, err := schemaTable(db, &models.User{})
	if err != nil {
		return nil, 0, err
	}
	// The hottest query of the API is written by hand and scanned
	// without reflection. The total rides along as a scalar subquery
	// over the todos alone: one round trip, and the page itself is read
	// through the ordering index (a count(*) OVER () window would make
	// PostgreSQL join and sort every match).
	where, whereArgs := todoWhere(f)
	args := append([]any{todos}, whereArgs...)
	args = append(args, todos, users)
	args = append(args, whereArgs...)
	args = append(args, max(f.Limit, 0), max(f.Offset, 0))
	rows, err := db.Raw(`SELECT id, title, description, completed, recurrence_interval, created_at,
		completion_time, due_at, previous_id, owner_id, owner_name,
		(SELECT count(*) FROM ? AS todos WHERE `+where+`)
		FROM (SELECT t.*, u.username AS owner_name FROM ? t LEFT JOIN ? u ON u.id = t.owner_id) AS todos
		WHERE `+where+`
		ORDER BY `+orderOr(f.OrderBy, "created_at DESC, id DESC")+`
		LIMIT NULLIF(?, 0) OFFSET ?`, args...).Rows()
	if err != nil {
		return nil, 0, translate(err, "")
	}
	defer rows.Close()
	var out []models.Todo
	var total int64
	for rows.Next() {
		var t models.Todo
		var owner *string
		if err := rows.Scan(&t.ID, &t.Title, &t.Description, &t.Completed, &t.RecurrenceInterval, &t.CreatedAt,
			&t.CompletionTime, &t.DueAt, &t.PreviousID, &t.OwnerID, &owner, &total); err != nil {
			return nil, 0, translate(err, "")
		}
		t.Owner = ownerOf(t.OwnerID, owner)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, translate(err, "")
	}
	if len(out) == 0 && f.Offset > 0 {
		// A page past the end carries no count; count on its own.
		if err := db.Raw(`SELECT count(*) FROM ? AS todos WHERE `+where, append([]any{todos}, whereArgs...)...).Scan(&total).Error; err != nil {
			return nil, 0, translate(err, "")
		}
	}
	return out, total, nil
}

// todoWhere renders f's filters as a condition over the columns of todos,
// with its arguments ("TRUE" when there are none).
func todoWhere(f TodoFilter) (string, []any) {
	conds := []string{"TRUE"}
	var args []any
	if f.Completed != nil {
		conds = append(conds, "completed = ?")
		args = append(args, *f.Completed)
	}
	if f.OwnerID != nil {
		conds = append(conds, "owner_id = ?")
		args = append(args, *f.OwnerID)
	}
	if f.Search != "" {
		pattern := "%" + escapeLike(f.Search) + "%"
		conds = append(conds, "(title ILIKE ? OR description ILIKE ?)")
		args = append(args, pattern, pattern)
	}
	return strings.Join(conds, " AND "), args
}

// todoRow is a todo as read with its owner's username and, in lists, the
// number of all matches.
type todoRow struct {
	models.Todo
	OwnerName *string
	FullCount int64
}

func (r *todoRow) model() models.Todo {
	t := r.Todo
	t.Owner = ownerOf(t.OwnerID, r.OwnerName)
	return t
}

// ownerOf is the owner of a todo as read with its username: nil for an
// ownerless todo.
func ownerOf(id *int64, name *string) *models.User {
	if id == nil {
		return nil
	}
	u := &models.User{ID: *id}
	if name != nil {
		u.Username = *name
	}
	return u
}

// todosWithOwner is the tenant's todos joined with their owners'
// usernames (NULL for an ownerless todo), as one derived table named
// todos, so filters and ORDER BY use plain column names.
func todosWithOwner(db *gorm.DB) (*gorm.DB, error) {
	t, err := schemaTable(db, &models.Todo{})
	if err != nil {
		return nil, err
	}
	u, err := schemaTable(db, &models.User{})
	if err != nil {
		return nil, err
	}
	return db.Table("(SELECT t.*, u.username AS owner_name FROM ? t LEFT JOIN ? u ON u.id = t.owner_id) AS todos", t, u), nil
}

// CreateTodo inserts t into the tenant of ctx, following the completion
// rules of applyCompletion: t.CompletionTime is cleared unless t is
// completed, and set to now when it is completed without one. A todo
// created completed with a recurrence interval gets its next occurrence at
// once. t.ID, t.CreatedAt and t.CompletionTime are filled in. EINVALID
// when the owner does not exist or the next occurrence would fall after
// year 9999.
func CreateTodo(ctx context.Context, t *models.Todo) error {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return err
	}
	now := dbNow()
	t.ID = 0
	t.CreatedAt = now
	applyCompletion(t, t.CompletionTime, now)
	if err := db.Omit(clause.Associations).Create(t).Error; err != nil {
		return translate(err, "")
	}
	if t.Completed {
		return spawnNextTodo(db, t, now)
	}
	return nil
}

// UpdateTodo applies u to the todo with id in the tenant of ctx and
// returns it as stored (without its owner loaded). The row is locked for
// the rest of the transaction, so concurrent updates apply one after the
// other. Completion follows applyCompletion; when the todo becomes
// completed and recurs, its next occurrence is created unless one exists
// already. ENOTFOUND when there is no such todo; EINVALID as in
// CreateTodo.
func UpdateTodo(ctx context.Context, id int64, u TodoUpdate) (*models.Todo, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return nil, err
	}
	var t models.Todo
	if err := db.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, translate(err, msgTodoNotFound)
	}
	wasCompleted := t.Completed
	if u.Title != nil {
		t.Title = *u.Title
	}
	if u.Description != nil {
		t.Description = *u.Description
	}
	if u.Completed != nil {
		t.Completed = *u.Completed
	}
	if u.RecurrenceInterval != nil {
		t.RecurrenceInterval = *u.RecurrenceInterval
	}
	given := t.CompletionTime
	if u.CompletionTime != nil {
		given = *u.CompletionTime
	}
	now := dbNow()
	applyCompletion(&t, given, now)
	err = db.Model(&models.Todo{}).Where("id = ?", id).Updates(map[string]any{
		"title":               t.Title,
		"description":         t.Description,
		"completed":           t.Completed,
		"recurrence_interval": t.RecurrenceInterval,
		"completion_time":     t.CompletionTime,
	}).Error
	if err != nil {
		return nil, translate(err, msgTodoNotFound)
	}
	if t.Completed && !wasCompleted {
		if err := spawnNextTodo(db, &t, now); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// applyCompletion keeps completion_time consistent with completed, as the
// seed's Todo.save() did: an open todo has none (a given one is ignored);
// a completed todo keeps the given time, or gets now when none is given.
// given is the time the todo would have without the rule: the one sent by
// the client, or else the stored one.
func applyCompletion(t *models.Todo, given *time.Time, now time.Time) {
	switch {
	case !t.Completed:
		t.CompletionTime = nil
	case given != nil:
		t.CompletionTime = truncateTime(given)
	default:
		t.CompletionTime = &now
	}
}

// spawnNextTodo creates the next occurrence of the completed todo t, due
// its recurrence interval in days after its completion. A todo has at
// most one next occurrence (previous_id is unique): completing it again
// creates nothing.
func spawnNextTodo(db *gorm.DB, t *models.Todo, now time.Time) error {
	if t.RecurrenceInterval == nil || t.CompletionTime == nil {
		return nil
	}
	due := t.CompletionTime.AddDate(0, 0, *t.RecurrenceInterval)
	if due.Year() > maxDueYear {
		return apperr.FieldError("recurrence_interval", "The next occurrence would be due after the year 9999.")
	}
	previous := t.ID
	next := &models.Todo{
		Title:              t.Title,
		Description:        t.Description,
		RecurrenceInterval: t.RecurrenceInterval,
		CreatedAt:          now,
		DueAt:              &due,
		PreviousID:         &previous,
		OwnerID:            t.OwnerID,
	}
	err := db.Omit(clause.Associations).
		Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "previous_id"}}, DoNothing: true}).
		Create(next).Error
	return translate(err, "")
}

// DeleteTodo deletes the todo with id from the tenant of ctx, with its
// tasks; its next occurrence, if any, no longer has a previous one.
// ENOTFOUND when there is no such todo.
func DeleteTodo(ctx context.Context, id int64) error {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return err
	}
	res := db.Where("id = ?", id).Delete(&models.Todo{})
	if res.Error != nil {
		return translate(res.Error, msgTodoNotFound)
	}
	if res.RowsAffected == 0 {
		return &apperr.Error{Code: apperr.ENOTFOUND, Message: msgTodoNotFound}
	}
	return nil
}

// dbNow is the current time at the database's precision (microseconds),
// so what a response shows is what is stored.
func dbNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func truncateTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC().Truncate(time.Microsecond)
	return &v
}
