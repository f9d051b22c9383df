package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenants"
)

// newPaidEnv starts an app with paid_until enforcement set as given and
// the admin API enabled.
func newPaidEnv(t *testing.T, enforce bool) *apptest.Env {
	t.Helper()
	cfg := apptest.Config(t)
	cfg.Tenancy.EnforcePaidUntil = enforce
	cfg.Admin.Token = adminToken
	return apptest.Start(t, cfg)
}

func createPaidTenant(t *testing.T, env *apptest.Env, schema string, paidUntil *models.Date, onTrial bool) string {
	t.Helper()
	host := strings.ReplaceAll(schema, "_", "-") + ".localhost"
	_, err := env.App.Tenants.CreateTenant(context.Background(), tenants.CreateParams{
		Name: schema, SchemaName: schema, Domains: []string{host}, PaidUntil: paidUntil, OnTrial: onTrial,
	})
	if err != nil {
		t.Fatal(err)
	}
	return host
}

func paidDay(days int) *models.Date {
	d := models.NewDate(time.Now().UTC().AddDate(0, 0, days))
	return &d
}

func TestPaidUntil(t *testing.T) {
	t.Parallel()
	enforced, relaxed := newPaidEnv(t, true), newPaidEnv(t, false)

	cases := []struct {
		name      string
		env       *apptest.Env
		paidUntil *models.Date
		onTrial   bool
		status    int
	}{
		{"ErrPaymentRequiredExpired", enforced, paidDay(-1), false, http.StatusPaymentRequired},
		{"ErrPaymentRequiredLongExpired", enforced, paidDay(-400), false, http.StatusPaymentRequired},
		{"OKExpiredOnTrial", enforced, paidDay(-1), true, http.StatusCreated},
		{"OKPaidUntilToday", enforced, paidDay(0), false, http.StatusCreated},
		{"OKPaidInFuture", enforced, paidDay(30), false, http.StatusCreated},
		{"OKNoPaidUntil", enforced, nil, false, http.StatusCreated},
		{"OKExpiredEnforcementOff", relaxed, paidDay(-1), false, http.StatusCreated},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := createPaidTenant(t, tc.env, "paid_"+string(rune('a'+i)), tc.paidUntil, tc.onTrial)
			r := tc.env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/register/", Body: map[string]string{
				"username": "payer", "email": "payer@example.com", "password": "correct-horse-battery",
			}})
			admWantStatus(t, r, tc.status)
			if tc.status == http.StatusPaymentRequired && !strings.Contains(admDetail(r), tc.paidUntil.String()) {
				t.Errorf("402 detail does not name the date: %s", r.Raw)
			}
			// What describes the API stays readable either way.
			for _, p := range []string{"/api/", "/api/openapi.json"} {
				if got := tc.env.Do(t, apptest.Request{Method: "GET", Host: host, Path: p}); got.Status != http.StatusOK {
					t.Errorf("GET %s: %d %s", p, got.Status, got.Raw)
				}
			}
		})
	}
}

// TestPaidUntilFollowsAdminChanges changes a served tenant's paid_until
// and on_trial through the admin API: the resolver's cached tenant is
// refreshed at once, so the next request sees the change.
func TestPaidUntilFollowsAdminChanges(t *testing.T) {
	t.Parallel()
	env := newPaidEnv(t, true)
	host := createPaidTenant(t, env, "paid_follow", paidDay(10), false)
	access, refresh, _ := env.Register(t, host, "carol")

	todos := func() apptest.Response {
		return env.Do(t, apptest.Request{Method: "GET", Host: host, Path: "/api/todos/", Token: access})
	}
	patch := func(body map[string]any) {
		t.Helper()
		admWantStatus(t, adminDo(t, env, "PATCH", "/admin/tenants/paid_follow/", body), 200)
	}

	admWantStatus(t, todos(), 200)
	expired := paidDay(-3).String()
	patch(map[string]any{"paid_until": expired})

	steps := []struct {
		name   string
		req    apptest.Request
		status int
	}{
		{"ErrPaymentRequiredList", apptest.Request{Method: "GET", Host: host, Path: "/api/todos/", Token: access}, 402},
		{"ErrPaymentRequiredCreate", apptest.Request{Method: "POST", Host: host, Path: "/api/todos/", Token: access, Body: map[string]any{"title": "x"}}, 402},
		{"ErrPaymentRequiredWithoutToken", apptest.Request{Method: "GET", Host: host, Path: "/api/todos/1/"}, 402},
		{"ErrPaymentRequiredLogin", apptest.Request{Method: "POST", Host: host, Path: "/api/token/", Body: map[string]string{"username": "carol", "password": "correct-horse-battery"}}, 402},
		{"ErrPaymentRequiredRefresh", apptest.Request{Method: "POST", Host: host, Path: "/api/token/refresh/", Body: map[string]string{"refresh": refresh}}, 402},
		{"OKIndex", apptest.Request{Method: "GET", Host: host, Path: "/api/"}, 200},
		{"OKOpenAPI", apptest.Request{Method: "GET", Host: host, Path: "/api/openapi.json"}, 200},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := env.Do(t, s.req)
			admWantStatus(t, r, s.status)
			if s.status == 402 && !strings.Contains(admDetail(r), expired) {
				t.Errorf("402 detail: %s", r.Raw)
			}
		})
	}

	t.Run("OKDocs", func(t *testing.T) {
		// The docs page is HTML, which Env.Do does not decode.
		req, err := http.NewRequest("GET", env.Server.URL+"/api/docs/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := env.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /api/docs/: %d", resp.StatusCode)
		}
	})

	t.Run("OKAfterTrialGranted", func(t *testing.T) {
		patch(map[string]any{"on_trial": true})
		admWantStatus(t, todos(), 200)
	})
	t.Run("ErrAfterTrialEnded", func(t *testing.T) {
		patch(map[string]any{"on_trial": false})
		admWantStatus(t, todos(), 402)
	})
	t.Run("OKAfterRenewal", func(t *testing.T) {
		patch(map[string]any{"paid_until": paidDay(365).String()})
		admWantStatus(t, todos(), 200)
	})
	t.Run("OKAfterPaidUntilCleared", func(t *testing.T) {
		patch(map[string]any{"paid_until": expired})
		admWantStatus(t, todos(), 402)
		patch(map[string]any{"paid_until": nil})
		admWantStatus(t, todos(), 200)
	})
}
