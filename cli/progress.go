package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/strictmt/strictmt/tenants"
)

// progress shows a tenant migration run: a bar on a terminal (done/total,
// rate, failures), otherwise a plain line with the same at most every two
// seconds and at the end.
type progress struct {
	w    io.Writer
	tty  bool
	bar  *progressbar.ProgressBar
	last time.Time
	p    tenants.Progress
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

func (pr *progress) update(p tenants.Progress) {
	pr.p = p
	if pr.tty {
		if pr.bar == nil {
			pr.bar = progressbar.NewOptions(p.Total,
				progressbar.OptionSetWriter(pr.w),
				progressbar.OptionShowCount(),
				progressbar.OptionThrottle(100*time.Millisecond),
			)
		}
		// The rate is the run's own: the bar's would count the schemas
		// found up to date at once as done in no time.
		desc := fmt.Sprintf("migrating tenant schemas, %.0f/s", pr.rate())
		if p.Failed > 0 {
			desc += fmt.Sprintf(", %d failed", p.Failed)
		}
		pr.bar.Describe(desc)
		_ = pr.bar.Set(p.Done)
		return
	}
	if time.Since(pr.last) >= 2*time.Second || p.Done == p.Total {
		pr.last = time.Now()
		pr.line()
	}
}

func (pr *progress) rate() float64 {
	if s := pr.p.Elapsed.Seconds(); s > 0 {
		return float64(pr.p.Done) / s
	}
	return 0
}

func (pr *progress) line() {
	fmt.Fprintf(pr.w, "migrate: %d/%d tenant schemas done, %d failed, %.0f schemas/s\n", pr.p.Done, pr.p.Total, pr.p.Failed, pr.rate())
}

func (pr *progress) finish() {
	if pr.bar != nil {
		_ = pr.bar.Finish()
		fmt.Fprintln(pr.w)
	}
}
