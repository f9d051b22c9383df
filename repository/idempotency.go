package repository

import (
	"context"
	"errors"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm"
)

// One store in idempotencyPruneEvery (see IdempotencyPrunes) also deletes up to
// idempotencyPrune expired keys of others: two for every store on
// average, so the table holds little more than the keys still valid,
// while most stores plan only a delete by primary key, and none pays for
// a backlog (the expired keys are found through the index on
// expires_at).
const (
	idempotencyPruneEvery = 16
	idempotencyPrune      = 2 * idempotencyPruneEvery
)

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

// IdempotencyFindStmt returns the statement that reads the stored
// response of the user's key into *k (with its expiry), and sets *found:
// read after a request found its key taken (IsIdempotencyTaken) or
// failed, to answer with the stored response.
func IdempotencyFindStmt(ctx context.Context, userID int64, key string, k *models.IdempotencyKey, found *bool) (datapath.Stmt, error) {
	st, err := datapath.BuildShape(ctx, "idempotency find", []any{userID, key}, func(db *gorm.DB) *gorm.DB {
		t, err := datapath.Table(db, &models.IdempotencyKey{})
		if err != nil {
			return withError(db, err)
		}
		return db.Raw("SELECT fingerprint, status, content_type, body, expires_at FROM ? WHERE user_id = ? AND key = ?", t, userID, key)
	})
	st.Row = func(r pgx.Row) error {
		err := r.Scan(&k.Fingerprint, &k.Status, &k.ContentType, &k.Body, &k.ExpiresAt)
		*found = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	}
	return st, err
}

// IdempotencyDeleteStmt returns the statement that deletes the user's key
// if it has expired.
func IdempotencyDeleteStmt(ctx context.Context, userID int64, key string) (datapath.Stmt, error) {
	now := time.Now()
	return datapath.BuildShape(ctx, "idempotency delete", []any{userID, key, now}, func(db *gorm.DB) *gorm.DB {
		t, err := datapath.Table(db, &models.IdempotencyKey{})
		if err != nil {
			return withError(db, err)
		}
		return db.Raw("DELETE FROM ? WHERE user_id = ? AND key = ? AND expires_at <= ?", t, userID, key, now)
	})
}

// IdempotencyStoreStmts returns the statements that store k, to travel
// with the request's COMMIT (datapath.Scope.EndWith): the deletion of the
// key's own row if it has expired (and, once in idempotencyPruneEvery
// stores, of up to idempotencyPrune other expired keys), then an insert
// that fails with a unique violation (see IsIdempotencyTaken) when the
// key's response is stored and has not expired: the request is a retry,
// and the failure rolls its transaction, writes included, back.
func IdempotencyStoreStmts(ctx context.Context, k *models.IdempotencyKey) ([]datapath.Stmt, error) {
	now := time.Now()
	var del datapath.Stmt
	var err error
	if IdempotencyPrunes(k.Key) {
		del, err = datapath.BuildShape(ctx, "idempotency prune", []any{k.UserID, k.Key, now, now, idempotencyPrune}, func(db *gorm.DB) *gorm.DB {
			t, err := datapath.Table(db, &models.IdempotencyKey{})
			if err != nil {
				return withError(db, err)
			}
			return db.Raw(`DELETE FROM ? WHERE (user_id = ? AND key = ? AND expires_at <= ?)
		OR ctid = ANY (ARRAY(SELECT ctid FROM ? WHERE expires_at < ? ORDER BY expires_at LIMIT ?))`,
				t, k.UserID, k.Key, now, t, now, idempotencyPrune)
		})
	} else {
		del, err = IdempotencyDeleteStmt(ctx, k.UserID, k.Key)
	}
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
	return []datapath.Stmt{del, insert}, nil
}

// IdempotencyPrunes reports whether the store of key also prunes expired
// keys: one key in idempotencyPruneEvery, by a hash of the key, so that
// keys spread the pruning evenly.
func IdempotencyPrunes(key string) bool {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()%idempotencyPruneEvery == 0
}

// IsIdempotencyTaken reports whether err is the failure of
// IdempotencyStoreStmts' insert over a stored, unexpired response.
func IsIdempotencyTaken(err error) bool {
	return pgerr.Is(err, pgerr.UniqueViolation) && pgerr.Constraint(err) == "idempotency_keys_pkey"
}
