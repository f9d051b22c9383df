// Package handlers holds the HTTP handlers: each binds, validates, calls a
// repository or service and responds. No query is written here.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/service"
	"github.com/strictmt/strictmt/tenants"
)

// Deps is what the router needs.
type Deps struct {
	Log          *slog.Logger
	Resolver     middleware.TenantResolver
	Tokens       *auth.Tokens
	Strict       bool
	MaxBodyBytes int64
	// TrustedProxies are the reverse proxies whose X-Forwarded-Host is
	// believed.
	TrustedProxies []netip.Prefix
	// RequestTimeout bounds each request's database work.
	RequestTimeout time.Duration
	// Ready reports whether the database answers.
	Ready func(ctx context.Context) error
	// Passwords is the sign-up password policy.
	Passwords auth.PasswordPolicy
	// Throttles limit the account endpoints; nil ones throttle nothing.
	Throttles auth.Throttles
	// RotateRefreshTokens and BlacklistAfterRotation are simplejwt's
	// ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION.
	RotateRefreshTokens, BlacklistAfterRotation bool
	// Now is the clock of token bookkeeping (time.Now when nil).
	Now func() time.Time
	// Tenants serves the admin API; AdminToken enables it (empty: the
	// admin paths answer 404) on PublicHosts only.
	Tenants     TenantService
	AdminToken  string
	PublicHosts []string
	// IdempotencyTTL is how long the response of a write sent with an
	// Idempotency-Key is kept (api.idempotency_ttl).
	IdempotencyTTL time.Duration
	// Archives, when not nil, serves the admin API's tenant export,
	// restore and clone, each under ArchiveTimeout, a restore's archive
	// up to MaxArchiveBytes.
	Archives        ArchiveService
	ArchiveTimeout  time.Duration
	MaxArchiveBytes int64
	// Placements, when not nil, serves the admin API's tenant placement
	// paths (Citus); without it they answer 404.
	Placements PlacementService
	// EnforcePaidUntil answers 402 to tenants past paid_until and not on
	// trial (see middleware.PaidUntil).
	EnforcePaidUntil bool
	// CORSOrigins are the browser origins allowed to call the service.
	CORSOrigins []string
	// Metrics, when not nil, counts every request; MetricsHandler, when
	// not nil, is served at GET /metrics on PublicHosts only.
	Metrics        gin.HandlerFunc
	MetricsHandler http.Handler
	// TenantHeader, when not empty, is the header that names the tenant
	// (by a domain) on PublicHosts (tenancy.identify_by: [host, header]).
	TenantHeader string
	// BodyTimeout bounds the read of a request body (see
	// middleware.ReadBody); 0 leaves it to the server's read timeout.
	BodyTimeout time.Duration
	// TenantLimiter caps each tenant's concurrent scoped requests; nil
	// caps nothing.
	TenantLimiter *middleware.TenantLimiter
	// Activity, when not nil, records every tenant request (the usage
	// reads report it).
	Activity middleware.ActivityRecorder
}

// NewRouter returns the HTTP handler of the whole service. Paths work with
// and without a trailing slash, without redirects.
func NewRouter(d Deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	// Gin trusts every proxy's X-Forwarded-For by default; strictmt
	// trusts only the configured ones, for every forwarded header.
	_ = r.SetTrustedProxies(prefixStrings(d.TrustedProxies))
	if d.Metrics != nil {
		r.Use(d.Metrics)
	}
	r.Use(middleware.RequestID(), middleware.SecurityHeaders(), middleware.ForwardedHost(d.TrustedProxies), middleware.Logger(d.Log), middleware.RequestLineHost(), middleware.CORS(d.Log, d.CORSOrigins, tenantHeaders(d)...), middleware.Recovery(d.Log),
		middleware.Except(streamedRoutes, middleware.BodyLimit(d.Log, d.MaxBodyBytes)), middleware.Except(streamedRoutes, middleware.ReadBody(d.Log, d.BodyTimeout)),
		middleware.Except(longRoutes, middleware.Timeout(d.RequestTimeout)))

	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"detail": "Not found."}) })
	r.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, gin.H{"detail": "Method \"" + c.Request.Method + "\" not allowed."})
	})

	h := &health{ready: d.Ready}
	r.GET("/healthz", h.alive)
	r.GET("/readyz", h.readyz)
	if d.MetricsHandler != nil {
		r.GET("/metrics", publicHostOnly(d.PublicHosts), gin.WrapH(d.MetricsHandler))
	}
	registerAdmin(r.Group("/admin", middleware.Admin(d.Log, d.AdminToken, d.PublicHosts, consolePages...)), d)

	api := r.Group("/api", middleware.Tenant(d.Log, d.Resolver, middleware.TenantHeader{
		Name: d.TenantHeader, PublicHosts: d.PublicHosts, NormalizeHost: tenants.NormalizeHost,
	}), middleware.Activity(d.Activity), middleware.TenantState(d.Log, readOnlyRoutes(d), nil), middleware.PaidUntil(d.Log, d.EnforcePaidUntil, nil), middleware.LimitTenant(d.Log, d.TenantLimiter), middleware.Scope(d.Log, d.Strict))
	api.GET("", index)
	registerDocs(api, d)

	accounts := &accounts{log: d.Log, throttles: d.Throttles, svc: &service.Accounts{
		Tokens: d.Tokens, Passwords: d.Passwords, Now: d.Now,
		Rotate: d.RotateRefreshTokens, BlacklistAfterRotation: d.BlacklistAfterRotation,
	}}
	// Writes sent with an Idempotency-Key are kept for their retries;
	// verifying a token writes nothing.
	idem := middleware.Idempotency(d.Log, d.IdempotencyTTL)
	api.POST("/register", idem, accounts.register)
	api.POST("/token", idem, accounts.token)
	api.POST("/token/refresh", idem, accounts.refresh)
	api.POST("/token/verify", accounts.verify)
	api.POST("/token/blacklist", idem, accounts.blacklist)

	// Every other endpoint needs an access token of this tenant.
	authed := api.Group("", middleware.Authenticate(d.Log, d.Tokens, findUser), idem)
	// Resource routes are registered below, one line per resource.
	registerTodos(authed, d)
	registerProjects(authed, d)
	registerTasks(authed, d)

	return stripTrailingSlash(r)
}

// readOnlyRoutes are the POST routes that write nothing, which a
// read-only tenant still serves (see middleware.TenantState): verifying a
// token, and refreshing one when refresh tokens are not rotated (a
// rotation records the new token).
func readOnlyRoutes(d Deps) map[string]bool {
	return map[string]bool{"POST /api/token/verify": true, "POST /api/token/refresh": !d.RotateRefreshTokens}
}

// stripTrailingSlash routes "/api/todos/" and "/api/todos" alike.
func stripTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			if r.URL.Path == "" {
				r.URL.Path = "/"
			}
			r.URL.RawPath = ""
		}
		next.ServeHTTP(w, r)
	})
}

type health struct {
	ready func(ctx context.Context) error
}

func (h *health) alive(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (h *health) readyz(c *gin.Context) {
	if err := h.ready(c.Request.Context()); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "detail": "The database is unavailable."})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// index lists the API's endpoints, as DRF's browsable root does.
func index(c *gin.Context) {
	base := "http://" + c.Request.Host + "/api/"
	c.JSON(http.StatusOK, gin.H{
		"register":        base + "register/",
		"token":           base + "token/",
		"token_refresh":   base + "token/refresh/",
		"token_verify":    base + "token/verify/",
		"token_blacklist": base + "token/blacklist/",
		"todos":           base + "todos/",
		"projects":        base + "projects/",
		"tasks":           base + "tasks/",
		"openapi":         base + "openapi.json",
		"docs":            base + "docs/",
	})
}

// findUser is the Authenticate middleware's view of the users table: the
// check that the token's user exists rides with the request's first
// statements (repository.CheckUser).
func findUser(ctx context.Context, id int64) (*datapath.User, error) {
	return repository.CheckUser(ctx, id)
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// publicHostOnly answers 404, like an unknown path, on every host but the
// public ones, so that tenants' hosts do not expose the service's metrics.
func publicHostOnly(hosts []string) gin.HandlerFunc {
	public := map[string]bool{}
	for _, h := range hosts {
		public[tenants.NormalizeHost(h)] = true
	}
	return func(c *gin.Context) {
		if !public[tenants.NormalizeHost(c.Request.Host)] {
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"detail": "Not found."})
			return
		}
		c.Next()
	}
}

// tenantHeaders returns the tenant header, if on, for CORS.
func tenantHeaders(d Deps) []string {
	if d.TenantHeader == "" {
		return nil
	}
	return []string{d.TenantHeader}
}
