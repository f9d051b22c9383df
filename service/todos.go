// Package service holds the business rules of the tenant API, once, between
// the handlers and the repository, one file per noun: who may change
// what, the owners things get by default, what completing a todo does,
// that a project's or a task's references are rows of the tenant, and the
// accounts' rules (sign-up, login, tokens: Accounts). Every write of the
// handlers (POST, PUT, PATCH, DELETE) goes through it; reads with no rule
// go to the repository directly.
package service

import (
	"context"
	"time"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
)

// maxDueYear is the last year a time can be written in (RFC 3339 has four
// digits for it).
const maxDueYear = models.MaxYear

// ErrNotOwner is the EFORBIDDEN error of a change to something the caller
// may not change.
var ErrNotOwner = apperr.Errorf(apperr.EFORBIDDEN, "You do not have permission to perform this action.")

// NewTodo is a todo to create.
type NewTodo struct {
	Title              string
	Description        string
	Completed          bool
	RecurrenceInterval *int
	CompletionTime     *time.Time
}

// CreateTodo creates a todo owned by the request's user, following the
// completion rules (see ApplyCompletion); a todo created completed with a
// recurrence interval gets its next occurrence at once. EINVALID when the
// next occurrence would fall after year 9999.
func CreateTodo(ctx context.Context, in NewTodo) (*models.Todo, error) {
	user := datapath.UserFromContext(ctx)
	if user == nil {
		return nil, apperr.ErrNoCredentials
	}
	now := Now()
	owner := user.ID
	t := &models.Todo{
		Title: in.Title, Description: in.Description, Completed: in.Completed,
		RecurrenceInterval: in.RecurrenceInterval, CreatedAt: now, OwnerID: &owner,
	}
	ApplyCompletion(t, in.CompletionTime, now)
	next, err := NextOccurrence(t, now)
	if err != nil {
		return nil, err
	}
	if err := repository.CreateTodo(ctx, t, next); err != nil {
		return nil, err
	}
	t.Owner = &models.User{ID: user.ID, Username: user.Username}
	return t, nil
}

// UpdateTodo applies u to the todo with id, as its owner (or anyone, for
// an ownerless todo): completion follows ApplyCompletion, and a todo that
// becomes completed and recurs gets its next occurrence unless it has one.
// Two round trips: the todo is read and locked, then written with the
// COMMIT. ENOTFOUND when the tenant has no such todo, EFORBIDDEN when the
// caller may not change it, EINVALID as in CreateTodo.
func UpdateTodo(ctx context.Context, id int64, u repository.TodoUpdate) (*models.Todo, error) {
	t, err := repository.FindTodoForUpdate(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := MayChangeTodo(ctx, t); err != nil {
		return nil, err
	}
	wasCompleted := t.Completed
	if u.Title != nil {
		t.Title = *u.Title
	}
	if u.Description != nil {
		t.Description = *u.Description
	}
	if u.Completed != nil {
		t.Completed = *u.Completed
	}
	if u.RecurrenceInterval != nil {
		t.RecurrenceInterval = *u.RecurrenceInterval
	}
	given := t.CompletionTime
	if u.CompletionTime != nil {
		given = *u.CompletionTime
	}
	now := Now()
	ApplyCompletion(t, given, now)
	var next *models.Todo
	if t.Completed && !wasCompleted {
		if next, err = NextOccurrence(t, now); err != nil {
			return nil, err
		}
	}
	if err := repository.SaveTodo(ctx, t, next); err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTodo deletes the todo with id, as its owner (or anyone, for an
// ownerless todo), with its tasks. ENOTFOUND, EFORBIDDEN as in UpdateTodo.
func DeleteTodo(ctx context.Context, id int64) error {
	t, err := repository.FindTodoForUpdate(ctx, id)
	if err != nil {
		return err
	}
	if err := MayChangeTodo(ctx, t); err != nil {
		return err
	}
	return repository.DeleteTodo(ctx, id)
}

// MayChangeTodo returns nil when the request's user may change or delete
// t: its owner, or any user of the tenant when t has no owner.
// EFORBIDDEN otherwise.
func MayChangeTodo(ctx context.Context, t *models.Todo) error {
	user := datapath.UserFromContext(ctx)
	if user == nil {
		return ErrNotOwner
	}
	if t.OwnerID != nil && *t.OwnerID != user.ID {
		return ErrNotOwner
	}
	return nil
}

// ApplyCompletion keeps completion_time consistent with completed, as the
// seed's Todo.save() did: an open todo has none (a given one is ignored);
// a completed todo keeps the given time, or gets now when none is given.
// given is the time the todo would have without the rule: the one sent by
// the client, or else the stored one.
func ApplyCompletion(t *models.Todo, given *time.Time, now time.Time) {
	switch {
	case !t.Completed:
		t.CompletionTime = nil
	case given != nil:
		v := given.UTC().Truncate(time.Microsecond)
		t.CompletionTime = &v
	default:
		t.CompletionTime = &now
	}
}

// NextOccurrence returns the next occurrence of t when t is completed and
// recurs: open, due its recurrence interval in days after its completion,
// with t's title, description, interval and owner (PreviousID is set when
// it is stored). nil when t does not recur. EINVALID when it would be due
// after year 9999.
func NextOccurrence(t *models.Todo, now time.Time) (*models.Todo, error) {
	if !t.Completed || t.RecurrenceInterval == nil || t.CompletionTime == nil {
		return nil, nil
	}
	due := t.CompletionTime.AddDate(0, 0, *t.RecurrenceInterval)
	if due.Year() > maxDueYear {
		return nil, apperr.FieldError("recurrence_interval", "The next occurrence would be due after the year 9999.")
	}
	return &models.Todo{
		Title:              t.Title,
		Description:        t.Description,
		RecurrenceInterval: t.RecurrenceInterval,
		CreatedAt:          now,
		DueAt:              &due,
		OwnerID:            t.OwnerID,
	}, nil
}

// Now is the current time at the database's precision (microseconds), so
// what a response shows is what is stored.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
