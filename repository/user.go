package repository

import (
	"context"
	"strings"

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
// ENOTFOUND when there is none.
func FindUserByID(ctx context.Context, id int64) (*models.User, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return nil, err
	}
	var u models.User
	if err := db.Where("id = ? AND is_active", id).Take(&u).Error; err != nil {
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
