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

// idempotency is the state of one keyed request.
type idempotency struct {
	rec    models.IdempotencyKey
	locked bool // the key's lock was free: no request with it is running
}

// errInFlight stops a keyed request whose key another request holds:
// Scope answers 409 for it.
var errInFlight = apperr.Errorf(apperr.ECONFLICT, "idempotency key in flight")

// Idempotency makes a write (POST, PUT, PATCH, DELETE) sent with an
// Idempotency-Key safe to retry. It runs after the scope and the
// authentication (the key belongs to the request's user; to nobody for
// sign-up and login, where it names itself within the tenant). One
// statement rides with the request's first pipeline (datapath.DeferCheck):
// it takes the key's lock for the transaction, or finds it held (a
// request with the key still running: 409 with Retry-After). The scope
// holds its commit (datapath.HoldCommit), and Scope stores the response (a
// status below 400) with the COMMIT, in the same pipeline: the response is
// kept exactly when the write is. The store fails when the key's response
// is stored already: the request is a retry, its transaction and its
// writes are rolled back, and it gets the stored response again, with
// Idempotent-Replayed: true (422 when the key was stored for another
// method, path or body). A keyed request that fails (400 and above) is
// answered with the key's stored response if there is one. A key must be
// 1 to 255 printable ASCII characters (400 otherwise); without one
// nothing changes. ttl is how long a response is kept.
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
		return errInFlight
	}
	return nil
}

// inFlight reports whether another request held the key.
func (st *idempotency) inFlight() bool { return !st.locked }

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

// answerInFlight answers a request whose key another request holds.
func answerInFlight(c *gin.Context, log *slog.Logger) {
	c.Header("Retry-After", "1")
	Error(c, log, apperr.Errorf(apperr.ECONFLICT, "A request with this %s is still in progress; retry later.", IdempotencyKeyHeader))
}

// answerStored answers with the key's stored response, read in a
// transaction of its own on t (the request's own has ended), or 422 when
// it was stored for another request. It reports false, having written
// nothing, when no unexpired response is stored for the key.
func (st *idempotency) answerStored(c *gin.Context, log *slog.Logger, t *datapath.Tenant, strict bool) (bool, error) {
	rs := datapath.NewReadOnlyScope(t, strict)
	defer rs.Rollback()
	ctx := datapath.NewContextWithScope(c.Request.Context(), rs)
	var stored models.IdempotencyKey
	var found bool
	find, err := repository.IdempotencyFindStmt(ctx, st.rec.UserID, st.rec.Key, &stored, &found)
	if err == nil {
		err = datapath.Run(ctx, find)
	}
	if err != nil || !found || !stored.ExpiresAt.After(time.Now()) {
		return false, err
	}
	if !bytes.Equal(stored.Fingerprint, st.rec.Fingerprint) {
		Error(c, log, apperr.Errorf(apperr.EUNPROCESSABLE, "This %s was used with another request (method, path or body); use a new key.", IdempotencyKeyHeader))
		return true, nil
	}
	if stored.ContentType != "" {
		c.Header("Content-Type", stored.ContentType)
	}
	c.Header(IdempotentReplayedHeader, "true")
	c.Status(int(stored.Status))
	_, _ = c.Writer.Write(stored.Body)
	return true, nil
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
