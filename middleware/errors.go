// Package middleware holds the Gin middleware of the HTTP API: request ids,
// logging, recovery, body limits, tenant resolution, the per-request
// tenant scope and authentication, and the one place errors are written.
package middleware

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
)

// Error writes err as the response in the shapes clients parse (DRF's):
// per-field validation errors as {"field": ["message"]}, everything else
// as {"detail": "message"}. Internal errors are logged here, once, with
// the request id and tenant; the client gets a generic message.
func Error(c *gin.Context, log *slog.Logger, err error) {
	code := apperr.Code(err)
	status := apperr.HTTPStatus(code)
	if errors.Is(c.Request.Context().Err(), context.Canceled) && errors.Is(err, context.Canceled) {
		// The client went away mid-request: nobody reads this answer,
		// and it is not a failure of ours.
		log.Debug("client closed the request", "request_id", RequestIDFromContext(c.Request.Context()))
		c.AbortWithStatus(499)
		return
	}
	if code == apperr.EINTERNAL || code == apperr.EUNAVAILABLE {
		attrs := []any{"request_id", RequestIDFromContext(c.Request.Context()), "err", err}
		if t := datapath.TenantFromContext(c.Request.Context()); t != nil {
			attrs = append(attrs, "tenant", t.Schema)
		}
		log.Error("request failed", attrs...)
	}
	if status == 401 {
		c.Header("WWW-Authenticate", `Bearer realm="api"`)
	}
	var e *apperr.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		c.AbortWithStatusJSON(status, e.Fields)
		return
	}
	c.AbortWithStatusJSON(status, gin.H{"detail": apperr.Message(err)})
}
