package handlers_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/internal/apptest"
)

// TestRegister runs sign-up with Django's full set of validators, the one
// config.yaml recommends for production.
func TestRegister(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.Auth.PasswordValidators = auth.AllValidators
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "acc", "acc.localhost")
	post := func(body any) apptest.Response {
		return env.Do(t, apptest.Request{Method: "POST", Host: "acc.localhost", Path: "/api/register/", Body: body})
	}

	r := post(map[string]string{"username": "alice", "email": "alice@example.com", "password": "s3cure-Passw0rd"})
	if r.Status != http.StatusCreated || r.Body["message"] != "User created successfully" || r.Body["access"] == "" || r.Body["refresh"] == "" {
		t.Fatalf("register: %d %s", r.Status, r.Raw)
	}
	if u := r.Body["user"].(map[string]any); u["username"] != "alice" || u["email"] != "alice@example.com" || u["id"] == nil || u["password"] != nil {
		t.Fatalf("user: %v", u)
	}

	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
		msg   string
	}{
		{"ErrDuplicateUsername", map[string]any{"username": "ALICE", "email": "a2@example.com", "password": "s3cure-Passw0rd"}, "username", "A user with that username already exists."},
		{"ErrMissingUsername", map[string]any{"email": "b@example.com", "password": "s3cure-Passw0rd"}, "username", "This field is required."},
		{"ErrBlankUsername", map[string]any{"username": " ", "email": "b@example.com", "password": "s3cure-Passw0rd"}, "username", "This field may not be blank."},
		{"ErrBadUsernameChars", map[string]any{"username": "bob smith", "email": "b@example.com", "password": "s3cure-Passw0rd"}, "username", "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."},
		{"ErrBadEmail", map[string]any{"username": "bob", "email": "not-an-email", "password": "s3cure-Passw0rd"}, "email", "Enter a valid email address."},
		{"ErrMissingPassword", map[string]any{"username": "bob", "email": "b@example.com"}, "password", "This field is required."},
		{"ErrShortPassword", map[string]any{"username": "bob", "email": "b@example.com", "password": "x9!kq"}, "password", "This password is too short. It must contain at least 8 characters."},
		{"ErrNumericPassword", map[string]any{"username": "bob", "email": "b@example.com", "password": "8675309123"}, "password", "This password is entirely numeric."},
		{"ErrCommonPassword", map[string]any{"username": "bob", "email": "b@example.com", "password": "password123"}, "password", "This password is too common."},
		{"ErrSimilarPassword", map[string]any{"username": "bobby_tables", "email": "b@example.com", "password": "bobby_tables1"}, "password", "The password is too similar to the username."},
		{"ErrWrongType", map[string]any{"username": 42, "email": "b@example.com", "password": "s3cure-Passw0rd"}, "username", "Not a valid string."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.body)
			msgs, _ := r.Body[tc.field].([]any)
			if r.Status != http.StatusBadRequest || len(msgs) == 0 || !containsMsg(msgs, tc.msg) {
				t.Fatalf("want 400 {%q: [%q]}, got %d %s", tc.field, tc.msg, r.Status, r.Raw)
			}
		})
	}
	var n int64
	env.App.DB.Raw(`SELECT count(*) FROM "acc".users`).Scan(&n)
	if n != 1 {
		t.Fatalf("failed registrations wrote rows: %d users", n)
	}
}

func containsMsg(msgs []any, want string) bool {
	for _, m := range msgs {
		if m == want {
			return true
		}
	}
	return false
}

func TestTokenObtainAndRefresh(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "tok", "tok.localhost")
	_, _, _ = env.Register(t, "tok.localhost", "carol")
	do := func(path string, body any) apptest.Response {
		return env.Do(t, apptest.Request{Method: "POST", Host: "tok.localhost", Path: path, Body: body})
	}

	r := do("/api/token/", map[string]string{"username": "carol", "password": "correct-horse-battery"})
	if r.Status != 200 || r.Body["access"] == nil || r.Body["refresh"] == nil {
		t.Fatalf("token: %d %s", r.Status, r.Raw)
	}
	access, refresh := r.Body["access"].(string), r.Body["refresh"].(string)

	for name, body := range map[string]map[string]string{
		"ErrWrongPassword":  {"username": "carol", "password": "wrong-password-1"},
		"ErrUnknownUser":    {"username": "nobody", "password": "correct-horse-battery"},
		"ErrOtherCaseWrong": {"username": "CAROL", "password": "nope-nope-nope"},
	} {
		t.Run(name, func(t *testing.T) {
			r := do("/api/token/", body)
			if r.Status != 401 || r.Body["detail"] != "No active account found with the given credentials" {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
	}
	t.Run("ErrMissingFields", func(t *testing.T) {
		r := do("/api/token/", map[string]string{})
		if r.Status != 400 || r.Body["username"] == nil || r.Body["password"] == nil {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})

	r = do("/api/token/refresh/", map[string]string{"refresh": refresh})
	if r.Status != 200 || r.Body["access"] == nil {
		t.Fatalf("refresh: %d %s", r.Status, r.Raw)
	}
	t.Run("ErrAccessAsRefresh", func(t *testing.T) {
		if r := do("/api/token/refresh/", map[string]string{"refresh": access}); r.Status != 401 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
	t.Run("ErrGarbageRefresh", func(t *testing.T) {
		if r := do("/api/token/refresh/", map[string]string{"refresh": "not.a.token"}); r.Status != 401 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
}

// TestProtectedEndpointTokens drives the Authenticate middleware with
// every kind of bad token. /api/todos/ stands for every protected route.
func TestProtectedEndpointTokens(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "pa", "pa.localhost")
	env.CreateTenant(t, "pb", "pb.localhost")
	accessA, refreshA, idA := env.Register(t, "pa.localhost", "dave")
	accessB, _, _ := env.Register(t, "pb.localhost", "dave")

	get := func(host, header string) apptest.Response {
		h := map[string]string{}
		if header != "" {
			h["Authorization"] = header
		}
		return env.Do(t, apptest.Request{Method: "GET", Host: host, Path: "/api/todos/", Header: h})
	}
	if r := get("pa.localhost", "Bearer "+accessA); r.Status == 401 {
		t.Fatalf("valid token refused: %s", r.Raw)
	}

	parts := strings.Split(accessA, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
	none := jwtNone(t, idA)
	hs512 := signWith(t, jwt.SigningMethodHS512, idA, "pa")
	expired := signExpired(t, idA, "pa")
	for name, header := range map[string]string{
		"ErrNoHeader":          "",
		"ErrNotBearer":         "Basic " + accessA,
		"ErrEmptyBearer":       "Bearer ",
		"ErrForeignTenant":     "Bearer " + accessB,
		"ErrRefreshAsAccess":   "Bearer " + refreshA,
		"ErrTampered":          "Bearer " + tampered,
		"ErrAlgNone":           "Bearer " + none,
		"ErrHS512":             "Bearer " + hs512,
		"ErrExpired":           "Bearer " + expired,
		"ErrMalformed":         "Bearer abc.def",
		"ErrSignedOtherSecret": "Bearer " + signOther(t, idA, "pa"),
	} {
		t.Run(name, func(t *testing.T) {
			r := get("pa.localhost", header)
			if r.Status != 401 || r.Body["detail"] == nil || r.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("want 401 JSON with WWW-Authenticate, got %d %s", r.Status, r.Raw)
			}
		})
	}

	t.Run("ErrDeletedUser", func(t *testing.T) {
		access, _, id := env.Register(t, "pa.localhost", "erin")
		if err := env.App.DB.Exec(`DELETE FROM "pa".users WHERE id = ?`, id).Error; err != nil {
			t.Fatal(err)
		}
		if r := get("pa.localhost", "Bearer "+access); r.Status != 401 {
			t.Fatalf("deleted user's token: %d %s", r.Status, r.Raw)
		}
	})
}

func claims(sub int64, tenant, typ string, exp int64) jwt.MapClaims {
	return jwt.MapClaims{"sub": itoa(sub), "tenant": tenant, "typ": typ, "iat": 1700000000, "exp": exp, "jti": "0123456789abcdef0123456789abcdef"}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func jwtNone(t *testing.T, sub int64) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(sub, "pa", "access", 4102444800)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signWith(t *testing.T, m jwt.SigningMethod, sub int64, tenant string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims(sub, tenant, "access", 4102444800)).SignedString([]byte(apptest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signExpired(t *testing.T, sub int64, tenant string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(sub, tenant, "access", 1700000060)).SignedString([]byte(apptest.Secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signOther(t *testing.T, sub int64, tenant string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(sub, tenant, "access", 4102444800)).SignedString([]byte("another-secret-0123456789abcdef0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
