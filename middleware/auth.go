package middleware

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/datapath"
)

// TokenParser verifies tokens. Parse returns EUNAUTHORIZED for any token
// that is not a valid token of type want issued for tenant.
type TokenParser interface {
	Parse(token string, want auth.TokenType, tenant auth.Tenant) (auth.Claims, error)
}

// UserFinder looks up the request tenant's users. FindUser returns
// ENOTFOUND for a user that does not exist or is inactive.
type UserFinder func(ctx context.Context, id int64) (*datapath.User, error)

// Authenticate requires "Authorization: Bearer <access token>" issued for
// the request's tenant, to a user that still exists, and puts the user in
// the request's context. Anything else gets 401 JSON.
func Authenticate(log *slog.Logger, tokens TokenParser, findUser UserFinder) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
		if scheme == "" {
			Error(c, log, apperr.ErrNoCredentials)
			return
		}
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			Error(c, log, apperr.ErrAuthHeader)
			return
		}
		t := datapath.TenantFromContext(ctx)
		// The catalog id as well as the schema name: a tenant deleted and
		// created again under the same name has a new id, so the old
		// tenant's tokens are refused.
		claims, err := tokens.Parse(strings.TrimSpace(token), auth.Access, auth.Tenant{ID: t.ID, Schema: t.Schema})
		if err != nil {
			Error(c, log, err)
			return
		}
		user, err := findUser(ctx, claims.UserID)
		if errors.Is(err, apperr.NotFound) && !errors.Is(err, datapath.ErrTenantGone) {
			err = apperr.ErrUserNotFound
		}
		if err != nil {
			Error(c, log, err)
			return
		}
		c.Request = c.Request.WithContext(datapath.NewContextWithUser(ctx, user))
		c.Next()
	}
}
