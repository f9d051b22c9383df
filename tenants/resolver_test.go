package tenants_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/apptest"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/gorm"
)

// countQueries counts every statement GORM sends through db.
func countQueries(t *testing.T, db *gorm.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(*gorm.DB) { n.Add(1) }
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().Before("gorm:query").Register("test:count_query", count),
		cb.Raw().Before("gorm:raw").Register("test:count_raw", count),
		cb.Row().Before("gorm:row").Register("test:count_row", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &n
}

func TestResolverCachesWithoutQueries(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "cached", "cached.example.com")
	ctx := context.Background()
	r := tenants.NewResolver(env.App.DB, datapath.NewStore(env.App.SQL, datapath.StoreOptions{}), time.Hour)
	queries := countQueries(t, env.App.DB)

	first, err := r.Resolve(ctx, "cached.example.com")
	if err != nil || first.Schema != "cached" {
		t.Fatalf("resolve: %v %+v", err, first)
	}
	if queries.Load() == 0 {
		t.Fatal("the query counter saw no query for a cache miss; it counts nothing")
	}
	before := queries.Load()
	for _, host := range []string{"cached.example.com", "CACHED.example.com:8080", "www.cached.example.com", "cached.example.com."} {
		tn, err := r.Resolve(ctx, host)
		if err != nil || tn.Schema != "cached" {
			t.Fatalf("%s: %v", host, err)
		}
	}
	// The spellings above normalise to one host: all hits.
	if got := queries.Load() - before; got != 0 {
		t.Fatalf("cached resolutions issued %d queries", got)
	}

	t.Run("ErrUnknownHostCachedToo", func(t *testing.T) {
		if _, err := r.Resolve(ctx, "evil.example.com"); !errors.Is(err, apperr.NotFound) {
			t.Fatalf("want ENOTFOUND, got %v", err)
		}
		before := queries.Load()
		if _, err := r.Resolve(ctx, "evil.example.com"); !errors.Is(err, apperr.NotFound) {
			t.Fatal(err)
		}
		if queries.Load() != before {
			t.Fatal("a repeated unknown host hit the database")
		}
	})
	t.Run("ErrForgedHosts", func(t *testing.T) {
		for _, host := range []string{"", "cached.example.com.evil.com", "evil.com/cached.example.com", "cached.example.com@evil", "' OR 1=1 --", "cached_example.com"} {
			if _, err := r.Resolve(ctx, host); !errors.Is(err, apperr.NotFound) {
				t.Errorf("host %q: want ENOTFOUND, got %v", host, err)
			}
		}
	})
}

// TestResolverInvalidatedByAnotherProcess shows a second strictmt sharing
// the database dropping its cache when the first changes the catalog,
// through LISTEN/NOTIFY.
func TestResolverInvalidatedByAnotherProcess(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "moving", "old.example.com")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	other := tenants.NewResolver(env.App.DB, datapath.NewStore(env.App.SQL, datapath.StoreOptions{}), time.Hour) // as if in another process
	go other.Listen(ctx, env.App.DatabaseURL, apptest.Logger(t))
	if _, err := other.Resolve(ctx, "old.example.com"); err != nil {
		t.Fatal(err)
	}
	// Give the listener time to LISTEN; its first connect also invalidates.
	time.Sleep(300 * time.Millisecond)
	if _, err := other.Resolve(ctx, "old.example.com"); err != nil {
		t.Fatal(err)
	}

	if _, err := env.App.Tenants.AddDomain(ctx, "moving", "new.example.com", true); err != nil {
		t.Fatal(err)
	}
	if err := env.App.Tenants.RemoveDomain(ctx, "old.example.com"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := other.Resolve(ctx, "old.example.com")
		if errors.Is(err, apperr.NotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other resolver still serves a removed domain after 5s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tn, err := other.Resolve(ctx, "new.example.com"); err != nil || tn.Schema != "moving" {
		t.Fatalf("new domain: %v", err)
	}
}

func TestResolverEntriesExpire(t *testing.T) {
	t.Parallel()
	env := apptest.New(t)
	env.CreateTenant(t, "ttl", "ttl.example.com")
	ctx := context.Background()
	r := tenants.NewResolver(env.App.DB, datapath.NewStore(env.App.SQL, datapath.StoreOptions{}), 50*time.Millisecond)
	if _, err := r.Resolve(ctx, "ttl.example.com"); err != nil {
		t.Fatal(err)
	}
	// Changed behind the resolver's back, with no notification.
	if err := env.App.DB.Exec("UPDATE public.domains SET domain = 'gone.example.com' WHERE domain = 'ttl.example.com'").Error; err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := r.Resolve(ctx, "ttl.example.com"); !errors.Is(err, apperr.NotFound) {
		t.Fatalf("stale entry outlived its ttl: %v", err)
	}
}
