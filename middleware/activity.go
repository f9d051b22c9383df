package middleware

import (
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/datapath"
)

// ActivityRecorder keeps what this process sees of each tenant's
// requests (tenants.Activity).
type ActivityRecorder interface {
	// Seen records a request of the tenant whose schema is schema,
	// which arrived at at and spent db in its round trips to
	// PostgreSQL.
	Seen(schema string, at time.Time, db time.Duration)
}

// Activity records every request of a resolved tenant with r once it has
// been served, whatever its answer: when it arrived, and the time its
// scope spent in the database (datapath.DatabaseTime; the scope is made
// further in, by Scope). Put it after Tenant. Nil r records nothing.
func Activity(r ActivityRecorder) gin.HandlerFunc {
	return func(c *gin.Context) {
		if r == nil {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		// c.Request is the one the handlers further in last set: it
		// carries the tenant and the scope.
		ctx := c.Request.Context()
		if t := datapath.TenantFromContext(ctx); t != nil {
			r.Seen(t.Schema, start, datapath.DatabaseTime(ctx))
		}
	}
}
