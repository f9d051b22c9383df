package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/tenants"
)

func init() {
	register("login", "time of a failed login: unknown username vs known username with a wrong password", runLogin)
}

// runLogin shows that POST /api/token/ takes as long for a username that
// does not exist as for a wrong password, so response times do not tell
// which usernames exist.
func runLogin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	rounds := fs.Int("rounds", 5, "alternating measurement rounds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := startDatabase(ctx, 50)
	if err != nil {
		return err
	}
	defer db.stop()
	a, err := openApp(ctx, db.URL, config.IsolationStrict, 4)
	if err != nil {
		return err
	}
	defer a.Close(ctx)
	if _, err := a.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "Bench", SchemaName: "bench", Domains: []string{"bench.localhost"}}); err != nil {
		return err
	}
	h := a.Handler()
	if _, err := seedUser(h, "bench.localhost", 0); err != nil {
		return err
	}
	cases := []struct{ name, body string }{
		{"known user, wrong password", `{"username":"bench","password":"wrong-password-1"}`},
		{"unknown user", `{"username":"nobody-here","password":"wrong-password-1"}`},
	}
	runs := make([][]testing.BenchmarkResult, len(cases))
	for range *rounds {
		for i, tc := range cases {
			var failed error
			r := testing.Benchmark(func(b *testing.B) {
				for b.Loop() {
					req := httptest.NewRequest("POST", "/api/token/", strings.NewReader(tc.body))
					req.Host = "bench.localhost"
					req.Header.Set("Content-Type", "application/json")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusUnauthorized {
						failed = fmt.Errorf("%s: status %d", tc.name, w.Code)
						b.FailNow()
					}
				}
			})
			if failed != nil {
				return failed
			}
			runs[i] = append(runs[i], r)
		}
	}
	fmt.Printf("POST /api/token/ with bad credentials, in-process, median of %d alternating rounds\n\n", *rounds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tms/op\tvs known user\t")
	base := median(runs[0])
	for i, tc := range cases {
		r := median(runs[i])
		fmt.Fprintf(tw, "%s\t%.2f\t%.2fx\t\n", tc.name, float64(r.NsPerOp())/1e6, float64(r.NsPerOp())/float64(base.NsPerOp()))
	}
	return tw.Flush()
}
