package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strictmt/strictmt/apperr"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// The tenants of the tests: acme is the one tokens are issued for; globex
// is another tenant; acmeReborn is a later tenant under acme's schema name.
var (
	acme       = Tenant{ID: 7, Schema: "acme"}
	globex     = Tenant{ID: 8, Schema: "globex"}
	acmeReborn = Tenant{ID: 9, Schema: "acme"}
)

const (
	testAccessTTL  = 5 * time.Minute
	testRefreshTTL = 24 * time.Hour
)

// testClock is a settable clock safe for concurrent reads.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newTestTokens(t *testing.T) (*Tokens, *testClock) {
	t.Helper()
	clock := &testClock{now: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)}
	tokens, err := NewTokens(testSecret, testAccessTTL, testRefreshTTL, WithClock(clock.Now))
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	return tokens, clock
}

// validClaims returns the payload Issue would write for an access token of
// user 42 in tenant "acme" at clock time now.
func validClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"sub":       "42",
		"tenant":    "acme",
		"tenant_id": 7,
		"typ":       "access",
		"iat":       now.Unix(),
		"exp":       now.Add(testAccessTTL).Unix(),
		"jti":       "00112233445566778899aabbccddeeff",
	}
}

func signWith(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing with %s: %v", method.Alg(), err)
	}
	return s
}

// withPayload replaces the payload of token, keeping its header and
// signature.
func withPayload(t *testing.T, token string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decoding payload: %v", err)
	}
	payload := map[string]any{}
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatalf("unmarshalling payload: %v", err)
	}
	edit(payload)
	raw, err = json.Marshal(payload)
	if err != nil {
		t.Fatalf("marshalling payload: %v", err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func assertUnauthorized(t *testing.T, err error, wantMsg string) {
	t.Helper()
	if err == nil {
		t.Fatal("Parse accepted the token")
	}
	if !errors.Is(err, apperr.Unauthorized) {
		t.Fatalf("error %v (code %q) is not unauthorized", err, apperr.Code(err))
	}
	if wantMsg != "" && apperr.Message(err) != wantMsg {
		t.Errorf("message = %q, want %q", apperr.Message(err), wantMsg)
	}
}

func TestNewTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		secret   []byte
		access   time.Duration
		refresh  time.Duration
		wantFail bool
	}{
		{"OK", testSecret, time.Minute, time.Hour, false},
		{"OKExactly32Bytes", make([]byte, MinSecretLen), time.Minute, time.Hour, false},
		{"ErrShortSecret", make([]byte, MinSecretLen-1), time.Minute, time.Hour, true},
		{"ErrNilSecret", nil, time.Minute, time.Hour, true},
		{"ErrZeroAccessTTL", testSecret, 0, time.Hour, true},
		{"ErrNegativeRefreshTTL", testSecret, time.Minute, -time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTokens(tt.secret, tt.access, tt.refresh)
			if gotFail := err != nil; gotFail != tt.wantFail {
				t.Fatalf("NewTokens error = %v, want failure %v", err, tt.wantFail)
			}
		})
	}
}

func TestIssueAndParse(t *testing.T) {
	t.Parallel()
	tokens, clock := newTestTokens(t)
	now := clock.Now()

	pair, err := tokens.Issue(42, acme)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if pair.Access == "" || pair.Refresh == "" || pair.Access == pair.Refresh {
		t.Fatalf("Issue returned %+v", pair)
	}
	single, err := tokens.IssueAccess(42, acme)
	if err != nil {
		t.Fatalf("IssueAccess: %v", err)
	}

	tests := []struct {
		name  string
		token string
		typ   TokenType
		ttl   time.Duration
	}{
		{"AccessFromPair", pair.Access, Access, testAccessTTL},
		{"RefreshFromPair", pair.Refresh, Refresh, testRefreshTTL},
		{"AccessFromIssueAccess", single, Access, testAccessTTL},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tokens.Parse(tt.token, tt.typ, acme)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Claims{UserID: 42, Tenant: "acme", TenantID: 7, Type: tt.typ, ID: c.ID, IssuedAt: now, ExpiresAt: now.Add(tt.ttl)}
			if !c.IssuedAt.Equal(want.IssuedAt) || !c.ExpiresAt.Equal(want.ExpiresAt) ||
				c.UserID != want.UserID || c.Tenant != want.Tenant || c.Type != want.Type {
				t.Errorf("Parse = %+v, want %+v", c, want)
			}
			if len(c.ID) != 32 || strings.Trim(c.ID, "0123456789abcdef") != "" {
				t.Errorf("jti %q is not 128 bits of hex", c.ID)
			}
			if ids[c.ID] {
				t.Errorf("jti %q repeated", c.ID)
			}
			ids[c.ID] = true
		})
	}
}

func TestIssueWireFormat(t *testing.T) {
	t.Parallel()
	tokens, clock := newTestTokens(t)
	tok, err := tokens.IssueAccess(7, acme)
	if err != nil {
		t.Fatalf("IssueAccess: %v", err)
	}
	parts := strings.Split(tok, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])

	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil || h["alg"] != "HS256" {
		t.Errorf("header = %s, want alg HS256", header)
	}
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	want := map[string]any{
		"sub":       "7",
		"tenant":    "acme",
		"tenant_id": float64(7),
		"typ":       "access",
		"iat":       float64(clock.Now().Unix()),
		"exp":       float64(clock.Now().Add(testAccessTTL).Unix()),
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("claim %q = %#v, want %#v", k, p[k], v)
		}
	}
	if _, ok := p["jti"].(string); !ok {
		t.Errorf("claim jti = %#v, want a string", p["jti"])
	}
}

func TestIssueRejectsBadSubject(t *testing.T) {
	t.Parallel()
	tokens, _ := newTestTokens(t)
	tests := []struct {
		name   string
		userID int64
		tenant Tenant
	}{
		{"ErrZeroUserID", 0, acme},
		{"ErrNegativeUserID", -1, acme},
		{"ErrEmptyTenant", 1, Tenant{ID: 7}},
		{"ErrNoTenantID", 1, Tenant{Schema: "acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tokens.Issue(tt.userID, tt.tenant); err == nil {
				t.Error("Issue succeeded")
			}
			if _, err := tokens.IssueAccess(tt.userID, tt.tenant); err == nil {
				t.Error("IssueAccess succeeded")
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tokens, clock := newTestTokens(t)
	now := clock.Now()

	pair, err := tokens.Issue(42, acme)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa key: %v", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa key: %v", err)
	}
	claimsWithout := func(name string) jwt.MapClaims {
		c := validClaims(now)
		delete(c, name)
		return c
	}
	claimsWith := func(name string, v any) jwt.MapClaims {
		c := validClaims(now)
		c[name] = v
		return c
	}
	hs256 := func(c jwt.MapClaims) string { return signWith(t, jwt.SigningMethodHS256, testSecret, c) }

	// Sanity: the hand-built baseline is accepted, so each case below fails
	// for its own reason only.
	if _, err := tokens.Parse(hs256(validClaims(now)), Access, acme); err != nil {
		t.Fatalf("baseline token rejected: %v", err)
	}

	tests := []struct {
		name    string
		token   string
		want    TokenType
		tenant  Tenant
		wantMsg string
	}{
		{"ErrEmpty", "", Access, acme, "Token is invalid"},
		{"ErrGarbage", "not a token", Access, acme, "Token is invalid"},
		{"ErrDots", "..", Access, acme, "Token is invalid"},
		{"ErrTwoParts", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9", Access, acme, "Token is invalid"},
		{"ErrFourParts", pair.Access + ".x", Access, acme, "Token is invalid"},
		{"ErrBearerPrefix", "Bearer " + pair.Access, Access, acme, "Token is invalid"},
		{"ErrBadBase64", "!!!.???.***", Access, acme, "Token is invalid"},
		{"ErrPayloadNotJSON", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + base64.RawURLEncoding.EncodeToString([]byte("hello")) + ".c2ln", Access, acme, "Token is invalid"},
		{"ErrTooLong", pair.Access + strings.Repeat("A", maxTokenLen), Access, acme, "Token is invalid"},
		{"ErrAlgNone", signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims(now)), Access, acme, "Token is invalid"},
		{"ErrAlgNoneWithSignatureStripped", strings.Join(strings.Split(signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims(now)), ".")[:2], ".") + ".", Access, acme, "Token is invalid"},
		{"ErrHS384SameSecret", signWith(t, jwt.SigningMethodHS384, testSecret, validClaims(now)), Access, acme, "Token is invalid"},
		{"ErrHS512SameSecret", signWith(t, jwt.SigningMethodHS512, testSecret, validClaims(now)), Access, acme, "Token is invalid"},
		{"ErrRS256", signWith(t, jwt.SigningMethodRS256, rsaKey, validClaims(now)), Access, acme, "Token is invalid"},
		{"ErrES256", signWith(t, jwt.SigningMethodES256, ecKey, validClaims(now)), Access, acme, "Token is invalid"},
		{"ErrOtherSecret", signWith(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), validClaims(now)), Access, acme, "Token is invalid"},
		{"ErrTamperedUser", withPayload(t, pair.Access, func(p map[string]any) { p["sub"] = "1" }), Access, acme, "Token is invalid"},
		{"ErrTamperedTenant", withPayload(t, pair.Access, func(p map[string]any) { p["tenant"] = "globex" }), Access, globex, "Token is invalid"},
		{"ErrTamperedType", withPayload(t, pair.Refresh, func(p map[string]any) { p["typ"] = "access" }), Access, acme, "Token is invalid"},
		{"ErrTamperedExpiry", withPayload(t, pair.Access, func(p map[string]any) { p["exp"] = now.Add(100 * 365 * 24 * time.Hour).Unix() }), Access, acme, "Token is invalid"},
		{"ErrTamperedSignature", pair.Access[:len(pair.Access)-4] + flip(pair.Access[len(pair.Access)-4:]), Access, acme, "Token is invalid"},
		{"ErrRefreshAsAccess", pair.Refresh, Access, acme, "Token has wrong type"},
		{"ErrAccessAsRefresh", pair.Access, Refresh, acme, "Token has wrong type"},
		{"ErrUnknownWant", pair.Access, TokenType("id"), acme, "Token has wrong type"},
		{"ErrForeignTenant", pair.Access, Access, globex, "Given token not valid for this tenant"},
		{"ErrEmptyTenantArgument", pair.Access, Access, Tenant{}, "Given token not valid for this tenant"},
		{"ErrExpiredLongAgo", hs256(claimsWith("exp", now.Add(-time.Hour).Unix())), Access, acme, "Token is expired"},
		{"ErrNotYetValid", hs256(claimsWith("nbf", now.Add(time.Hour).Unix())), Access, acme, "Token is invalid"},
		{"ErrNoExp", hs256(claimsWithout("exp")), Access, acme, "Token has no 'exp' claim"},
		{"ErrExpNotNumber", hs256(claimsWith("exp", "tomorrow")), Access, acme, "Token is invalid"},
		{"ErrNoIat", hs256(claimsWithout("iat")), Access, acme, "Token has no 'iat' claim"},
		{"ErrNoSub", hs256(claimsWithout("sub")), Access, acme, "Token contained no recognizable user identification"},
		{"ErrSubNumber", hs256(claimsWith("sub", 42)), Access, acme, "Token is invalid"},
		{"ErrSubNotDecimal", hs256(claimsWith("sub", "forty-two")), Access, acme, "Token contained no recognizable user identification"},
		{"ErrSubNotCanonical", hs256(claimsWith("sub", "042")), Access, acme, "Token contained no recognizable user identification"},
		{"ErrSubZero", hs256(claimsWith("sub", "0")), Access, acme, "Token contained no recognizable user identification"},
		{"ErrSubNegative", hs256(claimsWith("sub", "-42")), Access, acme, "Token contained no recognizable user identification"},
		{"ErrSubOverflow", hs256(claimsWith("sub", "99999999999999999999")), Access, acme, "Token contained no recognizable user identification"},
		{"ErrNoTenant", hs256(claimsWithout("tenant")), Access, acme, "Token is invalid"},
		{"ErrNoTenantEmptyArgument", hs256(claimsWithout("tenant")), Access, Tenant{}, "Token is invalid"},
		{"ErrNoType", hs256(claimsWithout("typ")), Access, acme, "Token has no type"},
		{"ErrUnknownType", hs256(claimsWith("typ", "id")), Access, acme, "Token is invalid"},
		{"ErrNoJTI", hs256(claimsWithout("jti")), Access, acme, "Token has no id"},
		// A tenant deleted and created again under the same schema name
		// has a new catalog id: the old tenant's tokens are foreign to it.
		{"ErrRecycledSchemaName", pair.Access, Access, acmeReborn, "Given token not valid for this tenant"},
		{"ErrRecycledSchemaNameRefresh", pair.Refresh, Refresh, acmeReborn, "Given token not valid for this tenant"},
		{"ErrNoTenantID", hs256(claimsWithout("tenant_id")), Access, acme, "Given token not valid for this tenant"},
		{"ErrTenantIDOnly", pair.Access, Access, Tenant{ID: 7, Schema: "globex"}, "Given token not valid for this tenant"},
		{"ErrTenantIDString", hs256(claimsWith("tenant_id", "7")), Access, acme, "Token is invalid"},
		{"ErrTamperedTenantID", withPayload(t, pair.Access, func(p map[string]any) { p["tenant_id"] = 9 }), Access, acmeReborn, "Token is invalid"},
		// PyJWT refuses registered time claims that are not numbers; the
		// library's NumericDate would read "123" as 123.
		{"ErrExpDigitString", hs256(claimsWith("exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))), Access, acme, "Token is invalid"},
		{"ErrIatDigitString", hs256(claimsWith("iat", strconv.FormatInt(now.Unix(), 10))), Access, acme, "Token is invalid"},
		{"ErrNbfDigitString", hs256(claimsWith("nbf", strconv.FormatInt(now.Add(-time.Hour).Unix(), 10))), Access, acme, "Token is invalid"},
		{"ErrExpBool", hs256(claimsWith("exp", true)), Access, acme, "Token is invalid"},
		{"ErrExpObject", hs256(claimsWith("exp", map[string]any{"n": 1})), Access, acme, "Token is invalid"},
		{"ErrExpArray", hs256(claimsWith("exp", []any{now.Add(time.Hour).Unix()})), Access, acme, "Token is invalid"},
		{"ErrExpNull", hs256(claimsWith("exp", nil)), Access, acme, "Token has no 'exp' claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tokens.Parse(tt.token, tt.want, tt.tenant)
			assertUnauthorized(t, err, tt.wantMsg)
			if c != (Claims{}) {
				t.Errorf("rejected token returned claims %+v", c)
			}
		})
	}
}

func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

func TestParseExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		after   time.Duration // clock advance past issue
		typ     TokenType
		wantErr bool
	}{
		{"OKAccessJustBeforeExpiry", testAccessTTL - time.Second, Access, false},
		{"OKAccessWithinLeeway", testAccessTTL + Leeway - time.Second, Access, false},
		{"ErrAccessExpired", testAccessTTL + Leeway + time.Second, Access, true},
		{"OKRefreshAfterAccessExpired", testAccessTTL + time.Hour, Refresh, false},
		{"ErrRefreshExpired", testRefreshTTL + Leeway + time.Second, Refresh, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tokens, clock := newTestTokens(t)
			pair, err := tokens.Issue(42, acme)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			tok := pair.Access
			if tt.typ == Refresh {
				tok = pair.Refresh
			}
			clock.Set(clock.Now().Add(tt.after))
			_, err = tokens.Parse(tok, tt.typ, acme)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			assertUnauthorized(t, err, "Token is expired")
		})
	}
}

func TestParseConcurrent(t *testing.T) {
	t.Parallel()
	tokens, _ := newTestTokens(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				pair, err := tokens.Issue(int64(i+1), acme)
				if err != nil {
					t.Errorf("Issue: %v", err)
					return
				}
				if _, err := tokens.Parse(pair.Access, Access, acme); err != nil {
					t.Errorf("Parse: %v", err)
				}
				if _, err := tokens.Parse(pair.Access, Refresh, acme); err == nil {
					t.Error("Parse accepted an access token as refresh")
				}
			}
		})
	}
	wg.Wait()
}

func FuzzParse(f *testing.F) {
	tokens, err := NewTokens(testSecret, testAccessTTL, testRefreshTTL)
	if err != nil {
		f.Fatalf("NewTokens: %v", err)
	}
	pair, err := tokens.Issue(42, acme)
	if err != nil {
		f.Fatalf("Issue: %v", err)
	}
	for _, seed := range []string{"", ".", "..", "a.b.c", pair.Access, pair.Refresh, pair.Access[:len(pair.Access)/2],
		"eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.bnVsbA.x", "eyJhbGciOm51bGx9.e30.x", "eyJ9.eyJ9.eyJ9", "\x00\xff.\xfe.\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := tokens.Parse(token, Access, acme)
		if err == nil {
			// Only a token this Tokens signed can get here; fuzzing workers
			// issue their own seed, so compare claims, not strings.
			if c.UserID != 42 || c.Tenant != "acme" || c.Type != Access {
				t.Fatalf("Parse accepted %q as %+v", token, c)
			}
			return
		}
		if !errors.Is(err, apperr.Unauthorized) {
			t.Fatalf("Parse(%q) error %v is not unauthorized", token, err)
		}
	})
}

// TestVerifiedTokens presents tokens that Parse verified before (and so
// remembers): everything but the signature is checked again on every use.
func TestVerifiedTokens(t *testing.T) {
	t.Parallel()
	tokens, clock := newTestTokens(t)
	pair, err := tokens.Issue(42, acme)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if _, err := tokens.Parse(pair.Access, Access, acme); err != nil {
		t.Fatalf("first Parse: %v", err)
	}
	if !tokens.verified.Contains(pair.Access) {
		t.Fatal("a verified token was not remembered")
	}
	if _, err := tokens.Parse(pair.Access, Access, acme); err != nil {
		t.Fatalf("remembered token rejected: %v", err)
	}
	t.Run("ErrForeignTenant", func(t *testing.T) {
		_, err := tokens.Parse(pair.Access, Access, globex)
		assertUnauthorized(t, err, msgForeignTenant)
	})
	t.Run("ErrRecycledSchema", func(t *testing.T) {
		_, err := tokens.Parse(pair.Access, Access, acmeReborn)
		assertUnauthorized(t, err, msgForeignTenant)
	})
	t.Run("ErrWrongType", func(t *testing.T) {
		_, err := tokens.Parse(pair.Access, Refresh, acme)
		assertUnauthorized(t, err, msgWrongType)
	})
	t.Run("ErrTamperedSignature", func(t *testing.T) {
		dot := strings.LastIndexByte(pair.Access, '.')
		forged := pair.Access[:dot+1] + flip(pair.Access[dot+1:])
		_, err := tokens.Parse(forged, Access, acme)
		assertUnauthorized(t, err, msgInvalid)
		if tokens.verified.Contains(forged) {
			t.Error("a token that failed verification was remembered")
		}
	})
	t.Run("ErrExpiredWhileRemembered", func(t *testing.T) {
		tokens, clock := newTestTokens(t)
		pair, err := tokens.Issue(42, acme)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		if _, err := tokens.Parse(pair.Access, Access, acme); err != nil {
			t.Fatalf("Parse: %v", err)
		}
		clock.Set(clock.Now().Add(testAccessTTL + Leeway + time.Second))
		_, err = tokens.Parse(pair.Access, Access, acme)
		assertUnauthorized(t, err, "Token is expired")
	})
	t.Run("OffWithZero", func(t *testing.T) {
		off, err := NewTokens(testSecret, testAccessTTL, testRefreshTTL, WithClock(clock.Now), WithVerifiedTokens(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := off.Parse(pair.Access, Access, acme); err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if off.verified != nil {
			t.Error("WithVerifiedTokens(0) still remembers tokens")
		}
	})
}
