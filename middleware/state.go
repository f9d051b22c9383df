package middleware

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
)

// ReadOnlyRetry is the Retry-After of a write refused by a read-only
// tenant whose state has no end set.
const ReadOnlyRetry = 60 * time.Second

// TenantState enforces the tenant's state (models.Tenant.State, cached by
// the resolver with the rest of the catalog row and refreshed on every
// catalog change): a suspended tenant gets 403 on every route under /api/
// but those that describe the API (as PaidUntil), logging in included; a
// read-only tenant gets 503 with Retry-After on every write (POST, PUT,
// PATCH, DELETE) but the routes in reads (method and gin's full path,
// "POST /api/token/verify"), which write nothing. A request is checked
// once, when it starts: one begun before a change finishes as it began,
// and its writes commit whole or not at all. now returns the current
// time; nil means time.Now.
func TenantState(log *slog.Logger, reads map[string]bool, now func() time.Time) gin.HandlerFunc {
	if now == nil {
		now = time.Now
	}
	return func(c *gin.Context) {
		t := datapath.TenantFromContext(c.Request.Context())
		if t == nil || paidExempt(c.FullPath()) {
			c.Next()
			return
		}
		at := now()
		switch t.EffectiveState(at) {
		case models.StateSuspended:
			Error(c, log, apperr.Errorf(apperr.EFORBIDDEN, "This tenant is suspended."))
			return
		case models.StateReadOnly:
			if isWrite(c.Request.Method) && !reads[c.Request.Method+" "+c.FullPath()] {
				retry := ReadOnlyRetry
				if t.StateUntil != nil {
					retry = t.StateUntil.Sub(at)
				}
				c.Header("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(retry.Seconds())))))
				Error(c, log, apperr.Errorf(apperr.EUNAVAILABLE, "This tenant is read-only for maintenance; retry later."))
				return
			}
		}
		c.Next()
	}
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}
