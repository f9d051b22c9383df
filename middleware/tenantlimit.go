package middleware

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/datapath"
)

// TenantLimiter bounds how many scoped requests (and so pooled database
// connections) each tenant holds at once. Its memory is proportional to
// the requests in flight, not to the number of tenants: a tenant's entry
// exists only while it has requests running or waiting.
type TenantLimiter struct {
	max  int
	wait time.Duration

	mu      sync.Mutex
	tenants map[string]*tenantSlots
}

type tenantSlots struct {
	slots chan struct{} // one token per running request
	refs  int           // requests running or waiting
}

// NewTenantLimiter returns a limiter letting each tenant run max requests
// at once; a request beyond that waits up to wait for a slot.
func NewTenantLimiter(max int, wait time.Duration) *TenantLimiter {
	return &TenantLimiter{max: max, wait: wait, tenants: map[string]*tenantSlots{}}
}

// Acquire takes one of tenant's slots, waiting up to the limiter's wait
// or until done is closed. It returns the function that gives the slot
// back (safe to call more than once), or nil when no slot came free.
func (l *TenantLimiter) Acquire(tenant string, done <-chan struct{}) (release func()) {
	l.mu.Lock()
	s := l.tenants[tenant]
	if s == nil {
		s = &tenantSlots{slots: make(chan struct{}, l.max)}
		l.tenants[tenant] = s
	}
	s.refs++
	l.mu.Unlock()

	got := false
	select {
	case s.slots <- struct{}{}:
		got = true
	default:
		t := time.NewTimer(l.wait)
		select {
		case s.slots <- struct{}{}:
			got = true
		case <-t.C:
		case <-done:
		}
		t.Stop()
	}
	if !got {
		l.unref(tenant, s)
		return nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-s.slots
			l.unref(tenant, s)
		})
	}
}

func (l *TenantLimiter) unref(tenant string, s *tenantSlots) {
	l.mu.Lock()
	s.refs--
	if s.refs == 0 {
		delete(l.tenants, tenant)
	}
	l.mu.Unlock()
}

// InUse returns how many of tenant's slots are taken.
func (l *TenantLimiter) InUse(tenant string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.tenants[tenant]; s != nil {
		return len(s.slots)
	}
	return 0
}

// Tracked returns how many tenants have requests running or waiting (the
// limiter's memory).
func (l *TenantLimiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tenants)
}

// LimitTenant holds one of the request tenant's slots of l while the rest
// of the request runs, up to the moment its response starts going out to
// the client (the tenant scope writes it only after its transaction has
// ended), so a slow reader holds neither a connection nor a slot. A
// tenant over its share gets 503 {"detail": ...} with Retry-After once
// the limiter's wait (or the request's timeout) has passed; other tenants
// are not affected. A nil l limits nothing.
func LimitTenant(log *slog.Logger, l *TenantLimiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := datapath.TenantFromContext(c.Request.Context())
		if l == nil || t == nil {
			c.Next()
			return
		}
		release := l.Acquire(t.Schema, c.Request.Context().Done())
		if release == nil {
			if errors.Is(c.Request.Context().Err(), context.Canceled) {
				c.AbortWithStatus(499) // the client went away while waiting
				return
			}
			log.Warn("tenant over its share of database connections", "request_id", RequestIDFromContext(c.Request.Context()), "tenant", t.Schema, "max_conns_per_tenant", l.max)
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(max(l.wait.Seconds(), 1)))))
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"detail": "Too many concurrent requests for this tenant; try again shortly."})
			return
		}
		defer release()
		orig := c.Writer
		c.Writer = &releasingWriter{ResponseWriter: orig, release: release}
		defer func() { c.Writer = orig }()
		c.Next()
	}
}

// releasingWriter gives the tenant's slot back when the response starts
// going out.
type releasingWriter struct {
	gin.ResponseWriter
	release func()
}

func (w *releasingWriter) WriteHeaderNow() { w.release(); w.ResponseWriter.WriteHeaderNow() }
func (w *releasingWriter) Write(b []byte) (int, error) {
	w.release()
	return w.ResponseWriter.Write(b)
}
func (w *releasingWriter) WriteString(s string) (int, error) {
	w.release()
	return w.ResponseWriter.WriteString(s)
}
func (w *releasingWriter) Flush() { w.release(); w.ResponseWriter.Flush() }
