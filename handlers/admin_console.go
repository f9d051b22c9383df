package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/console"
)

// consolePages are the console's routes (gin's full paths), which
// middleware.Admin serves to a GET without the admin token: a browser
// opens the page by navigating, with no Authorization header. They are
// static files that hold no data; the page then sends the token with
// every API call.
var consolePages = []string{"/admin/console", "/admin/console/:name"}

// consoleRoutes returns the operators' console: its page and its script
// and style sheet.
func consoleRoutes() map[string]map[string]gin.HandlerFunc {
	return map[string]map[string]gin.HandlerFunc{
		"/console":       {http.MethodGet: consolePage},
		"/console/:name": {http.MethodGet: consoleAsset},
	}
}

// consoleHeaders are the headers of every console response: its policy,
// no framing, no referrer.
func consoleHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", console.ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func consolePage(c *gin.Context) {
	consoleHeaders(c)
	serveFile(c, console.Page())
}

func consoleAsset(c *gin.Context) {
	f, ok := console.Asset(c.Param("name"))
	if !ok {
		c.JSON(http.StatusNotFound, gin.H{"detail": "Not found."})
		return
	}
	consoleHeaders(c)
	serveFile(c, f)
}
