package pgerr

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryDo(t *testing.T) {
	again := errors.New("again")
	final := errors.New("final")
	for _, c := range []struct {
		name   string
		fails  []error // the errors of the tries, in order; then success
		max    int
		want   error
		tries  int
		cancel bool
	}{
		{"SucceedsFirst", nil, 3, nil, 1, false},
		{"SucceedsAfterRetries", []error{again, again}, 3, nil, 3, false},
		{"ErrGivesUpAfterMax", []error{again, again, again, again, again}, 2, again, 3, false},
		{"ErrNotRetryable", []error{final, again}, 3, final, 1, false},
		{"ErrContextEnded", []error{again, again}, 3, again, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancel {
				cancel()
			}
			tries := 0
			r := Retry{Max: c.max, Backoff: time.Millisecond, If: func(err error) bool { return errors.Is(err, again) }}
			err := r.Do(ctx, func() error {
				tries++
				if tries <= len(c.fails) {
					return c.fails[tries-1]
				}
				return nil
			})
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Do: %v, want %v", err, c.want)
			}
			if tries != c.tries {
				t.Fatalf("%d tries, want %d", tries, c.tries)
			}
		})
	}
}
