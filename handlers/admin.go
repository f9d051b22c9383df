package handlers

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenants"
)

// TenantService creates, changes and deletes tenants and their domains; the
// CLI uses the same service, so both apply the same validation. It is
// implemented by *tenants.Service, whose methods document their error
// codes (EINVALID, ECONFLICT, ENOTFOUND).
type TenantService interface {
	CreateTenant(ctx context.Context, p tenants.CreateParams) (*models.Tenant, error)
	ListTenantsWithUsage(ctx context.Context, p tenants.ListParams, order []tenants.UsageKey) ([]tenants.TenantWithUsage, int64, error)
	FindTenant(ctx context.Context, schema string) (*models.Tenant, error)
	UpdateTenant(ctx context.Context, schema string, u tenants.UpdateParams) (*models.Tenant, error)
	DeleteTenant(ctx context.Context, schema string, dropSchema bool) error
	AddDomain(ctx context.Context, schema, domain string, primary bool) (*models.Domain, error)
	RemoveDomain(ctx context.Context, domain string) error
	SetPrimaryDomain(ctx context.Context, domain string) (*models.Domain, string, error)
	Fleet(ctx context.Context) (*tenants.Fleet, error)
	Usage(ctx context.Context, schema string) (*tenants.Usage, error)
}

// adminMethods are the methods answered on admin paths: those a path does
// not serve get 405, but only past the admin guard, so a tenant host or an
// unauthenticated caller cannot tell admin paths from missing ones.
var adminMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// registerAdmin registers the admin API on r, a group at /admin behind
// middleware.Admin.
func registerAdmin(r *gin.RouterGroup, d Deps) {
	h := &admin{log: d.Log, tenants: d.Tenants}
	routes := map[string]map[string]gin.HandlerFunc{
		"/tenants":                 {http.MethodGet: h.list, http.MethodPost: h.create},
		"/tenants/:schema":         {http.MethodGet: h.get, http.MethodPatch: h.patch, http.MethodDelete: h.delete},
		"/tenants/:schema/domains": {http.MethodPost: h.addDomain},
		"/domains/:domain":         {http.MethodDelete: h.removeDomain, http.MethodPatch: h.patchDomain},
		"/fleet":                   {http.MethodGet: h.fleet},
	}
	maps.Copy(routes, placementRoutes(d))
	maps.Copy(routes, archiveRoutes(d))
	maps.Copy(routes, consoleRoutes())
	maps.Copy(routes, usageRoutes(d))
	for path, handlers := range routes {
		for _, m := range adminMethods {
			if fn, ok := handlers[m]; ok {
				r.Handle(m, path, fn)
			} else {
				r.Handle(m, path, adminMethodNotAllowed)
			}
		}
	}
}

func adminMethodNotAllowed(c *gin.Context) {
	c.JSON(http.StatusMethodNotAllowed, gin.H{"detail": "Method \"" + c.Request.Method + "\" not allowed."})
}

type admin struct {
	log     *slog.Logger
	tenants TenantService
}

// create creates a tenant: catalog rows, schema, tables and role, all or
// nothing.
func (h *admin) create(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	// Content rules (blank, length, schema name, domain syntax) are the
	// service's, so the CLI and this API refuse the same input with the
	// same messages; here only presence and JSON types are checked.
	name := in.String("name", field{required: true, allowBlank: true})
	schema := in.String("schema_name", field{required: true, allowBlank: true})
	domains := in.stringList("domains", field{required: true})
	paidUntil, _ := in.nullableDate("paid_until")
	onTrial := in.Bool("on_trial", field{})
	if err := in.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	p := tenants.CreateParams{Name: *name, SchemaName: *schema, Domains: domains, PaidUntil: paidUntil}
	if onTrial != nil {
		p.OnTrial = *onTrial
	}
	tenant, err := h.tenants.CreateTenant(c.Request.Context(), p)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	h.log.Info("admin: created tenant", "schema", tenant.SchemaName, "request_id", middleware.RequestIDFromContext(c.Request.Context()))
	c.JSON(http.StatusCreated, tenants.ViewOf(tenant))
}

// list lists tenants, each with a summary of its usage, by schema name or
// by ?ordering= (see readTenantOrdering), paginated; ?search= matches the
// name or schema name.
func (h *admin) list(c *gin.Context) {
	errs := apperr.Fields{}
	p, err := readPage(c)
	errs.Merge(err)
	search, err := querySearch(c)
	errs.Merge(err)
	order, err := readTenantOrdering(c)
	errs.Merge(err)
	if err := errs.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	list, total, err := h.tenants.ListTenantsWithUsage(c.Request.Context(), tenants.ListParams{Search: search, Limit: p.Limit, Offset: p.Offset}, order)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	out := make([]tenants.ListedView, len(list))
	for i := range list {
		out[i] = tenants.ListedViewOf(&list[i])
	}
	c.JSON(http.StatusOK, paginate(c, p, total, out))
}

func (h *admin) get(c *gin.Context) {
	tenant, err := h.tenants.FindTenant(c.Request.Context(), c.Param("schema"))
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, tenants.ViewOf(tenant))
}

// patch changes the given fields among name, paid_until (null clears it)
// and on_trial.
func (h *admin) patch(c *gin.Context) {
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
	in.partial = true
	u := tenants.UpdateParams{Name: in.String("name", field{allowBlank: true}), OnTrial: in.Bool("on_trial", field{})}
	if paidUntil, set := in.nullableDate("paid_until"); set {
		u.PaidUntil = &paidUntil
	}
	state := in.String("state", field{allowBlank: true})
	reason := in.String("state_reason", field{allowBlank: true})
	until, _ := in.Time("state_until", field{allowNull: true})
	purge, _ := in.Time("purge_after", field{allowNull: true})
	if state != nil {
		u.State = &tenants.StateChange{State: *state, Until: until, PurgeAfter: purge}
		if reason != nil {
			u.State.Reason = *reason
		}
	} else if reason != nil || until != nil || purge != nil {
		in.errs.Add("state", "This field is required with state_reason, state_until or purge_after.")
	}
	if err := in.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	tenant, err := h.tenants.UpdateTenant(c.Request.Context(), schema, u)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, tenants.ViewOf(tenant))
}

// delete removes a tenant's catalog rows and role; ?drop_schema=true also
// drops its schema and data.
func (h *admin) delete(c *gin.Context) {
	schema, err := pathSchema(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	drop, err := queryBool(c, "drop_schema")
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	if err := h.tenants.DeleteTenant(c.Request.Context(), schema, drop != nil && *drop); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	h.log.Info("admin: deleted tenant", "schema", schema, "drop_schema", drop != nil && *drop,
		"request_id", middleware.RequestIDFromContext(c.Request.Context()))
	c.Status(http.StatusNoContent)
}

// addDomain adds {"domain", "is_primary"} to a tenant.
func (h *admin) addDomain(c *gin.Context) {
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
	domain := in.String("domain", field{required: true, allowBlank: true})
	primary := in.Bool("is_primary", field{})
	if err := in.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	d, err := h.tenants.AddDomain(c.Request.Context(), schema, *domain, primary != nil && *primary)
	if err != nil {
		middleware.Error(c, h.log, renameField(err, "domains", "domain"))
		return
	}
	c.JSON(http.StatusCreated, tenants.TenantDomainView{Domain: d.Domain, Tenant: schema, IsPrimary: d.IsPrimary})
}

// removeDomain removes a domain; a tenant's last domain cannot go.
func (h *admin) removeDomain(c *gin.Context) {
	if err := h.tenants.RemoveDomain(c.Request.Context(), c.Param("domain")); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// patchDomain changes a domain: {"is_primary": true} makes it its
// tenant's only primary domain. A tenant always has one primary domain,
// so false is refused: make another domain primary instead.
func (h *admin) patchDomain(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	primary := in.Bool("is_primary", field{required: true})
	if primary != nil && !*primary {
		in.errs.Add("is_primary", "A tenant always has one primary domain: make another of its domains primary instead.")
	}
	if err := in.Err(); err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	d, schema, err := h.tenants.SetPrimaryDomain(c.Request.Context(), c.Param("domain"))
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, tenants.TenantDomainView{Domain: d.Domain, Tenant: schema, IsPrimary: d.IsPrimary})
}

// fleetListMax bounds the schemas listed in each of a fleet answer's
// lists; their counts are always whole.
const fleetListMax = 100

// fleetResponse is the answer of GET /admin/fleet.
type fleetResponse struct {
	Tenants     int64            `json:"tenants"`
	ByState     map[string]int64 `json:"by_state"`
	SparesReady int64            `json:"spare_schemas_ready"`
	Migrations  fleetMigrations  `json:"migrations"`
}

type fleetMigrations struct {
	Latest          int64              `json:"latest"`
	PendingCount    int                `json:"pending_count"`
	Pending         []schemaPending    `json:"pending"`
	UnreadableCount int                `json:"unreadable_count"`
	Unreadable      []schemaUnreadable `json:"unreadable"`
}

type schemaPending struct {
	SchemaName string  `json:"schema_name"`
	Versions   []int64 `json:"versions"`
}

type schemaUnreadable struct {
	SchemaName string `json:"schema_name"`
	Detail     string `json:"detail"`
}

// fleet answers the figures of every tenant at once: tenants by state,
// spare schemas ready, and the schemas whose migrations are pending or
// whose versions could not be read.
func (h *admin) fleet(c *gin.Context) {
	f, err := h.tenants.Fleet(c.Request.Context())
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	out := fleetResponse{Tenants: f.Tenants, ByState: f.ByState, SparesReady: f.SparesReady, Migrations: fleetMigrations{
		Latest: f.LatestVersion, PendingCount: len(f.Pending), UnreadableCount: len(f.Unreadable),
		Pending: []schemaPending{}, Unreadable: []schemaUnreadable{},
	}}
	for _, s := range f.PendingSchemas() {
		if len(out.Migrations.Pending) == fleetListMax {
			break
		}
		out.Migrations.Pending = append(out.Migrations.Pending, schemaPending{SchemaName: s, Versions: f.Pending[s]})
	}
	for _, s := range f.UnreadableSchemas() {
		// The reason may hold the database's own words: it goes to the
		// log, the operator gets the command that shows it.
		h.log.Warn("admin: a tenant schema's migration versions could not be read", "schema", s, "err", f.Unreadable[s],
			"request_id", middleware.RequestIDFromContext(c.Request.Context()))
		if len(out.Migrations.Unreadable) < fleetListMax {
			out.Migrations.Unreadable = append(out.Migrations.Unreadable, schemaUnreadable{SchemaName: s,
				Detail: "Its migration versions could not be read; strictmt migrate --dry-run --schema " + s + " shows why."})
		}
	}
	c.JSON(http.StatusOK, out)
}

// pathSchema reads the {schema} path parameter. A value that cannot be a
// schema name names no tenant: 404.
func pathSchema(c *gin.Context) (string, error) {
	s := c.Param("schema")
	if tenants.ValidateSchemaName(s) != nil {
		return "", apperr.NoTenant(s)
	}
	return s, nil
}

// renameField moves the service's messages for field from to field to,
// where the request body names the field differently.
func renameField(err error, from, to string) error {
	var e *apperr.Error
	if !errors.As(err, &e) || e.Fields[from] == nil {
		return err
	}
	fields := apperr.Fields{}
	for k, v := range e.Fields {
		if k == from {
			k = to
		}
		fields[k] = append(fields[k], v...)
	}
	return fields.Err()
}
