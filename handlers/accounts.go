package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenancy"
)

type accounts struct {
	log    *slog.Logger
	tokens *auth.Tokens
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
	username := in.String("username", true, false, 150)
	email := in.Email("email", true)
	password := in.Password("password")
	if username != nil && !validUsername(*username) {
		in.errs.Add("username", "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.")
	}
	if password != nil {
		u, e := "", ""
		if username != nil {
			u = *username
		}
		if email != nil {
			e = *email
		}
		for _, msg := range auth.ValidatePassword(*password, u, e) {
			in.errs.Add("password", msg)
		}
	}
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
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
	pair, err := a.tokens.Issue(user.ID, tenancy.TenantFromContext(ctx).Schema)
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

func validUsername(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '@' || r == '.' || r == '+' || r == '-' || r == '_':
		case r > 127 && r != 0xFFFD:
			// Django's validator allows Unicode letters.
		default:
			return false
		}
	}
	return true
}

var errBadCredentials = apperr.Errorf(apperr.EUNAUTHORIZED, "No active account found with the given credentials")

// token logs a user in with username and password (simplejwt's
// TokenObtainPairView).
func (a *accounts) token(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	username := in.String("username", true, false, 0)
	password := in.Password("password")
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	ctx := c.Request.Context()
	user, err := repository.FindUserByUsername(ctx, *username)
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
	pair, err := a.tokens.Issue(user.ID, tenancy.TenantFromContext(ctx).Schema)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"access": pair.Access, "refresh": pair.Refresh})
}

// refresh trades a refresh token for a new access token, for a user that
// still exists.
func (a *accounts) refresh(c *gin.Context) {
	in, err := readJSON(c)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	token := in.String("refresh", true, false, 0)
	if err := in.Err(); err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	ctx := c.Request.Context()
	schema := tenancy.TenantFromContext(ctx).Schema
	claims, err := a.tokens.Parse(*token, auth.Refresh, schema)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	if _, err := repository.FindUserByID(ctx, claims.UserID); err != nil {
		if errors.Is(err, apperr.NotFound) && !errors.Is(err, tenancy.ErrTenantGone) {
			err = apperr.Errorf(apperr.EUNAUTHORIZED, "User not found")
		}
		middleware.Error(c, a.log, err)
		return
	}
	access, err := a.tokens.IssueAccess(claims.UserID, schema)
	if err != nil {
		middleware.Error(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"access": access})
}
