package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/tenants"
)

// usageRoutes returns the usage path of the admin API.
func usageRoutes(d Deps) map[string]map[string]gin.HandlerFunc {
	h := &usageAdmin{log: d.Log, tenants: d.Tenants}
	return map[string]map[string]gin.HandlerFunc{
		"/tenants/:schema/usage": {http.MethodGet: h.get},
	}
}

type usageAdmin struct {
	log     *slog.Logger
	tenants TenantService
}

// get answers a tenant's exact usage: its bytes on disk
// (pg_total_relation_size of its tables summed), the rows of each table
// counted, its users, and what this process saw of its requests.
func (h *usageAdmin) get(c *gin.Context) {
	schema, err := pathSchema(c)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	u, err := h.tenants.Usage(c.Request.Context(), schema)
	if err != nil {
		middleware.Error(c, h.log, err)
		return
	}
	c.JSON(http.StatusOK, u.View())
}

// tenantOrdering maps the ?ordering= fields of the tenant list to the
// usage fields they sort by.
var tenantOrdering = map[string]string{
	"schema_name":  "schema",
	"bytes":        "bytes",
	"rows":         "rows",
	"users":        "users",
	"requests":     "requests",
	"last_request": "last_request",
}

// readTenantOrdering reads ?ordering= of the tenant list: fields of
// tenantOrdering, comma-separated, each with - for descending. Absent,
// or schema_name alone, is the list's own order (nil). 400 naming the
// parameter for any other field.
func readTenantOrdering(c *gin.Context) ([]tenants.UsageKey, error) {
	raw := strings.TrimSpace(c.Query("ordering"))
	if raw == "" || raw == "schema_name" {
		return nil, nil
	}
	var keys []tenants.UsageKey
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		desc := strings.HasPrefix(f, "-")
		field, ok := tenantOrdering[strings.TrimPrefix(f, "-")]
		if !ok {
			return nil, apperr.FieldError("ordering", fmt.Sprintf("Invalid ordering field %q; use one of %s, with - for descending.",
				strings.TrimPrefix(f, "-"), strings.Join(sortedKeys(tenantOrdering), ", ")))
		}
		keys = append(keys, tenants.UsageKey{Field: field, Desc: desc})
	}
	return keys, nil
}
