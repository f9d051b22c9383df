package pgerr

import (
	"context"
	"time"
)

// Retry is strictmt's one policy for database work that may be run again:
// work that met a pooled connection the server had closed before any of
// it reached PostgreSQL (see datapath.DeadConnection), and a whole
// transaction that PostgreSQL aborted to break a deadlock (Retryable).
// Nothing else is retried: a statement that reached PostgreSQL and failed
// is the caller's error.
type Retry struct {
	// Max bounds the tries after the first.
	Max int
	// Backoff is the wait before the first retry; the n-th waits n times
	// as long. Zero retries at once (a dead connection is discarded by
	// the try that met it, so the next one takes another).
	Backoff time.Duration
	// If reports whether a try's error may be retried.
	If func(error) bool
}

// Do runs try until it succeeds, fails with an error r.If refuses, has
// been retried r.Max times, or ctx ends; it returns the last try's error.
func (r Retry) Do(ctx context.Context, try func() error) error {
	err := try()
	for n := 1; err != nil && n <= r.Max && ctx.Err() == nil && r.If(err); n++ {
		if r.Backoff > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(n) * r.Backoff):
			}
		}
		err = try()
	}
	return err
}
