package middleware

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/repository"
)

// maxResolveRetries bounds the retries of a tenant lookup that met dead
// pooled connections.
const maxResolveRetries = 100

// TenantResolver finds the tenant of a host. Resolve returns ENOTFOUND for
// a host no tenant has.
type TenantResolver interface {
	Resolve(ctx context.Context, host string) (*datapath.Tenant, error)
}

// TenantHeader configures identification by header (tenancy.identify_by:
// [host, header]) for single-host APIs, such as mobile apps that call one
// API host for every customer.
type TenantHeader struct {
	// Name is the header naming the tenant, by one of its domains (the
	// same names Host takes, e.g. "acme.example.com"). Empty: the header
	// is not read at all.
	Name string
	// PublicHosts are the hosts on which the header selects the tenant.
	PublicHosts []string
	// NormalizeHost reduces a host to its lookup form (see
	// tenants.NormalizeHost).
	NormalizeHost func(string) string
}

// Tenant resolves the request's tenant from its Host and puts it in the
// request's context; unknown hosts get 404 JSON. The Host is the one the
// server received (Go's http.Server takes it from an absolute-URI request
// line when there is one), or the one ForwardedHost put there from a
// trusted proxy; a client's own X-Forwarded-Host is never believed.
//
// With a header configured (h.Name not empty; see TenantHeader), a
// request to a public host names its tenant in that header: the header's
// domain is resolved like a Host (unknown: 404). On a tenant's own host
// the header may be sent too, and must then name the same tenant (any of
// its domains), else 400: the host wins, a header never moves a request
// to another tenant. Tokens stay bound to their tenant whichever way it
// was found.
func Tenant(log *slog.Logger, r TenantResolver, h TenantHeader) gin.HandlerFunc {
	public := map[string]bool{}
	if h.Name != "" {
		for _, p := range h.PublicHosts {
			public[h.NormalizeHost(p)] = true
		}
	}
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		host := c.Request.Host
		named := ""
		if h.Name != "" {
			named = strings.TrimSpace(c.GetHeader(h.Name))
			if named != "" && public[h.NormalizeHost(host)] {
				host, named = named, ""
			}
		}
		t, err := resolveTenant(ctx, r, host)
		if err == nil && named != "" {
			var other *datapath.Tenant
			other, err = resolveTenant(ctx, r, named)
			if apperr.Code(err) == apperr.ENOTFOUND || err == nil && other.ID != t.ID {
				err = apperr.Errorf(apperr.EINVALID, "The %s header names another tenant than the host %q.", h.Name, h.NormalizeHost(c.Request.Host))
			}
		}
		if err != nil {
			Error(c, log, err)
			return
		}
		c.Request = c.Request.WithContext(datapath.NewContextWithTenant(c.Request.Context(), t))
		c.Next()
	}
}

// resolveTenant resolves host with r, retrying lookups that met dead
// pooled connections.
func resolveTenant(ctx context.Context, r TenantResolver, host string) (*datapath.Tenant, error) {
	// A lookup that met a pooled connection the server had closed
	// (after a database restart the catalog listener empties the
	// cache, so lookups come at once) is a read: run it again. Each
	// attempt discards one dead connection; the bound is a safety
	// net.
	retry := pgerr.Retry{Max: maxResolveRetries, If: func(err error) bool { return datapath.DeadConnection(ctx, err) }}
	var t *datapath.Tenant
	err := retry.Do(ctx, func() (err error) {
		t, err = r.Resolve(ctx, host)
		return err
	})
	return t, err
}

// Scope runs the rest of the request in the tenant's scope (see
// datapath.Scope). Reads (GET, HEAD) get a read-only scope: a write from a
// read path fails, in both isolation modes. Every response is held back
// until the scope has ended, so no connection or transaction is held
// while a response is written to a slow client, and a client never sees a
// success that was then rolled back. Checks still pending when the
// handler returns (the user check of a request that sent no statement)
// run first, and their error replaces the response. Responses with
// status 400 and above, and panics, roll back.
func Scope(log *slog.Logger, strict bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := datapath.TenantFromContext(c.Request.Context())
		var scope *datapath.Scope
		if m := c.Request.Method; m == http.MethodGet || m == http.MethodHead {
			scope = datapath.NewReadOnlyScope(t, strict)
		} else {
			scope = datapath.NewScope(t, strict)
		}
		ctx := datapath.NewContextWithScope(c.Request.Context(), scope)
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
		idem := idempotencyOf(c)
		if err := scope.Finish(ctx); err != nil {
			scope.Rollback()
			if idem != nil && idem.inFlight() {
				answerInFlight(c, log)
			} else {
				Error(c, log, err)
			}
			return
		}
		if idem != nil && idem.inFlight() {
			scope.Rollback()
			answerInFlight(c, log)
			return
		}
		switch {
		case buf.status >= 400:
			scope.Rollback()
			if idem != nil {
				// A retry whose first try succeeded may fail where the
				// first did not (a delete of what it deleted): the key's
				// stored response answers it.
				if answered, err := idem.answerStored(c, log, t, strict); answered || err != nil {
					if err != nil {
						Error(c, log, unavailable(err))
					}
					return
				}
			}
		case idem != nil:
			// The response is stored with the COMMIT, in one pipeline.
			stmts, err := repository.IdempotencyStoreStmts(ctx, idem.record(buf.status, buf.Header().Get("Content-Type"), buf.body.Bytes()))
			if err == nil {
				err = scope.EndWith(ctx, stmts...)
			}
			if repository.IsIdempotencyTaken(err) {
				// A retry: its writes were rolled back with the store.
				answered, ferr := idem.answerStored(c, log, t, strict)
				switch {
				case ferr != nil:
					Error(c, log, unavailable(ferr))
				case !answered: // the key's response expired between the store and this read
					answerInFlight(c, log)
				}
				return
			}
			if err != nil {
				scope.Rollback()
				Error(c, log, unavailable(err))
				return
			}
		default:
			if err := scope.End(); err != nil {
				Error(c, log, err)
				return
			}
		}
		buf.flush()
	}
}

// unavailable is err as the client is told it: an apperr error as it is,
// any other (the database's) as 503.
func unavailable(err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
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
