package sqlstore

import (
	"sync"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// tokenCache keeps LookupToken's answers for API tokens (personal, access, session)
// for a short time, so that a workload calling many times a second with one token
// does not cost a database read each time.
//
// Staleness is bounded two ways:
//
//   - Changes made through this Store (revoking, rotating, updating or deleting a
//     token; updating or deleting its user; deleting an application or grant, whose
//     tokens the foreign keys take along; re-encrypting secrets) evict the entries
//     they may touch before the method returns, so this replica never answers from
//     memory what it has itself changed.
//   - Changes made elsewhere (another replica, an admin command in another process)
//     are seen once the entry is older than ttl: that is the stated bound within
//     which a revocation reaches every replica.
//
// A lookup that read the database while an eviction happened does not store its
// answer (gen), so a read from before a revocation can never be cached after it.
// Refresh tokens are never cached: their single use is decided by the database.
// Misses ("not found") are not cached either: a token that does not exist costs its
// read, and made-up tokens are refused by their checksum before any lookup.
//
// Entries are copies of the rows; the Scopes slice is shared between callers, which
// treat it as read-only.
type tokenCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu     sync.RWMutex
	gen    uint64 // bumped by every eviction
	byHash map[string]*cachedToken
	byID   map[int64]string // token id → its key in byHash
}

type cachedToken struct {
	t       core.Token
	u       core.User
	expires time.Time // when this entry stops being used, not the token's expiry
}

// defaultTokenCacheSize bounds the entries: about 1 KiB each, so some 16 MiB at most.
const defaultTokenCacheSize = 16384

func newTokenCache(ttl time.Duration, size int, now func() time.Time) *tokenCache {
	if ttl <= 0 {
		return nil
	}
	if size <= 0 {
		size = defaultTokenCacheSize
	}
	if now == nil {
		now = time.Now
	}
	return &tokenCache{ttl: ttl, max: size, now: now,
		byHash: make(map[string]*cachedToken), byID: make(map[int64]string)}
}

// cacheableKind reports whether tokens of kind may be answered from memory.
func cacheableKind(k core.TokenKind) bool {
	return k == core.TokenPersonal || k == core.TokenAccess || k == core.TokenSession
}

// get returns the entry for hash when there is a fresh one. Otherwise it returns
// the generation to pass to put after reading the database.
func (c *tokenCache) get(hash []byte) (core.Token, core.User, uint64, bool) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.byHash[string(hash)]
	gen := c.gen
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.t, e.u, gen, true
	}
	return core.Token{}, core.User{}, gen, false
}

// put stores what the database answered for hash, unless an eviction happened since
// get returned gen (the answer may predate it).
func (c *tokenCache) put(hash []byte, gen uint64, t core.Token, u core.User) {
	if !cacheableKind(t.Kind) {
		return
	}
	e := &cachedToken{t: t, u: u, expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if old, ok := c.byHash[string(hash)]; ok {
		delete(c.byID, old.t.ID)
	} else if len(c.byHash) >= c.max {
		c.shed()
	}
	key := string(hash)
	c.byHash[key] = e
	c.byID[t.ID] = key
}

// shed makes room: expired entries go first; when none has expired, an eighth of
// the entries go, picked by the map's random iteration order.
func (c *tokenCache) shed() {
	now := c.now()
	for k, e := range c.byHash {
		if !now.Before(e.expires) {
			c.drop(k, e)
		}
	}
	if len(c.byHash) < c.max {
		return
	}
	n := c.max/8 + 1
	for k, e := range c.byHash {
		if n == 0 {
			break
		}
		c.drop(k, e)
		n--
	}
}

func (c *tokenCache) drop(key string, e *cachedToken) {
	delete(c.byHash, key)
	if c.byID[e.t.ID] == key {
		delete(c.byID, e.t.ID)
	}
}

// evictTokens forgets the tokens with these ids.
func (c *tokenCache) evictTokens(ids ...int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		if key, ok := c.byID[id]; ok {
			delete(c.byHash, key)
			delete(c.byID, id)
		}
	}
}

// evictUser forgets every token of the user (their row is part of each entry).
func (c *tokenCache) evictUser(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.byHash {
		if e.u.ID == id {
			c.drop(k, e)
		}
	}
}

// evictAll forgets everything: for changes whose tokens are not known by id
// (revoking by filter, cascades from applications and grants).
func (c *tokenCache) evictAll() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.byHash)
	clear(c.byID)
}
