package repository

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// msgNoSuchUser is the detail of a user lookup that finds no active user.
const msgNoSuchUser = "No such user."

// userColumns are the columns a user lookup reads, in scanUser's order.
const userColumns = "id, username, email, password_hash, is_active, date_joined"

// scanUser reads a row of userColumns into u (see scanFunc).
func scanUser(r pgx.Row, u *models.User, extra ...any) error {
	return r.Scan(append([]any{&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.IsActive, &u.DateJoined}, extra...)...)
}

// CreateUser inserts a user into the tenant of ctx, beginning the
// request's transaction if it has not begun; its username must be
// normalised already (auth.NormalizeUsername). EINVALID (field username)
// when the username is taken, case-insensitively.
func CreateUser(ctx context.Context, u *models.User) error {
	st, err := insertStmt(ctx, u, &u.ID)
	if err != nil {
		return err
	}
	err = datapath.Run(ctx, st)
	if pgerr.Is(err, pgerr.UniqueViolation) {
		return apperr.FieldError("username", "A user with that username already exists.")
	}
	return translate(err, "")
}

// FindUserByID returns the active user with id in the tenant of ctx.
// ENOTFOUND when there is none. It reads with datapath.Read: on a READ
// ONLY transaction of its own when the request's has not begun, so that
// a request which only checks a token (a refresh) holds no transaction.
func FindUserByID(ctx context.Context, id int64) (*models.User, error) {
	return findUser(ctx, "user by id", []any{id, 1}, func(db *gorm.DB) *gorm.DB {
		return db.Where("id = ? AND is_active", id)
	})
}

// FindUserByUsername returns the active user with the given username in
// the tenant of ctx, compared case-insensitively by PostgreSQL's lower(),
// the function of the unique index, so that login and uniqueness agree;
// username must be normalised already (auth.NormalizeUsername). ENOTFOUND
// when there is none. It reads with datapath.Read, as FindUserByID does:
// the password check that follows a login's lookup holds neither a
// transaction nor a connection.
func FindUserByUsername(ctx context.Context, username string) (*models.User, error) {
	return findUser(ctx, "user by username", []any{username, 1}, func(db *gorm.DB) *gorm.DB {
		return db.Where("lower(username) = lower(?) AND is_active", username)
	})
}

// findUser reads the one user that where selects (a statement of the
// given shape and arguments; see datapath.BuildShape) with datapath.Read.
func findUser(ctx context.Context, shape string, args []any, where func(db *gorm.DB) *gorm.DB) (*models.User, error) {
	st, err := datapath.BuildShape(ctx, shape, args, func(db *gorm.DB) *gorm.DB {
		return where(db.Model(&models.User{}).Select(userColumns)).Take(&models.User{})
	})
	if err != nil {
		return nil, err
	}
	var u models.User
	st.Row = func(r pgx.Row) error { return scanUser(r, &u) }
	if err := datapath.Read(ctx, st); err != nil {
		return nil, translate(err, msgNoSuchUser)
	}
	return &u, nil
}

// UpdateUserPasswordHash replaces the password hash of the user with id
// in the tenant of ctx by newHash, if it is still oldHash (a concurrent
// password change wins). It reports whether the hash was replaced.
func UpdateUserPasswordHash(ctx context.Context, id int64, oldHash, newHash string) (bool, error) {
	st, err := datapath.Build(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.User{}).Where("id = ? AND password_hash = ?", id, oldHash).Update("password_hash", newHash)
	})
	if err != nil {
		return false, err
	}
	var updated int64
	st.Exec = affected(&updated)
	if err := datapath.Run(ctx, st); err != nil {
		return false, translate(err, "")
	}
	return updated > 0, nil
}
