package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/internal/pgtest"
)

// TestKeyedCreatesThroughCrash: clients create todos, each with its own
// Idempotency-Key, and retry every create that got no answer or an
// answer other than 201 (a dropped connection, a 503), with the same key,
// while PostgreSQL crashes: a backend is killed with SIGKILL, so the
// postmaster ends every session and restarts after crash recovery, as
// after a crash of the server. At the end every key has exactly one todo:
// no create was lost, none was done twice.
func TestKeyedCreatesThroughCrash(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartDurableServer(t)
	execSQL(t, srv.URL("postgres"), "CREATE DATABASE strictmt")
	dbURL := srv.URL("strictmt")
	cfg := testConfig(t, dbURL)
	ra := serveApp(t, cfg)
	c := newClient(ra.URL, cfg.HTTP.RequestTimeout+5*time.Second)
	const host = "keys.faults.localhost"
	ra.createTenant(t, "keys", host)
	token := createUser(t, dbURL, ra.App.Tokens, "keys", "alice")

	const workers, perWorker = 4, 60
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	retries := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				key := fmt.Sprintf("w%d-%d", w, i)
				for attempt := 0; ; attempt++ {
					if ctx.Err() != nil {
						t.Errorf("%s: no 201 before the deadline", key)
						return
					}
					r := c.doWith(ctx, "POST", host, "/api/todos/", token, map[string]string{"Idempotency-Key": key}, map[string]any{"title": key})
					if r.Err == nil && r.Status == http.StatusCreated {
						break
					}
					if r.Err == nil && r.Status != http.StatusServiceUnavailable && r.Status != http.StatusConflict {
						t.Errorf("%s: %v", key, r)
						return
					}
					mu.Lock()
					retries++
					mu.Unlock()
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	for range 2 { // twice, the second while the first's retries run
		var victim *pgx.Conn
		if err := eventually(30*time.Second, 50*time.Millisecond, func() (err error) {
			victim, err = pgx.Connect(ctx, dbURL) // refused while PostgreSQL recovers from the last kill
			return err
		}); err != nil {
			cancel()
			wg.Wait()
			t.Fatal(err)
		}
		var pid int
		if err := victim.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			cancel()
			wg.Wait()
			t.Fatalf("killing a PostgreSQL backend: %v", err)
		}
		victim.Close(context.Background())
		time.Sleep(700 * time.Millisecond)
	}
	wg.Wait()
	if retries == 0 {
		t.Fatal("no create was retried: the crash came after the load")
	}
	dupes := queryInt(t, dbURL, `SELECT count(*) FROM (SELECT title FROM keys.todos GROUP BY title HAVING count(*) > 1) d`)
	total := queryInt(t, dbURL, `SELECT count(DISTINCT title) FROM keys.todos`)
	rows := queryInt(t, dbURL, `SELECT count(*) FROM keys.todos`)
	t.Logf("%d keys, %d retries, %d todos", workers*perWorker, retries, rows)
	if dupes != 0 || total != workers*perWorker || rows != workers*perWorker {
		t.Fatalf("%d keys: %d todos, %d distinct, %d keys with more than one", workers*perWorker, rows, total, dupes)
	}
}
