package middleware

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
)

// CORS response values: what browsers may send in a cross-origin request
// and how long they may cache a preflight answer.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, X-Request-ID"
	corsExposeHeaders = "X-Request-ID"
	corsMaxAge        = time.Hour
)

// CORS lets browser frontends on the given origins call the service.
// origins are exact origins ("https://app.example.com"; a trailing slash
// and letter case are ignored) or "*" for any origin, in which case
// credentials are not allowed. It belongs in the router's global chain:
// a preflight (OPTIONS with Origin and Access-Control-Request-Method) is
// answered here, before tenant resolution and authentication, so it needs
// no token on any host: 204 with the allowed methods, headers and max age
// for an allowed origin, 403 JSON without any CORS header otherwise. Other
// requests from an allowed origin get Access-Control-Allow-Origin (and
// -Allow-Credentials for exact origins); requests from other origins are
// served unchanged, without CORS headers, so the browser withholds the
// response. Every response carries Vary: Origin. extraHeaders are request
// headers allowed besides the usual ones (the tenant header, when on).
func CORS(log *slog.Logger, origins []string, extraHeaders ...string) gin.HandlerFunc {
	allowHeaders := strings.Join(append([]string{corsAllowHeaders}, extraHeaders...), ", ")
	allowed := map[string]bool{}
	wildcard := false
	for _, o := range origins {
		o = normalizeOrigin(o)
		switch o {
		case "":
		case "*":
			wildcard = true
		default:
			allowed[o] = true
		}
	}
	maxAge := strconv.Itoa(int(corsMaxAge.Seconds()))
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		if origin == "" {
			c.Next()
			return
		}
		preflight := c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != ""
		if !wildcard && !allowed[normalizeOrigin(origin)] {
			if preflight {
				Error(c, log, apperr.Errorf(apperr.EFORBIDDEN, "The origin %q is not allowed.", origin))
				return
			}
			c.Next()
			return
		}
		if wildcard {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if !preflight {
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			c.Next()
			return
		}
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", allowHeaders)
		h.Set("Access-Control-Max-Age", maxAge)
		c.AbortWithStatus(http.StatusNoContent)
	}
}

// normalizeOrigin lower-cases an origin and drops a trailing slash, the
// usual slips when origins are written into a config file.
func normalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}
