package tenants

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenancy"
	"golang.org/x/sync/singleflight"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// maxHandles bounds the tenant handles kept: each holds its parsed models
// (about 50 KB), so a server that has seen many tenants keeps only the
// recently used ones.
const maxHandles = 2048

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
	base    *gorm.DB
	ttl     time.Duration
	now     func() time.Time
	group   singleflight.Group

	observer CacheObserver // nil: nobody counts

	mu        sync.RWMutex
	gen       uint64
	hosts     map[string]cacheEntry
	negatives int
	handles   *handleCache
}

type cacheEntry struct {
	tenant  *tenancy.Tenant // nil: no tenant has this host
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

// NewResolver returns a resolver reading the catalog through db; tenant
// handles share db's connection pool.
func NewResolver(db *gorm.DB, ttl time.Duration) *Resolver {
	return &Resolver{
		catalog: repository.NewCatalog(db),
		base:    db,
		ttl:     ttl,
		now:     time.Now,
		hosts:   map[string]cacheEntry{},
		handles: newHandleCache(maxHandles),
	}
}

// Resolve returns the tenant serving host (a Host header: port, trailing
// dot, case and a leading "www." are ignored). ENOTFOUND when no tenant
// has it.
func (r *Resolver) Resolve(ctx context.Context, host string) (*tenancy.Tenant, error) {
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
	return found(v.(*tenancy.Tenant), h)
}

func found(t *tenancy.Tenant, host string) (*tenancy.Tenant, error) {
	if t == nil {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "No tenant is served at host %q.", host)
	}
	return t, nil
}

func (r *Resolver) load(ctx context.Context, host string, gen uint64) (any, error) {
	var t *tenancy.Tenant
	if _, err := NormalizeDomain(host); err == nil {
		client, err := r.catalog.FindClientByDomain(ctx, host)
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

func (r *Resolver) tenantOf(c *models.Client) *tenancy.Tenant {
	r.mu.Lock()
	db := r.handles.get(c.SchemaName, func() *gorm.DB { return TenantDB(r.base, c.SchemaName) })
	r.mu.Unlock()
	return &tenancy.Tenant{
		ID: c.ID, Name: c.Name, Schema: c.SchemaName, Role: c.RoleName,
		PaidUntil: c.PaidUntil, OnTrial: c.OnTrial, DB: db,
	}
}

// Invalidate drops every cached resolution. Tenant handles stay: a handle
// depends on nothing but its schema name, and rebuilding all of them on
// every sign-up anywhere would cost CPU and garbage for nothing.
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

// handleCache keeps the most recently used tenant handles, up to max.
type handleCache struct {
	max   int
	order *list.List // of *handleEntry, most recent first
	items map[string]*list.Element
}

type handleEntry struct {
	schema string
	db     *gorm.DB
}

func newHandleCache(max int) *handleCache {
	return &handleCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

// get returns the handle of schema, building it with build on a miss and
// evicting the least recently used one past max.
func (h *handleCache) get(schema string, build func() *gorm.DB) *gorm.DB {
	if e, ok := h.items[schema]; ok {
		h.order.MoveToFront(e)
		return e.Value.(*handleEntry).db
	}
	db := build()
	h.items[schema] = h.order.PushFront(&handleEntry{schema: schema, db: db})
	if h.order.Len() > h.max {
		last := h.order.Back()
		h.order.Remove(last)
		delete(h.items, last.Value.(*handleEntry).schema)
	}
	return db
}

// TenantDB returns a handle on base's connection pool whose table names
// carry schema as prefix: models.Todo maps to "schema"."todos". schema
// must be a validated schema name.
func TenantDB(base *gorm.DB, schemaName string) *gorm.DB {
	sqlDB, err := base.DB()
	if err != nil {
		panic(err) // base is always opened on a *sql.DB
	}
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		NamingStrategy:         schema.NamingStrategy{TablePrefix: schemaName + "."},
		SkipDefaultTransaction: true,
		TranslateError:         true,
		Logger:                 base.Logger,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		panic(err) // opening on an existing pool does no I/O and cannot fail
	}
	return db
}

// Listen keeps a connection LISTENing on CatalogChannel and invalidates the
// cache on every notification, until ctx ends. After a lost connection it
// reconnects with backoff and invalidates, since notifications may have
// been missed meanwhile.
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
	if _, err := conn.Exec(ctx, "LISTEN "+CatalogChannel); err != nil {
		return err
	}
	*connected = true
	r.Invalidate()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		r.Invalidate()
	}
}
