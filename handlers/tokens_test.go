package handlers_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/internal/apptest"
	"golang.org/x/crypto/bcrypt"
)

// tenantKey returns the tenant of schema as tokens name it.
func tenantKey(t *testing.T, env *apptest.Env, schema string) auth.Tenant {
	t.Helper()
	c, err := env.App.Tenants.FindTenant(context.Background(), schema)
	if err != nil {
		t.Fatal(err)
	}
	return auth.Tenant{ID: c.ID, Schema: schema}
}

// forgeToken signs claims with the test secret: a token the server could
// have issued, with whatever claims the test wants.
func forgeToken(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(apptest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tokenClaims(sub int64, tn auth.Tenant, typ string, exp int64) jwt.MapClaims {
	return jwt.MapClaims{"sub": itoa(sub), "tenant": tn.Schema, "tenant_id": tn.ID, "typ": typ,
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": exp, "jti": "fedcba9876543210fedcba9876543210"}
}

func post(t *testing.T, env *apptest.Env, host, path string, body any) apptest.Response {
	t.Helper()
	return env.Do(t, apptest.Request{Method: "POST", Host: host, Path: path, Body: body})
}

func wantStatusDetail(t *testing.T, r apptest.Response, status int, detail string) {
	t.Helper()
	if r.Status != status || (detail != "" && r.Body["detail"] != detail) {
		t.Fatalf("want %d %q, got %d %s", status, detail, r.Status, r.Raw)
	}
}

func TestRegisterDefaultPasswordPolicy(t *testing.T) {
	t.Parallel()
	env := apptest.New(t) // the shipped policy: minimum_length (8) and numeric
	env.CreateTenant(t, "pol", "pol.localhost")
	for _, tt := range []struct {
		name, password, msg string
	}{
		{"CommonPasswordAccepted", "password123", ""},
		{"SimilarPasswordAccepted", "bobby_tables1", ""},
		{"ErrShort", "x9!kq", "This password is too short. It must contain at least 8 characters."},
		{"ErrNumeric", "8675309123", "This password is entirely numeric."},
		{"ErrTooLong", strings.Repeat("é", 37), "This password is too long. It must be no longer than 72 bytes."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, env, "pol.localhost", "/api/register/", map[string]string{"username": "u_" + strings.ToLower(tt.name), "email": "u@example.com", "password": tt.password})
			if tt.msg == "" {
				if r.Status != http.StatusCreated {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				return
			}
			if msgs, _ := r.Body["password"].([]any); r.Status != 400 || !containsMsg(msgs, tt.msg) {
				t.Fatalf("want 400 {\"password\": [%q]}, got %d %s", tt.msg, r.Status, r.Raw)
			}
		})
	}

	t.Run("MinLengthFromConfig", func(t *testing.T) {
		t.Parallel()
		cfg := apptest.Config(t)
		cfg.Auth.PasswordMinLength = 12
		env := apptest.Start(t, cfg)
		env.CreateTenant(t, "pol12", "pol12.localhost")
		r := post(t, env, "pol12.localhost", "/api/register/", map[string]string{"username": "carl", "email": "c@example.com", "password": "elevenchars"})
		if msgs, _ := r.Body["password"].([]any); r.Status != 400 || !containsMsg(msgs, "This password is too short. It must contain at least 12 characters.") {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		if r := post(t, env, "pol12.localhost", "/api/register/", map[string]string{"username": "carl", "email": "c@example.com", "password": "twelve-chars"}); r.Status != 201 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrUnknownValidator", func(t *testing.T) {
		cfg := config.Default()
		cfg.Auth.PasswordValidators = []string{"minimum_length", "entropy"}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "auth.password_validators") {
			t.Fatalf("want an error naming auth.password_validators, got %v", err)
		}
	})
}

func TestTokenVerify(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "ver", "ver.localhost")
	env.CreateTenant(t, "ver_b", "ver-b.localhost")
	access, refresh, id := env.Register(t, "ver.localhost", "vera")
	accessB, _, _ := env.Register(t, "ver-b.localhost", "vera")
	tn := tenantKey(t, env, "ver")
	verify := func(token any) apptest.Response {
		return post(t, env, "ver.localhost", "/api/token/verify/", map[string]any{"token": token})
	}
	for name, token := range map[string]string{"Access": access, "Refresh": refresh, "Forged": forgeToken(t, tokenClaims(id, tn, "access", time.Now().Add(time.Hour).Unix()))} {
		t.Run("Valid"+name, func(t *testing.T) {
			if r := verify(token); r.Status != 200 || string(r.Raw) != "{}" {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
	}
	parts := strings.Split(access, ".")
	for _, tt := range []struct {
		name, token, detail string
	}{
		{"ErrExpired", forgeToken(t, tokenClaims(id, tn, "access", time.Now().Add(-time.Hour).Unix())), "Token is expired"},
		{"ErrTampered", parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2], "Token is invalid"},
		{"ErrOtherTenants", accessB, "Given token not valid for this tenant"},
		{"ErrOtherSecret", signOther(t, id, "ver"), "Token is invalid"},
		{"ErrGarbage", "garbage", "Token is invalid"},
		{"ErrExpAsString", forgeToken(t, tokenClaims(id, tn, "access", 0)), "Token is invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if tt.name == "ErrExpAsString" {
				c := tokenClaims(id, tn, "access", 0)
				c["exp"] = fmt.Sprint(time.Now().Add(time.Hour).Unix())
				token = forgeToken(t, c)
			}
			r := verify(token)
			wantStatusDetail(t, r, 401, tt.detail)
		})
	}
	t.Run("ErrMissingToken", func(t *testing.T) {
		r := post(t, env, "ver.localhost", "/api/token/verify/", map[string]any{})
		if msgs, _ := r.Body["token"].([]any); r.Status != 400 || !containsMsg(msgs, "This field is required.") {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrNotAString", func(t *testing.T) {
		if r := verify(42); r.Status != 400 || r.Body["token"] == nil {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrBlacklistedRefresh", func(t *testing.T) {
		_, refresh, _ := env.Register(t, "ver.localhost", "vera2")
		if r := post(t, env, "ver.localhost", "/api/token/blacklist/", map[string]string{"refresh": refresh}); r.Status != 200 {
			t.Fatalf("blacklist: %d %s", r.Status, r.Raw)
		}
		wantStatusDetail(t, verify(refresh), 401, "Token is blacklisted")
	})
}

func TestTokenBlacklist(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "bl", "bl.localhost")
	env.CreateTenant(t, "bl_b", "bl-b.localhost")
	access, refresh, _ := env.Register(t, "bl.localhost", "logan")
	_, refreshB, _ := env.Register(t, "bl-b.localhost", "logan")

	if r := post(t, env, "bl.localhost", "/api/token/refresh/", map[string]string{"refresh": refresh}); r.Status != 200 {
		t.Fatalf("refresh before logout: %d %s", r.Status, r.Raw)
	}
	t.Run("ErrAccessToken", func(t *testing.T) {
		wantStatusDetail(t, post(t, env, "bl.localhost", "/api/token/blacklist/", map[string]string{"refresh": access}), 401, "Token has wrong type")
	})
	t.Run("ErrOtherTenantsRefresh", func(t *testing.T) {
		wantStatusDetail(t, post(t, env, "bl.localhost", "/api/token/blacklist/", map[string]string{"refresh": refreshB}), 401, "Given token not valid for this tenant")
		// ... and it was not blacklisted on its own tenant either.
		if r := post(t, env, "bl-b.localhost", "/api/token/refresh/", map[string]string{"refresh": refreshB}); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrMissingRefresh", func(t *testing.T) {
		if r := post(t, env, "bl.localhost", "/api/token/blacklist/", map[string]string{}); r.Status != 400 || r.Body["refresh"] == nil {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	var n int64
	env.App.DB.Raw(`SELECT count(*) FROM bl.outstanding_tokens WHERE blacklisted_at IS NOT NULL`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d tokens blacklisted by refused requests", n)
	}

	if r := post(t, env, "bl.localhost", "/api/token/blacklist/", map[string]string{"refresh": refresh}); r.Status != 200 || string(r.Raw) != "{}" {
		t.Fatalf("blacklist: %d %s", r.Status, r.Raw)
	}
	t.Run("ErrRefreshAfterLogout", func(t *testing.T) {
		wantStatusDetail(t, post(t, env, "bl.localhost", "/api/token/refresh/", map[string]string{"refresh": refresh}), 401, "Token is blacklisted")
	})
	t.Run("ErrBlacklistTwice", func(t *testing.T) {
		wantStatusDetail(t, post(t, env, "bl.localhost", "/api/token/blacklist/", map[string]string{"refresh": refresh}), 401, "Token is blacklisted")
	})
	t.Run("OtherSessionsUnaffected", func(t *testing.T) {
		r := post(t, env, "bl.localhost", "/api/token/", map[string]string{"username": "logan", "password": "correct-horse-battery"})
		if r.Status != 200 {
			t.Fatalf("login: %d %s", r.Status, r.Raw)
		}
		if r := post(t, env, "bl.localhost", "/api/token/refresh/", map[string]string{"refresh": r.Body["refresh"].(string)}); r.Status != 200 {
			t.Fatalf("a new session's refresh: %d %s", r.Status, r.Raw)
		}
	})
	env.App.DB.Raw(`SELECT count(*) FROM bl.outstanding_tokens WHERE blacklisted_at IS NOT NULL`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d tokens blacklisted, want 1", n)
	}
	t.Run("ErrDeletedUser", func(t *testing.T) {
		_, refresh, id := env.Register(t, "bl.localhost", "gone")
		if err := env.App.DB.Exec(`DELETE FROM bl.users WHERE id = ?`, id).Error; err != nil {
			t.Fatal(err)
		}
		wantStatusDetail(t, post(t, env, "bl.localhost", "/api/token/refresh/", map[string]string{"refresh": refresh}), 401, "User not found")
		wantStatusDetail(t, post(t, env, "bl.localhost", "/api/token/blacklist/", map[string]string{"refresh": refresh}), 401, "User not found")
	})
	t.Run("ErrDeactivatedUser", func(t *testing.T) {
		access, refresh, id := env.Register(t, "bl.localhost", "inactive")
		if err := env.App.DB.Exec(`UPDATE bl.users SET is_active = false WHERE id = ?`, id).Error; err != nil {
			t.Fatal(err)
		}
		wantStatusDetail(t, post(t, env, "bl.localhost", "/api/token/refresh/", map[string]string{"refresh": refresh}), 401, "User not found")
		r := env.Do(t, apptest.Request{Method: "GET", Host: "bl.localhost", Path: "/api/todos/", Token: access})
		wantStatusDetail(t, r, 401, "User not found")
	})
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name              string
		rotate, blacklist bool
	}{
		{"Off", false, false},
		{"Rotate", true, false},
		{"RotateAndBlacklist", true, true},
		// BLACKLIST_AFTER_ROTATION without rotation changes nothing, as
		// in simplejwt.
		{"BlacklistWithoutRotate", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := apptest.Config(t)
			cfg.Auth.RotateRefreshTokens = tt.rotate
			cfg.Auth.BlacklistAfterRotation = tt.blacklist
			env := apptest.Start(t, cfg)
			env.CreateTenant(t, "rot", "rot.localhost")
			_, old, _ := env.Register(t, "rot.localhost", "rita")
			refresh := func(token string) apptest.Response {
				return post(t, env, "rot.localhost", "/api/token/refresh/", map[string]string{"refresh": token})
			}
			r := refresh(old)
			if r.Status != 200 || r.Body["access"] == nil {
				t.Fatalf("refresh: %d %s", r.Status, r.Raw)
			}
			newRefresh, rotated := r.Body["refresh"].(string)
			if rotated != tt.rotate {
				t.Fatalf("a new refresh token in the answer: %v, want %v (%s)", rotated, tt.rotate, r.Raw)
			}
			if rotated {
				if newRefresh == old {
					t.Fatal("rotation returned the same refresh token")
				}
				if r := refresh(newRefresh); r.Status != 200 {
					t.Fatalf("the rotated refresh token: %d %s", r.Status, r.Raw)
				}
			}
			r = refresh(old)
			if tt.rotate && tt.blacklist {
				wantStatusDetail(t, r, 401, "Token is blacklisted")
			} else if r.Status != 200 {
				t.Fatalf("the old refresh token again: %d %s", r.Status, r.Raw)
			}
			var outstanding, blacklisted int64
			env.App.DB.Raw(`SELECT count(*) FROM rot.outstanding_tokens`).Scan(&outstanding)
			env.App.DB.Raw(`SELECT count(*) FROM rot.outstanding_tokens WHERE blacklisted_at IS NOT NULL`).Scan(&blacklisted)
			wantOutstanding, wantBlacklisted := int64(1), int64(0)
			if tt.rotate {
				// register's, then one per rotation.
				wantOutstanding = 3
				if !tt.blacklist {
					wantOutstanding = 4
				}
			}
			if tt.rotate && tt.blacklist {
				wantBlacklisted = 2
			}
			if outstanding != wantOutstanding || blacklisted != wantBlacklisted {
				t.Fatalf("%d outstanding and %d blacklisted tokens, want %d and %d", outstanding, blacklisted, wantOutstanding, wantBlacklisted)
			}
		})
	}

	t.Run("ErrConcurrentReuseAfterRotation", func(t *testing.T) {
		// A stolen refresh token raced against its owner: with
		// blacklisting after rotation, one use wins.
		t.Parallel()
		cfg := apptest.Config(t)
		cfg.Auth.RotateRefreshTokens = true
		cfg.Auth.BlacklistAfterRotation = true
		env := apptest.Start(t, cfg)
		env.CreateTenant(t, "race", "race.localhost")
		_, refresh, _ := env.Register(t, "race.localhost", "rachel")
		const n = 6
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range n {
			wg.Go(func() {
				statuses[i] = post(t, env, "race.localhost", "/api/token/refresh/", map[string]string{"refresh": refresh}).Status
			})
		}
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			switch s {
			case 200:
				ok++
			case 401:
			default:
				t.Errorf("status %d", s)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent uses of one refresh token succeeded (%v), want 1", ok, n, statuses)
		}
	})
}

// TestTokenPruning: recording a refresh token deletes the rows of tokens
// that have expired (blacklisted or not), and keeps live ones.
func TestTokenPruning(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "prune", "prune.localhost")
	_, refresh, id := env.Register(t, "prune.localhost", "pat")
	if r := post(t, env, "prune.localhost", "/api/token/blacklist/", map[string]string{"refresh": refresh}); r.Status != 200 {
		t.Fatalf("blacklist: %d %s", r.Status, r.Raw)
	}
	// Expired rows as an older server would have left them, one of them
	// blacklisted.
	for i := range 3 {
		if err := env.App.DB.Exec(`INSERT INTO prune.outstanding_tokens (user_id, jti, created_at, expires_at) VALUES (?, ?, now() - interval '9 days', now() - interval '2 days')`, id, fmt.Sprintf("expired-%d", i)).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := env.App.DB.Exec(`UPDATE prune.outstanding_tokens SET blacklisted_at = now() WHERE jti = 'expired-0'`).Error; err != nil {
		t.Fatal(err)
	}
	count := func(where string) (n int64) {
		env.App.DB.Raw(`SELECT count(*) FROM prune.outstanding_tokens WHERE ` + where).Scan(&n)
		return n
	}
	if o, b := count("TRUE"), count("blacklisted_at IS NOT NULL"); o != 4 || b != 2 {
		t.Fatalf("before: %d outstanding, %d blacklisted", o, b)
	}
	if r := post(t, env, "prune.localhost", "/api/token/", map[string]string{"username": "pat", "password": "correct-horse-battery"}); r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	var left []string
	env.App.DB.Raw(`SELECT jti FROM prune.outstanding_tokens WHERE jti LIKE 'expired-%'`).Scan(&left)
	if len(left) != 0 {
		t.Fatalf("expired rows left: %v", left)
	}
	// The live blacklisted token and the new login's token remain, and
	// the blacklisted one is still refused.
	if o, b := count("TRUE"), count("blacklisted_at IS NOT NULL"); o != 2 || b != 1 {
		t.Fatalf("after: %d outstanding, %d blacklisted; want 2 and 1", o, b)
	}
	wantStatusDetail(t, post(t, env, "prune.localhost", "/api/token/refresh/", map[string]string{"refresh": refresh}), 401, "Token is blacklisted")
}

// TestThrottling covers the per-address rates and the endpoints other
// than login (whose per-username rate e2e's TestLoginBruteForce attacks).
func TestThrottling(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Auth.Throttle.LoginAddress = "5/min"
	cfg.Auth.Throttle.RegisterAddress = "3/hour"
	cfg.Auth.Throttle.Register = "2/min"
	cfg.Auth.Throttle.Refresh = "3/min"
	cfg.HTTP.TrustedProxies = []string{"127.0.0.1"}
	// The throttles' clock stands still: a slow machine cannot let a
	// period pass mid-test.
	env := apptest.StartWithThrottleClock(t, cfg, apptest.NewClock())
	env.CreateTenant(t, "thr", "thr.localhost")
	env.CreateTenant(t, "thr_b", "thr-b.localhost")
	// Users are made directly: registering goes through the throttle.
	hash, err := auth.HashPasswordCost("correct-horse-battery", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		env.App.DB.Exec(`INSERT INTO thr.users (username, email, password_hash) VALUES (?, 'x@example.com', ?)`, fmt.Sprintf("user%d", i), hash)
	}
	from := func(addr string) map[string]string {
		if addr == "" {
			return nil
		}
		return map[string]string{"X-Forwarded-For": addr}
	}
	login := func(host, username, password, addr string) apptest.Response {
		return env.Do(t, apptest.Request{Method: "POST", Host: host, Path: "/api/token/", Header: from(addr),
			Body: map[string]string{"username": username, "password": password}})
	}

	t.Run("LoginPerAddress", func(t *testing.T) {
		// A successful login does not give the attacker's budget back.
		for i := range 4 {
			if r := login("thr.localhost", fmt.Sprintf("user%d", i), "wrong-password-1", "203.0.113.7"); r.Status != 401 {
				t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Raw)
			}
		}
		if r := login("thr.localhost", "user4", "correct-horse-battery", "203.0.113.7"); r.Status != 200 {
			t.Fatalf("5th attempt: %d %s", r.Status, r.Raw)
		}
		wantThrottled(t, login("thr.localhost", "user5", "correct-horse-battery", "203.0.113.7"))
		// A client behind the trusted proxy at another address, and the
		// same address on another tenant, have their own budgets.
		if r := login("thr.localhost", "user5", "correct-horse-battery", "198.51.100.9"); r.Status != 200 {
			t.Fatalf("another address: %d %s", r.Status, r.Raw)
		}
		if r := login("thr-b.localhost", "user5", "wrong-password-1", "203.0.113.7"); r.Status != 401 {
			t.Fatalf("another tenant: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrForgedForwardedFor", func(t *testing.T) {
		// A peer that is not a trusted proxy cannot pick its address.
		cfg := apptest.Config(t)
		cfg.Auth.Throttle.LoginAddress = "2/min"
		env := apptest.StartWithThrottleClock(t, cfg, apptest.NewClock())
		env.CreateTenant(t, "xff", "xff.localhost")
		for i := range 3 {
			r := env.Do(t, apptest.Request{Method: "POST", Host: "xff.localhost", Path: "/api/token/",
				Header: map[string]string{"X-Forwarded-For": fmt.Sprintf("192.0.2.%d", i+1), "X-Real-IP": fmt.Sprintf("192.0.2.%d", i+1)},
				Body:   map[string]string{"username": fmt.Sprintf("u%d", i), "password": "wrong-password-1"}})
			if i < 2 && r.Status != 401 {
				t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Raw)
			}
			if i == 2 {
				wantThrottled(t, r)
			}
		}
	})
	t.Run("IPv6CountsBySlash64", func(t *testing.T) {
		for i := range 5 {
			login("thr.localhost", "user6", "wrong-password-1", fmt.Sprintf("2001:db8:1:2::%x", i+1))
		}
		wantThrottled(t, login("thr.localhost", "user7", "wrong-password-1", "2001:db8:1:2:ffff::1"))
		if r := login("thr.localhost", "user7", "wrong-password-1", "2001:db8:1:3::1"); r.Status != 401 {
			t.Fatalf("another /64: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("Register", func(t *testing.T) {
		reg := func(username, addr string) apptest.Response {
			return env.Do(t, apptest.Request{Method: "POST", Host: "thr.localhost", Path: "/api/register/", Header: from(addr),
				Body: map[string]string{"username": username, "email": "r@example.com", "password": "correct-horse-battery"}})
		}
		if r := reg("reg_a", "203.0.113.20"); r.Status != 201 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		// The same username again, from other addresses: taken, then
		// throttled per username.
		if r := reg("reg_a", "203.0.113.21"); r.Status != 400 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		wantThrottled(t, reg("REG_A", "203.0.113.22"))
		// Per address: 3 an hour.
		for i, name := range []string{"reg_b", "reg_c"} {
			if r := reg(name, "203.0.113.20"); r.Status != 201 {
				t.Fatalf("registration %d: %d %s", i+2, r.Status, r.Raw)
			}
		}
		r := reg("reg_d", "203.0.113.20")
		wantThrottled(t, r)
		if r.Header.Get("Retry-After") != "3600" {
			t.Fatalf("Retry-After %s for a rate of 3/hour on a clock that stands still, want 3600", r.Header.Get("Retry-After"))
		}
		var n int64
		env.App.DB.Raw(`SELECT count(*) FROM thr.users WHERE username LIKE 'reg%'`).Scan(&n)
		if n != 3 {
			t.Fatalf("%d users registered, want 3", n)
		}
	})
	t.Run("Refresh", func(t *testing.T) {
		r := login("thr.localhost", "user7", "correct-horse-battery", "203.0.113.30")
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		refresh := r.Body["refresh"].(string)
		for i := range 3 {
			r := env.Do(t, apptest.Request{Method: "POST", Host: "thr.localhost", Path: "/api/token/refresh/", Header: from("203.0.113.30"), Body: map[string]string{"refresh": refresh}})
			if r.Status != 200 {
				t.Fatalf("refresh %d: %d %s", i+1, r.Status, r.Raw)
			}
		}
		wantThrottled(t, env.Do(t, apptest.Request{Method: "POST", Host: "thr.localhost", Path: "/api/token/refresh/", Header: from("203.0.113.30"), Body: map[string]string{"refresh": refresh}}))
	})
}

var throttledDetail = `^Request was throttled\. Expected available in ([0-9]+) seconds?\.$`

func wantThrottled(t *testing.T, r apptest.Response) {
	t.Helper()
	m := regexp.MustCompile(throttledDetail).FindStringSubmatch(fmt.Sprint(r.Body["detail"]))
	if r.Status != http.StatusTooManyRequests || m == nil || len(r.Body) != 1 {
		t.Fatalf("want 429 Request was throttled, got %d %s", r.Status, r.Raw)
	}
	if r.Header.Get("Retry-After") != m[1] {
		t.Fatalf("Retry-After %q with detail %q", r.Header.Get("Retry-After"), r.Body["detail"])
	}
}

// TestRehashOnLogin: a login with a hash of an older scheme replaces it
// with a current bcrypt hash; the password still works, and a wrong
// password changes nothing.
func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "rh", "rh.localhost")
	cheap, err := auth.HashPasswordCost("Carol-pass-2024", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	current, err := auth.HashPassword("Dave-pass-2024")
	if err != nil {
		t.Fatal(err)
	}
	// A Django user whose password is longer than bcrypt takes keeps
	// logging in, with the PBKDF2 hash.
	t.Run("LongDjangoPasswordKeepsPBKDF2", func(t *testing.T) {
		long := strings.Repeat("long-password-", 6) // 84 bytes
		h := djangoHash(long, "saltsaltsalt", 1000)
		if err := env.App.DB.Exec(`INSERT INTO rh.users (username, email, password_hash) VALUES ('longpw', 'x@example.com', ?)`, h).Error; err != nil {
			t.Fatal(err)
		}
		if r := post(t, env, "rh.localhost", "/api/token/", map[string]string{"username": "longpw", "password": long}); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		var stored string
		env.App.DB.Raw(`SELECT password_hash FROM rh.users WHERE username = 'longpw'`).Scan(&stored)
		if stored != h {
			t.Fatalf("hash changed to %q", stored)
		}
	})
	for _, tt := range []struct {
		name, username, password, hash string
		rehash                         bool
	}{
		// The seed's Django hash of "password123" for testuser.
		{"DjangoPBKDF2", "testuser", "password123", "pbkdf2_sha256$870000$d6yQC5RINTTIjH9Uo1ungM$nxBXckXMW514QLyIb9SakjInYocjwKqMS+RvoDtGIK0=", true},
		{"CheapBcrypt", "carol", "Carol-pass-2024", cheap, true},
		{"CurrentBcrypt", "dave", "Dave-pass-2024", current, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := env.App.DB.Exec(`INSERT INTO rh.users (username, email, password_hash) VALUES (?, 'x@example.com', ?)`, tt.username, tt.hash).Error; err != nil {
				t.Fatal(err)
			}
			stored := func() (h string) {
				env.App.DB.Raw(`SELECT password_hash FROM rh.users WHERE username = ?`, tt.username).Scan(&h)
				return h
			}
			login := func(password string) int {
				return post(t, env, "rh.localhost", "/api/token/", map[string]string{"username": tt.username, "password": password}).Status
			}
			if s := login("wrong-password-1"); s != 401 || stored() != tt.hash {
				t.Fatalf("wrong password: %d, hash changed: %v", s, stored() != tt.hash)
			}
			if s := login(tt.password); s != 200 {
				t.Fatalf("login: %d", s)
			}
			h := stored()
			if changed := h != tt.hash; changed != tt.rehash {
				t.Fatalf("hash changed: %v, want %v (%s)", changed, tt.rehash, h)
			}
			if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.DefaultCost || auth.NeedsRehash(h) {
				t.Fatalf("stored hash %q (cost %d, %v) is not current", h, cost, err)
			}
			if s := login(tt.password); s != 200 || stored() != h {
				t.Fatalf("second login: %d, hash changed again: %v", s, stored() != h)
			}
			if s := login("wrong-password-1"); s != 401 || stored() != h {
				t.Fatalf("wrong password after rehash: %d", s)
			}
		})
	}
}

// djangoHash is Django's PBKDF2PasswordHasher.encode.
func djangoHash(password, salt string, iterations int) string {
	key, err := pbkdf2.Key(sha256.New, password, []byte(salt), iterations, sha256.Size)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iterations, salt, base64.StdEncoding.EncodeToString(key))
}
