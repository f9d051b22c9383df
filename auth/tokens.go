package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strictmt/strictmt/apperr"
)

// TokenType tells an access token from a refresh token; it travels in the
// token's "typ" claim.
type TokenType string

// The two kinds of token a Tokens issues.
const (
	Access  TokenType = "access"
	Refresh TokenType = "refresh"
)

// MinSecretLen is the shortest HS256 secret NewTokens accepts, in bytes.
const MinSecretLen = 32

// Leeway is the clock skew Parse tolerates when checking "exp" and "nbf".
const Leeway = 5 * time.Second

// maxTokenLen bounds the work Parse does on hostile input; our own tokens
// are a few hundred bytes.
const maxTokenLen = 8 << 10

// Client-facing messages, worded like djangorestframework-simplejwt's.
const (
	msgInvalid       = "Token is invalid"
	msgExpired       = "Token is expired"
	msgWrongType     = "Token has wrong type"
	msgNoType        = "Token has no type"
	msgNoID          = "Token has no id"
	msgNoUser        = "Token contained no recognizable user identification"
	msgForeignTenant = "Given token not valid for this tenant"
	msgBlacklisted   = "Token is blacklisted"
)

// Tenant names the tenant a token is issued for or presented to: its
// catalog row id, which is never used again once the tenant is deleted,
// and its schema name. A token is valid only where both match, so no
// token of a deleted tenant works for a later tenant of the same schema
// name.
type Tenant struct {
	ID     int64
	Schema string
}

// Claims are the verified contents of a token.
type Claims struct {
	UserID    int64
	Tenant    string // schema name of the tenant the token was issued for
	TenantID  int64  // catalog id of that tenant
	Type      TokenType
	ID        string // "jti": 128 random bits, hex-encoded
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Pair is what a login returns: a short-lived access token and a longer-lived
// refresh token.
type Pair struct {
	Access  string `json:"access"`
	Refresh string `json:"refresh"`
}

// wireClaims is the JSON payload: "sub" holds the user id as a decimal
// string, as RFC 7519 wants a StringOrURI there. The registered time
// claims are numericDates, which refuse anything but a JSON number (the
// library's own type also takes "123"), as PyJWT does.
type wireClaims struct {
	Tenant   string    `json:"tenant"`
	TenantID int64     `json:"tenant_id,omitempty"`
	Type     TokenType `json:"typ"`

	Issuer    string           `json:"iss,omitempty"`
	Subject   string           `json:"sub,omitempty"`
	Audience  jwt.ClaimStrings `json:"aud,omitempty"`
	ExpiresAt *numericDate     `json:"exp,omitempty"`
	NotBefore *numericDate     `json:"nbf,omitempty"`
	IssuedAt  *numericDate     `json:"iat,omitempty"`
	ID        string           `json:"jti,omitempty"`
}

// numericDate is a jwt.NumericDate that must be written as a JSON number.
type numericDate struct{ jwt.NumericDate }

func newNumericDate(t time.Time) *numericDate { return &numericDate{*jwt.NewNumericDate(t)} }

// UnmarshalJSON refuses strings, booleans, objects and arrays; null never
// reaches it (the pointer stays nil, so the claim counts as missing).
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return fmt.Errorf("%w: a registered time claim must be a number, got %.20s", jwt.ErrInvalidType, b)
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *numericDate) date() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

// The jwt.Claims methods the parser's validator reads.
func (c *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c *wireClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c *wireClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }
func (c *wireClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *wireClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *wireClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// Tokens issues and verifies HS256-signed tokens with one secret. It is safe
// for concurrent use.
type Tokens struct {
	secret     []byte
	accessTTL  time.Duration
	refreshTTL time.Duration
	now        func() time.Time
	parser     *jwt.Parser
	validator  *jwt.Validator
	// verified holds tokens whose signature and encoding were checked,
	// with their claims: a client presents the same access token on
	// every request for its lifetime, and checking the signature and
	// decoding the JSON again is most of Parse's cost. The time claims
	// and everything after them are checked on every use.
	verified *lru.Cache[string, *wireClaims]
}

// DefaultVerifiedTokens is how many verified tokens a Tokens remembers
// unless WithVerifiedTokens says otherwise: about 2 MB of memory.
const DefaultVerifiedTokens = 4096

// Option configures a Tokens.
type Option func(*Tokens)

// WithClock makes a Tokens read the time from now instead of time.Now, both
// when issuing and when checking expiry.
func WithClock(now func() time.Time) Option {
	return func(t *Tokens) {
		if now != nil {
			t.now = now
		}
	}
}

// WithVerifiedTokens makes a Tokens remember the last n tokens whose
// signature it verified (0: none), so that presenting one again costs no
// signature check and no decoding. Expiry, type and tenant are still
// checked on every use.
func WithVerifiedTokens(n int) Option {
	return func(t *Tokens) {
		t.verified = nil
		if n > 0 {
			t.verified, _ = lru.New[string, *wireClaims](n)
		}
	}
}

// NewTokens returns a Tokens signing with secret, which must be at least
// MinSecretLen bytes, and issuing access and refresh tokens valid for
// accessTTL and refreshTTL.
func NewTokens(secret []byte, accessTTL, refreshTTL time.Duration, opts ...Option) (*Tokens, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: token secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	if accessTTL <= 0 || refreshTTL <= 0 {
		return nil, errors.New("auth: token lifetimes must be positive")
	}
	t := &Tokens{
		secret:     append([]byte(nil), secret...),
		accessTTL:  accessTTL,
		refreshTTL: refreshTTL,
		now:        time.Now,
	}
	t.verified, _ = lru.New[string, *wireClaims](DefaultVerifiedTokens)
	for _, opt := range opts {
		opt(t)
	}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(t.now),
		jwt.WithStrictDecoding(),
	)
	// The parser's claim checks, for tokens taken from t.verified.
	t.validator = jwt.NewValidator(
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(t.now),
	)
	return t, nil
}

// Issue returns a new access and refresh token for the user in tenant.
func (t *Tokens) Issue(userID int64, tenant Tenant) (Pair, error) {
	now := t.now()
	access, err := t.sign(userID, tenant, Access, now)
	if err != nil {
		return Pair{}, err
	}
	refresh, err := t.sign(userID, tenant, Refresh, now)
	if err != nil {
		return Pair{}, err
	}
	return Pair{Access: access, Refresh: refresh}, nil
}

// IssueAccess returns a new access token for the user in the tenant, as the
// refresh endpoint does after checking a refresh token with Parse.
func (t *Tokens) IssueAccess(userID int64, tenant Tenant) (string, error) {
	return t.sign(userID, tenant, Access, t.now())
}

// IssueRefresh returns a new refresh token for the user in the tenant, as
// the refresh endpoint does when refresh tokens rotate.
func (t *Tokens) IssueRefresh(userID int64, tenant Tenant) (string, error) {
	return t.sign(userID, tenant, Refresh, t.now())
}

// Inspect returns the claims of a token that Issue, IssueAccess or
// IssueRefresh just returned, without verifying it again: the caller
// records its id and expiry.
func (t *Tokens) Inspect(token string) (Claims, error) {
	var wc wireClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &wc); err != nil {
		return Claims{}, fmt.Errorf("auth: reading an issued token: %w", err)
	}
	return claimsOf(&wc), nil
}

func (t *Tokens) sign(userID int64, tenant Tenant, typ TokenType, now time.Time) (string, error) {
	if userID <= 0 {
		return "", fmt.Errorf("auth: cannot issue a token for user id %d", userID)
	}
	if tenant.Schema == "" || tenant.ID <= 0 {
		return "", errors.New("auth: cannot issue a token without a tenant")
	}
	ttl := t.accessTTL
	if typ == Refresh {
		ttl = t.refreshTTL
	}
	jti, err := newTokenID()
	if err != nil {
		return "", err
	}
	// NumericDate has whole seconds; truncating here keeps "exp - iat"
	// exactly the configured lifetime.
	now = now.Truncate(time.Second)
	claims := &wireClaims{
		Tenant:    tenant.Schema,
		TenantID:  tenant.ID,
		Type:      typ,
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  newNumericDate(now),
		ExpiresAt: newNumericDate(now.Add(ttl)),
		ID:        jti,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("auth: signing %s token: %w", typ, err)
	}
	return s, nil
}

func newTokenID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: generating token id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Any is the want of Parse that accepts both token types, as simplejwt's
// verify endpoint (UntypedToken) does.
const Any TokenType = ""

// Parse verifies token and returns its claims. It accepts only an HS256
// token signed with this Tokens' secret, unexpired (within Leeway), with
// numeric time claims, of type want (either type for Any) and issued for
// tenant: its schema name and its catalog id. Every rejection is an
// *apperr.Error with code EUNAUTHORIZED whose message is safe to show the
// client; the cause, for logs, is in its Err.
func (t *Tokens) Parse(token string, want TokenType, tenant Tenant) (Claims, error) {
	if token == "" {
		return Claims{}, reject(msgInvalid, errors.New("empty token"))
	}
	if len(token) > maxTokenLen {
		return Claims{}, reject(msgInvalid, fmt.Errorf("token is %d bytes long", len(token)))
	}
	wc, err := t.verify(token)
	if err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return Claims{}, reject(msgExpired, err)
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return Claims{}, reject("Token has no 'exp' claim", err)
		default:
			return Claims{}, reject(msgInvalid, err)
		}
	}

	switch {
	case wc.Type == "":
		return Claims{}, reject(msgNoType, errors.New("missing typ claim"))
	case wc.Type != Access && wc.Type != Refresh:
		return Claims{}, reject(msgInvalid, fmt.Errorf("unknown token type %q", wc.Type))
	case want != Any && wc.Type != want:
		return Claims{}, reject(msgWrongType, fmt.Errorf("got a %s token, want %s", wc.Type, want))
	}
	if wc.ID == "" {
		return Claims{}, reject(msgNoID, errors.New("missing jti claim"))
	}
	userID, err := strconv.ParseInt(wc.Subject, 10, 64)
	// Only the canonical form is accepted, so "+7" or "007" cannot stand in
	// for a user id that we would have written as "7".
	if err != nil || userID <= 0 || strconv.FormatInt(userID, 10) != wc.Subject {
		return Claims{}, reject(msgNoUser, fmt.Errorf("bad sub claim %q", wc.Subject))
	}
	if wc.IssuedAt == nil {
		return Claims{}, reject("Token has no 'iat' claim", errors.New("missing iat claim"))
	}
	if wc.Tenant == "" {
		return Claims{}, reject(msgInvalid, errors.New("missing tenant claim"))
	}
	if wc.Tenant != tenant.Schema || wc.TenantID != tenant.ID || tenant.ID <= 0 {
		return Claims{}, reject(msgForeignTenant, fmt.Errorf("token issued for tenant %q (id %d), presented to %q (id %d)", wc.Tenant, wc.TenantID, tenant.Schema, tenant.ID))
	}
	return claimsOf(wc), nil
}

// verify checks token's signature and its time claims and returns its
// claims, which the caller must not change. A token verified before is
// taken from t.verified, its time claims checked again.
func (t *Tokens) verify(token string) (*wireClaims, error) {
	if t.verified != nil {
		if wc, ok := t.verified.Get(token); ok {
			if err := t.validator.Validate(wc); err != nil {
				return nil, err
			}
			return wc, nil
		}
	}
	wc := &wireClaims{}
	if _, err := t.parser.ParseWithClaims(token, wc, t.key); err != nil {
		return nil, err
	}
	if t.verified != nil {
		t.verified.Add(token, wc)
	}
	return wc, nil
}

func claimsOf(wc *wireClaims) Claims {
	userID, _ := strconv.ParseInt(wc.Subject, 10, 64)
	c := Claims{UserID: userID, Tenant: wc.Tenant, TenantID: wc.TenantID, Type: wc.Type, ID: wc.ID}
	if wc.IssuedAt != nil {
		c.IssuedAt = wc.IssuedAt.Time
	}
	if wc.ExpiresAt != nil {
		c.ExpiresAt = wc.ExpiresAt.Time
	}
	return c
}

// Blacklisted is the EUNAUTHORIZED error of a refresh token that was
// blacklisted (by logout or rotation), worded as simplejwt's.
func Blacklisted() error {
	return reject(msgBlacklisted, errors.New("token is blacklisted"))
}

// key hands the parser our secret, but only for HS256: the parser's method
// list already says so, and this keeps a key from ever reaching another
// algorithm's verifier should that list change.
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	if tok.Method != jwt.SigningMethodHS256 {
		return nil, fmt.Errorf("unexpected signing method %v", tok.Header["alg"])
	}
	return t.secret, nil
}

func reject(msg string, cause error) *apperr.Error {
	return apperr.Wrap(apperr.EUNAUTHORIZED, cause, msg)
}
