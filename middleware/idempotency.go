package middleware

import (
	"bytes"
	"crypto/sha256"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
)

// IdempotencyKeyHeader names a write's idempotency key; a replayed
// response carries IdempotentReplayedHeader: true
// (draft-ietf-httpapi-idempotency-key-header).
const (
	IdempotencyKeyHeader     = "Idempotency-Key"
	IdempotentReplayedHeader = "Idempotent-Replayed"
)

// idempotencyContextKey is where Idempotency leaves its state for Scope.
const idempotencyContextKey = "strictmt.idempotency"

// The outcomes of a keyed request other than running it.
type idemOutcome int

const (
	idemRun      idemOutcome = iota // the first request with the key: it runs
	idemReplay                      // the key's response is stored: sent again
	idemMismatch                    // the key was used with another request
	idemInFlight                    // a request with the key is running
)

// idempotency is the state of one keyed request.
type idempotency struct {
	rec     models.IdempotencyKey
	locked  bool
	found   bool
	stored  models.IdempotencyKey
	outcome idemOutcome
}

// errIdempotency stops a keyed request that must not run (a replay, a
// mismatch, a key in flight): Scope answers for it.
var errIdempotency = apperr.Errorf(apperr.ECONFLICT, "idempotency key already used")

// Idempotency makes a write (POST, PUT, PATCH, DELETE) sent with an
// Idempotency-Key safe to retry. It runs after the scope and the
// authentication (the key belongs to the request's user; to nobody for
// sign-up and login, where it names itself within the tenant). Two
// statements ride with the request's first pipeline (datapath.DeferCheck):
// one takes the key's lock for the transaction, the next reads the key's
// stored response. The scope holds its commit (datapath.HoldCommit), and
// Scope stores the response (a status below 400) with the COMMIT, in the
// same pipeline: the response is kept exactly when the write is. A later
// request with the key and the same method, path and body gets the stored
// response again, with Idempotent-Replayed: true, and writes nothing; with
// another request 422; while the first still runs 409 with Retry-After. A
// key must be 1 to 255 printable ASCII characters (400 otherwise); without
// one nothing changes. ttl is how long a response is kept.
func Idempotency(log *slog.Logger, ttl time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader(IdempotencyKeyHeader)
		if key == "" && len(c.Request.Header.Values(IdempotencyKeyHeader)) == 0 || !isWrite(c.Request.Method) {
			c.Next()
			return
		}
		if !validIdempotencyKey(key) {
			Error(c, log, apperr.Errorf(apperr.EINVALID, "The %s header must be 1 to 255 printable ASCII characters.", IdempotencyKeyHeader))
			return
		}
		ctx := c.Request.Context()
		t := datapath.TenantFromContext(ctx)
		var userID int64
		if u := datapath.UserFromContext(ctx); u != nil {
			userID = u.ID
		}
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			Error(c, log, apperr.Wrap(apperr.EINVALID, err, "The request body could not be read."))
			return
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		h := sha256.New()
		h.Write([]byte(c.Request.Method + "\n" + c.Request.URL.Path + "?" + c.Request.URL.RawQuery + "\n"))
		h.Write(body)
		st := &idempotency{rec: models.IdempotencyKey{UserID: userID, Key: key, Fingerprint: h.Sum(nil), ExpiresAt: time.Now().Add(ttl)}}

		lockName := t.Schema + ":" + strconv.FormatInt(userID, 10) + ":" + key // a schema name holds no colon
		lock, err := repository.IdempotencyLockStmt(ctx, lockName, &st.locked)
		if err == nil {
			err = datapath.DeferCheck(ctx, datapath.Check{Stmt: lock, Verify: st.verifyLock})
		}
		var find datapath.Stmt
		if err == nil {
			find, err = repository.IdempotencyFindStmt(ctx, userID, key, &st.stored, &st.found)
		}
		if err == nil {
			err = datapath.DeferCheck(ctx, datapath.Check{Stmt: find, Verify: st.verifyFind})
		}
		if err == nil {
			err = datapath.HoldCommit(ctx)
		}
		if err != nil {
			Error(c, log, err)
			return
		}
		c.Set(idempotencyContextKey, st)
		c.Next()
	}
}

// validIdempotencyKey reports whether k is 1 to 255 printable ASCII
// characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func (st *idempotency) verifyLock() error {
	if !st.locked {
		st.outcome = idemInFlight
		return errIdempotency
	}
	return nil
}

func (st *idempotency) verifyFind() error {
	switch {
	case st.outcome != idemRun:
		return errIdempotency
	case !st.found:
		return nil
	case bytes.Equal(st.stored.Fingerprint, st.rec.Fingerprint):
		st.outcome = idemReplay
	default:
		st.outcome = idemMismatch
	}
	return errIdempotency
}

// idempotencyOf returns the state Idempotency left for c, nil for a
// request without a key.
func idempotencyOf(c *gin.Context) *idempotency {
	v, ok := c.Get(idempotencyContextKey)
	if !ok {
		return nil
	}
	st, _ := v.(*idempotency)
	return st
}

// answer writes the response of a keyed request that did not run, and
// reports whether there was one to write.
func (st *idempotency) answer(c *gin.Context, log *slog.Logger) bool {
	switch st.outcome {
	case idemReplay:
		if st.stored.ContentType != "" {
			c.Header("Content-Type", st.stored.ContentType)
		}
		c.Header(IdempotentReplayedHeader, "true")
		c.Status(int(st.stored.Status))
		_, _ = c.Writer.Write(st.stored.Body)
	case idemMismatch:
		Error(c, log, apperr.Errorf(apperr.EUNPROCESSABLE, "This %s was used with another request (method, path or body); use a new key.", IdempotencyKeyHeader))
	case idemInFlight:
		c.Header("Retry-After", "1")
		Error(c, log, apperr.Errorf(apperr.ECONFLICT, "A request with this %s is still in progress; retry later.", IdempotencyKeyHeader))
	default:
		return false
	}
	return true
}

// record returns the row that stores the response status and body (and
// content type) of st's request.
func (st *idempotency) record(status int, contentType string, body []byte) *models.IdempotencyKey {
	rec := st.rec
	rec.Status, rec.ContentType, rec.Body = int16(status), contentType, body
	if rec.Body == nil {
		rec.Body = []byte{}
	}
	return &rec
}
