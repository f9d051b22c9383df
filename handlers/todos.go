package handlers

import (
	"log/slog"
	"math"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/service"
)

// todoOrdering is the whitelist of ?ordering= fields of the todo list.
var todoOrdering = map[string]string{
	"created_at":      "created_at",
	"title":           "title",
	"completed":       "completed",
	"completion_time": "completion_time",
	"due_at":          "due_at",
	"id":              "id",
}

// todos serves /api/todos. Every user of the tenant may list and read its
// todos; only a todo's owner may change or delete it, and any user an
// ownerless one (imported from the Django application, whose todos had no
// owner). The rules are service's.
type todos struct {
	log *slog.Logger
}

// registerTodos adds the todo routes to r, a group of authenticated
// requests.
func registerTodos(r *gin.RouterGroup, d Deps) {
	h := &todos{log: d.Log}
	r.GET("/todos", h.list)
	r.POST("/todos", h.create)
	r.GET("/todos/:id", h.get)
	r.PUT("/todos/:id", h.update)
	r.PATCH("/todos/:id", h.update)
	r.DELETE("/todos/:id", h.delete)
}

type todoResponse struct {
	ID                 int64   `json:"id"`
	Title              string  `json:"title"`
	Description        string  `json:"description"`
	Completed          bool    `json:"completed"`
	RecurrenceInterval *int    `json:"recurrence_interval"`
	CompletionTime     *string `json:"completion_time"`
	DueAt              *string `json:"due_at"`
	Previous           *int64  `json:"previous"`
	CreatedAt          string  `json:"created_at"`
	Owner              *int64  `json:"owner"`
	OwnerName          *string `json:"owner_name"`
	ClientName         string  `json:"client_name"`
}

// toTodoResponse renders t; ownerName is the username of t's owner and
// clientName the tenant's name. An ownerless todo has null for both owner
// and owner_name.
func toTodoResponse(t *models.Todo, ownerName, clientName string) todoResponse {
	var name *string
	if t.OwnerID != nil {
		name = &ownerName
	}
	return todoResponse{
		ID:                 t.ID,
		Title:              t.Title,
		Description:        t.Description,
		Completed:          t.Completed,
		RecurrenceInterval: t.RecurrenceInterval,
		CompletionTime:     formatTimePtr(t.CompletionTime),
		DueAt:              formatTimePtr(t.DueAt),
		Previous:           t.PreviousID,
		CreatedAt:          formatTime(t.CreatedAt),
		Owner:              t.OwnerID,
		OwnerName:          name,
		ClientName:         clientName,
	}
}

// ownerName returns the username of t's owner as loaded with it.
func ownerName(t *models.Todo) string {
	if t.Owner == nil {
		return ""
	}
	return t.Owner.Username
}

// readTodo reads a todo's writable fields; read-only and unknown fields
// are ignored. A PATCH leaves missing fields unset; otherwise (POST, PUT)
// title is required and missing optional fields take their defaults, as
// for a new todo. A missing completion_time stays unset either way: it is
// derived from completed when not given.
func readTodo(c *gin.Context) (repository.TodoUpdate, error) {
	var u repository.TodoUpdate
	in, err := readJSON(c)
	if err != nil {
		return u, err
	}
	in.partial = c.Request.Method == http.MethodPatch
	u.Title = in.String("title", field{required: true, maxLength: models.MaxTitleLen})
	u.Description = in.String("description", field{allowBlank: true})
	u.Completed = in.Bool("completed", field{})
	if v, set := in.Int("recurrence_interval", field{allowNull: true, minValue: 1, maxValue: math.MaxInt32}); set {
		var n *int
		if v != nil {
			i := int(*v)
			n = &i
		}
		u.RecurrenceInterval = &n
	}
	if v, set := in.Time("completion_time", field{allowNull: true}); set {
		u.CompletionTime = &v
	}
	if err := in.Err(); err != nil {
		return u, err
	}
	if !in.partial {
		if u.Description == nil {
			u.Description = new(string)
		}
		if u.Completed == nil {
			u.Completed = new(bool)
		}
		if u.RecurrenceInterval == nil {
			u.RecurrenceInterval = new(*int)
		}
	}
	return u, nil
}

// list returns a page of the tenant's todos, filtered by ?completed=,
// ?search= and ?owner=, ordered by ?ordering= (newest first by default).
func (h *todos) list(c *gin.Context) {
	errs := apperr.Fields{}
	p, err := readPage(c)
	errs.Merge(err)
	completed, err := queryBool(c, "completed")
	errs.Merge(err)
	owner, err := queryID(c, "owner")
	errs.Merge(err)
	order, err := readOrdering(c, todoOrdering, "-created_at")
	errs.Merge(err)
	search, err := querySearch(c)
	errs.Merge(err)
	if err := errs.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx := c.Request.Context()
	found, total, err := repository.FindTodos(ctx, repository.TodoFilter{
		Completed: completed, Search: search, OwnerID: owner, OrderBy: order,
		Limit: p.Limit, Offset: p.Offset,
	})
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	client := datapath.TenantFromContext(ctx).Name
	results := make([]todoResponse, len(found))
	for i := range found {
		results[i] = toTodoResponse(&found[i], ownerName(&found[i]), client)
	}
	c.JSON(http.StatusOK, paginate(c, p, total, results))
}

// create adds a todo owned by the caller.
func (h *todos) create(c *gin.Context) {
	u, err := readTodo(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	in := service.NewTodo{
		Title:              *u.Title,
		Description:        *u.Description,
		Completed:          *u.Completed,
		RecurrenceInterval: *u.RecurrenceInterval,
	}
	if u.CompletionTime != nil {
		in.CompletionTime = *u.CompletionTime
	}
	ctx := c.Request.Context()
	t, err := service.CreateTodo(ctx, in)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusCreated, toTodoResponse(t, ownerName(t), datapath.TenantFromContext(ctx).Name))
}

// get returns one todo of the tenant.
func (h *todos) get(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx := c.Request.Context()
	t, err := repository.FindTodoByID(ctx, id)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, toTodoResponse(t, ownerName(t), datapath.TenantFromContext(ctx).Name))
}

// update serves PUT (the writable fields replaced) and PATCH (only those
// given changed) of /api/todos/:id.
func (h *todos) update(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	u, err := readTodo(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx := c.Request.Context()
	t, err := service.UpdateTodo(ctx, id, u)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, toTodoResponse(t, ownerName(t), datapath.TenantFromContext(ctx).Name))
}

// delete removes a todo, its tasks with it.
func (h *todos) delete(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	if err := service.DeleteTodo(c.Request.Context(), id); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}
