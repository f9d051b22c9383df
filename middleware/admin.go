package middleware

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/tenants"
)

// Admin guards the admin API. It answers 404 {"detail": "Not found."}, as
// for a path that does not exist, unless the request's Host (port, case
// and a leading "www." ignored) is one of publicHosts and token is set, so
// the admin API is never reachable through a tenant's domain and does not
// exist at all without a token. It then requires "Authorization: Bearer
// <token>", compared in constant time; anything else gets 401 JSON.
//
// GET requests to the routes named in pages (gin's full paths)
// skip only the token check: they are static pages that a browser opens
// by navigating, which sends no Authorization header, and they hold no
// data; the API calls such a page makes need the token as every other.
// They are still 404 without a token or off the public hosts.
func Admin(log *slog.Logger, token string, publicHosts []string, pages ...string) gin.HandlerFunc {
	hosts := map[string]bool{}
	for _, h := range publicHosts {
		hosts[tenants.NormalizeHost(h)] = true
	}
	open := map[string]bool{}
	for _, p := range pages {
		open[p] = true
	}
	// Comparing digests keeps the comparison's time independent of the
	// token's length as well as its bytes.
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		if token == "" || !hosts[tenants.NormalizeHost(c.Request.Host)] {
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"detail": "Not found."})
			return
		}
		if c.Request.Method == http.MethodGet && open[c.FullPath()] {
			c.Next()
			return
		}
		scheme, got, _ := strings.Cut(c.GetHeader("Authorization"), " ")
		got = strings.TrimSpace(got)
		switch {
		case scheme == "":
			Error(c, log, apperr.ErrNoCredentials)
			return
		case !strings.EqualFold(scheme, "Bearer") || got == "":
			Error(c, log, apperr.ErrAuthHeader)
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			Error(c, log, apperr.Errorf(apperr.EUNAUTHORIZED, "Invalid admin token."))
			return
		}
		c.Next()
	}
}
