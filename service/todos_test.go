package service_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/service"
)

func TestMayChangeTodo(t *testing.T) {
	ctx := datapath.NewContextWithUser(context.Background(), &datapath.User{ID: 7, Username: "alice"})
	cases := []struct {
		name string
		todo models.Todo
		ok   bool
	}{
		{"Owner", models.Todo{OwnerID: ptr(int64(7)), Owner: &models.User{ID: 7}}, true},
		{"ErrOtherOwner", models.Todo{OwnerID: ptr(int64(8)), Owner: &models.User{ID: 8}}, false},
		{"Ownerless", models.Todo{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := service.MayChangeTodo(ctx, &c.todo)
			if c.ok && err != nil {
				t.Fatalf("want allowed, got %v", err)
			}
			if !c.ok && !errors.Is(err, apperr.Forbidden) {
				t.Fatalf("want EFORBIDDEN, got %v", err)
			}
		})
	}
	if err := service.MayChangeTodo(context.Background(), &models.Todo{}); !errors.Is(err, apperr.Forbidden) {
		t.Fatalf("no user in context: want EFORBIDDEN, got %v", err)
	}
}

func TestApplyCompletion(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	given := time.Date(2025, 6, 1, 0, 0, 0, 123456789, time.FixedZone("x", 3600))
	cases := []struct {
		name      string
		completed bool
		given     *time.Time
		want      *time.Time
	}{
		{"OpenDropsGivenTime", false, &given, nil},
		{"CompletedKeepsGivenTimeInUTCMicros", true, &given, ptr(given.UTC().Truncate(time.Microsecond))},
		{"CompletedWithoutTimeGetsNow", true, nil, &now},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			td := &models.Todo{Completed: c.completed}
			service.ApplyCompletion(td, c.given, now)
			if (td.CompletionTime == nil) != (c.want == nil) || (c.want != nil && !td.CompletionTime.Equal(*c.want)) {
				t.Fatalf("completion time %v, want %v", td.CompletionTime, c.want)
			}
		})
	}
}

func TestNextOccurrence(t *testing.T) {
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	done := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	three := 3
	next, err := service.NextOccurrence(&models.Todo{Title: "t", Completed: true, RecurrenceInterval: &three, CompletionTime: &done, OwnerID: ptr(int64(7))}, now)
	if err != nil || next == nil {
		t.Fatalf("next occurrence: %v, %v", next, err)
	}
	if want := done.AddDate(0, 0, 3); next.DueAt == nil || !next.DueAt.Equal(want) || next.Completed || next.OwnerID == nil || *next.OwnerID != 7 || next.Title != "t" {
		t.Fatalf("next occurrence %+v, want open, owner 7, due %v", next, want)
	}
	if next, err := service.NextOccurrence(&models.Todo{Completed: true, CompletionTime: &done}, now); next != nil || err != nil {
		t.Fatalf("no interval: want none, got %v, %v", next, err)
	}
	late := time.Date(9999, 12, 30, 0, 0, 0, 0, time.UTC)
	if _, err := service.NextOccurrence(&models.Todo{Completed: true, RecurrenceInterval: &three, CompletionTime: &late}, now); !errors.Is(err, apperr.Invalid) {
		t.Fatalf("due after 9999: want EINVALID, got %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
