package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/archive"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/tenants"
)

// ArchiveService exports, restores and clones tenants. It is implemented
// by *archive.Service, whose methods document their error codes.
type ArchiveService interface {
	Export(ctx context.Context, schema string, open func(*archive.Manifest) (io.Writer, error), o archive.ExportOptions) (*archive.Checksums, error)
	Restore(ctx context.Context, in io.Reader, p archive.RestoreParams) (*archive.Restored, error)
	Clone(ctx context.Context, p archive.CloneParams) (*archive.Cloned, error)
}

// streamedRoutes are the admin routes (gin's full paths) whose bodies
// are archives, read or written as streams under Deps.MaxArchiveBytes
// rather than read whole under http.max_body_bytes; longRoutes also run
// under Deps.ArchiveTimeout rather than http.request_timeout (see
// NewRouter).
var (
	streamedRoutes = []string{"/admin/tenants/:schema/export", "/admin/tenants/restore"}
	longRoutes     = append([]string{"/admin/tenants/:schema/clone"}, streamedRoutes...)
)

// archiveRoutes returns the export, restore and clone paths of the admin
// API, none when d has no Archives.
func archiveRoutes(d Deps) map[string]map[string]gin.HandlerFunc {
	if d.Archives == nil {
		return nil
	}
	h := &archiveAdmin{log: d.Log, archives: d.Archives, timeout: d.ArchiveTimeout, maxBytes: d.MaxArchiveBytes}
	return map[string]map[string]gin.HandlerFunc{
		"/tenants/:schema/export": {http.MethodGet: h.export},
		"/tenants/restore":        {http.MethodPost: h.restore},
		"/tenants/:schema/clone":  {http.MethodPost: h.clone},
	}
}

type archiveAdmin struct {
	log      *slog.Logger
	archives ArchiveService
	timeout  time.Duration
	maxBytes int64
}

// stream gives a streamed request its own bounds: its context ends after
// the archive timeout, and so do the connection's read and write
// deadlines, which the server set for ordinary requests.
func (h *archiveAdmin) stream(c *gin.Context) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(h.timeout)
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(deadline) // unsupported: the server's own bounds stay
	_ = rc.SetWriteDeadline(deadline)
	return context.WithDeadline(c.Request.Context(), deadline)
}

// export streams the tenant's archive (application/gzip). An error once
// the archive has started cuts the response short: the client is left
// with an archive that fails its checks, never one that passes.
func (h *archiveAdmin) export(c *gin.Context) {
	schema, err := pathSchema(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	ctx, cancel := h.stream(c)
	defer cancel()
	started := false
	sums, err := h.archives.Export(ctx, schema, func(*archive.Manifest) (io.Writer, error) {
		c.Header("Content-Type", "application/gzip")
		c.Header("Content-Disposition", `attachment; filename="`+schema+`.strictmt.tar.gz"`)
		c.Status(http.StatusOK)
		started = true
		return c.Writer, nil
	}, archive.ExportOptions{})
	if err != nil {
		if !started {
			middleware.Error(c, h.log, err)
			return
		}
		h.log.Error("admin: export failed after it started; response cut short", "schema", schema, "err", err,
			"request_id", middleware.RequestIDFromContext(ctx))
		panic(http.ErrAbortHandler)
	}
	h.log.Info("admin: exported tenant", "schema", schema, "sha256", sums.SHA256, "request_id", middleware.RequestIDFromContext(ctx))
}

// archiveTypes are the content types a restore's body may have (none
// given is taken as an archive too).
var archiveTypes = map[string]bool{"application/gzip": true, "application/x-gzip": true, "application/octet-stream": true}

// restoreResponse is the tenant a restore or a clone created, with the
// rows of each of its tables.
type restoreResponse struct {
	tenants.View
	// MigratedFrom is the archive's tenant migration version (a restore
	// only).
	MigratedFrom int64               `json:"migrated_from,omitempty"`
	Tables       []archive.TableRows `json:"tables"`
}

// restore creates a tenant from the archive in the body;
// ?schema=, ?name= and ?domain= (repeated) replace the archive's.
func (h *archiveAdmin) restore(c *gin.Context) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || !archiveTypes[mt] {
			middleware.Error(c, h.log, apperr.Errorf(apperr.EUNSUPPORTED, "Unsupported media type \"%s\" in request.", ct))
			return
		}
	}
	ctx, cancel := h.stream(c)
	defer cancel()
	body := http.MaxBytesReader(c.Writer, c.Request.Body, h.maxBytes)
	res, err := h.archives.Restore(ctx, body, archive.RestoreParams{
		Schema: c.Query("schema"), Name: c.Query("name"), Domains: c.QueryArray("domain"),
	})
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		c.Header("Connection", "close")
		err = apperr.TooLarge(tooLarge.Limit)
	}
	if err != nil {
		middleware.Error(c, h.log, renameField(renameField(err, "domains", "domain"), "schema_name", "schema"))
		return
	}
	h.log.Info("admin: restored tenant", "schema", res.Tenant.SchemaName, "migrated_from", res.Version,
		"request_id", middleware.RequestIDFromContext(ctx))
	c.JSON(http.StatusCreated, restoreResponse{View: tenants.ViewOf(res.Tenant), MigratedFrom: res.Version, Tables: res.Tables})
}

// clone creates {"schema_name", "domains", "name", "without_users"} as
// a copy of the tenant in the path.
func (h *archiveAdmin) clone(c *gin.Context) {
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
	to := in.String("schema_name", field{required: true, allowBlank: true})
	domains := in.stringList("domains", field{required: true})
	name := in.String("name", field{allowBlank: true})
	withoutUsers := in.Bool("without_users", field{})
	if err := in.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	p := archive.CloneParams{Source: schema, Schema: *to, Domains: domains, WithoutUsers: withoutUsers != nil && *withoutUsers}
	if name != nil {
		p.Name = *name
	}
	ctx, cancel := h.stream(c)
	defer cancel()
	res, err := h.archives.Clone(ctx, p)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	h.log.Info("admin: cloned tenant", "from", schema, "schema", res.Tenant.SchemaName, "request_id", middleware.RequestIDFromContext(ctx))
	c.JSON(http.StatusCreated, restoreResponse{View: tenants.ViewOf(res.Tenant), Tables: res.Tables})
}
