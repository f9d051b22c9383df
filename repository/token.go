package repository

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/tenancy"
)

// pruneBatch bounds the expired rows CreateOutstandingToken deletes at
// once. Each insert prunes up to this many, so the table holds little
// more than the tokens that are still valid, and no insert pays for a
// long backlog.
const pruneBatch = 100

// tokenTables returns the quoted outstanding and blacklisted token tables
// of the tenant of ctx.
func tokenTables(ctx context.Context) (outstanding, blacklisted string, err error) {
	t := tenancy.TenantFromContext(ctx)
	if t == nil {
		return "", "", apperr.Errorf(apperr.EINTERNAL, "repository: no tenant in context")
	}
	return pgx.Identifier{t.Schema, "outstanding_tokens"}.Sanitize(), pgx.Identifier{t.Schema, "blacklisted_tokens"}.Sanitize(), nil
}

// CreateOutstandingToken records a refresh token issued to the user in
// the tenant of ctx (simplejwt's OutstandingToken), and in the same
// statement deletes up to pruneBatch rows of tokens that expired before
// expiredBefore, with their blacklist entries: a token past its expiry is
// refused whatever the blacklist says.
func CreateOutstandingToken(ctx context.Context, userID int64, jti string, expiresAt, expiredBefore time.Time) error {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return err
	}
	ot, _, err := tokenTables(ctx)
	if err != nil {
		return err
	}
	err = db.Exec(`WITH pruned AS (
		DELETE FROM `+ot+` WHERE id IN (SELECT id FROM `+ot+` WHERE expires_at < ? ORDER BY expires_at LIMIT ?)
	)
	INSERT INTO `+ot+` (user_id, jti, expires_at) VALUES (?, ?, ?)`,
		expiredBefore, pruneBatch, userID, jti, expiresAt).Error
	return translate(err, "")
}

// BlacklistToken blacklists the refresh token jti of the user in the
// tenant of ctx (recording it as outstanding first if it is not), and
// reports whether this call blacklisted it: false when it already was, so
// of two concurrent uses of one token only one gets true.
func BlacklistToken(ctx context.Context, userID int64, jti string, expiresAt time.Time) (bool, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return false, err
	}
	ot, bt, err := tokenTables(ctx)
	if err != nil {
		return false, err
	}
	var ids []int64
	err = db.Raw(`WITH o AS (
		INSERT INTO `+ot+` (user_id, jti, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (jti) DO UPDATE SET jti = EXCLUDED.jti
		RETURNING id
	)
	INSERT INTO `+bt+` (token_id) SELECT id FROM o
	ON CONFLICT (token_id) DO NOTHING
	RETURNING id`, userID, jti, expiresAt).Scan(&ids).Error
	if err != nil {
		return false, translate(err, "")
	}
	return len(ids) > 0, nil
}

// IsTokenBlacklisted reports whether the refresh token jti is blacklisted
// in the tenant of ctx. It reads as tenancy.Read does: on a READ ONLY
// transaction of its own when the request's has not begun.
func IsTokenBlacklisted(ctx context.Context, jti string) (bool, error) {
	ot, bt, err := tokenTables(ctx)
	if err != nil {
		return false, err
	}
	var found bool
	err = tenancy.ReadRow(ctx, tenancy.First{
		SQL:  `SELECT EXISTS (SELECT 1 FROM ` + bt + ` b JOIN ` + ot + ` o ON o.id = b.token_id WHERE o.jti = $1)`,
		Args: []any{jti},
		Scan: func(r tenancy.Row) error { return r.Scan(&found) },
	})
	if err != nil {
		return false, translate(err, "")
	}
	return found, nil
}
