package handlers

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/service"
)

type accounts struct {
	log       *slog.Logger
	svc       *service.Accounts
	throttles auth.Throttles
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
		*username = service.NormalizeUsername(*username)
	}
	a.svc.CheckSignUp(username, email, password, in.errs)
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	if !a.allow(c, a.throttles.RegisterAddress, addressKey(c)) || !a.allow(c, a.throttles.Register, usernameKey(c, *username)) {
		return
	}
	user, pair, err := a.svc.Register(c.Request.Context(), *username, *email, *password)
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

// token logs a user in with username and password (simplejwt's
// TokenObtainPairView; see service.Accounts.Login).
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
	name := service.NormalizeUsername(*username)
	if !a.allow(c, a.throttles.LoginAddress, addressKey(c)) || !a.allow(c, a.throttles.Login, usernameKey(c, name)) {
		return
	}
	pair, err := a.svc.Login(c.Request.Context(), name, *password)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"access": pair.Access, "refresh": pair.Refresh})
}

// refresh trades a refresh token for a new access token, and with
// rotation a new refresh token (simplejwt's TokenRefreshView; see
// service.Accounts.Refresh).
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
	access, refresh, err := a.svc.Refresh(c.Request.Context(), *token)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, refreshResponse{Access: access, Refresh: refresh})
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
	if err := a.svc.Verify(c.Request.Context(), *token); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
}

// blacklist logs out: the refresh token is refused from now on
// (simplejwt's TokenBlacklistView).
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
	if err := a.svc.Logout(c.Request.Context(), *token); err != nil {
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
	return strconv.FormatInt(datapath.TenantFromContext(c.Request.Context()).ID, 10) + "\x00u\x00" + auth.UsernameKey(username)
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
	return strconv.FormatInt(datapath.TenantFromContext(c.Request.Context()).ID, 10) + "\x00a\x00" + ip
}
