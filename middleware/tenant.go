package middleware

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/tenancy"
)

// maxResolveRetries bounds the retries of a tenant lookup that met dead
// pooled connections.
const maxResolveRetries = 100

// TenantResolver finds the tenant of a host. Resolve returns ENOTFOUND for
// a host no tenant has.
type TenantResolver interface {
	Resolve(ctx context.Context, host string) (*tenancy.Tenant, error)
}

// Tenant resolves the request's tenant from its Host and puts it in the
// request's context; unknown hosts get 404 JSON. The Host is the one the
// server received (Go's http.Server takes it from an absolute-URI request
// line when there is one), or the one ForwardedHost put there from a
// trusted proxy; a client's own X-Forwarded-Host is never believed.
func Tenant(log *slog.Logger, r TenantResolver) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		t, err := r.Resolve(ctx, c.Request.Host)
		// A lookup that met a pooled connection the server had closed
		// (after a database restart the catalog listener empties the
		// cache, so lookups come at once) is a read: run it again. Each
		// attempt discards one dead connection; the bound is a safety
		// net.
		for retries := 0; err != nil && retries < maxResolveRetries && tenancy.DeadConnection(ctx, err); retries++ {
			t, err = r.Resolve(ctx, c.Request.Host)
		}
		if err != nil {
			Error(c, log, err)
			return
		}
		c.Request = c.Request.WithContext(tenancy.NewContextWithTenant(c.Request.Context(), t))
		c.Next()
	}
}

// Scope runs the rest of the request in the tenant's scope (see
// tenancy.Scope). Reads (GET, HEAD) get a read-only scope: a write from a
// read path fails, in both isolation modes. Every response is held back
// until the scope has ended, so no connection or transaction is held
// while a response is written to a slow client, and a client never sees a
// success that was then rolled back. Checks still pending when the
// handler returns (the user check of a request that sent no statement)
// run first, and their error replaces the response. Responses with
// status 400 and above, and panics, roll back.
func Scope(log *slog.Logger, strict bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := tenancy.TenantFromContext(c.Request.Context())
		var scope *tenancy.Scope
		if m := c.Request.Method; m == http.MethodGet || m == http.MethodHead {
			scope = tenancy.NewReadOnlyScope(t, strict)
		} else {
			scope = tenancy.NewScope(t, strict)
		}
		ctx := tenancy.NewContextWithScope(c.Request.Context(), scope)
		c.Request = c.Request.WithContext(ctx)
		orig := c.Writer
		buf := &bufferedWriter{ResponseWriter: orig, status: http.StatusOK}
		c.Writer = buf
		finished := false
		defer func() {
			// On a panic: restore the writer so Recovery's response
			// reaches the client, and roll back.
			c.Writer = orig
			if !finished {
				scope.Rollback()
			}
		}()
		c.Next()
		finished = true
		c.Writer = orig
		if err := scope.Finish(ctx); err != nil {
			scope.Rollback()
			Error(c, log, err)
			return
		}
		if buf.status >= 400 {
			scope.Rollback()
		} else if err := scope.Commit(); err != nil {
			Error(c, log, err)
			return
		}
		buf.flush()
	}
}

// bufferedWriter holds a response in memory until flush.
type bufferedWriter struct {
	gin.ResponseWriter
	status  int
	body    bytes.Buffer
	written bool
}

func (w *bufferedWriter) WriteHeader(code int) {
	if code > 0 && !w.written {
		w.status = code
	}
}
func (w *bufferedWriter) WriteHeaderNow()             { w.written = true }
func (w *bufferedWriter) Write(b []byte) (int, error) { w.written = true; return w.body.Write(b) }
func (w *bufferedWriter) WriteString(s string) (int, error) {
	w.written = true
	return w.body.WriteString(s)
}
func (w *bufferedWriter) Status() int { return w.status }
func (w *bufferedWriter) Size() int {
	if !w.written {
		return -1
	}
	return w.body.Len()
}
func (w *bufferedWriter) Written() bool { return w.written }
func (w *bufferedWriter) Flush()        {}

func (w *bufferedWriter) flush() {
	w.ResponseWriter.WriteHeader(w.status)
	if w.body.Len() > 0 {
		_, _ = w.ResponseWriter.Write(w.body.Bytes())
	} else {
		w.ResponseWriter.WriteHeaderNow()
	}
}
