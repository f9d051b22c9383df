package repository

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenancy"
)

// CreateUser inserts a user into the tenant of ctx. EINVALID (field
// username) when the username is taken, case-insensitively.
func CreateUser(ctx context.Context, u *models.User) error {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return err
	}
	err = db.Create(u).Error
	if PgCode(err) == sqlstateUniqueViolation {
		return apperr.FieldError("username", "A user with that username already exists.")
	}
	return translate(err, "")
}

// FindUserByID returns the active user with id in the tenant of ctx.
// ENOTFOUND when there is none. It is the first query of an
// authenticated request, so it shares the round trip that begins the
// request's scope.
func FindUserByID(ctx context.Context, id int64) (*models.User, error) {
	t := tenancy.TenantFromContext(ctx)
	if t == nil {
		return nil, apperr.Errorf(apperr.EINTERNAL, "repository: no tenant in context")
	}
	var u models.User
	err := tenancy.QueryRow(ctx, tenancy.First{
		SQL: "SELECT id, username, email, is_active, date_joined FROM " +
			pgx.Identifier{t.Schema, "users"}.Sanitize() + " WHERE id = $1 AND is_active",
		Args: []any{id},
		Scan: func(r tenancy.Row) error {
			return r.Scan(&u.ID, &u.Username, &u.Email, &u.IsActive, &u.DateJoined)
		},
	})
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No such user.")
	}
	if err != nil {
		return nil, translate(err, "No such user.")
	}
	return &u, nil
}

// FindUserByUsername returns the active user with the given username
// (case-insensitive) in the tenant of ctx. ENOTFOUND when there is none.
func FindUserByUsername(ctx context.Context, username string) (*models.User, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return nil, err
	}
	var u models.User
	if err := db.Where("lower(username) = ? AND is_active", strings.ToLower(username)).Take(&u).Error; err != nil {
		return nil, translate(err, "No such user.")
	}
	return &u, nil
}

// UserExists reports whether the tenant of ctx has a user with id.
func UserExists(ctx context.Context, id int64) (bool, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return false, err
	}
	var n int64
	if err := db.Model(&models.User{}).Where("id = ?", id).Limit(1).Count(&n).Error; err != nil {
		return false, translate(err, "")
	}
	return n > 0, nil
}
