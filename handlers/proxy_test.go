package handlers_test

import (
	"testing"

	"github.com/strictmt/strictmt/internal/apptest"
)

// TestForwardedHostOnlyFromTrustedProxies sends X-Forwarded-Host naming
// tenant B on requests to tenant A's host: only a configured proxy's
// header is believed.
func TestForwardedHostOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		trusted []string
		want    string // tenant schema whose user list answers
	}{
		{"IgnoredWithoutTrustedProxies", nil, "fwd_a"},
		{"IgnoredFromUntrustedPeer", []string{"10.0.0.0/8", "192.0.2.7"}, "fwd_a"},
		{"BelievedFromTrustedProxy", []string{"127.0.0.1"}, "fwd_b"},
		{"BelievedFromTrustedRange", []string{"127.0.0.0/8"}, "fwd_b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := apptest.Config(t)
			cfg.HTTP.TrustedProxies = tc.trusted
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			env := apptest.Start(t, cfg)
			env.CreateTenant(t, "fwd_a", "a.localhost")
			env.CreateTenant(t, "fwd_b", "b.localhost")
			// Register through each tenant's own host; the user names
			// tell which tenant answered.
			env.Register(t, "a.localhost", "only_in_a")
			env.Register(t, "b.localhost", "only_in_b")
			r := env.Do(t, apptest.Request{Method: "POST", Host: "a.localhost", Path: "/api/token/",
				Body:   map[string]string{"username": "only_in_b", "password": "correct-horse-battery"},
				Header: map[string]string{"X-Forwarded-Host": "b.localhost, a.localhost"}})
			got := "fwd_a"
			if r.Status == 200 {
				got = "fwd_b"
			}
			if got != tc.want {
				t.Fatalf("answered as %s, want %s (%d %s)", got, tc.want, r.Status, r.Raw)
			}
		})
	}
}
