package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenancy"
)

type accounts struct {
	log       *slog.Logger
	tokens    *auth.Tokens
	passwords auth.PasswordPolicy
	throttles auth.Throttles
	// rotate and blacklistAfterRotation are simplejwt's
	// ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION.
	rotate, blacklistAfterRotation bool
	now                            func() time.Time
}

type userResponse struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

type registerResponse struct {
	Message string       `json:"message"`
	User    userResponse `json:"user"`
	Access  string       `json:"access"`
	Refresh string       `json:"refresh"`
}

type refreshResponse struct {
	Access  string `json:"access"`
	Refresh string `json:"refresh,omitempty"`
}

func toUserResponse(u *models.User) userResponse {
	return userResponse{ID: u.ID, Username: u.Username, Email: u.Email}
}

// tenantOf is the request tenant as tokens name it.
func tenantOf(c *gin.Context) auth.Tenant {
	t := tenancy.TenantFromContext(c.Request.Context())
	return auth.Tenant{ID: t.ID, Schema: t.Schema}
}

// register creates a user of the request's tenant and logs them in.
func (a *accounts) register(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	username := in.String("username", field{required: true})
	email := in.Email("email", field{required: true})
	password := in.Password("password")
	if username != nil {
		// Django normalises (NFKC) before validating and saving, so
		// "ａｌｉｃｅ" is "alice" and collides with her.
		*username = auth.NormalizeUsername(*username)
		switch {
		// The length is counted after NFKC normalisation, as Django does.
		case utf8.RuneCountInString(*username) > models.MaxUsernameLen:
			in.errs.Add("username", fmt.Sprintf("Ensure this field has no more than %d characters.", models.MaxUsernameLen))
		case !auth.ValidUsername(*username):
			in.errs.Add("username", auth.MsgInvalidUsername)
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
		for _, msg := range a.passwords.Validate(*password, u, e) {
			in.errs.Add("password", msg)
		}
	}
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	if !a.allow(c, a.throttles.RegisterAddress, addressKey(c)) || !a.allow(c, a.throttles.Register, usernameKey(c, *username)) {
		return
	}
	hash, err := auth.HashPassword(*password)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	ctx := c.Request.Context()
	user := &models.User{Username: *username, Email: *email, PasswordHash: hash, IsActive: true, DateJoined: time.Now().UTC()}
	if err := repository.CreateUser(ctx, user); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	pair, err := a.issue(c, user.ID)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusCreated, registerResponse{
		Message: "User created successfully",
		User:    toUserResponse(user),
		Access:  pair.Access,
		Refresh: pair.Refresh,
	})
}

var errBadCredentials = apperr.Errorf(apperr.EUNAUTHORIZED, "No active account found with the given credentials")

// token logs a user in with username and password (simplejwt's
// TokenObtainPairView). A stored hash of an older scheme (Django's
// PBKDF2, a cheaper bcrypt) is replaced with a current one on success, as
// Django does.
func (a *accounts) token(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	username := in.String("username", field{required: true})
	password := in.Password("password")
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	name := auth.NormalizeUsername(*username)
	if !a.allow(c, a.throttles.LoginAddress, addressKey(c)) || !a.allow(c, a.throttles.Login, usernameKey(c, name)) {
		return
	}
	ctx := c.Request.Context()
	// The lookup is a transaction of its own: the password check and a
	// rehash, tens of milliseconds of CPU, hold no connection. The
	// writes after them begin the request's transaction.
	user, err := repository.FindUserByUsername(ctx, name)
	switch {
	case errors.Is(err, apperr.NotFound) && !errors.Is(err, tenancy.ErrTenantGone):
		// Spend the time a real check takes, so response times do not
		// tell which usernames exist.
		auth.DummyCheck(*password)
		middleware.Error(c, a.log, errBadCredentials)
		return
	case err != nil:
		middleware.Error(c, a.log, err)
		return
	}
	if !auth.CheckPassword(user.PasswordHash, *password) {
		middleware.Error(c, a.log, errBadCredentials)
		return
	}
	// A Django password longer than bcrypt takes keeps its PBKDF2 hash.
	if auth.NeedsRehash(user.PasswordHash) && len(*password) <= auth.MaxPasswordBytes {
		hash, err := auth.HashPassword(*password)
		if err == nil {
			_, err = repository.UpdateUserPasswordHash(ctx, user.ID, user.PasswordHash, hash)
		}
		if err != nil {
			middleware.Error(c, a.log, err)
			return
		}
	}
	pair, err := a.issue(c, user.ID)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"access": pair.Access, "refresh": pair.Refresh})
}

// issue returns a new token pair for the user and records the refresh
// token as outstanding.
func (a *accounts) issue(c *gin.Context, userID int64) (auth.Pair, error) {
	pair, err := a.tokens.Issue(userID, tenantOf(c))
	if err != nil {
		return auth.Pair{}, err
	}
	if err := a.outstand(c, pair.Refresh); err != nil {
		return auth.Pair{}, err
	}
	return pair, nil
}

// outstand records a refresh token just issued, pruning expired ones.
func (a *accounts) outstand(c *gin.Context, refresh string) error {
	claims, err := a.tokens.Inspect(refresh)
	if err != nil {
		return err
	}
	return repository.CreateOutstandingToken(c.Request.Context(), claims.UserID, claims.ID, claims.ExpiresAt, a.now().Add(-auth.Leeway))
}

// refresh trades a refresh token that is not blacklisted, of a user that
// still exists, for a new access token (simplejwt's TokenRefreshView).
// With rotation the answer also carries a new refresh token, and with
// blacklisting after rotation the old one is refused from then on.
func (a *accounts) refresh(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	token := in.String("refresh", field{required: true})
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	if !a.allow(c, a.throttles.Refresh, addressKey(c)) {
		return
	}
	ctx := c.Request.Context()
	claims, err := a.liveRefresh(c, *token)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	tenant := tenantOf(c)
	access, err := a.tokens.IssueAccess(claims.UserID, tenant)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	resp := refreshResponse{Access: access}
	if a.rotate {
		if a.blacklistAfterRotation {
			// Of two concurrent rotations of one token, one wins.
			first, err := repository.BlacklistToken(ctx, claims.UserID, claims.ID, claims.ExpiresAt)
			if err == nil && !first {
				err = auth.Blacklisted()
			}
			if err != nil {
				middleware.Error(c, a.log, err)
				return
			}
		}
		if resp.Refresh, err = a.tokens.IssueRefresh(claims.UserID, tenant); err == nil {
			err = a.outstand(c, resp.Refresh)
		}
		if err != nil {
			middleware.Error(c, a.log, err)
			return
		}
	}
	c.JSON(http.StatusOK, resp)
}

// liveRefresh verifies a refresh token of the request's tenant, of a user
// that still exists and is active, and not blacklisted.
func (a *accounts) liveRefresh(c *gin.Context, token string) (auth.Claims, error) {
	ctx := c.Request.Context()
	claims, err := a.tokens.Parse(token, auth.Refresh, tenantOf(c))
	if err != nil {
		return auth.Claims{}, err
	}
	if _, err := repository.FindUserByID(ctx, claims.UserID); err != nil {
		if errors.Is(err, apperr.NotFound) && !errors.Is(err, tenancy.ErrTenantGone) {
			err = apperr.Errorf(apperr.EUNAUTHORIZED, "User not found")
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

// verify answers 200 {} for a valid token of either type issued for the
// request's tenant, and 401 otherwise, a blacklisted refresh token
// included (simplejwt's TokenVerifyView).
func (a *accounts) verify(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	token := in.String("token", field{required: true})
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	claims, err := a.tokens.Parse(*token, auth.Any, tenantOf(c))
	if err == nil && claims.Type == auth.Refresh {
		var black bool
		if black, err = repository.IsTokenBlacklisted(c.Request.Context(), claims.ID); err == nil && black {
			err = auth.Blacklisted()
		}
	}
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
}

// blacklist logs out: the refresh token is refused from now on
// (simplejwt's TokenBlacklistView). Access tokens already issued stay
// valid until they expire, as with simplejwt.
func (a *accounts) blacklist(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	token := in.String("refresh", field{required: true})
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	claims, err := a.liveRefresh(c, *token)
	if err == nil {
		var first bool
		if first, err = repository.BlacklistToken(c.Request.Context(), claims.UserID, claims.ID, claims.ExpiresAt); err == nil && !first {
			err = auth.Blacklisted()
		}
	}
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
}

// allow counts the request against th under key; when th refuses it, it
// answers DRF's 429 with Retry-After and returns false.
func (a *accounts) allow(c *gin.Context, th *auth.Throttle, key string) bool {
	ok, wait := th.Allow(key)
	if ok {
		return true
	}
	secs := auth.WaitSeconds(wait)
	c.Header("Retry-After", strconv.Itoa(secs))
	middleware.Error(c, a.log, apperr.Errorf(apperr.ETHROTTLED, "%s", auth.ThrottledMessage(secs)))
	return false
}

// usernameKey is the throttle key of a username in the request's tenant;
// the tenant is named by its catalog id, which no later tenant reuses.
func usernameKey(c *gin.Context, username string) string {
	return strconv.FormatInt(tenancy.TenantFromContext(c.Request.Context()).ID, 10) + "\x00u\x00" + auth.UsernameKey(username)
}

// addressKey is the throttle key of the client's address in the request's
// tenant. The address is the peer's, or the one a proxy listed in
// http.trusted_proxies forwarded (gin's ClientIP trusts no other). An IPv6
// client is counted by its /64, which one customer usually holds whole.
func addressKey(c *gin.Context) string {
	ip := c.ClientIP()
	if addr, err := netip.ParseAddr(ip); err == nil {
		addr = addr.Unmap()
		if addr.Is6() {
			p, _ := addr.Prefix(64)
			ip = p.String()
		} else {
			ip = addr.String()
		}
	}
	return strconv.FormatInt(tenancy.TenantFromContext(c.Request.Context()).ID, 10) + "\x00a\x00" + ip
}
