// Package console holds the operators' console: one HTML page, its
// script and its style sheet, embedded in the binary, that drive the
// admin API from a browser. It loads nothing from other hosts and needs
// no build step.
package console

import (
	"embed"
	"path"
	"strings"
	"sync"

	"github.com/strictmt/strictmt/internal/static"
)

//go:embed assets/index.html assets/console.js assets/console.css
var assets embed.FS

// Path is where the console is served, on the public hosts only.
const Path = "/admin/console/"

// ContentSecurityPolicy is the console's policy: its own script and
// style sheet only (no inline script or style, no eval), fetches to this
// host only, and no framing.
const ContentSecurityPolicy = "default-src 'none'; " +
	"script-src 'self'; " +
	"style-src 'self'; " +
	"img-src 'self' data:; " +
	"connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

var files = sync.OnceValue(func() map[string]*static.File {
	out := map[string]*static.File{}
	entries, _ := assets.ReadDir("assets")
	for _, e := range entries {
		body, err := assets.ReadFile(path.Join("assets", e.Name()))
		if err != nil {
			panic("console: embedded asset " + e.Name() + ": " + err.Error())
		}
		ct := "text/html; charset=utf-8"
		switch {
		case strings.HasSuffix(e.Name(), ".js"):
			ct = "text/javascript; charset=utf-8"
		case strings.HasSuffix(e.Name(), ".css"):
			ct = "text/css; charset=utf-8"
		}
		out[e.Name()] = static.New(body, ct)
	}
	return out
})

// Page returns the console's HTML page.
func Page() *static.File { return files()["index.html"] }

// Asset returns the script or the style sheet of the page by base name;
// false for any other name.
func Asset(name string) (*static.File, bool) {
	if name == "index.html" {
		return nil, false // served at Path only
	}
	f, ok := files()[name]
	return f, ok
}
