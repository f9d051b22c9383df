package repository

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// idempotencyPrune bounds the expired keys of others one stored response
// deletes: each store adds one key and removes up to this many expired
// ones, so the table holds little more than the keys still valid, and no
// request pays for a backlog (the expired ones are found through the
// index on expires_at).
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
// unexpired response of the user's key into *k, and sets *found: read
// after a request found its key taken (IsIdempotencyTaken) or failed, to
// answer with the stored response.
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

// IdempotencyStoreStmts returns the statements that store k, to travel
// with the request's COMMIT (datapath.Scope.EndWith): the first deletes
// the key's own row if it has expired, and up to idempotencyPrune other
// expired keys; the second inserts k, and fails with a unique violation
// (see IsIdempotencyTaken) when the key's response is stored and has not
// expired: the request is then a retry, and its transaction, writes
// included, is rolled back by the failure.
func IdempotencyStoreStmts(ctx context.Context, k *models.IdempotencyKey) ([]datapath.Stmt, error) {
	now := time.Now()
	prune, err := datapath.BuildShape(ctx, "idempotency prune", []any{k.UserID, k.Key, now, now, idempotencyPrune}, func(db *gorm.DB) *gorm.DB {
		t, err := datapath.Table(db, &models.IdempotencyKey{})
		if err != nil {
			return withError(db, err)
		}
		return db.Raw(`DELETE FROM ? WHERE (user_id = ? AND key = ? AND expires_at <= ?)
		OR ctid = ANY (ARRAY(SELECT ctid FROM ? WHERE expires_at < ? ORDER BY expires_at LIMIT ?))`,
			t, k.UserID, k.Key, now, t, now, idempotencyPrune)
	})
	if err != nil {
		return nil, err
	}
	insert, err := datapath.BuildShape(ctx, "idempotency store", []any{k.UserID, k.Key, k.Fingerprint, k.Status, k.ContentType, k.Body, k.ExpiresAt},
		func(db *gorm.DB) *gorm.DB {
			t, err := datapath.Table(db, &models.IdempotencyKey{})
			if err != nil {
				return withError(db, err)
			}
			return db.Raw(`INSERT INTO ? (user_id, key, fingerprint, status, content_type, body, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				t, k.UserID, k.Key, k.Fingerprint, k.Status, k.ContentType, k.Body, k.ExpiresAt)
		})
	if err != nil {
		return nil, err
	}
	return []datapath.Stmt{prune, insert}, nil
}

// IsIdempotencyTaken reports whether err is the failure of
// IdempotencyStoreStmts' insert over a stored, unexpired response.
func IsIdempotencyTaken(err error) bool {
	return pgerr.Is(err, pgerr.UniqueViolation) && pgerr.Constraint(err) == "idempotency_keys_pkey"
}
