package handlers

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/service"
)

// taskOrdering whitelists ?ordering= fields of the tasks list.
var taskOrdering = map[string]string{"due_date": "due_date", "created_at": "created_at", "id": "id"}

type tasks struct{ log *slog.Logger }

// registerTasks registers the tasks resource on the authenticated group.
// Every user of the tenant sees and changes the tenant's tasks, as in the
// seed.
func registerTasks(r *gin.RouterGroup, d Deps) {
	h := &tasks{log: d.Log}
	r.GET("/tasks", h.list)
	r.POST("/tasks", h.create)
	r.GET("/tasks/:id", h.get)
	r.PUT("/tasks/:id", h.update)
	r.PATCH("/tasks/:id", h.update)
	r.DELETE("/tasks/:id", h.delete)
}

type taskResponse struct {
	ID           int64       `json:"id"`
	Project      int64       `json:"project"`
	Todo         int64       `json:"todo"`
	AssignedUser *int64      `json:"assigned_user"`
	DueDate      models.Date `json:"due_date"`
	CreatedAt    string      `json:"created_at"`
	Completed    bool        `json:"completed"`
	ProjectName  string      `json:"project_name"`
	TodoTitle    string      `json:"todo_title"`
}

func toTaskResponse(t *models.Task) taskResponse {
	r := taskResponse{
		ID: t.ID, Project: t.ProjectID, Todo: t.TodoID, AssignedUser: t.AssignedUserID,
		DueDate: t.DueDate, CreatedAt: formatTime(t.CreatedAt),
	}
	if t.Project != nil {
		r.ProjectName = t.Project.Name
	}
	if t.Todo != nil {
		r.TodoTitle, r.Completed = t.Todo.Title, t.Todo.Completed
	}
	return r
}

// queryDueDate reads a YYYY-MM-DD filter. 400 naming the parameter
// otherwise.
func queryDueDate(c *gin.Context, name string) (*models.Date, error) {
	s, ok := c.GetQuery(name)
	if !ok || s == "" {
		return nil, nil
	}
	d, err := models.ParseDate(s)
	if err != nil {
		return nil, apperr.FieldError(name, "Enter a valid date.")
	}
	return &d, nil
}

// list serves GET /api/tasks: ?project=, ?todo=, ?assigned_user= (ids);
// ?due_before=YYYY-MM-DD and ?due_after=YYYY-MM-DD, both exclusive
// (due_date < due_before, due_date > due_after); ?completed=true|false
// (the task's todo); ?ordering= over due_date, created_at and id (default
// -created_at); ?limit= and ?offset=.
func (h *tasks) list(c *gin.Context) {
	errs := apperr.Fields{}
	var f repository.TaskFilter
	p, err := readPage(c)
	errs.Merge(err)
	f.Limit, f.Offset = p.Limit, p.Offset
	f.ProjectID, err = queryID(c, "project")
	errs.Merge(err)
	f.TodoID, err = queryID(c, "todo")
	errs.Merge(err)
	f.AssignedUserID, err = queryID(c, "assigned_user")
	errs.Merge(err)
	f.DueBefore, err = queryDueDate(c, "due_before")
	errs.Merge(err)
	f.DueAfter, err = queryDueDate(c, "due_after")
	errs.Merge(err)
	f.Completed, err = queryBool(c, "completed")
	errs.Merge(err)
	f.Order, err = readOrdering(c, taskOrdering, "-created_at")
	errs.Merge(err)
	if err := errs.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	list, total, err := repository.FindTasks(c.Request.Context(), f)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	out := make([]taskResponse, len(list))
	for i := range list {
		out[i] = toTaskResponse(&list[i])
	}
	c.JSON(http.StatusOK, paginate(c, p, total, out))
}

// create serves POST /api/tasks.
func (h *tasks) create(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx := c.Request.Context()
	project, _ := in.PK("project", field{required: true})
	todo, _ := in.PK("todo", field{required: true})
	assigned, _ := in.PK("assigned_user", field{allowNull: true})
	due := in.Date("due_date", field{required: true})
	t := &models.Task{AssignedUserID: assigned}
	if project != nil && todo != nil && due != nil {
		t.ProjectID, t.TodoID, t.DueDate = *project, *todo, *due
	}
	refs := repository.TaskRefs{ProjectID: project, TodoID: todo, AssignedUserID: assigned}
	if err := service.CreateTask(ctx, t, refs, in.errs); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusCreated, toTaskResponse(t))
}

// get serves GET /api/tasks/:id.
func (h *tasks) get(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	t, err := repository.FindTaskByID(c.Request.Context(), id)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, toTaskResponse(t))
}

// update serves PUT (project, todo and due_date required) and PATCH (only
// the given fields) of /api/tasks/:id. assigned_user left out of a PUT
// keeps its value, as in DRF; null unassigns.
func (h *tasks) update(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx := c.Request.Context()
	// As in DRF, a missing object is reported before the body is read.
	if _, err := repository.FindTaskByID(ctx, id); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	in.partial = c.Request.Method == http.MethodPatch
	var u repository.TaskUpdate
	u.ProjectID, _ = in.PK("project", field{required: true})
	u.TodoID, _ = in.PK("todo", field{required: true})
	assigned, set := in.PK("assigned_user", field{allowNull: true})
	if set {
		u.AssignedUserID = &assigned
	}
	u.DueDate = in.Date("due_date", field{required: true})
	t, err := service.UpdateTask(ctx, id, u, in.errs)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, toTaskResponse(t))
}

// delete serves DELETE /api/tasks/:id.
func (h *tasks) delete(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	if err := service.DeleteTask(c.Request.Context(), id); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}
