package repository

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// CheckUser returns the user with id as the request's authenticated user
// and defers the check that it still exists and is active to the
// request's first statements (datapath.DeferCheck): it costs no round trip
// of its own. A user such a check found recently, with no change to it
// announced since, is not checked again (datapath.KnownUser). Username is
// filled in when the check has run; a failed check is the EUNAUTHORIZED
// error ("User not found") of the statement it travelled with, and of
// the request.
func CheckUser(ctx context.Context, id int64) (*datapath.User, error) {
	known, remember := datapath.KnownUser(ctx, id)
	if known != nil {
		return known, nil
	}
	st, err := datapath.BuildShape(ctx, "user check", []any{id, 1}, func(db *gorm.DB) *gorm.DB {
		return db.Model(&models.User{}).Select("username").Where("id = ? AND is_active", id).Take(&models.User{})
	})
	if err != nil {
		return nil, err
	}
	u := &datapath.User{ID: id}
	found := false
	st.Row = func(r pgx.Row) error {
		err := r.Scan(&u.Username)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	}
	err = datapath.DeferCheck(ctx, datapath.Check{Stmt: st, Verify: func() error {
		if !found {
			return apperr.ErrUserNotFound
		}
		remember(u.Username)
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return u, nil
}
