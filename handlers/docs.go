package handlers

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/internal/static"
	"github.com/strictmt/strictmt/openapi"
)

// registerDocs adds the OpenAPI document and the documentation page that
// renders it to the tenant API group: they answer on every tenant host
// (so the page's same-host links reach that tenant's API) and need no
// token.
func registerDocs(api *gin.RouterGroup, _ Deps) {
	api.GET("/openapi.json", func(c *gin.Context) { serveFile(c, openapi.Document()) })
	api.GET("/docs", docsPage)
	api.GET("/docs/assets/:name", docsAsset)
}

// docsPage serves the HTML page; its policy lets it load only what this
// service serves.
func docsPage(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", openapi.ContentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	serveFile(c, openapi.Page())
}

// docsAsset serves the viewer's script and its licenses.
func docsAsset(c *gin.Context) {
	f, ok := openapi.Asset(c.Param("name"))
	if !ok {
		c.JSON(http.StatusNotFound, gin.H{"detail": "Not found."})
		return
	}
	serveFile(c, f)
}

// serveFile writes a static file: 304 when the client's copy is current
// (If-None-Match), gzip-compressed when the client accepts it. Clients
// revalidate before each use, so a new release is picked up at once.
func serveFile(c *gin.Context, f *static.File) {
	h := c.Writer.Header()
	h.Set("ETag", f.ETag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if etagMatches(c.GetHeader("If-None-Match"), f.ETag) {
		c.Status(http.StatusNotModified)
		return
	}
	body := f.Body
	if acceptsGzip(c.GetHeader("Accept-Encoding")) {
		if gz := f.Gzip(); gz != nil {
			h.Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	c.Data(http.StatusOK, f.ContentType, body)
}

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		return !strings.HasPrefix(q, "q=0") || strings.HasPrefix(q, "q=0.") && strings.Trim(q[4:], "0") != ""
	}
	return false
}
