package sqlstore

import (
	"sync"
	"time"

	"github.com/vcsauth/vcsauth/internal/store"
)

// usableCache answers UsableConnections, the git credential lookup, from memory:
// per person, the connections they may use and the organizations they belong to.
// It is on with the other caches (Options.CacheTTL), and its staleness is bounded
// the same ways (see cache.go), with one addition that matters more here than for
// tokens: on PostgreSQL every replica hears every change to connections, OAuth
// clients and memberships within milliseconds (notify.go), because a provider may
// revoke an access token the moment another replica refreshes it, and a clone
// must not be handed the old one for a whole TTL.
//
// What a person may use depends on their memberships, their organizations'
// connections and those connections' OAuth clients, so entries are evicted by
// person (a membership changed, the person was deleted) or by organization (any
// of its connections or clients changed: every member's entry goes). The
// organization index is built from the memberships read with each entry.
//
// The cache is bounded by the connections it holds, not by people: a person may
// use dozens, and a connection is about 1.3 KiB in memory.
type usableCache struct {
	ttl time.Duration
	max int // connections held at most (an entry without any counts as one)
	now func() time.Time

	mu     sync.RWMutex
	ev     evictions // tags: userTag, orgTag
	byUser map[string]*usableEntry
	byOrg  map[string]map[string]struct{} // organization → the people whose entries list it
	weight int                            // connections held
}

type usableEntry struct {
	conns   []store.UsableConnection
	orgs    []string
	expires time.Time
}

func orgTag(id string) string { return "o:" + id }

func (e *usableEntry) weight() int { return max(1, len(e.conns)) }

// newUsableCache returns nil when ttl is 0: no cache, every method a no-op.
func newUsableCache(ttl time.Duration, size int, now func() time.Time) *usableCache {
	if ttl <= 0 {
		return nil
	}
	if size <= 0 {
		size = defaultCacheSize
	}
	if now == nil {
		now = time.Now
	}
	c := &usableCache{ttl: ttl, max: size, now: now,
		byUser: make(map[string]*usableEntry), byOrg: make(map[string]map[string]struct{})}
	c.ev.all()
	return c
}

// get returns the person's connections when a fresh entry holds them; otherwise
// the generation to pass to put after reading the database.
func (c *usableCache) get(userID string) ([]store.UsableConnection, uint64, bool) {
	if c == nil {
		return nil, 0, false
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.byUser[userID]
	gen, off := c.ev.gen, c.ev.off
	c.mu.RUnlock()
	if ok && !off && now.Before(e.expires) {
		return e.conns, gen, true
	}
	return nil, gen, false
}

// generation is what put needs of a read that begins now.
func (c *usableCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ev.gen
}

// put stores what the database answered, unless the person or one of their
// organizations was evicted since get returned gen.
func (c *usableCache) put(userID string, gen uint64, conns []store.UsableConnection, orgs []string) {
	if c == nil {
		return
	}
	tags := make([]string, 0, 1+len(orgs))
	tags = append(tags, userTag(userID))
	for _, o := range orgs {
		tags = append(tags, orgTag(o))
	}
	e := &usableEntry{conns: conns, orgs: orgs, expires: c.now().Add(c.ttl)}
	if e.weight() > c.max/8 {
		return // one person holding an eighth of the cache would push everyone out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ev.stale(gen, tags) {
		return
	}
	c.drop(userID)
	if c.weight+e.weight() > c.max {
		c.shed()
	}
	c.byUser[userID] = e
	c.weight += e.weight()
	for _, o := range orgs {
		users := c.byOrg[o]
		if users == nil {
			users = make(map[string]struct{})
			c.byOrg[o] = users
		}
		users[userID] = struct{}{}
	}
}

// shed makes room: expired entries go first; when that leaves less than an eighth
// free, entries go in the map's random order until an eighth is.
func (c *usableCache) shed() {
	now := c.now()
	for u, e := range c.byUser {
		if !now.Before(e.expires) {
			c.drop(u)
		}
	}
	for u := range c.byUser {
		if c.weight <= c.max-c.max/8 {
			break
		}
		c.drop(u)
	}
}

func (c *usableCache) drop(userID string) {
	e, ok := c.byUser[userID]
	if !ok {
		return
	}
	delete(c.byUser, userID)
	c.weight -= e.weight()
	for _, o := range e.orgs {
		if users := c.byOrg[o]; users != nil {
			delete(users, userID)
			if len(users) == 0 {
				delete(c.byOrg, o)
			}
		}
	}
}

// evictUsers forgets the entries of these people.
func (c *usableCache) evictUsers(ids ...string) {
	if c == nil {
		return
	}
	tags := make([]string, len(ids))
	for i, id := range ids {
		tags[i] = userTag(id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ev.evict(tags...)
	for _, id := range ids {
		c.drop(id)
	}
}

// evictOrgs forgets the entries of every member of these organizations.
func (c *usableCache) evictOrgs(ids ...string) {
	if c == nil {
		return
	}
	tags := make([]string, len(ids))
	for i, id := range ids {
		tags[i] = orgTag(id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ev.evict(tags...)
	for _, id := range ids {
		for u := range c.byOrg[id] {
			c.drop(u)
		}
	}
}

// reset is ttlCache's.
func (c *usableCache) reset(sw cacheSwitch) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ev.reset(sw)
	clear(c.byUser)
	clear(c.byOrg)
	c.weight = 0
}
