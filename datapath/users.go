package datapath

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// UsersChannel is the PostgreSQL notification channel on which every
// change that can make a token's user unknown is announced: the trigger
// public.strictmt_user_changed on each tenant's users table sends
// "<schema>:<user id>" (a deletion, deactivation, rename or renumbering)
// or "<schema>:*" (a truncation).
const UsersChannel = "strictmt_users"

// Known users.
//
// Every authenticated request checks that its token's user still exists
// and is active. The store remembers the users that check found, so that a
// request whose user was found recently sends no check at all. What it
// remembers is only believed while a connection is LISTENing on
// UsersChannel (see Store.ListenForUsers): every change to a user is
// announced there by a trigger in the same transaction, and is forgotten
// by every process as soon as the notification arrives, within
// milliseconds of the commit. Without the listener, or after it lost its
// connection (notifications may have been missed), nothing is believed
// and every request checks. Entries also expire after a while, as a bound
// should the database fail to deliver a notification, and there are at
// most a bounded number of them.
//
// A check that read a user before a change was announced must not be
// remembered after the change was forgotten: every forgetting counts one
// generation, and a check is remembered only when no generation passed
// between its start and its result.

type knownUserKey struct {
	schema string
	id     int64
}

type knownUser struct {
	tenantID int64 // the catalog id: a schema name may be used again
	username string
	expires  time.Time
}

type userCache struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	listening bool
	gen       uint64
	users     *simplelru.LRU[knownUserKey, knownUser] // nil: remembering is off
}

func newUserCache(size int, ttl time.Duration) *userCache {
	c := &userCache{ttl: ttl, now: time.Now}
	if size > 0 && ttl > 0 {
		c.users, _ = simplelru.NewLRU[knownUserKey, knownUser](size, nil)
	}
	return c
}

// KnownUser returns the user with id of the tenant of ctx's scope when a
// recent check found it active and no change to it was announced since.
// Otherwise it returns nil and a function for the caller to call with the
// username once its own check found the user, which remembers it when
// that is still safe.
func KnownUser(ctx context.Context, id int64) (*User, func(username string)) {
	s, err := scopeFrom(ctx)
	if err != nil {
		return nil, func(string) {}
	}
	c := s.tenant.store.users
	key := knownUserKey{schema: s.tenant.Schema, id: id}
	tenantID := s.tenant.ID
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil || !c.listening {
		return nil, func(string) {}
	}
	if u, ok := c.users.Get(key); ok && u.tenantID == tenantID && c.now().Before(u.expires) {
		return &User{ID: id, Username: u.username}, nil
	}
	gen := c.gen
	return nil, func(username string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.listening && c.gen == gen {
			c.users.Add(key, knownUser{tenantID: tenantID, username: username, expires: c.now().Add(c.ttl)})
		}
	}
}

// ListenForUsers tells the store whether a connection is LISTENing on
// UsersChannel now: true once LISTEN succeeded, false as soon as that
// connection is lost. Either way what was remembered is forgotten.
func (s *Store) ListenForUsers(on bool) {
	c := s.users
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listening = on
	c.forgetAllLocked()
}

// ForgetUser forgets the user a notification on UsersChannel names
// ("<schema>:<id>"; "<schema>:*", or anything it cannot read, forgets
// every user).
func (s *Store) ForgetUser(payload string) {
	c := s.users
	c.mu.Lock()
	defer c.mu.Unlock()
	schema, idText, _ := strings.Cut(payload, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || c.users == nil {
		c.forgetAllLocked()
		return
	}
	c.gen++
	c.users.Remove(knownUserKey{schema: schema, id: id})
}

func (c *userCache) forgetAllLocked() {
	c.gen++
	if c.users != nil {
		c.users.Purge()
	}
}

// KnownUserCount returns how many users the store remembers now (0 while
// no listener runs).
func (s *Store) KnownUserCount() int {
	c := s.users
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil || !c.listening {
		return 0
	}
	return c.users.Len()
}
