package handlers_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/apptest"
	"golang.org/x/crypto/bcrypt"
)

// slowDjangoHash returns a Django PBKDF2 hash of password whose check
// takes at least want on this machine (PBKDF2 is as slow to make as to
// check), and the time making it took.
func slowDjangoHash(t *testing.T, password string, want time.Duration) (string, time.Duration) {
	t.Helper()
	const maxIterations = 10_000_000 // the most auth accepts
	n := 20_000
	for {
		start := time.Now()
		h := djangoHash(password, "slowsalt", n)
		took := time.Since(start)
		if took >= want || n == maxIterations {
			return h, took
		}
		next := int(float64(n) * 1.2 * float64(want) / float64(took+time.Microsecond))
		n = min(max(next, n+1), maxIterations)
	}
}

// holdWatch samples, while a request runs, what the app's database side
// holds: the longest a backend of the test database has been idle in a
// transaction, and the longest stretch during which the tenant pool had
// more connections in use than the baseline.
type holdWatch struct {
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	idleInTx  time.Duration
	inUse     time.Duration
	samples   int
	sampleErr error
}

func watchHolds(ctx context.Context, conn *pgx.Conn, inUse func() int, baseline int) *holdWatch {
	w := &holdWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var since time.Time // the pool has held a connection since
		for {
			var secs float64
			err := conn.QueryRow(ctx, `SELECT coalesce(max(extract(epoch FROM clock_timestamp() - state_change)), 0)::float8
				FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`).Scan(&secs)
			now := time.Now()
			held := inUse() > baseline
			w.mu.Lock()
			if err != nil && w.sampleErr == nil {
				w.sampleErr = err
			}
			w.samples++
			w.idleInTx = max(w.idleInTx, time.Duration(secs*float64(time.Second)))
			switch {
			case held && since.IsZero():
				since = now
			case held:
				w.inUse = max(w.inUse, now.Sub(since))
			default:
				since = time.Time{}
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *holdWatch) end() (idleInTx, inUse time.Duration, samples int, err error) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.idleInTx, w.inUse, w.samples, w.sampleErr
}

// TestLoginHoldsNoTransactionWhileHashing logs in a user whose password
// check takes a second or more (a Django PBKDF2 hash of many iterations)
// and watches pg_stat_activity and the tenant pool meanwhile: no backend
// of the test database stays idle in a transaction, and the pool holds no
// connection, for anything like the time the check takes — neither when
// the password is wrong nor when it is right and the hash is replaced by
// a bcrypt one. Holding the request's transaction open across the check
// would show as a backend idle in transaction for the whole of it.
func TestLoginHoldsNoTransactionWhileHashing(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "slowpw", "slowpw.localhost")
	const password = "Slow-pass-2024"
	hash, hashTook := slowDjangoHash(t, password, 1500*time.Millisecond)
	t.Logf("the password check takes about %v", hashTook)
	if err := env.App.DB.Exec(`INSERT INTO slowpw.users (username, email, password_hash) VALUES ('slow', 'slow@example.com', ?)`, hash).Error; err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	watcher, err := pgx.Connect(ctx, env.App.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(ctx)
	inUse := func() int { return env.App.Resolver.Store().Stats().InUse }
	// The host is resolved and cached, so that the login itself sends
	// only tenant statements.
	if r := post(t, env, "slowpw.localhost", "/api/token/", map[string]string{"username": "nobody", "password": "x"}); r.Status != 401 {
		t.Fatalf("warm-up: %d %s", r.Status, r.Raw)
	}
	for _, tt := range []struct {
		name     string
		password string
		status   int
	}{
		{"WrongPassword", "wrong-password-1", 401},
		{"RightPasswordRehashed", password, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			baseline := inUse()
			w := watchHolds(ctx, watcher, inUse, baseline)
			start := time.Now()
			r := post(t, env, "slowpw.localhost", "/api/token/", map[string]string{"username": "slow", "password": tt.password})
			took := time.Since(start)
			idleInTx, held, samples, err := w.end()
			if err != nil {
				t.Fatalf("watching pg_stat_activity: %v", err)
			}
			t.Logf("login %v, %d samples: longest idle in transaction %v, longest connection held %v", took, samples, idleInTx, held)
			if r.Status != tt.status {
				t.Fatalf("login: %d %s, want %d", r.Status, r.Raw, tt.status)
			}
			// Other tests share the machine: the check's time varies,
			// so holds are measured against this login's own time. The
			// old way held a transaction for about all of it; a
			// request's round trips are milliseconds apart.
			if took < 300*time.Millisecond {
				t.Fatalf("the login took %v (the password check about %v): too short to tell a held transaction", took, hashTook)
			}
			limit := took / 4
			if idleInTx >= limit {
				t.Errorf("a backend was idle in transaction for %v during a login of %v", idleInTx, took)
			}
			if held >= limit {
				t.Errorf("the pool held a connection for %v during a login of %v", held, took)
			}
		})
	}
	var stored string
	if err := env.App.DB.Raw(`SELECT password_hash FROM slowpw.users WHERE username = 'slow'`).Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(stored)); err != nil || cost != bcrypt.DefaultCost || auth.NeedsRehash(stored) {
		t.Fatalf("the login did not replace the PBKDF2 hash: %q", stored)
	}
}

// TestTokenEndpointRoundTrips counts at the driver's socket the round
// trips of the token endpoints (without rotation): a login looks its user
// up in a READ ONLY transaction of its own, then records the refresh
// token in a transaction begun for it; a refresh and the verification of
// a refresh token only read, and hold no transaction between their
// round trips.
func TestTokenEndpointRoundTrips(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "rt_tok", "rt-tok.localhost")
	access, refresh, _ := env.Register(t, "rt-tok.localhost", "alice")
	for _, mode := range []struct {
		name   string
		strict bool
	}{{"Strict", true}, {"Prefix", false}} {
		t.Run(mode.name, func(t *testing.T) {
			w := &wireCounter{}
			h := countedRouter(t, env, mode.strict, w, datapath.StoreOptions{})
			do := func(path, body string) int {
				req := httptest.NewRequest("POST", path, strings.NewReader(body))
				req.Host = "rt-tok.localhost"
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			// Warm up: the connection is opened and the host resolved.
			if code := do("/api/token/verify/", `{"token": "`+access+`"}`); code != 200 {
				t.Fatalf("warm-up: %d", code)
			}
			for _, c := range []struct {
				name       string
				path, body string
				maxTrips   int
				// firstTx is how the first transaction begins, when the
				// request sends one.
				firstTx string
			}{
				{"Login", "/api/token/", `{"username": "alice", "password": "correct-horse-battery"}`, 4, "BEGIN READ ONLY"},
				{"Refresh", "/api/token/refresh/", `{"refresh": "` + refresh + `"}`, 2, "BEGIN READ ONLY"},
				{"VerifyRefresh", "/api/token/verify/", `{"token": "` + refresh + `"}`, 1, "BEGIN READ ONLY"},
				{"VerifyAccess", "/api/token/verify/", `{"token": "` + access + `"}`, 0, ""},
			} {
				w.reset()
				code := do(c.path, c.body)
				trips, stmts, sqls := w.counts()
				if code != 200 {
					t.Fatalf("%s: status %d", c.name, code)
				}
				// The driver pings a connection idle for over a second
				// before handing it out again, as after a password
				// check that slow (bcrypt under the race detector): a
				// round trip of its own that a held transaction would
				// not pay, and that a login checked in tens of
				// milliseconds does not pay either.
				pings := 0
				for _, q := range sqls {
					if q == "-- ping" {
						pings++
					}
				}
				trips -= pings
				t.Logf("%s %s: %d round trip(s) and %d ping(s), %d statement(s)", mode.name, c.name, trips, pings, stmts)
				if trips > c.maxTrips {
					t.Errorf("%s: %d round trips, want at most %d; statements: %q", c.name, trips, c.maxTrips, sqls)
				}
				if c.firstTx != "" {
					if len(sqls) == 0 || !strings.HasSuffix(sqls[0], c.firstTx) {
						t.Errorf("%s: the first transaction does not begin with %s: %q", c.name, c.firstTx, sqls)
					}
				}
			}
		})
	}
}
