package handlers

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/tenants"
)

// PlacementService shows and moves tenant schemas on a Citus cluster. It is
// implemented by tenants.PlacementService.
type PlacementService interface {
	// Placements returns the placement of every tenant, or of schema
	// alone when not "". ENOTFOUND, EINVALID, ECONFLICT (not on Citus:
	// tenants.ErrNotCitus; Citus too old).
	Placements(ctx context.Context, schema string) ([]tenants.Placement, error)
	// MoveTenant moves schema to node (HOST:PORT) and returns where it is
	// then. EINVALID (field "node"), ENOTFOUND, ECONFLICT (not on Citus,
	// Citus too old, schema not distributed); a failed move is internal.
	MoveTenant(ctx context.Context, schema, node string, blockWrites bool, progress func(tenants.MoveProgress)) (*tenants.Placement, error)
}

// moveResponse is the placement after a move, and whether the move
// changed it.
type moveResponse struct {
	tenants.PlacementView
	Moved bool `json:"moved"`
}

// placementRoutes returns the placement paths of the admin API, none
// when d has no Placements.
func placementRoutes(d Deps) map[string]map[string]gin.HandlerFunc {
	if d.Placements == nil {
		return nil
	}
	h := &placementAdmin{log: d.Log, placements: d.Placements}
	return map[string]map[string]gin.HandlerFunc{
		"/placements":                {http.MethodGet: h.list},
		"/tenants/:schema/placement": {http.MethodGet: h.get},
		"/tenants/:schema/move":      {http.MethodPost: h.move},
	}
}

type placementAdmin struct {
	log        *slog.Logger
	placements PlacementService
}

// list lists every tenant's placement, paginated like the tenants. The
// placements are read in one query, then paginated.
func (h *placementAdmin) list(c *gin.Context) {
	p, err := readPage(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	all, err := h.placements.Placements(c.Request.Context(), "")
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	var out []tenants.PlacementView
	for i := p.Offset; i < len(all) && len(out) < p.Limit; i++ {
		out = append(out, all[i].View())
	}
	c.JSON(http.StatusOK, paginate(c, p, int64(len(all)), out))
}

func (h *placementAdmin) get(c *gin.Context) {
	schema, err := pathSchema(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ps, err := h.placements.Placements(c.Request.Context(), schema)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	// Placements of an existing tenant lists it once (ENOTFOUND else);
	// it may have been deleted in between.
	if len(ps) != 1 {
		middleware.Error(c, h.log, apperr.NoTenant(schema))
		return
	}
	c.JSON(http.StatusOK, ps[0].View())
}

type moveResult struct {
	p   *tenants.Placement
	err error
}

// move moves a tenant to {"node": "HOST:PORT", "block_writes": false}.
//
// A move copies the tenant's data: it can outlast the request timeout and
// the server's write timeout, and cancelling it half-way throws the copy
// away. So it runs detached from the request's deadline; the request waits
// for it until that deadline and then answers 202, while the move goes on
// and its outcome is logged.
func (h *placementAdmin) move(c *gin.Context) {
	schema, err := pathSchema(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	// The node's syntax is the service's to check, as for the CLI.
	node := in.String("node", field{required: true})
	blockWrites := in.Bool("block_writes", field{})
	if err := in.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx := c.Request.Context()
	requestID := middleware.RequestIDFromContext(ctx)
	done := make(chan moveResult, 1)
	go func() {
		p, err := h.placements.MoveTenant(context.WithoutCancel(ctx), schema, *node, blockWrites != nil && *blockWrites, nil)
		done <- moveResult{p, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			middleware.Error(c, h.log, r.err)
			return
		}
		if r.p.Moved {
			h.log.Info("admin: moved tenant", "schema", schema, "node", r.p.Node, "request_id", requestID)
		}
		c.JSON(http.StatusOK, moveResponse{PlacementView: r.p.View(), Moved: r.p.Moved})
	case <-ctx.Done():
		go func() {
			r := <-done
			if r.err != nil {
				h.log.Error("admin: moving tenant failed", "schema", schema, "node", *node, "request_id", requestID, "err", r.err)
				return
			}
			h.log.Info("admin: moved tenant", "schema", schema, "node", r.p.Node, "moved", r.p.Moved, "request_id", requestID)
		}()
		c.JSON(http.StatusAccepted, gin.H{"detail": "The move of tenant \"" + schema + "\" to " + *node +
			" goes on after this answer; GET /admin/tenants/" + schema + "/placement/ shows its node."})
	}
}
