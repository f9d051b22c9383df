package repository

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

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

// todoColumns are the columns a todo is read with, in the order scanTodo
// reads them, over the derived table todosWithOwner names todos.
const todoColumns = "id, title, description, completed, recurrence_interval, created_at, completion_time, due_at, previous_id, owner_id, owner_name"

// scanTodo reads a row of todoColumns, and after them extra, into t.
func scanTodo(r pgx.Row, t *models.Todo, extra ...any) error {
	var sc todoScanner
	return sc.scan(r, t, extra...)
}

// todoScanner scans rows of todoColumns; one reused for the rows of a
// list spares each row its destination slice.
type todoScanner struct {
	dest      []any
	ownerName pgtype.Text
}

func (sc *todoScanner) scan(r pgx.Row, t *models.Todo, extra ...any) error {
	sc.dest = append(sc.dest[:0], &t.ID, &t.Title, &t.Description, &t.Completed, &t.RecurrenceInterval, &t.CreatedAt,
		&t.CompletionTime, &t.DueAt, &t.PreviousID, &t.OwnerID, &sc.ownerName)
	sc.dest = append(sc.dest, extra...)
	if err := r.Scan(sc.dest...); err != nil {
		return err
	}
	t.Owner = nil
	if t.OwnerID != nil {
		t.Owner = &models.User{ID: *t.OwnerID, Username: sc.ownerName.String}
	}
	return nil
}

// todosWithOwner is the tenant's todos left-joined with their owners'
// usernames (NULL for an ownerless todo), as one derived table named
// todos, so that filters and ORDER BY lists use plain column names.
// inner, when not nil, narrows the todos inside the derived table (a
// locking clause must be there, on the todos themselves).
func todosWithOwner(db *gorm.DB, inner func(*gorm.DB) *gorm.DB) (*gorm.DB, error) {
	users, err := datapath.Table(db, &models.User{})
	if err != nil {
		return nil, err
	}
	q := db.Model(&models.Todo{}).Select("todos.*, u.username AS owner_name").
		Joins("LEFT JOIN ? u ON u.id = todos.owner_id", users)
	if inner != nil {
		q = inner(q)
	}
	return db.Table("(?) AS todos", q), nil
}

// FindTodoByID returns the todo with id in the tenant of ctx, with its
// owner's id and username loaded. One statement, in one round trip with
// the scope's BEGIN and checks. ENOTFOUND when there is none.
func FindTodoByID(ctx context.Context, id int64) (*models.Todo, error) {
	st, err := datapath.BuildShape(ctx, "todo by id", []any{id, 1}, func(db *gorm.DB) *gorm.DB {
		src, err := todosWithOwner(db, nil)
		if err != nil {
			return withError(db, err)
		}
		return src.Select(todoColumns).Where("id = ?", id).Take(&todoRow{})
	})
	if err != nil {
		return nil, err
	}
	var t models.Todo
	st.Row = func(r pgx.Row) error { return scanTodo(r, &t) }
	if err := datapath.Run(ctx, st); err != nil {
		return nil, translate(err, detailNotFound)
	}
	return &t, nil
}

// FindTodoForUpdate returns the todo with id in the tenant of ctx, as
// FindTodoByID, and locks it for the rest of the request's transaction,
// so concurrent changes of one todo apply one after the other.
func FindTodoForUpdate(ctx context.Context, id int64) (*models.Todo, error) {
	st, err := datapath.BuildShape(ctx, "todo for update", []any{id, 1}, func(db *gorm.DB) *gorm.DB {
		src, err := todosWithOwner(db, func(q *gorm.DB) *gorm.DB {
			return q.Where("todos.id = ?", id).Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Table: clause.Table{Name: "todos"}})
		})
		if err != nil {
			return withError(db, err)
		}
		return src.Select(todoColumns).Take(&todoRow{})
	})
	if err != nil {
		return nil, err
	}
	var t models.Todo
	st.Row = func(r pgx.Row) error { return scanTodo(r, &t) }
	if err := datapath.Run(ctx, st); err != nil {
		return nil, translate(err, detailNotFound)
	}
	return &t, nil
}

// FindTodos returns one page of the todos of the tenant of ctx that match
// f, each with its owner's id and username loaded, and how many match in
// all: one statement (the total rides along as a scalar subquery over the
// todos alone, and the page is read through the ordering index), in one
// round trip with the scope's BEGIN, checks and, for a read, COMMIT.
func FindTodos(ctx context.Context, f TodoFilter) ([]models.Todo, int64, error) {
	where, whereArgs := todoWhere(f)
	// The statement's text depends on which filters are set, the order
	// and whether there is a limit and an offset; its arguments are the
	// filters' (for the count, then the page), the limit and the offset.
	shape := fmt.Sprintf("todos %s|%s|%t|%t", where, f.OrderBy, f.Limit > 0, f.Offset > 0)
	args := append(append([]any{}, whereArgs...), whereArgs...)
	if f.Limit > 0 {
		args = append(args, f.Limit)
	}
	if f.Offset > 0 {
		args = append(args, f.Offset)
	}
	st, err := datapath.BuildShape(ctx, shape, args, func(db *gorm.DB) *gorm.DB {
		src, err := todosWithOwner(db, nil)
		if err != nil {
			return withError(db, err)
		}
		count := db.Model(&models.Todo{}).Select("count(*)").Where(where, whereArgs...)
		q := src.Select(todoColumns+", (?)", count).Where(where, whereArgs...).
			Order(orderOr(f.OrderBy, "created_at DESC, id DESC"))
		if f.Limit > 0 {
			q = q.Limit(f.Limit)
		}
		if f.Offset > 0 {
			q = q.Offset(f.Offset)
		}
		return q.Find(&[]todoRow{})
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]models.Todo, 0, min(max(f.Limit, 0), 100))
	var total int64
	var sc todoScanner // one destination slice for every row of the page
	st.Rows = collect(&out, sc.scan, &total)
	if err := datapath.Run(ctx, st); err != nil {
		return nil, 0, translate(err, "")
	}
	if len(out) == 0 && f.Offset > 0 {
		// A page past the end carries no count; count on its own.
		st, err := datapath.Build(ctx, func(db *gorm.DB) *gorm.DB {
			return db.Model(&models.Todo{}).Where(where, whereArgs...).Count(new(int64))
		})
		if err != nil {
			return nil, 0, err
		}
		st.Row = func(r pgx.Row) error { return r.Scan(&total) }
		if err := datapath.Run(ctx, st); err != nil {
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
		cond, search := contains(f.Search, "title", "description")
		conds = append(conds, cond)
		args = append(args, search...)
	}
	return strings.Join(conds, " AND "), args
}

// todoRow is a todo as read with its owner's username; it only names the
// destination of statements built for Run.
type todoRow struct {
	models.Todo
	OwnerName *string
}

// todoInsert builds the INSERT of t (id and associations omitted),
// reading the new id into t.ID.
func todoInsert(ctx context.Context, t *models.Todo) (datapath.Stmt, error) {
	c := *t
	return insertStmt(ctx, &c, &t.ID)
}

// nextInsert builds the INSERT of next, a todo's next occurrence, as
// todoInsert does, skipping it when its previous_id already has one.
func nextInsert(ctx context.Context, next *models.Todo) (datapath.Stmt, error) {
	c := *next
	return insertStmt(ctx, &c, &next.ID, clause.OnConflict{Columns: []clause.Column{{Name: "previous_id"}}, DoNothing: true})
}

// CreateTodo inserts t into the tenant of ctx and fills in t.ID; next,
// when not nil, is t's next occurrence, inserted after it with
// PreviousID set to t's new id. The request's transaction commits with
// the last statement: two round trips in all, the first with the scope's
// BEGIN and checks. EINVALID when the owner does not exist.
func CreateTodo(ctx context.Context, t *models.Todo, next *models.Todo) error {
	st, err := todoInsert(ctx, t)
	if err != nil {
		return err
	}
	if err := datapath.Run(ctx, st); err != nil {
		return translate(err, "")
	}
	var last []datapath.Stmt
	if next != nil {
		next.PreviousID = &t.ID
		st, err := nextInsert(ctx, next)
		if err != nil {
			return err
		}
		last = append(last, st)
	}
	return translate(datapath.Commit(ctx, last...), "")
}

// SaveTodo writes the writable fields of t (title, description,
// completed, recurrence_interval, completion_time) over the stored todo
// t.ID and, when next is not nil, inserts t's next occurrence unless it
// has one already (previous_id is unique). The request's transaction
// commits with these statements, in one round trip. ENOTFOUND when there
// is no such todo.
func SaveTodo(ctx context.Context, t *models.Todo, next *models.Todo) error {
	st, err := datapath.Build(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.Todo{}).Where("id = ?", t.ID).Updates(map[string]any{
			"title":               t.Title,
			"description":         t.Description,
			"completed":           t.Completed,
			"recurrence_interval": t.RecurrenceInterval,
			"completion_time":     t.CompletionTime,
		})
	})
	if err != nil {
		return err
	}
	updated := int64(0)
	st.Exec = affected(&updated)
	stmts := []datapath.Stmt{st}
	if next != nil {
		next.PreviousID = &t.ID
		st, err := nextInsert(ctx, next)
		if err != nil {
			return err
		}
		stmts = append(stmts, st)
	}
	if err := datapath.Commit(ctx, stmts...); err != nil {
		return translate(err, detailNotFound)
	}
	if updated == 0 {
		return &apperr.Error{Code: apperr.ENOTFOUND, Message: detailNotFound}
	}
	return nil
}

// DeleteTodo deletes the todo with id from the tenant of ctx, with its
// tasks; its next occurrence, if any, no longer has a previous one. The
// request's transaction commits with the DELETE. ENOTFOUND when there is
// no such todo.
func DeleteTodo(ctx context.Context, id int64) error {
	return deleteRow(ctx, id, &models.Todo{})
}
