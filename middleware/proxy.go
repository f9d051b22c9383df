package middleware

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// ForwardedHost makes X-Forwarded-Host the request's Host when, and only
// when, the request comes straight from one of the trusted proxies (the
// config's http.trusted_proxies). Everything after it — tenant
// resolution, the admin API's public-host check, pagination links — then
// sees the host the client asked the proxy for. From any other peer the
// header is ignored, so a client cannot pick another tenant with it.
func ForwardedHost(trusted []netip.Prefix) gin.HandlerFunc {
	return func(c *gin.Context) {
		if len(trusted) == 0 {
			c.Next()
			return
		}
		fwd := c.Request.Header.Get("X-Forwarded-Host")
		if fwd != "" && fromTrusted(c.Request.RemoteAddr, trusted) {
			// The proxy nearest the client is first.
			first, _, _ := strings.Cut(fwd, ",")
			if h := strings.TrimSpace(first); h != "" {
				c.Request.Host = h
			}
		}
		c.Next()
	}
}

func fromTrusted(remoteAddr string, trusted []netip.Prefix) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
