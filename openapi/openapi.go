// Package openapi holds the API's OpenAPI 3.1 document and the
// documentation page that renders it, with the viewer's script, all
// embedded in the binary: the page loads nothing from other hosts.
package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"path"
	"strings"
	"sync"
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

// File is a static response: its body, a gzip-compressed copy made on
// first use, its content type and a strong ETag.
type File struct {
	Body        []byte
	ContentType string
	ETag        string

	gzipOnce sync.Once
	gzipped  []byte
}

// Gzip returns the body compressed with gzip, or nil when compressing does
// not make it smaller.
func (f *File) Gzip() []byte {
	f.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(f.Body)
		if zw.Close() == nil && buf.Len() < len(f.Body) {
			f.gzipped = buf.Bytes()
		}
	})
	return f.gzipped
}

func newFile(body []byte, contentType string) *File {
	sum := sha256.Sum256(body)
	return &File{Body: body, ContentType: contentType, ETag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

var (
	documentFile = newFile(document, "application/json")
	pageFile     = newFile(page, "text/html; charset=utf-8")
	assetFiles   = sync.OnceValue(loadAssets)
)

// Document returns the OpenAPI document, as JSON.
func Document() *File { return documentFile }

// Page returns the HTML documentation page.
func Page() *File { return pageFile }

// Asset returns the static file of the documentation page with the given
// base name; false when there is none.
func Asset(name string) (*File, bool) {
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

func loadAssets() map[string]*File {
	files := map[string]*File{}
	for _, name := range assetNames() {
		body, err := assets.ReadFile(path.Join("assets", name))
		if err != nil {
			panic("openapi: embedded asset " + name + ": " + err.Error())
		}
		ct := "text/plain; charset=utf-8"
		if strings.HasSuffix(name, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		files[name] = newFile(body, ct)
	}
	return files
}
