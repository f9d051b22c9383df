package middleware

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
)

// ReadBody reads the whole request body into memory before anything
// after it runs, within timeout and within the size BodyLimit set, so
// that no database connection or transaction (tenant lookups, the tenant
// scope, authentication) is ever held while waiting on a slow client. A
// body that does not arrive within timeout gets 408 JSON and the
// connection is closed; one over the limit gets 413. Requests without a
// body pass straight through.
func ReadBody(log *slog.Logger, timeout time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if r.Body == nil || r.Body == http.NoBody {
			c.Next()
			return
		}
		rc := http.NewResponseController(c.Writer)
		// Unsupported (no connection under the writer) leaves the
		// server's read timeout as the bound, as does a zero timeout.
		deadlineSet := timeout > 0 && rc.SetReadDeadline(time.Now().Add(timeout)) == nil
		var buf bytes.Buffer
		if n := r.ContentLength; n > 0 && n <= 1<<20 {
			buf.Grow(int(n))
		}
		_, err := buf.ReadFrom(r.Body)
		_ = r.Body.Close()
		if deadlineSet {
			// The body is in; the server sets the next request's
			// deadlines itself.
			_ = rc.SetReadDeadline(time.Time{})
		}
		if err != nil {
			c.Header("Connection", "close")
			var tooLarge *http.MaxBytesError
			var netErr interface{ Timeout() bool }
			switch {
			case errors.As(err, &tooLarge):
				Error(c, log, apperr.TooLarge(tooLarge.Limit))
			case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
				c.AbortWithStatusJSON(http.StatusRequestTimeout, gin.H{"detail": "The request body did not arrive in time."})
			case errors.Is(err, io.ErrUnexpectedEOF):
				c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"detail": "The request body ended early."})
			default:
				c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"detail": "The request body could not be read."})
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
		c.Next()
	}
}
