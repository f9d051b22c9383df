package repository

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// idempotencyPrune bounds the expired keys one stored response deletes:
// each store adds one key and removes up to this many expired ones, so
// the table holds little more than the keys still valid, and no request
// pays for a backlog (the expired ones are found through the index on
// expires_at).
const idempotencyPrune = 2

// IdempotencyLockStmt returns the statement that takes, for the rest of
// the request's transaction, the lock of the key (named by lockName: the
// tenant, the user and the key), and reports in *got whether it was free.
// Another request holding it is the same key in flight. It travels with
// the request's first statements (datapath.DeferCheck).
func IdempotencyLockStmt(ctx context.Context, lockName string, got *bool) (datapath.Stmt, error) {
	st, err := datapath.BuildShape(ctx, "idempotency lock", []any{lockName}, func(db *gorm.DB) *gorm.DB {
		return db.Raw("SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended(?, 0))", lockName)
	})
	st.Row = func(r pgx.Row) error { return r.Scan(got) }
	return st, err
}

// IdempotencyFindStmt returns the statement that reads the stored,
// unexpired response of the user's key into *k, and sets *found. Sent
// after IdempotencyLockStmt in the same pipeline, it reads after the lock
// is taken: a response committed by the key's previous holder is seen.
func IdempotencyFindStmt(ctx context.Context, userID int64, key string, k *models.IdempotencyKey, found *bool) (datapath.Stmt, error) {
	st, err := datapath.BuildShape(ctx, "idempotency find", []any{userID, key}, func(db *gorm.DB) *gorm.DB {
		t, err := datapath.Table(db, &models.IdempotencyKey{})
		if err != nil {
			return withError(db, err)
		}
		return db.Raw("SELECT fingerprint, status, content_type, body FROM ? WHERE user_id = ? AND key = ? AND expires_at > now()", t, userID, key)
	})
	st.Row = func(r pgx.Row) error {
		err := r.Scan(&k.Fingerprint, &k.Status, &k.ContentType, &k.Body)
		*found = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	}
	return st, err
}

// IdempotencyStoreStmt returns the statement that stores k (over an
// expired row of the same key, if any) and prunes up to idempotencyPrune
// other expired keys. It travels with the request's COMMIT
// (datapath.EndWith).
func IdempotencyStoreStmt(ctx context.Context, k *models.IdempotencyKey) (datapath.Stmt, error) {
	now := time.Now()
	args := []any{now, k.UserID, k.Key, idempotencyPrune, k.UserID, k.Key, k.Fingerprint, k.Status, k.ContentType, k.Body, k.ExpiresAt}
	return datapath.BuildShape(ctx, "idempotency store", args, func(db *gorm.DB) *gorm.DB {
		t, err := datapath.Table(db, &models.IdempotencyKey{})
		if err != nil {
			return withError(db, err)
		}
		return db.Raw(`WITH pruned AS (
		DELETE FROM ? WHERE (user_id, key) IN (SELECT user_id, key FROM ? WHERE expires_at < ? AND NOT (user_id = ? AND key = ?) ORDER BY expires_at LIMIT ?)
	)
	INSERT INTO ? AS k (user_id, key, fingerprint, status, content_type, body, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
		content_type = EXCLUDED.content_type, body = EXCLUDED.body, expires_at = EXCLUDED.expires_at`,
			t, t, now, k.UserID, k.Key, idempotencyPrune, t, k.UserID, k.Key, k.Fingerprint, k.Status, k.ContentType, k.Body, k.ExpiresAt)
	})
}
