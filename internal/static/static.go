// Package static holds the files the service serves as they are (the
// API documentation page, the operators' console), each with a strong
// ETag and a gzip-compressed copy.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// File is a static response: its body, a gzip-compressed copy made on
// first use, its content type and a strong ETag.
type File struct {
	Body        []byte
	ContentType string
	ETag        string

	gzipOnce sync.Once
	gzipped  []byte
}

// New returns the File of body, served with contentType.
func New(body []byte, contentType string) *File {
	sum := sha256.Sum256(body)
	return &File{Body: body, ContentType: contentType, ETag: `"` + hex.EncodeToString(sum[:16]) + `"`}
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
