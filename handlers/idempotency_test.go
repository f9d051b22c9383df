package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/repository"
)

// keyed sends a request with an Idempotency-Key.
func keyed(t *testing.T, env *apptest.Env, host, token, method, path, key string, body any) apptest.Response {
	t.Helper()
	return env.Do(t, apptest.Request{Method: method, Host: host, Path: path, Token: token, Body: body, Header: map[string]string{"Idempotency-Key": key}})
}

func countTodos(t *testing.T, env *apptest.Env, schema, title string) int64 {
	t.Helper()
	var n int64
	if err := env.App.DB.Raw(fmt.Sprintf(`SELECT count(*) FROM %q.todos WHERE title = ?`, schema), title).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIdempotentRetries: a retried create with its key answers the same
// id and body and leaves one todo; the key with another body is 422; the
// key of one user is not another's, nor another tenant's; a 4xx stores
// nothing, so the fixed request runs; without a key nothing changes.
func TestIdempotentRetries(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "idem_a", "idem-a.localhost")
	env.CreateTenant(t, "idem_b", "idem-b.localhost")
	alice, _, _ := env.Register(t, "idem-a.localhost", "alice")
	bob, _, _ := env.Register(t, "idem-a.localhost", "bob")
	carol, _, _ := env.Register(t, "idem-b.localhost", "carol")

	first := keyed(t, env, "idem-a.localhost", alice, "POST", "/api/todos/", "k-1", map[string]any{"title": "once"})
	if first.Status != 201 || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %s", first.Status, first.Header, first.Raw)
	}
	again := keyed(t, env, "idem-a.localhost", alice, "POST", "/api/todos/", "k-1", map[string]any{"title": "once"})
	if again.Status != 201 || string(again.Raw) != string(first.Raw) || again.Header.Get("Idempotent-Replayed") != "true" ||
		!strings.HasPrefix(again.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("retry: %d %v %s, first %s", again.Status, again.Header, again.Raw, first.Raw)
	}
	if n := countTodos(t, env, "idem_a", "once"); n != 1 {
		t.Fatalf("%d todos after a retry", n)
	}
	t.Run("ErrOtherBody", func(t *testing.T) {
		r := keyed(t, env, "idem-a.localhost", alice, "POST", "/api/todos/", "k-1", map[string]any{"title": "twice"})
		if r.Status != 422 || admDetail(r) == "" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		r = keyed(t, env, "idem-a.localhost", alice, "PATCH", fmt.Sprintf("/api/todos/%v/", first.Body["id"]), "k-1", map[string]any{"title": "once"})
		if r.Status != 422 {
			t.Fatalf("another path and method: %d %s", r.Status, r.Raw)
		}
		if n := countTodos(t, env, "idem_a", "twice"); n != 0 {
			t.Fatalf("written: %d", n)
		}
	})
	t.Run("OtherUserOtherTenant", func(t *testing.T) {
		for _, c := range []struct{ host, token string }{{"idem-a.localhost", bob}, {"idem-b.localhost", carol}} {
			r := keyed(t, env, c.host, c.token, "POST", "/api/todos/", "k-1", map[string]any{"title": "once"})
			if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" || r.Body["owner_name"] == "alice" {
				t.Fatalf("%s: %d %v %s", c.host, r.Status, r.Header, r.Raw)
			}
		}
		if n := countTodos(t, env, "idem_a", "once"); n != 2 {
			t.Fatalf("todos titled once on A: %d, want alice's and bob's", n)
		}
	})
	t.Run("FailureStoresNothing", func(t *testing.T) {
		r := keyed(t, env, "idem-a.localhost", alice, "POST", "/api/todos/", "k-2", map[string]any{"title": ""})
		if r.Status != 400 {
			t.Fatalf("invalid: %d %s", r.Status, r.Raw)
		}
		r = keyed(t, env, "idem-a.localhost", alice, "POST", "/api/todos/", "k-2", map[string]any{"title": "fixed"})
		if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("fixed: %d %s", r.Status, r.Raw)
		}
		r = keyed(t, env, "idem-a.localhost", alice, "DELETE", "/api/todos/999999/", "k-3", nil)
		r2 := keyed(t, env, "idem-a.localhost", alice, "DELETE", "/api/todos/999999/", "k-3", nil)
		if r.Status != 404 || r2.Status != 404 || r2.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("a 404 replayed: %d %d %v", r.Status, r2.Status, r2.Header)
		}
	})
	t.Run("DeleteReplayed", func(t *testing.T) {
		path := fmt.Sprintf("/api/todos/%v/", first.Body["id"])
		r := keyed(t, env, "idem-a.localhost", alice, "DELETE", path, "k-del", nil)
		r2 := keyed(t, env, "idem-a.localhost", alice, "DELETE", path, "k-del", nil)
		if r.Status != 204 || r2.Status != 204 || r2.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("delete: %d, retry %d %v", r.Status, r2.Status, r2.Header)
		}
	})
	t.Run("SignUpAndLogin", func(t *testing.T) {
		body := map[string]any{"username": "dave", "email": "d@example.com", "password": "correct-horse-battery"}
		r := keyed(t, env, "idem-a.localhost", "", "POST", "/api/register/", "reg-1", body)
		r2 := keyed(t, env, "idem-a.localhost", "", "POST", "/api/register/", "reg-1", body)
		if r.Status != 201 || r2.Status != 201 || string(r.Raw) != string(r2.Raw) || r2.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("register: %d, retry %d %s", r.Status, r2.Status, r2.Raw)
		}
	})
	t.Run("ErrBadKey", func(t *testing.T) {
		for _, k := range []string{strings.Repeat("k", 256), "tab\there", "é"} {
			r := keyed(t, env, "idem-a.localhost", alice, "POST", "/api/todos/", k, map[string]any{"title": "bad key"})
			if r.Status != 400 || admDetail(r) == "" {
				t.Errorf("key %q: %d %s", k, r.Status, r.Raw)
			}
		}
		if n := countTodos(t, env, "idem_a", "bad key"); n != 0 {
			t.Fatalf("written with a bad key: %d", n)
		}
	})
}

// TestIdempotentConcurrentDuplicates sends one keyed create 8 times at
// once: exactly one todo is written; every answer is that create's (201,
// replayed or not) or 409 with Retry-After while it ran.
func TestIdempotentConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "dup_a", "dup-a.localhost")
	token, _, _ := env.Register(t, "dup-a.localhost", "alice")
	for round := range 5 {
		key := fmt.Sprintf("dup-%d", round)
		var wg sync.WaitGroup
		answers := make([]apptest.Response, 8)
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = keyed(t, env, "dup-a.localhost", token, "POST", "/api/todos/", key, map[string]any{"title": key})
			}()
		}
		wg.Wait()
		var ids []any
		for _, r := range answers {
			switch r.Status {
			case 201:
				ids = append(ids, r.Body["id"])
			case 409:
				if r.Header.Get("Retry-After") == "" {
					t.Errorf("409 without Retry-After: %s", r.Raw)
				}
			default:
				t.Errorf("%s: %d %s", key, r.Status, r.Raw)
			}
		}
		if n := countTodos(t, env, "dup_a", key); n != 1 {
			t.Fatalf("%s: %d todos", key, n)
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("%s: answers with ids %v", key, ids)
			}
		}
	}
}

// TestIdempotencyExpiresAndPrunes: a key past api.idempotency_ttl runs
// again; the store of one key in 16 (repository.IdempotencyPrunes)
// deletes 32 expired keys, found through their index, whatever their
// number, and the other stores none.
func TestIdempotencyExpiresAndPrunes(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.API.IdempotencyTTL = time.Second
	env := apptest.Start(t, cfg)
	env.CreateTenant(t, "exp_a", "exp-a.localhost")
	token, _, _ := env.Register(t, "exp-a.localhost", "alice")
	if r := keyed(t, env, "exp-a.localhost", token, "POST", "/api/todos/", "old", map[string]any{"title": "expiring"}); r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if err := env.App.DB.Exec(`INSERT INTO exp_a.idempotency_keys (user_id, key, fingerprint, status, body, expires_at)
		SELECT 1, 'stale-' || g, '\x00', 201, '', now() - interval '1 day' FROM generate_series(1, 1000) g`).Error; err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	r := keyed(t, env, "exp-a.localhost", token, "POST", "/api/todos/", "old", map[string]any{"title": "expiring"})
	if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" || countTodos(t, env, "exp_a", "expiring") != 2 {
		t.Fatalf("an expired key: %d %v", r.Status, r.Header)
	}
	stale := func() int64 {
		var n int64
		if err := env.App.DB.Raw(`SELECT count(*) FROM exp_a.idempotency_keys WHERE key LIKE 'stale-%'`).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	var pruning, quiet []string
	for i := 0; len(pruning) < 2 || len(quiet) < 5; i++ {
		k := fmt.Sprintf("new-%d", i)
		if repository.IdempotencyPrunes(k) {
			pruning = append(pruning, k)
		} else {
			quiet = append(quiet, k)
		}
	}
	before := stale()
	for _, k := range quiet[:5] {
		keyed(t, env, "exp-a.localhost", token, "POST", "/api/todos/", k, map[string]any{"title": "pruning"})
	}
	if after := stale(); after != before {
		t.Fatalf("stale keys: %d before 5 stores that do not prune, %d after", before, after)
	}
	for _, k := range pruning[:2] {
		keyed(t, env, "exp-a.localhost", token, "POST", "/api/todos/", k, map[string]any{"title": "pruning"})
	}
	if after := stale(); after != before-64 {
		t.Fatalf("stale keys: %d before 2 stores that prune, %d after (want 64 fewer)", before, after)
	}
}

// TestIdempotencyAbortedStoresNothing: a keyed create cut off in its
// transaction (the client gives up while the todos table is locked, and
// the request's context ends) stores no key, so its retry runs.
func TestIdempotencyAbortedStoresNothing(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "abort_a", "abort-a.localhost")
	token, _, _ := env.Register(t, "abort-a.localhost", "alice")
	tx := env.App.DB.Begin()
	if err := tx.Exec(`LOCK TABLE abort_a.todos IN ACCESS EXCLUSIVE MODE`).Error; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	req, err := http.NewRequestWithContext(ctx, "POST", env.Server.URL+"/api/todos/", strings.NewReader(`{"title": "cut off"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "abort-a.localhost"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", "cut")
	if resp, err := env.Server.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered while the table was locked: %d", resp.StatusCode)
	}
	cancel()
	// The server notices the client is gone and cancels the request.
	time.Sleep(300 * time.Millisecond)
	tx.Rollback()
	r := keyed(t, env, "abort-a.localhost", token, "POST", "/api/todos/", "cut", map[string]any{"title": "cut off"})
	if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the retry: %d %v %s", r.Status, r.Header, r.Raw)
	}
	if n := countTodos(t, env, "abort_a", "cut off"); n != 1 {
		t.Fatalf("%d todos", n)
	}
}
