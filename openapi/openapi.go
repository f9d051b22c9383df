// Package openapi holds the API's OpenAPI 3.1 document and the
// documentation page that renders it, with the viewer's script, all
// embedded in the binary: the page loads nothing from other hosts.
package openapi

import (
	"embed"
	"path"
	"strings"
	"sync"

	"github.com/strictmt/strictmt/internal/static"
)

//go:embed openapi.json
var document []byte

//go:embed docs.html
var page []byte

//go:embed assets/*.js assets/*.LICENSE assets/*.txt
var assets embed.FS

// Paths of the documentation routes, as the document names them.
const (
	DocumentPath = "/api/openapi.json"
	DocsPath     = "/api/docs/"
	AssetsPath   = "/api/docs/assets/"
)

// ContentSecurityPolicy is the policy of the documentation page: scripts,
// styles, fonts, images and fetches from this host only; the viewer also
// needs inline styles (it injects its own), data: images and a blob:
// worker for its search index.
const ContentSecurityPolicy = "default-src 'none'; " +
	"script-src 'self'; " +
	"style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; " +
	"font-src 'self' data:; " +
	"connect-src 'self'; " +
	"worker-src 'self' blob:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var (
	documentFile = static.New(document, "application/json")
	pageFile     = static.New(page, "text/html; charset=utf-8")
	assetFiles   = sync.OnceValue(loadAssets)
)

// Document returns the OpenAPI document, as JSON.
func Document() *static.File { return documentFile }

// Page returns the HTML documentation page.
func Page() *static.File { return pageFile }

// Asset returns the static file of the documentation page with the given
// base name; false when there is none.
func Asset(name string) (*static.File, bool) {
	f, ok := assetFiles()[name]
	return f, ok
}

// assetNames returns the names of the static files, sorted.
func assetNames() []string {
	entries, _ := assets.ReadDir("assets")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func loadAssets() map[string]*static.File {
	files := map[string]*static.File{}
	for _, name := range assetNames() {
		body, err := assets.ReadFile(path.Join("assets", name))
		if err != nil {
			panic("openapi: embedded asset " + name + ": " + err.Error())
		}
		ct := "text/plain; charset=utf-8"
		if strings.HasSuffix(name, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		files[name] = static.New(body, ct)
	}
	return files
}
