package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
)

// Logger logs one line per request: request id, method, path, status,
// duration and tenant.
func Logger(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		ctx := c.Request.Context()
		attrs := []any{
			"request_id", RequestIDFromContext(ctx),
			"method", c.Request.Method,
			"path", c.Request.URL.Path,
			"status", c.Writer.Status(),
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		}
		if t := datapath.TenantFromContext(ctx); t != nil {
			attrs = append(attrs, "tenant", t.Schema)
		}
		log.Info("request", attrs...)
	}
}

// Recovery turns a panic into a logged 500 JSON response. Middleware
// inside it (the tenant scope) has already rolled back by the time it
// runs.
func Recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				log.Error("panic", "request_id", RequestIDFromContext(c.Request.Context()), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					Error(c, log, apperr.Errorf(apperr.EINTERNAL, "panic: %v", r))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// BodyLimit refuses request bodies over max bytes with 413 JSON.
func BodyLimit(log *slog.Logger, max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			Error(c, log, apperr.TooLarge(max))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// Except runs h on every route but those in paths (gin's full paths, as
// registered).
func Except(paths []string, h gin.HandlerFunc) gin.HandlerFunc {
	skip := map[string]bool{}
	for _, p := range paths {
		skip[p] = true
	}
	return func(c *gin.Context) {
		if skip[c.FullPath()] {
			c.Next()
			return
		}
		h(c)
	}
}

// Timeout bounds the request's context, so database work of a request
// that takes too long is cancelled and answered with 503.
func Timeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}
