package sqlstore

import (
	"crypto/sha256"
	"strconv"
	"sync"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// The store keeps two answers in memory for a short time, because every
// authenticated request asks one of them: LookupToken for API tokens (personal,
// access, session) and ApplicationByClientID for OAuth clients (every call to the
// token, introspection and revocation endpoints authenticates one). Both are on
// only with Options.CacheTTL > 0.
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
// A lookup that read the database while an eviction of what its answer depends on
// happened does not store its answer (evictions), so a read from before a change
// can never be cached after it.
// Refresh tokens are never cached: their single use is decided by the database.
// Misses ("not found") are not cached either: what does not exist costs its read
// (and made-up tokens are refused by their checksum before any lookup).
//
// Entries are copies of the rows; their slices (scopes, redirect URIs) are shared
// between callers, which treat them as read-only.

// evictions decides whether an answer read from the database may still be stored:
// not when one of the things it depends on (its tags) was evicted after the read
// began. Each eviction bumps gen and records it against the tags it names; a read
// notes gen when it begins (get) and its answer is stored only if none of its tags
// was evicted since. Unrelated evictions — a refresh in another organization, a
// token revoked elsewhere, which on PostgreSQL arrive from every replica — leave
// it alone. The record is bounded: past maxTombs tags it is dropped and floor
// raised, which refuses every read begun before (as evicting everything does).
//
// It also holds the cache's switch: off while notify.go cannot hear other
// replicas' changes, when nothing is answered or stored.
type evictions struct {
	gen   uint64
	floor uint64            // answers from reads begun before it are not stored
	tombs map[string]uint64 // tag → gen of its last eviction
	off   bool
}

const maxTombs = 4096

func (e *evictions) evict(tags ...string) {
	e.gen++
	if e.tombs == nil || len(e.tombs)+len(tags) > maxTombs {
		e.all()
		return
	}
	for _, t := range tags {
		e.tombs[t] = e.gen
	}
}

// all counts as an eviction of every tag.
func (e *evictions) all() {
	e.gen++
	e.floor = e.gen
	if e.tombs == nil {
		e.tombs = make(map[string]uint64)
	}
	clear(e.tombs)
}

// cacheSwitch is what reset does besides emptying a cache.
type cacheSwitch int

const (
	keepSwitch cacheSwitch = iota // leave the cache on or off as it is
	switchOff                     // answer and store nothing until switchOn
	switchOn                      // store answers again, from reads begun after
)

// reset counts as an eviction of every tag and sets the switch.
func (e *evictions) reset(sw cacheSwitch) {
	e.all()
	if sw != keepSwitch {
		e.off = sw == switchOff
	}
}

// stale reports whether an answer read from gen on, depending on tags, may not
// be stored: it is older than an eviction, or the cache is off.
func (e *evictions) stale(gen uint64, tags []string) bool {
	if e.off || gen < e.floor {
		return true
	}
	for _, t := range tags {
		if e.tombs[t] > gen {
			return true
		}
	}
	return false
}

// idTag is the tag of a row id.
func idTag(id int64) string { return "#" + strconv.FormatInt(id, 10) }

// ttlCache maps keys to values for at most ttl, holds at most max entries, and
// indexes them by the row id that id gives, for eviction. tags lists what a value
// depends on besides its row (its user, its application…), which evictIf names.
type ttlCache[K comparable, V any] struct {
	ttl  time.Duration
	max  int
	now  func() time.Time
	id   func(V) int64
	tags func(V) []string

	mu    sync.RWMutex
	ev    evictions
	byKey map[K]*cacheEntry[V]
	byID  map[int64]K
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time // when this entry stops being used
}

// defaultCacheSize bounds each cache: 8,192 tokens (a token and its person are
// about 0.9 KiB in memory), 8,192 clients, and 8,192 connections in the
// credential cache (about 1.3 KiB each): some 20 MiB in all. Entries live for the
// TTL, a second by default, so this is room for 8,192 different tokens checked,
// or connections handed out, in a second; the serve command's GOGC of 400
// multiplies what is live, and the -large target is 200 MiB of RSS.
const defaultCacheSize = 8192

// newTTLCache returns nil when ttl is 0: no cache, and every method is a no-op (get
// always misses).
func newTTLCache[K comparable, V any](ttl time.Duration, size int, now func() time.Time, id func(V) int64, tags func(V) []string) *ttlCache[K, V] {
	if ttl <= 0 {
		return nil
	}
	if size <= 0 {
		size = defaultCacheSize
	}
	if now == nil {
		now = time.Now
	}
	c := &ttlCache[K, V]{ttl: ttl, max: size, now: now, id: id, tags: tags,
		byKey: make(map[K]*cacheEntry[V]), byID: make(map[int64]K)}
	c.ev.all()
	return c
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
	gen, off := c.ev.gen, c.ev.off
	c.mu.RUnlock()
	if ok && !off && now.Before(e.expires) {
		return e.v, gen, true
	}
	return zero, gen, false
}

// put stores what the database answered for k, unless what it depends on was
// evicted since get returned gen (the answer may predate the eviction).
func (c *ttlCache[K, V]) put(k K, gen uint64, v V) {
	if c == nil {
		return
	}
	tags := append(c.tags(v), idTag(c.id(v)))
	e := &cacheEntry[V]{v: v, expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ev.stale(gen, tags) {
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
	tags := make([]string, len(ids))
	for i, id := range ids {
		tags[i] = idTag(id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ev.evict(tags...)
	for _, id := range ids {
		if k, ok := c.byID[id]; ok {
			delete(c.byKey, k)
			delete(c.byID, id)
		}
	}
}

// evictIf forgets the entries that match, and refuses answers tagged with any of
// tags read before now; tags must cover every value match can select (naming
// more is safe: it only refuses more).
func (c *ttlCache[K, V]) evictIf(match func(V) bool, tags ...string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ev.evict(tags...)
	for k, e := range c.byKey {
		if match(e.v) {
			c.drop(k, e)
		}
	}
}

// reset forgets everything (for changes whose rows cannot be told apart) and
// sets the switch (see Store.resetCaches).
func (c *ttlCache[K, V]) reset(sw cacheSwitch) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ev.reset(sw)
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
	return newTTLCache[tokenKey](ttl, size, now, func(c cachedToken) int64 { return c.t.ID }, tokenTags)
}

// tokenTags are what a cached token depends on besides its row: the tags of
// every filter that selects it (see evictTokens).
func tokenTags(c cachedToken) []string {
	t := c.t
	return filterTags(store.TokenFilter{UserID: t.UserID, ApplicationID: t.ApplicationID,
		GrantID: t.GrantID, FamilyID: t.FamilyID, Fingerprint: t.Fingerprint})
}

// filterTags tags each field f names: user, application, grant, family,
// fingerprint.
func filterTags(f store.TokenFilter) []string {
	var tags []string
	if f.UserID != "" {
		tags = append(tags, userTag(f.UserID))
	}
	if f.ApplicationID != 0 {
		tags = append(tags, "app:"+strconv.FormatInt(f.ApplicationID, 10))
	}
	if f.GrantID != 0 {
		tags = append(tags, "grant:"+strconv.FormatInt(f.GrantID, 10))
	}
	if f.FamilyID != "" {
		tags = append(tags, "family:"+f.FamilyID)
	}
	if f.Fingerprint != "" {
		tags = append(tags, "fp:"+f.Fingerprint)
	}
	return tags
}

func userTag(id string) string { return "u:" + id }

// cacheableKind reports whether tokens of kind may be answered from memory.
func cacheableKind(k core.TokenKind) bool {
	return k == core.TokenPersonal || k == core.TokenAccess || k == core.TokenSession
}

// evictUser forgets every token of the user (their row is part of each entry).
func evictUser(c *tokenCache, id string) {
	c.evictIf(func(e cachedToken) bool { return e.u.ID == id }, userTag(id))
}

// evictTokens forgets the tokens f names by user, application, grant, family or
// fingerprint (its other fields only narrow which of those a change touched, so
// they are ignored: evicting more is safe). Answers read before it are refused
// when they match any one of those fields.
func evictTokens(c *tokenCache, f store.TokenFilter) {
	tags := filterTags(f)
	if len(tags) == 0 {
		c.reset(keepSwitch) // a filter naming none of them selects every token
		return
	}
	c.evictIf(func(e cachedToken) bool {
		t := e.t
		return (f.UserID == "" || t.UserID == f.UserID) &&
			(f.ApplicationID == 0 || t.ApplicationID == f.ApplicationID) &&
			(f.GrantID == 0 || t.GrantID == f.GrantID) &&
			(f.FamilyID == "" || t.FamilyID == f.FamilyID) &&
			(f.Fingerprint == "" || t.Fingerprint == f.Fingerprint)
	}, tags...)
}

// The application cache: keyed by client id.

type appCache = ttlCache[string, core.Application]

func newAppCache(ttl time.Duration, size int, now func() time.Time) *appCache {
	return newTTLCache[string](ttl, size, now, func(a core.Application) int64 { return a.ID },
		func(core.Application) []string { return nil })
}
