package tenants_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/tenants"
)

// The Citus paths cannot run here (Citus is not installed where the tests
// run); these tests cover every answer that does not need Citus.

func TestPlacementsOnPlainPostgreSQL(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "place_a", "place-a.localhost")
	ctx, db := context.Background(), env.App.DirectSQL

	t.Run("CitusNotInstalled", func(t *testing.T) {
		c, err := tenants.DetectCluster(ctx, db, tenants.CitusAuto, "")
		if err != nil || c.Extension || c.Citus {
			t.Fatalf("DetectCluster = %+v, %v; want no extension, not Citus", c, err)
		}
	})

	notCitus := map[string]func() error{
		"ErrNotCitusAllTenants": func() error { _, err := tenants.Placements(ctx, db, ""); return err },
		"ErrNotCitusOneTenant":  func() error { _, err := tenants.Placements(ctx, db, "place_a"); return err },
		"ErrNotCitusMove": func() error {
			_, err := tenants.MoveTenant(ctx, db, "place_a", "10.0.0.7:5432", false, nil)
			return err
		},
		"ErrNotCitusMoveBlocking": func() error {
			_, err := tenants.MoveTenant(ctx, db, "place_a", "worker-2:6432", true, nil)
			return err
		},
	}
	for name, call := range notCitus {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, tenants.ErrNotCitus) || !errors.Is(err, apperr.Conflict) {
				t.Fatalf("want ErrNotCitus (ECONFLICT), got %v", err)
			}
			if msg := apperr.Message(err); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "This database is not on Citus") {
				t.Fatalf("want one line saying the database is not on Citus, got %q", msg)
			}
		})
	}

	unknown := map[string]func() error{
		"ErrUnknownSchemaPlacement": func() error { _, err := tenants.Placements(ctx, db, "nobody"); return err },
		"ErrUnknownSchemaMove":      func() error { _, err := tenants.MoveTenant(ctx, db, "nobody", "10.0.0.7:5432", false, nil); return err },
	}
	for name, call := range unknown {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, apperr.NotFound) || apperr.Message(err) != `No tenant with schema_name "nobody".` {
				t.Fatalf("want ENOTFOUND naming nobody, got %v", err)
			}
		})
	}
}

// askedDatabase reports whether err is the unreachable server's.
func askedDatabase(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

func TestPlacementInputRefusedBeforeSQL(t *testing.T) {
	t.Parallel()
	ctx, db := context.Background(), pgtest.Unreachable(t)

	hostileSchemas := []string{
		`x"; DROP SCHEMA public --`, `acme'); DROP TABLE public.clients; --`, "Acme", "pg_catalog", "public", "a b", "",
	}
	for _, s := range hostileSchemas {
		t.Run("ErrSchemaRefused/"+s, func(t *testing.T) {
			_, err := tenants.MoveTenant(ctx, db, s, "10.0.0.7:5432", false, nil)
			errs := []error{err}
			if s != "" { // "" is every tenant for Placements
				_, err := tenants.Placements(ctx, db, s)
				errs = append(errs, err)
			}
			for _, err := range errs {
				var e *apperr.Error
				if !errors.As(err, &e) || e.Code != apperr.EINVALID || e.Fields["schema_name"] == nil {
					t.Fatalf("want EINVALID for schema_name before any SQL, got %v", err)
				}
			}
		})
	}

	hostileNodes := []string{
		"w1:5432'; DROP SCHEMA public; --", `w1"; DROP SCHEMA public --:5432`, "w1", "w1:", ":5432", "w1:0", "w1:65536",
		"w1:54a", "w1:+5432", "w 1:5432", "w1:5432:1", "[w1]:5432x", "http://w1:5432", "", "w1:005432",
	}
	for _, n := range hostileNodes {
		t.Run("ErrNodeRefused/"+n, func(t *testing.T) {
			_, err := tenants.MoveTenant(ctx, db, "acme", n, false, nil)
			var e *apperr.Error
			if !errors.As(err, &e) || e.Code != apperr.EINVALID || e.Fields["node"] == nil {
				t.Fatalf("want EINVALID for node before any SQL, got %v", err)
			}
		})
	}

	// Valid input goes on to the database: the unreachable server's error.
	for _, n := range []string{"10.0.0.7:5432", "worker-2.internal:6432", "citus_worker_1:5432", "[::1]:5432", "localhost:1"} {
		t.Run("NodeAccepted/"+n, func(t *testing.T) {
			if _, err := tenants.MoveTenant(ctx, db, "acme", n, false, nil); !askedDatabase(err) {
				t.Fatalf("want the input accepted and the database asked, got %v", err)
			}
		})
	}
	t.Run("AllTenantsAskTheDatabase", func(t *testing.T) {
		if _, err := tenants.Placements(ctx, db, ""); !askedDatabase(err) {
			t.Fatalf("want the database asked, got %v", err)
		}
	})
}

func TestPlacementNote(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		p    tenants.Placement
		want string
	}{
		"OnOneNode":        {tenants.Placement{Schema: "a", Distributed: true, Node: "w1:5432"}, ""},
		"NotDistributed":   {tenants.Placement{Schema: "a"}, tenants.NotDistributedNote},
		"DistributedEmpty": {tenants.Placement{Schema: "a", Distributed: true}, "distributed, but holds no tables yet"},
		"OnTwoNodes":       {tenants.Placement{Schema: "a", Distributed: true, Node: "w1:5432, w2:5432"}, "Citus shows this schema's tables on more than one node"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.p.Note(); got != tc.want {
				t.Fatalf("Note() = %q, want %q", got, tc.want)
			}
		})
	}
}
