package repository

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenancy"
)

// CreateUser inserts a user into the tenant of ctx; its username must be
// normalised already (auth.NormalizeUsername). EINVALID (field username)
// when the username is taken, case-insensitively.
func CreateUser(ctx context.Context, u *models.User) error {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return err
	}
	err = db.Create(u).Error
	if pgerr.Is(err, pgerr.UniqueViolation) {
		return apperr.FieldError("username", "A user with that username already exists.")
	}
	return translate(err, "")
}

// FindUserByID returns the active user with id in the tenant of ctx.
// ENOTFOUND when there is none. It reads as tenancy.Read does: on a READ
// ONLY transaction of its own when the request's has not begun, so that
// a request which only checks a token (a refresh) holds no transaction.
func FindUserByID(ctx context.Context, id int64) (*models.User, error) {
	t := tenancy.TenantFromContext(ctx)
	if t == nil {
		return nil, apperr.Errorf(apperr.EINTERNAL, "repository: no tenant in context")
	}
	var u models.User
	err := tenancy.ReadRow(ctx, tenancy.First{
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

// FindUserByUsername returns the active user with the given username in
// the tenant of ctx, compared case-insensitively by PostgreSQL's lower(),
// the function of the unique index, so that login and uniqueness agree;
// username must be normalised already (auth.NormalizeUsername). ENOTFOUND
// when there is none. It reads on a READ ONLY transaction of its own
// (tenancy.Read) when the request's has not begun: the password check
// that follows a login's lookup holds neither a transaction nor a
// connection.
func FindUserByUsername(ctx context.Context, username string) (*models.User, error) {
	t := tenancy.TenantFromContext(ctx)
	if t == nil {
		return nil, apperr.Errorf(apperr.EINTERNAL, "repository: no tenant in context")
	}
	var u models.User
	err := tenancy.ReadRow(ctx, tenancy.First{
		SQL: "SELECT id, username, email, password_hash, is_active, date_joined FROM " +
			pgx.Identifier{t.Schema, "users"}.Sanitize() + " WHERE lower(username) = lower($1) AND is_active LIMIT 1",
		Args: []any{username},
		Scan: func(r tenancy.Row) error {
			return r.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.IsActive, &u.DateJoined)
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

// UpdateUserPasswordHash replaces the password hash of the user with id
// in the tenant of ctx by newHash, if it is still oldHash (a concurrent
// password change wins). It reports whether the hash was replaced.
func UpdateUserPasswordHash(ctx context.Context, id int64, oldHash, newHash string) (bool, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return false, err
	}
	res := db.Model(&models.User{}).Where("id = ? AND password_hash = ?", id, oldHash).Update("password_hash", newHash)
	if res.Error != nil {
		return false, translate(res.Error, "")
	}
	return res.RowsAffected > 0, nil
}
