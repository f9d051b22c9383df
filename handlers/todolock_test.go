package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/repository"
)

// TestTodoForUpdateLocksTheTodo reads one todo for update in two writing
// scopes: the second waits until the first ends its transaction, so two
// changes of one todo apply one after the other.
func TestTodoForUpdateLocksTheTodo(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "lock_a", "lock-a.localhost")
	access, _, _ := env.Register(t, "lock-a.localhost", "alice")
	r := env.Do(t, apptest.Request{Method: "POST", Host: "lock-a.localhost", Path: "/api/todos/", Token: access, Body: `{"title": "one"}`})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	var todo struct{ ID int64 }
	if err := json.Unmarshal(r.Raw, &todo); err != nil {
		t.Fatal(err)
	}

	first, s1 := scoped(t, env, "lock-a.localhost", true)
	defer s1.Rollback()
	if got, err := repository.FindTodoForUpdate(first, todo.ID); err != nil || got.Title != "one" || got.Owner == nil || got.Owner.Username != "alice" {
		t.Fatalf("first read for update: %+v, %v", got, err)
	}

	second, s2 := scoped(t, env, "lock-a.localhost", true)
	defer s2.Rollback()
	waiting, cancel := context.WithTimeout(second, 300*time.Millisecond)
	defer cancel()
	if _, err := repository.FindTodoForUpdate(waiting, todo.ID); err == nil {
		t.Fatal("a second read for update did not wait for the first transaction")
	} else if !errors.Is(err, context.DeadlineExceeded) && waiting.Err() == nil {
		t.Fatalf("second read while locked: %v, want it to wait", err)
	}

	s1.Rollback()
	third, s3 := scoped(t, env, "lock-a.localhost", true)
	defer s3.Rollback()
	if got, err := repository.FindTodoForUpdate(third, todo.ID); err != nil || got.ID != todo.ID {
		t.Fatalf("read for update after the lock was released: %+v, %v", got, err)
	}
}
