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

// An answer read before an eviction is not stored after it.
func TestCachePutAfterEviction(t *testing.T) {
	c := newTokenCache(time.Minute, 0, nil)
	_, gen, ok := c.get(cacheKey(1))
	if ok {
		t.Fatal("hit in an empty cache")
	}
	c.evictIDs(99) // any eviction, even of another row
	c.put(cacheKey(1), gen, entry(7))
	if _, _, ok := c.get(cacheKey(1)); ok {
		t.Fatal("an answer older than an eviction was cached")
	}
	_, gen, _ = c.get(cacheKey(1))
	c.put(cacheKey(1), gen, entry(7))
	if _, _, ok := c.get(cacheKey(1)); !ok {
		t.Fatal("not cached")
	}
	c.evictIDs(7)
	if _, _, ok := c.get(cacheKey(1)); ok {
		t.Fatal("evicted by id, still there")
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
	c.evictAll()
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
