package sqlstore

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

func cacheKey(i int) tokenKey { return sha256.Sum256(fmt.Append(nil, i)) }

func entry(id int64) cachedToken { return cachedToken{t: core.Token{ID: id, Kind: core.TokenPersonal}} }

// An answer read before an eviction of its row, or of what it depends on, is not
// stored after it; evictions of other rows leave it alone.
func TestCachePutAfterEviction(t *testing.T) {
	evictions := []struct {
		name    string
		evict   func(c *tokenCache)
		refuses bool
	}{
		{"another row", func(c *tokenCache) { c.evictIDs(99) }, false},
		{"another person", func(c *tokenCache) { evictUser(c, "someone else") }, false},
		{"its row", func(c *tokenCache) { c.evictIDs(7) }, true},
		{"its person", func(c *tokenCache) { evictUser(c, "u7") }, true},
		{"its application", func(c *tokenCache) { evictTokens(c, store.TokenFilter{ApplicationID: 70}) }, true},
		{"its grant and another person", func(c *tokenCache) { evictTokens(c, store.TokenFilter{UserID: "x", GrantID: 700}) }, true},
		{"everything", func(c *tokenCache) { c.reset(keepSwitch) }, true},
	}
	tok := cachedToken{t: core.Token{ID: 7, Kind: core.TokenAccess, UserID: "u7", ApplicationID: 70, GrantID: 700},
		u: core.User{ID: "u7"}}
	for _, e := range evictions {
		c := newTokenCache(time.Minute, 0, nil)
		_, gen, ok := c.get(cacheKey(1))
		if ok {
			t.Fatal("hit in an empty cache")
		}
		e.evict(c)
		c.put(cacheKey(1), gen, tok)
		if _, _, ok := c.get(cacheKey(1)); ok == e.refuses {
			t.Errorf("a read begun before evicting %s: stored %v, want %v", e.name, ok, !e.refuses)
		}
	}
	c := newTokenCache(time.Minute, 0, nil)
	_, gen, _ := c.get(cacheKey(1))
	c.put(cacheKey(1), gen, tok)
	if _, _, ok := c.get(cacheKey(1)); !ok {
		t.Fatal("not cached")
	}
	c.evictIDs(7)
	if _, _, ok := c.get(cacheKey(1)); ok {
		t.Fatal("evicted by id, still there")
	}
}

// The record of evictions is bounded: past maxTombs tags it is dropped, and every
// read begun before is refused.
func TestEvictionsBounded(t *testing.T) {
	var e evictions
	e.all()
	gen := e.gen
	for i := range maxTombs + 10 {
		e.evict(fmt.Sprint("tag", i))
		if len(e.tombs) > maxTombs {
			t.Fatalf("%d tombs", len(e.tombs))
		}
	}
	if !e.stale(gen, []string{"unrelated"}) {
		t.Fatal("a read begun before the record was dropped is not refused")
	}
	if e.stale(e.gen, []string{"tag1"}) {
		t.Fatal("a read begun after every eviction is refused")
	}
}

// The credential cache: evicting an organization evicts its members' entries and
// refuses their reads begun before; another organization's eviction does not.
func TestUsableCacheEvictions(t *testing.T) {
	c := newUsableCache(time.Minute, 0, nil)
	fill := func(user string, orgs ...string) uint64 {
		_, gen, _ := c.get(user)
		c.put(user, gen, []store.UsableConnection{{Slug: user}}, orgs)
		return gen
	}
	cached := func(user string) bool { _, _, ok := c.get(user); return ok }
	fill("u1", "o1", "o2")
	fill("u2", "o2")
	fill("u3", "o3")
	c.evictOrgs("o2")
	if cached("u1") || cached("u2") || !cached("u3") {
		t.Fatalf("after evicting o2: u1 %v, u2 %v, u3 %v; want false, false, true", cached("u1"), cached("u2"), cached("u3"))
	}
	if len(c.byOrg["o2"]) != 0 || len(c.byOrg["o1"]) != 0 {
		t.Fatalf("the organization index keeps evicted people: %v", c.byOrg)
	}
	_, gen, _ := c.get("u4")
	c.evictOrgs("o9")
	c.put("u4", gen, nil, []string{"o4"})
	if !cached("u4") {
		t.Fatal("another organization's eviction refused the answer")
	}
	_, gen, _ = c.get("u5")
	c.evictOrgs("o5")
	c.put("u5", gen, nil, []string{"o5"})
	if cached("u5") {
		t.Fatal("a read begun before its organization's eviction was stored")
	}
	_, gen, _ = c.get("u6")
	c.evictUsers("u6")
	c.put("u6", gen, nil, nil)
	if cached("u6") {
		t.Fatal("a read begun before the person's eviction was stored")
	}
	c.reset(switchOff)
	fill("u7")
	if cached("u7") || cached("u3") {
		t.Fatal("a suspended cache answered")
	}
	c.reset(switchOn)
	fill("u7")
	if !cached("u7") {
		t.Fatal("not caching after resume")
	}
}

// The cache holds at most its size, and expired entries go first.
func TestCacheSize(t *testing.T) {
	now := time.Unix(1e9, 0)
	c := newTokenCache(time.Second, 64, func() time.Time { return now })
	for i := range 1000 {
		_, gen, _ := c.get(cacheKey(i))
		c.put(cacheKey(i), gen, entry(int64(i)))
		if len(c.byKey) > 64 || len(c.byID) != len(c.byKey) {
			t.Fatalf("after %d puts: %d entries, %d ids", i+1, len(c.byKey), len(c.byID))
		}
	}
	if _, _, ok := c.get(cacheKey(999)); !ok {
		t.Fatal("the newest entry is missing")
	}
	now = now.Add(time.Second)
	if _, _, ok := c.get(cacheKey(999)); ok {
		t.Fatal("an entry outlived the TTL")
	}
	_, gen, _ := c.get(cacheKey(5000))
	c.put(cacheKey(5000), gen, entry(5000))
	if len(c.byKey) != 1 {
		t.Fatalf("%d entries after the others expired", len(c.byKey))
	}
}

func TestCacheOff(t *testing.T) {
	c := newTokenCache(0, 0, nil)
	if c != nil {
		t.Fatal("a zero TTL made a cache")
	}
	// nil-safe: the store calls these whether or not it caches
	c.put(cacheKey(1), 0, entry(1))
	if _, _, ok := c.get(cacheKey(1)); ok {
		t.Fatal("a nil cache answered")
	}
	c.reset(keepSwitch)
	evictUser(c, "u")
	c.evictIDs(1)
}

// Revoking by filter evicts the tokens the filter names and keeps the others.
func TestEvictTokensByFilter(t *testing.T) {
	c := newTokenCache(time.Minute, 0, nil)
	put := func(i int, tok core.Token) {
		_, gen, _ := c.get(cacheKey(i))
		c.put(cacheKey(i), gen, cachedToken{t: tok})
	}
	put(1, core.Token{ID: 1, Kind: core.TokenAccess, UserID: "u1", ApplicationID: 7, GrantID: 70, FamilyID: "f1"})
	put(2, core.Token{ID: 2, Kind: core.TokenAccess, UserID: "u1", ApplicationID: 8, GrantID: 80, FamilyID: "f2"})
	put(3, core.Token{ID: 3, Kind: core.TokenPersonal, UserID: "u2"})
	evictTokens(c, store.TokenFilter{UserID: "u1", ApplicationID: 7})
	for i, want := range map[int]bool{1: false, 2: true, 3: true} {
		if _, _, ok := c.get(cacheKey(i)); ok != want {
			t.Errorf("token %d cached: %v, want %v", i, ok, want)
		}
	}
	evictTokens(c, store.TokenFilter{GrantID: 80})
	if _, _, ok := c.get(cacheKey(2)); ok {
		t.Error("token of the deleted grant still cached")
	}
	if _, _, ok := c.get(cacheKey(3)); !ok {
		t.Error("another person's token was evicted")
	}
}

// The credential cache is bounded by the connections it holds.
func TestUsableCacheWeight(t *testing.T) {
	c := newUsableCache(time.Minute, 64, nil)
	conns := func(n int) []store.UsableConnection { return make([]store.UsableConnection, n) }
	for i := range 100 {
		u := fmt.Sprint("u", i)
		_, gen, _ := c.get(u)
		c.put(u, gen, conns(1+i%8), []string{"o"})
		if c.weight > 64 {
			t.Fatalf("after %d puts: %d connections held, at most 64", i+1, c.weight)
		}
		sum := 0
		for _, e := range c.byUser {
			sum += e.weight()
		}
		if sum != c.weight {
			t.Fatalf("weight %d, entries hold %d", c.weight, sum)
		}
	}
	if _, _, ok := c.get("u99"); !ok {
		t.Fatal("the newest entry is missing")
	}
	_, gen, _ := c.get("big")
	c.put("big", gen, conns(9), nil) // more than an eighth of 64
	if _, _, ok := c.get("big"); ok {
		t.Fatal("an entry of more than an eighth of the cache was stored")
	}
}
