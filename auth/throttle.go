package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Rate is a throttle rate in Django REST framework's notation: "10/min" is
// ten requests a minute. The zero Rate throttles nothing.
type Rate struct {
	Requests int
	Period   time.Duration
}

// ParseRate parses DRF's "<requests>/<period>", where the period is s,
// sec, second, m, min, minute, h, hour, d or day (DRF reads the first
// letter only; plurals are accepted too). The empty string is the zero
// Rate: no throttling.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Rate{}, nil
	}
	num, period, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q is not of the form 10/min", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 || n > MaxRateRequests {
		return Rate{}, fmt.Errorf("rate %q: the number of requests must be an integer from 1 to %d", s, MaxRateRequests)
	}
	periods := map[string]time.Duration{
		"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	}
	d, ok := periods[strings.ToLower(strings.TrimSpace(period))]
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: the period must be s, min, hour or day", s)
	}
	return Rate{Requests: n, Period: d}, nil
}

// String returns the rate in DRF's notation.
func (r Rate) String() string {
	if r.Requests == 0 {
		return ""
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "min", time.Hour: "hour", 24 * time.Hour: "day"}[r.Period]
	return fmt.Sprintf("%d/%s", r.Requests, unit)
}

// Throttle limits the requests made under each key (a tenant and a
// username, or a tenant and a client address) to a Rate the way Django REST
// framework's SimpleRateThrottle does: a key may make at most
// Rate.Requests requests in any Rate.Period, and a refused request waits
// until the oldest counted one is a Period old. (A token bucket, such as
// golang.org/x/time/rate, would let a patient client make twice the
// requests in the first Period.) Each key keeps the times of its last
// Rate.Requests requests, in a least-recently-used cache of at most
// maxKeys keys (github.com/hashicorp/golang-lru), stored as SHA-256
// digests: memory is bounded by maxKeys whatever the number of usernames
// or addresses tried, and whatever their length. An evicted key starts
// afresh when it comes back. A Throttle counts the requests of this
// process only. It is safe for concurrent use; a nil *Throttle allows
// everything.
type Throttle struct {
	requests int
	period   time.Duration
	buckets  *lru.Cache[[sha256.Size]byte, *history]
	now      func() time.Time
}

// history is the times (Unix nanoseconds) of a key's counted requests, a
// ring of the newest Rate.Requests.
type history struct {
	mu    sync.Mutex
	times []int64
	next  int // where the next time is written; the oldest when full
	n     int // how many times are held
}

// NewThrottle returns a throttle of r keeping at most maxKeys keys, or
// nil for the zero Rate. now is the clock (time.Now when nil).
func NewThrottle(r Rate, maxKeys int, now func() time.Time) (*Throttle, error) {
	if r.Requests == 0 {
		return nil, nil
	}
	if r.Requests < 0 || r.Period <= 0 {
		return nil, errors.New("auth: throttle rate must be positive")
	}
	if r.Requests > MaxRateRequests {
		return nil, fmt.Errorf("auth: throttle rate %s counts more than %d requests", r, MaxRateRequests)
	}
	if maxKeys < 1 {
		return nil, fmt.Errorf("auth: throttle needs room for at least one key, got %d", maxKeys)
	}
	cache, err := lru.New[[sha256.Size]byte, *history](maxKeys)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{requests: r.Requests, period: r.Period, buckets: cache, now: now}, nil
}

// MaxRateRequests bounds the requests of a throttle Rate: each key keeps
// one time per request.
const MaxRateRequests = 10_000

// Allow counts one request under key and reports whether it may proceed.
// When it may not, the request is not counted and wait is how long until
// one may. Requests of every outcome count: a successful login does not
// give an attacker's budget back.
func (t *Throttle) Allow(key string) (ok bool, wait time.Duration) {
	if t == nil {
		return true, 0
	}
	k := sha256.Sum256([]byte(key))
	h, found := t.buckets.Get(k)
	if !found {
		fresh := &history{times: make([]int64, t.requests)}
		// Two first requests under one key may race here; both must
		// count in the same history.
		if prev, exists, _ := t.buckets.PeekOrAdd(k, fresh); exists {
			h = prev
		} else {
			h = fresh
		}
	}
	now := t.now().UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == t.requests {
		// Full: the oldest counted request is at next.
		if age := time.Duration(now - h.times[h.next]); age < t.period {
			return false, t.period - age
		}
		h.n--
	}
	h.times[h.next] = now
	h.next = (h.next + 1) % t.requests
	h.n++
	return true, 0
}

// Len returns the number of keys held.
func (t *Throttle) Len() int {
	if t == nil {
		return 0
	}
	return t.buckets.Len()
}

// WaitSeconds is wait rounded up to whole seconds, at least 1, as DRF
// rounds the wait of its 429 message and Retry-After header.
func WaitSeconds(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// ThrottledMessage is DRF's Throttled detail for a wait of secs seconds.
func ThrottledMessage(secs int) string {
	if secs == 1 {
		return "Request was throttled. Expected available in 1 second."
	}
	return fmt.Sprintf("Request was throttled. Expected available in %d seconds.", secs)
}

// Throttles are the throttles of the account endpoints; a nil one allows
// everything.
type Throttles struct {
	Login, LoginAddress       *Throttle // POST /api/token/: per username, per client address
	Register, RegisterAddress *Throttle // POST /api/register/: per username, per client address
	Refresh                   *Throttle // POST /api/token/refresh/: per client address
}
