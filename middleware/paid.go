package middleware

import (
	"log/slog"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
)

// PaidUntil refuses the API to tenants whose subscription has lapsed: when
// enforce is set, a tenant whose paid_until is before today (UTC) and
// which is not on trial gets 402 JSON. A tenant without paid_until, on
// trial, or paid until today or later is served. Everything under /api/ is
// refused, logging in and registering included, except what describes the
// API: the index (/api/), the OpenAPI document (/api/openapi.json) and the
// docs page with its assets (/api/docs/...). It runs after Tenant, which
// puts the tenant (with its paid_until and on_trial, cached by the
// resolver and refreshed on every catalog change) in the context. now
// returns the current time; nil means time.Now.
func PaidUntil(log *slog.Logger, enforce bool, now func() time.Time) gin.HandlerFunc {
	if !enforce {
		return func(c *gin.Context) { c.Next() }
	}
	if now == nil {
		now = time.Now
	}
	return func(c *gin.Context) {
		t := datapath.TenantFromContext(c.Request.Context())
		if t == nil || t.OnTrial || t.PaidUntil == nil || paidExempt(c.FullPath()) {
			c.Next()
			return
		}
		if t.PaidUntil.Before(models.NewDate(now()).Time) {
			Error(c, log, apperr.Errorf(apperr.EPAYMENTREQUIRED,
				"The subscription of this tenant ended on %s. Renew it to use the API.", t.PaidUntil))
			return
		}
		c.Next()
	}
}

// paidExempt reports whether the route pattern describes the API rather
// than serving it.
func paidExempt(route string) bool {
	return route == "/api" || route == "/api/openapi.json" || route == "/api/docs" || strings.HasPrefix(route, "/api/docs/")
}
