package handlers

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/service"
)

// projectOrdering whitelists ?ordering= fields of the projects list.
var projectOrdering = map[string]string{"created_at": "created_at", "name": "name", "id": "id"}

type projects struct{ log *slog.Logger }

// registerProjects registers the projects resource and its analytics on
// the authenticated group. Every user of the tenant sees and changes the
// tenant's projects, as in the seed, owned or ownerless.
func registerProjects(r *gin.RouterGroup, d Deps) {
	h := &projects{log: d.Log}
	r.GET("/projects", h.list)
	r.POST("/projects", h.create)
	r.GET("/projects/:id", h.get)
	r.PUT("/projects/:id", h.update)
	r.PATCH("/projects/:id", h.update)
	r.DELETE("/projects/:id", h.delete)
	r.GET("/projects/:id/analytics", h.analytics)
}

type projectResponse struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Owner       *int64  `json:"owner"`
	OwnerName   *string `json:"owner_name"`
	ClientName  string  `json:"client_name"`
	CreatedAt   string  `json:"created_at"`
}

// toProjectResponse renders p, with its owner's username as loaded with
// it; clientName is the tenant's name. An ownerless project has null for
// both owner and owner_name.
func toProjectResponse(p *models.Project, clientName string) projectResponse {
	r := projectResponse{
		ID: p.ID, Name: p.Name, Description: p.Description, Owner: p.OwnerID,
		ClientName: clientName, CreatedAt: formatTime(p.CreatedAt),
	}
	if p.OwnerID != nil {
		var name string
		if p.Owner != nil {
			name = p.Owner.Username
		}
		r.OwnerName = &name
	}
	return r
}

type analyticsResponse struct {
	TotalTasks     int64 `json:"total_tasks"`
	CompletedTasks int64 `json:"completed_tasks"`
	PendingTasks   int64 `json:"pending_tasks"`
	OverdueTasks   int64 `json:"overdue_tasks"`
	// AverageCompletionTime is rendered as Django renders a duration
	// ("P0DT01H30M00S"); null when no completed task has a completion
	// time.
	AverageCompletionTime    *string  `json:"average_completion_time"`
	AverageCompletionSeconds *float64 `json:"average_completion_seconds"`
}

func toAnalyticsResponse(a *repository.ProjectAnalytics) analyticsResponse {
	r := analyticsResponse{
		TotalTasks: a.TotalTasks, CompletedTasks: a.CompletedTasks,
		PendingTasks: a.PendingTasks, OverdueTasks: a.OverdueTasks,
	}
	if us := a.AverageCompletionMicros; us != nil {
		s := formatDuration(*us)
		secs := float64(*us) / 1e6
		r.AverageCompletionTime, r.AverageCompletionSeconds = &s, &secs
	}
	return r
}

// formatDuration renders microseconds as Django's duration_iso_string
// does: "P{days}DT{HH}H{MM}M{SS}[.ffffff]S", with a leading "-" for a
// negative duration (whose parts are those of its absolute value).
func formatDuration(us int64) string {
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	const day = 86400 * 1e6
	days, rest := us/day, us%day
	secs, micros := rest/1e6, rest%1e6
	frac := ""
	if micros != 0 {
		frac = fmt.Sprintf(".%06d", micros)
	}
	return fmt.Sprintf("%sP%dDT%02dH%02dM%02d%sS", sign, days, secs/3600, secs%3600/60, secs%60, frac)
}

// requestTenantName is the name of the request's tenant, which responses carry
// as client_name.
func requestTenantName(c *gin.Context) string {
	if t := datapath.TenantFromContext(c.Request.Context()); t != nil {
		return t.Name
	}
	return ""
}

// list serves GET /api/projects: ?owner=<user id>, ?search= (name or
// description, case-insensitive substring), ?ordering= over created_at,
// name and id (default -created_at), ?limit= and ?offset=.
func (h *projects) list(c *gin.Context) {
	errs := apperr.Fields{}
	p, err := readPage(c)
	errs.Merge(err)
	owner, err := queryID(c, "owner")
	errs.Merge(err)
	order, err := readOrdering(c, projectOrdering, "-created_at")
	errs.Merge(err)
	search, err := querySearch(c)
	errs.Merge(err)
	if err := errs.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	list, total, err := repository.FindProjects(c.Request.Context(), repository.ProjectFilter{
		OwnerID: owner, Search: search, Order: order, Limit: p.Limit, Offset: p.Offset,
	})
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	name := requestTenantName(c)
	out := make([]projectResponse, len(list))
	for i := range list {
		out[i] = toProjectResponse(&list[i], name)
	}
	c.JSON(http.StatusOK, paginate(c, p, total, out))
}

// create serves POST /api/projects. The owner defaults to the caller.
func (h *projects) create(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx := c.Request.Context()
	np := service.NewProject{}
	name := in.String("name", field{required: true, maxLength: models.MaxProjectNameLen})
	if name != nil {
		np.Name = *name
	}
	if description := in.String("description", field{allowBlank: true}); description != nil {
		np.Description = *description
	}
	np.OwnerID, _ = in.PK("owner", field{})
	p, err := service.CreateProject(ctx, np, in.errs)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusCreated, toProjectResponse(p, requestTenantName(c)))
}

// get serves GET /api/projects/:id.
func (h *projects) get(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	p, err := repository.FindProjectByID(c.Request.Context(), id)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, toProjectResponse(p, requestTenantName(c)))
}

// update serves PUT (name required) and PATCH (only the given fields) of
// /api/projects/:id. Fields left out of a PUT that are not required keep
// their values, as in DRF.
func (h *projects) update(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx := c.Request.Context()
	// As in DRF, a missing object is reported before the body is read.
	if _, err := repository.FindProjectByID(ctx, id); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	in.partial = c.Request.Method == http.MethodPatch
	u := repository.ProjectUpdate{
		Name:        in.String("name", field{required: true, maxLength: models.MaxProjectNameLen}),
		Description: in.String("description", field{allowBlank: true}),
	}
	u.OwnerID, _ = in.PK("owner", field{})
	p, err := service.UpdateProject(ctx, id, u, in.errs)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, toProjectResponse(p, requestTenantName(c)))
}

// delete serves DELETE /api/projects/:id; the project's tasks go with it.
func (h *projects) delete(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	if err := service.DeleteProject(c.Request.Context(), id); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// analytics serves GET /api/projects/:id/analytics.
func (h *projects) analytics(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	a, err := repository.FindProjectAnalytics(c.Request.Context(), id)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, toAnalyticsResponse(a))
}
