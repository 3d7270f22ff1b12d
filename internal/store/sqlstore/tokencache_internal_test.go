package sqlstore

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

func cacheKey(i int) []byte {
	h := sha256.Sum256(fmt.Append(nil, i))
	return h[:]
}

// An answer read before an eviction is not stored after it.
func TestTokenCachePutAfterEviction(t *testing.T) {
	c := newTokenCache(time.Minute, 0, nil)
	tok := core.Token{ID: 7, Kind: core.TokenPersonal}
	_, _, gen, ok := c.get(cacheKey(1))
	if ok {
		t.Fatal("hit in an empty cache")
	}
	c.evictTokens(99) // any eviction, even of another token
	c.put(cacheKey(1), gen, tok, core.User{})
	if _, _, _, ok := c.get(cacheKey(1)); ok {
		t.Fatal("an answer older than an eviction was cached")
	}
	_, _, gen, _ = c.get(cacheKey(1))
	c.put(cacheKey(1), gen, tok, core.User{})
	if _, _, _, ok := c.get(cacheKey(1)); !ok {
		t.Fatal("not cached")
	}
}

// The cache holds at most its size, and expired entries go first.
func TestTokenCacheSize(t *testing.T) {
	now := time.Unix(1e9, 0)
	c := newTokenCache(time.Second, 64, func() time.Time { return now })
	for i := range 1000 {
		_, _, gen, _ := c.get(cacheKey(i))
		c.put(cacheKey(i), gen, core.Token{ID: int64(i), Kind: core.TokenAccess}, core.User{})
		if len(c.byHash) > 64 || len(c.byID) != len(c.byHash) {
			t.Fatalf("after %d puts: %d entries, %d ids", i+1, len(c.byHash), len(c.byID))
		}
	}
	if _, _, _, ok := c.get(cacheKey(999)); !ok {
		t.Fatal("the newest entry is missing")
	}
	now = now.Add(time.Second)
	if _, _, _, ok := c.get(cacheKey(999)); ok {
		t.Fatal("an entry outlived the TTL")
	}
	_, _, gen, _ := c.get(cacheKey(5000))
	c.put(cacheKey(5000), gen, core.Token{ID: 5000, Kind: core.TokenAccess}, core.User{})
	if len(c.byHash) != 1 {
		t.Fatalf("%d entries after the others expired", len(c.byHash))
	}
}

func TestTokenCacheOff(t *testing.T) {
	if c := newTokenCache(0, 0, nil); c != nil {
		t.Fatal("a zero TTL made a cache")
	}
	var c *tokenCache
	c.evictAll() // nil-safe: the store calls these whether or not it caches
	c.evictUser("u")
	c.evictTokens(1)
}
