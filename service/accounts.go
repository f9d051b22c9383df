package service

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
)

// Accounts holds the rules of a tenant's accounts, as Django's auth and
// simplejwt apply them: usernames normalised and validated, the password
// policy, the password check with a rehash of older schemes, and the
// tokens (issue, refresh with optional rotation, verify, blacklist) with
// the outstanding refresh tokens recorded. The tenant is the one of ctx's
// scope. Throttling and the wire format stay with the handlers.
type Accounts struct {
	Tokens    *auth.Tokens
	Passwords auth.PasswordPolicy
	// Rotate and BlacklistAfterRotation are simplejwt's
	// ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION.
	Rotate, BlacklistAfterRotation bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// ErrBadCredentials is a login's error for an unknown username, an
// inactive user or a wrong password alike (simplejwt's message).
var ErrBadCredentials = apperr.Errorf(apperr.EUNAUTHORIZED, "No active account found with the given credentials")

// NormalizeUsername returns username as it is stored and compared: NFKC,
// as Django normalises before validating and saving, so "ａｌｉｃｅ" is
// "alice" and collides with her.
func NormalizeUsername(username string) string { return auth.NormalizeUsername(username) }

// CheckSignUp adds to fields what the rules find wrong with a sign-up
// (username already normalised; nil for a field that was not given or
// was invalid already): the username's length (counted after
// normalisation, as Django does) and characters, and the password policy
// (which compares the password with the username and the e-mail).
func (a *Accounts) CheckSignUp(username, email, password *string, fields apperr.Fields) {
	if username != nil {
		switch {
		case utf8.RuneCountInString(*username) > models.MaxUsernameLen:
			fields.Add("username", fmt.Sprintf("Ensure this field has no more than %d characters.", models.MaxUsernameLen))
		case !auth.ValidUsername(*username):
			fields.Add("username", auth.MsgInvalidUsername)
		}
	}
	if password != nil {
		u, e := "", ""
		if username != nil {
			u = *username
		}
		if email != nil {
			e = *email
		}
		for _, msg := range a.Passwords.Validate(*password, u, e) {
			fields.Add("password", msg)
		}
	}
}

// Register creates an active user (its password hashed) in the tenant of
// ctx and issues its first token pair. ECONFLICT (field username) when
// the username is taken.
func (a *Accounts) Register(ctx context.Context, username, email, password string) (*models.User, auth.Pair, error) {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, auth.Pair{}, err
	}
	user := &models.User{Username: username, Email: email, PasswordHash: hash, IsActive: true, DateJoined: time.Now().UTC()}
	if err := repository.CreateUser(ctx, user); err != nil {
		return nil, auth.Pair{}, err
	}
	pair, err := a.issue(ctx, user.ID)
	if err != nil {
		return nil, auth.Pair{}, err
	}
	return user, pair, nil
}

// Login checks username (normalised) and password in the tenant of ctx
// and issues a token pair (simplejwt's TokenObtainPairView). A stored
// hash of an older scheme (Django's PBKDF2, a cheaper bcrypt) is replaced
// with a current one on success, as Django does. ErrBadCredentials for an
// unknown user or a wrong password, in about the same time.
func (a *Accounts) Login(ctx context.Context, username, password string) (auth.Pair, error) {
	// The lookup is a transaction of its own: the password check and a
	// rehash, tens of milliseconds of CPU, hold no connection. The
	// writes after them begin the request's transaction.
	user, err := repository.FindUserByUsername(ctx, username)
	switch {
	case errors.Is(err, apperr.NotFound) && !errors.Is(err, datapath.ErrTenantGone):
		// Spend the time a real check takes, so response times do not
		// tell which usernames exist.
		auth.DummyCheck(password)
		return auth.Pair{}, ErrBadCredentials
	case err != nil:
		return auth.Pair{}, err
	}
	if !auth.CheckPassword(user.PasswordHash, password) {
		return auth.Pair{}, ErrBadCredentials
	}
	// A Django password longer than bcrypt takes keeps its PBKDF2 hash.
	if auth.NeedsRehash(user.PasswordHash) && len(password) <= auth.MaxPasswordBytes {
		hash, err := auth.HashPassword(password)
		if err == nil {
			_, err = repository.UpdateUserPasswordHash(ctx, user.ID, user.PasswordHash, hash)
		}
		if err != nil {
			return auth.Pair{}, err
		}
	}
	return a.issue(ctx, user.ID)
}

// Refresh trades a refresh token that is not blacklisted, of a user that
// still exists, for a new access token (simplejwt's TokenRefreshView).
// With Rotate the answer also carries a new refresh token, and with
// BlacklistAfterRotation the old one is refused from then on (of two
// concurrent rotations of one token, one wins). EUNAUTHORIZED for a token
// that is not live.
func (a *Accounts) Refresh(ctx context.Context, token string) (access, refresh string, err error) {
	claims, err := a.liveRefresh(ctx, token)
	if err != nil {
		return "", "", err
	}
	tenant := tenantOf(ctx)
	if access, err = a.Tokens.IssueAccess(claims.UserID, tenant); err != nil {
		return "", "", err
	}
	if !a.Rotate {
		return access, "", nil
	}
	if a.BlacklistAfterRotation {
		first, err := repository.BlacklistToken(ctx, claims.UserID, claims.ID, claims.ExpiresAt)
		if err == nil && !first {
			err = auth.Blacklisted()
		}
		if err != nil {
			return "", "", err
		}
	}
	if refresh, err = a.Tokens.IssueRefresh(claims.UserID, tenant); err == nil {
		err = a.outstand(ctx, refresh)
	}
	if err != nil {
		return "", "", err
	}
	return access, refresh, nil
}

// Verify reports whether token, of either type, was issued for the
// tenant of ctx and is valid, a refresh token not blacklisted
// (simplejwt's TokenVerifyView). EUNAUTHORIZED otherwise.
func (a *Accounts) Verify(ctx context.Context, token string) error {
	claims, err := a.Tokens.Parse(token, auth.Any, tenantOf(ctx))
	if err == nil && claims.Type == auth.Refresh {
		var black bool
		if black, err = repository.IsTokenBlacklisted(ctx, claims.ID); err == nil && black {
			err = auth.Blacklisted()
		}
	}
	return err
}

// Logout blacklists a live refresh token (simplejwt's
// TokenBlacklistView). Access tokens already issued stay valid until they
// expire, as with simplejwt. EUNAUTHORIZED for a token that is not live.
func (a *Accounts) Logout(ctx context.Context, token string) error {
	claims, err := a.liveRefresh(ctx, token)
	if err == nil {
		var first bool
		if first, err = repository.BlacklistToken(ctx, claims.UserID, claims.ID, claims.ExpiresAt); err == nil && !first {
			err = auth.Blacklisted()
		}
	}
	return err
}

// issue returns a new token pair for the user and records the refresh
// token as outstanding.
func (a *Accounts) issue(ctx context.Context, userID int64) (auth.Pair, error) {
	pair, err := a.Tokens.Issue(userID, tenantOf(ctx))
	if err != nil {
		return auth.Pair{}, err
	}
	if err := a.outstand(ctx, pair.Refresh); err != nil {
		return auth.Pair{}, err
	}
	return pair, nil
}

// outstand records a refresh token just issued, pruning expired ones.
func (a *Accounts) outstand(ctx context.Context, refresh string) error {
	claims, err := a.Tokens.Inspect(refresh)
	if err != nil {
		return err
	}
	return repository.CreateOutstandingToken(ctx, claims.UserID, claims.ID, claims.ExpiresAt, a.now().Add(-auth.Leeway))
}

// liveRefresh verifies a refresh token of the tenant of ctx, of a user
// that still exists and is active, and not blacklisted.
func (a *Accounts) liveRefresh(ctx context.Context, token string) (auth.Claims, error) {
	claims, err := a.Tokens.Parse(token, auth.Refresh, tenantOf(ctx))
	if err != nil {
		return auth.Claims{}, err
	}
	if _, err := repository.FindUserByID(ctx, claims.UserID); err != nil {
		if errors.Is(err, apperr.NotFound) && !errors.Is(err, datapath.ErrTenantGone) {
			err = apperr.ErrUserNotFound
		}
		return auth.Claims{}, err
	}
	black, err := repository.IsTokenBlacklisted(ctx, claims.ID)
	if err != nil {
		return auth.Claims{}, err
	}
	if black {
		return auth.Claims{}, auth.Blacklisted()
	}
	return claims, nil
}

func (a *Accounts) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// tenantOf is the tenant of ctx's scope as tokens name it.
func tenantOf(ctx context.Context) auth.Tenant {
	t := datapath.TenantFromContext(ctx)
	return auth.Tenant{ID: t.ID, Schema: t.Schema}
}
