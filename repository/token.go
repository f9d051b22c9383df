package repository

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// pruneBatch bounds the expired rows CreateOutstandingToken deletes at
// once. Each insert prunes up to this many, so the table holds little
// more than the tokens that are still valid, and no insert pays for a
// long backlog.
const pruneBatch = 100

// CreateOutstandingToken records a refresh token issued to the user in
// the tenant of ctx (simplejwt's OutstandingToken), and in the same
// statement deletes up to pruneBatch rows of tokens that expired before
// expiredBefore, blacklisted or not: a token past its expiry is refused
// whatever the blacklist says. Issuing a token is the last write
// of every request that issues one, so the statement travels with the
// request's COMMIT (datapath.Commit): the scope has ended afterwards.
func CreateOutstandingToken(ctx context.Context, userID int64, jti string, expiresAt, expiredBefore time.Time) error {
	args := []any{expiredBefore, pruneBatch, userID, jti, expiresAt}
	st, err := datapath.BuildShape(ctx, "outstanding token", args, func(db *gorm.DB) *gorm.DB {
		ot, err := datapath.Table(db, &models.OutstandingToken{})
		if err != nil {
			return withError(db, err)
		}
		return db.Raw(`WITH pruned AS (
		DELETE FROM ? WHERE id IN (SELECT id FROM ? WHERE expires_at < ? ORDER BY expires_at LIMIT ?)
	)
	INSERT INTO ? (user_id, jti, expires_at) VALUES (?, ?, ?)`,
			ot, ot, expiredBefore, pruneBatch, ot, userID, jti, expiresAt)
	})
	if err != nil {
		return err
	}
	return translate(datapath.Commit(ctx, st), "")
}

// BlacklistToken blacklists the refresh token jti of the user in the
// tenant of ctx (recording it as outstanding first if it is not), and
// reports whether this call blacklisted it: false when it already was, so
// of two concurrent uses of one token only one gets true (the second
// waits for the first's row lock, then finds blacklisted_at set).
func BlacklistToken(ctx context.Context, userID int64, jti string, expiresAt time.Time) (bool, error) {
	st, err := datapath.BuildShape(ctx, "blacklist token", []any{userID, jti, expiresAt}, func(db *gorm.DB) *gorm.DB {
		ot, err := datapath.Table(db, &models.OutstandingToken{})
		if err != nil {
			return withError(db, err)
		}
		return db.Raw(`INSERT INTO ? AS o (user_id, jti, expires_at, blacklisted_at) VALUES (?, ?, ?, now())
	ON CONFLICT (jti) DO UPDATE SET blacklisted_at = EXCLUDED.blacklisted_at
	WHERE o.blacklisted_at IS NULL
	RETURNING id`, ot, userID, jti, expiresAt)
	})
	if err != nil {
		return false, err
	}
	first := false
	st.Rows = func(rows pgx.Rows) error {
		for rows.Next() {
			first = true
		}
		return rows.Err()
	}
	if err := datapath.Run(ctx, st); err != nil {
		return false, translate(err, "")
	}
	return first, nil
}

// IsTokenBlacklisted reports whether the refresh token jti is blacklisted
// in the tenant of ctx. It reads with datapath.Read: on a READ ONLY
// transaction of its own when the request's has not begun.
func IsTokenBlacklisted(ctx context.Context, jti string) (bool, error) {
	st, err := datapath.BuildShape(ctx, "token blacklisted", []any{jti}, func(db *gorm.DB) *gorm.DB {
		ot, err := datapath.Table(db, &models.OutstandingToken{})
		if err != nil {
			return withError(db, err)
		}
		return db.Raw(`SELECT EXISTS (SELECT 1 FROM ? WHERE jti = ? AND blacklisted_at IS NOT NULL)`, ot, jti)
	})
	if err != nil {
		return false, err
	}
	var found bool
	st.Row = func(r pgx.Row) error { return r.Scan(&found) }
	if err := datapath.Read(ctx, st); err != nil {
		return false, translate(err, "")
	}
	return found, nil
}
