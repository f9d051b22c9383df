package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/tenants"
)

func init() {
	register("scope", "cost of a tenant-scoped authenticated request, strict vs prefix isolation", runScope)
}

// runScope benchmarks the real handler chain (Host → tenant, JWT, user
// check, scope transaction, query, JSON) in-process, with no network, for
// each isolation mode on the same database, and prints each mode's cost
// relative to prefix.
func runScope(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scope", flag.ContinueOnError)
	todos := fs.Int("todos", 20, "todos in the listed page")
	rounds := fs.Int("rounds", 5, "alternating measurement rounds per mode")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := startDatabase(ctx, 100)
	if err != nil {
		return err
	}
	defer db.stop()

	modes := []string{config.IsolationPrefix, config.IsolationStrict}
	handlers := map[string]http.Handler{}
	var token string
	for _, mode := range modes {
		a, err := openApp(ctx, db.URL, mode, 4)
		if err != nil {
			return err
		}
		defer a.Close(ctx)
		handlers[mode] = a.Handler()
		if token == "" {
			if _, err := a.Tenants.CreateTenant(ctx, tenants.CreateParams{Name: "Bench", SchemaName: "bench", Domains: []string{"bench.localhost"}}); err != nil {
				return err
			}
			if token, err = seedUser(handlers[mode], "bench.localhost", *todos); err != nil {
				return err
			}
		}
	}

	fmt.Printf("in-process handler chain, pool of 4 connections, median of %d alternating rounds\n\n", *rounds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "request\tisolation\tµs/op\tallocs/op\tKB/op\tvs prefix\t")
	for _, ep := range []struct{ name, method, path, body string }{
		{"list todos (limit 20)", "GET", "/api/todos/?limit=20", ""},
		{"get one todo", "GET", "/api/todos/1/", ""},
		{"create todo", "POST", "/api/todos/", `{"title":"bench","description":"d"}`},
	} {
		// Modes alternate round by round so drift in the machine's load
		// hits both alike.
		runs := map[string][]testing.BenchmarkResult{}
		for range *rounds {
			for _, mode := range modes {
				var failed error
				r := testing.Benchmark(func(b *testing.B) {
					for b.Loop() {
						if code := serve(handlers[mode], ep.method, ep.path, ep.body, token); code >= 300 {
							failed = fmt.Errorf("%s %s: status %d", ep.method, ep.path, code)
							b.FailNow()
						}
					}
				})
				if failed != nil {
					return failed
				}
				runs[mode] = append(runs[mode], r)
			}
		}
		base := median(runs[config.IsolationPrefix])
		for _, mode := range modes {
			r := median(runs[mode])
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%d\t%.1f\t%.2fx\t\n", ep.name, mode,
				float64(r.NsPerOp())/1000, r.AllocsPerOp(), float64(r.AllocedBytesPerOp())/1024,
				float64(r.NsPerOp())/float64(base.NsPerOp()))
		}
	}
	return tw.Flush()
}

// median returns the run with the median time per operation.
func median(rs []testing.BenchmarkResult) testing.BenchmarkResult {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b testing.BenchmarkResult) int { return int(a.NsPerOp() - b.NsPerOp()) })
	return sorted[len(sorted)/2]
}

// serve runs one request through h and returns its status.
func serve(h http.Handler, method, path, body, token string) int {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.Host = "bench.localhost"
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

// seedUser registers a user on host with n todos and returns its access
// token.
func seedUser(h http.Handler, host string, n int) (string, error) {
	req := httptest.NewRequest("POST", "/api/register/", strings.NewReader(`{"username":"bench","email":"bench@example.com","password":"bench-password-1"}`))
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusCreated {
		return "", fmt.Errorf("register: %d %s", w.Code, w.Body)
	}
	var reg struct{ Access string }
	if err := json.Unmarshal(w.Body.Bytes(), &reg); err != nil || reg.Access == "" {
		return "", errors.New("register: no access token in response")
	}
	token := reg.Access
	for i := range n {
		if code := serve(h, "POST", "/api/todos/", fmt.Sprintf(`{"title":"todo %d"}`, i), token); code != http.StatusCreated {
			return "", fmt.Errorf("seeding todos: status %d", code)
		}
	}
	return token, nil
}
