package sqlstore

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// The store keeps two answers in memory for a short time, because every
// authenticated request asks one of them: LookupToken for API tokens (personal,
// access, session) and ApplicationByClientID for OAuth clients (every call to the
// token, introspection and revocation endpoints authenticates one). Both are on
// only with Options.TokenCacheTTL > 0.
//
// Staleness is bounded two ways:
//
//   - A change made through this Store evicts the entries it may touch before the
//     method returns (revoking, rotating, updating or deleting a token; updating or
//     deleting its user; updating or deleting an application, or a grant, whose
//     tokens the foreign keys take along; re-encrypting secrets), so this replica
//     never answers from memory what it has itself changed.
//   - A change made elsewhere (another replica, an admin command in another
//     process) is seen once the entry is older than the TTL: that is the stated
//     bound within which a revoked token or a renewed client secret stops working on
//     every replica.
//
// A lookup that read the database while an eviction happened does not store its
// answer (gen), so a read from before a change can never be cached after it.
// Refresh tokens are never cached: their single use is decided by the database.
// Misses ("not found") are not cached either: what does not exist costs its read
// (and made-up tokens are refused by their checksum before any lookup).
//
// Entries are copies of the rows; their slices (scopes, redirect URIs) are shared
// between callers, which treat them as read-only.

// ttlCache maps keys to values for at most ttl, holds at most max entries, and
// indexes them by the row id that id gives, for eviction.
type ttlCache[K comparable, V any] struct {
	ttl time.Duration
	max int
	now func() time.Time
	id  func(V) int64

	mu    sync.RWMutex
	gen   uint64 // bumped by every eviction
	byKey map[K]*cacheEntry[V]
	byID  map[int64]K
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time // when this entry stops being used
}

// defaultCacheSize bounds each cache: about 1 KiB an entry, some 16 MiB at most.
const defaultCacheSize = 16384

// newTTLCache returns nil when ttl is 0: no cache, and every method is a no-op (get
// always misses).
func newTTLCache[K comparable, V any](ttl time.Duration, size int, now func() time.Time, id func(V) int64) *ttlCache[K, V] {
	if ttl <= 0 {
		return nil
	}
	if size <= 0 {
		size = defaultCacheSize
	}
	if now == nil {
		now = time.Now
	}
	return &ttlCache[K, V]{ttl: ttl, max: size, now: now, id: id,
		byKey: make(map[K]*cacheEntry[V]), byID: make(map[int64]K)}
}

// get returns the entry for k when there is a fresh one. Otherwise it returns the
// generation to pass to put after reading the database.
func (c *ttlCache[K, V]) get(k K) (V, uint64, bool) {
	var zero V
	if c == nil {
		return zero, 0, false
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.byKey[k]
	gen := c.gen
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.v, gen, true
	}
	return zero, gen, false
}

// put stores what the database answered for k, unless an eviction happened since
// get returned gen (the answer may predate it).
func (c *ttlCache[K, V]) put(k K, gen uint64, v V) {
	if c == nil {
		return
	}
	e := &cacheEntry[V]{v: v, expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if old, ok := c.byKey[k]; ok {
		c.drop(k, old)
	} else if len(c.byKey) >= c.max {
		c.shed()
	}
	c.byKey[k] = e
	c.byID[c.id(v)] = k
}

// shed makes room: expired entries go first; when that is not enough, an eighth of
// the entries go, picked by the map's random iteration order.
func (c *ttlCache[K, V]) shed() {
	now := c.now()
	for k, e := range c.byKey {
		if !now.Before(e.expires) {
			c.drop(k, e)
		}
	}
	if len(c.byKey) < c.max {
		return
	}
	n := c.max/8 + 1
	for k, e := range c.byKey {
		if n == 0 {
			break
		}
		c.drop(k, e)
		n--
	}
}

func (c *ttlCache[K, V]) drop(k K, e *cacheEntry[V]) {
	delete(c.byKey, k)
	if id := c.id(e.v); c.byID[id] == k {
		delete(c.byID, id)
	}
}

// evictIDs forgets the entries of these rows.
func (c *ttlCache[K, V]) evictIDs(ids ...int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		if k, ok := c.byID[id]; ok {
			delete(c.byKey, k)
			delete(c.byID, id)
		}
	}
}

// evictIf forgets the entries that match.
func (c *ttlCache[K, V]) evictIf(match func(V) bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.byKey {
		if match(e.v) {
			c.drop(k, e)
		}
	}
}

// evictAll forgets everything: for changes whose rows cannot be told apart.
func (c *ttlCache[K, V]) evictAll() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.byKey)
	clear(c.byID)
}

// The token cache: keyed by the token's SHA-256, holding the token and its user.

type tokenKey = [sha256.Size]byte

type cachedToken struct {
	t core.Token
	u core.User
}

type tokenCache = ttlCache[tokenKey, cachedToken]

func newTokenCache(ttl time.Duration, size int, now func() time.Time) *tokenCache {
	return newTTLCache[tokenKey](ttl, size, now, func(c cachedToken) int64 { return c.t.ID })
}

// cacheableKind reports whether tokens of kind may be answered from memory.
func cacheableKind(k core.TokenKind) bool {
	return k == core.TokenPersonal || k == core.TokenAccess || k == core.TokenSession
}

// evictUser forgets every token of the user (their row is part of each entry).
func evictUser(c *tokenCache, id string) {
	c.evictIf(func(e cachedToken) bool { return e.u.ID == id })
}

// evictTokens forgets the tokens f names by user, application, grant, family or
// fingerprint (its other fields only narrow which of those a change touched, so
// they are ignored: evicting more is safe).
func evictTokens(c *tokenCache, f store.TokenFilter) {
	c.evictIf(func(e cachedToken) bool {
		t := e.t
		return (f.UserID == "" || t.UserID == f.UserID) &&
			(f.ApplicationID == 0 || t.ApplicationID == f.ApplicationID) &&
			(f.GrantID == 0 || t.GrantID == f.GrantID) &&
			(f.FamilyID == "" || t.FamilyID == f.FamilyID) &&
			(f.Fingerprint == "" || t.Fingerprint == f.Fingerprint)
	})
}

// The application cache: keyed by client id.

type appCache = ttlCache[string, core.Application]

func newAppCache(ttl time.Duration, size int, now func() time.Time) *appCache {
	return newTTLCache[string](ttl, size, now, func(a core.Application) int64 { return a.ID })
}
