package tenants

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"golang.org/x/sync/singleflight"
	"gorm.io/gorm"
)

// maxNegativeEntries bounds the cache of unknown hosts, so forged Host
// headers cannot grow memory without limit.
const maxNegativeEntries = 10000

// Resolver maps request hosts to tenants through an in-memory cache: a hit
// costs no database round trip. The cache is dropped on every catalog
// change this process makes, on every change another process announces on
// CatalogChannel (see Listen), and entries expire after ttl as a bound on
// staleness should a notification be missed.
type Resolver struct {
	catalog *repository.Catalog
	store   *datapath.Store
	ttl     time.Duration
	now     func() time.Time
	group   singleflight.Group

	observer CacheObserver // nil: nobody counts

	mu        sync.RWMutex
	gen       uint64
	hosts     map[string]cacheEntry
	negatives int
}

type cacheEntry struct {
	tenant  *datapath.Tenant // nil: no tenant has this host
	expires time.Time
}

// CacheObserver is told about the resolver's cache, for metrics. Its
// methods must be quick and safe for concurrent use.
type CacheObserver interface {
	CacheHit()
	CacheMiss()
	CacheInvalidated()
}

// SetObserver makes the resolver report its cache's hits, misses and
// invalidations to o. Call it before the resolver is used.
func (r *Resolver) SetObserver(o CacheObserver) { r.observer = o }

// NewResolver returns a resolver reading the catalog through db; the
// tenants it resolves are served by store (their requests reach their
// schemas through its pool), which it also keeps told of the changes to
// users (see Listen). A resolved tenant costs the bytes of its catalog
// fields, whatever the number of tenants.
func NewResolver(db *gorm.DB, store *datapath.Store, ttl time.Duration) *Resolver {
	return &Resolver{
		catalog: repository.NewCatalog(db),
		store:   store,
		ttl:     ttl,
		now:     time.Now,
		hosts:   map[string]cacheEntry{},
	}
}

// Store returns the tenant data path the resolved tenants share.
func (r *Resolver) Store() *datapath.Store { return r.store }

// Resolve returns the tenant serving host (a Host header: port, trailing
// dot, case and a leading "www." are ignored). ENOTFOUND when no tenant
// has it.
func (r *Resolver) Resolve(ctx context.Context, host string) (*datapath.Tenant, error) {
	h := NormalizeHost(host)
	r.mu.RLock()
	e, ok := r.hosts[h]
	gen := r.gen
	r.mu.RUnlock()
	if ok && r.now().Before(e.expires) {
		if r.observer != nil {
			r.observer.CacheHit()
		}
		return found(e.tenant, h)
	}
	if r.observer != nil {
		r.observer.CacheMiss()
	}
	v, err, _ := r.group.Do(h, func() (any, error) { return r.load(ctx, h, gen) })
	if err != nil {
		return nil, err
	}
	return found(v.(*datapath.Tenant), h)
}

func found(t *datapath.Tenant, host string) (*datapath.Tenant, error) {
	if t == nil {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No tenant is served at host %q.", host)
	}
	return t, nil
}

func (r *Resolver) load(ctx context.Context, host string, gen uint64) (any, error) {
	var t *datapath.Tenant
	if _, err := NormalizeDomain(host); err == nil {
		client, err := r.catalog.FindTenantByDomain(ctx, host)
		switch {
		case errors.Is(err, apperr.NotFound):
		case err != nil:
			return nil, err
		default:
			t = r.tenantOf(client)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A catalog change between the read and now makes what was read
	// stale: hand it to this caller but do not cache it.
	if r.gen == gen {
		if t == nil {
			if r.negatives >= maxNegativeEntries {
				r.dropNegativesLocked()
			}
			r.negatives++
		}
		r.hosts[host] = cacheEntry{tenant: t, expires: r.now().Add(r.ttl)}
	}
	return t, nil
}

func (r *Resolver) dropNegativesLocked() {
	for h, e := range r.hosts {
		if e.tenant == nil {
			delete(r.hosts, h)
		}
	}
	r.negatives = 0
}

func (r *Resolver) tenantOf(c *models.Tenant) *datapath.Tenant {
	return r.store.NewTenant(datapath.Tenant{
		ID: c.ID, Name: c.Name, Schema: c.SchemaName, Role: c.RoleName,
		PaidUntil: c.PaidUntil, OnTrial: c.OnTrial, State: c.State, StateUntil: c.StateUntil,
	})
}

// Invalidate drops every cached resolution.
func (r *Resolver) Invalidate() {
	r.mu.Lock()
	r.gen++
	r.hosts = map[string]cacheEntry{}
	r.negatives = 0
	r.mu.Unlock()
	if r.observer != nil {
		r.observer.CacheInvalidated()
	}
}

// Listen keeps a connection LISTENing on CatalogChannel and invalidates the
// cache on every notification, until ctx ends. The same connection
// LISTENs on datapath.UsersChannel for the store's known users (see
// datapath.KnownUser), which are believed only while it is connected.
// After a lost connection it reconnects with backoff and invalidates,
// since notifications may have been missed meanwhile.
func (r *Resolver) Listen(ctx context.Context, connString string, log *slog.Logger) {
	const firstBackoff = 100 * time.Millisecond
	backoff := firstBackoff
	for ctx.Err() == nil {
		connected := false
		err := r.listenOnce(ctx, connString, &connected)
		if connected {
			// Only outages in a row back off further.
			backoff = firstBackoff
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("catalog listener lost its connection; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (r *Resolver) listenOnce(ctx context.Context, connString string, connected *bool) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range []string{datapath.UsersChannel, CatalogChannel} {
		if _, err := conn.Exec(ctx, repository.ListenStmt(ch)); err != nil {
			return err
		}
	}
	*connected = true
	r.Invalidate()
	r.store.ListenForUsers(true)
	defer r.store.ListenForUsers(false)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == datapath.UsersChannel {
			r.store.ForgetUser(n.Payload)
			continue
		}
		r.Invalidate()
	}
}
