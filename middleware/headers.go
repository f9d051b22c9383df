package middleware

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// SecurityHeaders sets, on every response, X-Content-Type-Options:
// nosniff (a JSON error is never sniffed into HTML) and Cache-Control:
// no-store with Pragma: no-cache (RFC 6749 §5.1), so that no shared or
// browser cache keeps tokens, authenticated responses or anything else
// the API answers. Handlers serving public static files (the API
// documentation) replace Cache-Control with their own.
func SecurityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		c.Next()
	}
}

// RequestLineHost refuses, with 400 JSON, a request whose request line
// names a host ("GET http://localhost/admin/tenants/ HTTP/1.1", the
// absolute form). Go's server takes the host of such a request from its
// request line and drops the Host header before any handler runs, so a
// request-line host that disagrees with the Host header cannot be told
// from one that agrees; refusing them all refuses every disagreeing one.
// Clients talking to an origin server send the path only (RFC 9112
// §3.2.1); only proxies use the absolute form, and they rewrite it.
func RequestLineHost() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.URL.Host != "" || c.Request.URL.Scheme != "" {
			c.Header("Connection", "close")
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"detail": "The request line must not name a host; send the path, and the host in the Host header."})
			return
		}
		c.Next()
	}
}
