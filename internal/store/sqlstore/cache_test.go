package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
)

// The caches' contract: a change made through a store is seen by that store's next
// read; a change made through another store on the same database (a replica, an
// admin command) is seen once the cached answer is CacheTTL old, and on PostgreSQL
// as soon as its notification arrives (notify_test.go). The tests here hold the TTL
// bound, so their other store's changes send no notifications.

const cacheTTL = time.Second

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// replicas opens two stores on one fresh database: a caches on clk's time (on
// PostgreSQL, from when it listens for notifications), b does not cache. On
// PostgreSQL b's changes send no notifications (session_replication_role=replica
// turns triggers off, foreign keys' included): they are the changes a's
// notifications miss, which the TTL bounds.
func replicas(t *testing.T, dialect string) (a, b *sqlstore.Store, clk *manualClock) {
	t.Helper()
	u := freshURL(t, dialect)
	clk = &manualClock{t: time.Now()}
	a = openCaching(t, u, clk)
	if dialect == "postgres" {
		u += "&session_replication_role=replica"
	}
	b = openURL(t, u, sqlstore.Options{})
	return a, b, clk
}

// openCaching opens a store that caches on clk's time and, on PostgreSQL, waits
// until it listens for notifications: before that its caches are suspended.
func openCaching(t *testing.T, u string, clk *manualClock) *sqlstore.Store {
	t.Helper()
	s := openURL(t, u, sqlstore.Options{Migrate: true, CacheTTL: cacheTTL, Now: clk.now})
	if s.Dialect() == "postgres" {
		waitListening(t, s, true)
	}
	return s
}

// waitListening waits until s listens for notifications, or stops.
func waitListening(t *testing.T, s *sqlstore.Store, want bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if up, _ := sqlstore.Listening(s); up == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store's listener did not reach listening=%v in 10s", want)
		}
	}
}

var tokenSeq atomic.Int64

func newToken(t *testing.T, s store.Store, userID string, kind core.TokenKind, mod func(*core.Token)) core.Token {
	t.Helper()
	h := sha256.Sum256(fmt.Appendf(nil, "cache-token-%d-%d", time.Now().UnixNano(), tokenSeq.Add(1)))
	now := time.Now().UTC().Truncate(time.Microsecond)
	tok := core.Token{Kind: kind, Hash: h[:], LastEight: "abcd1234", UserID: userID,
		Scopes: []string{core.ScopeAPI}, CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(&tok)
	}
	if err := s.CreateToken(context.Background(), &tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return tok
}

func lookup(t *testing.T, s store.Store, tok core.Token) (core.Token, core.User, error) {
	t.Helper()
	return s.LookupToken(context.Background(), tok.Hash)
}

func mustLookup(t *testing.T, s store.Store, tok core.Token) (core.Token, core.User) {
	t.Helper()
	got, u, err := lookup(t, s, tok)
	if err != nil {
		t.Fatalf("LookupToken: %v", err)
	}
	return got, u
}

func revoke(t *testing.T, s store.Store, id int64) {
	t.Helper()
	if _, err := s.UpdateToken(context.Background(), id, func(x core.Token) (core.Token, error) {
		x.RevokedAt = time.Now()
		return x, nil
	}); err != nil {
		t.Fatalf("UpdateToken: %v", err)
	}
}

func eachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			if d == "postgres" {
				postgresURL(t)
			}
			fn(t, d)
		})
	}
}

// TestTokenCacheBoundAcrossReplicas: a revocation through another replica is not
// seen before the TTL (the cache answers, the database is not read) and is seen at it.
func TestTokenCacheBoundAcrossReplicas(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		a, b, clk := replicas(t, dialect)
		u := storetest.NewUser(t, b)
		tok := newToken(t, b, u.ID, core.TokenPersonal, nil)
		mustLookup(t, a, tok)

		revoke(t, b, tok.ID)
		clk.advance(cacheTTL - time.Millisecond)
		if got, _ := mustLookup(t, a, tok); !got.RevokedAt.IsZero() {
			t.Fatal("a read the database before the TTL: the cache is not in use")
		}
		clk.advance(time.Millisecond)
		if got, _ := mustLookup(t, a, tok); got.RevokedAt.IsZero() {
			t.Fatalf("revoked through b, still live through a after the TTL (%v)", cacheTTL)
		}

		// Deleted elsewhere: found until the TTL, gone at it.
		tok2 := newToken(t, b, u.ID, core.TokenAccess, nil)
		mustLookup(t, a, tok2)
		if err := b.DeleteToken(context.Background(), tok2.ID); err != nil {
			t.Fatal(err)
		}
		mustLookup(t, a, tok2)
		clk.advance(cacheTTL)
		if _, _, err := lookup(t, a, tok2); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("deleted through b, LookupToken through a after the TTL: %v", err)
		}
	})
}

// TestTokenCacheLocalChanges: every change made through the caching store itself is
// seen by its next lookup, with the clock standing still.
func TestTokenCacheLocalChanges(t *testing.T) {
	ctx := context.Background()
	type change struct {
		name string
		// do changes tok (made by setup) through s; gone tells whether the token
		// should have disappeared, else check inspects what the lookup returns.
		do    func(t *testing.T, s *sqlstore.Store, u core.User, tok core.Token)
		gone  bool
		check func(t *testing.T, tok core.Token, u core.User)
	}
	revoked := func(t *testing.T, tok core.Token, _ core.User) {
		if tok.RevokedAt.IsZero() {
			t.Error("still live")
		}
	}
	changes := []change{
		{name: "UpdateToken revokes", do: func(t *testing.T, s *sqlstore.Store, _ core.User, tok core.Token) { revoke(t, s, tok.ID) }, check: revoked},
		{name: "RevokeTokens by user", do: func(t *testing.T, s *sqlstore.Store, u core.User, _ core.Token) {
			if _, err := s.RevokeTokens(ctx, store.TokenFilter{UserID: u.ID}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}, check: revoked},
		{name: "RotateToken", do: func(t *testing.T, s *sqlstore.Store, u core.User, tok core.Token) {
			if err := s.RotateToken(ctx, tok.ID, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
		}, check: revoked},
		{name: "DeleteToken", do: func(t *testing.T, s *sqlstore.Store, _ core.User, tok core.Token) {
			if err := s.DeleteToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
		}, gone: true},
		{name: "UpdateUser demotes", do: func(t *testing.T, s *sqlstore.Store, u core.User, _ core.Token) {
			if _, err := s.UpdateUser(ctx, u.ID, func(x core.User) (core.User, error) { x.SiteAdmin = false; return x, nil }); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, _ core.Token, u core.User) {
			if u.SiteAdmin {
				t.Error("still a site admin")
			}
		}},
		{name: "DeleteUser", do: func(t *testing.T, s *sqlstore.Store, u core.User, _ core.Token) {
			if err := s.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
		}, gone: true},
		{name: "DeleteApplication", do: func(t *testing.T, s *sqlstore.Store, _ core.User, tok core.Token) {
			if err := s.DeleteApplication(ctx, tok.ApplicationID); err != nil {
				t.Fatal(err)
			}
		}, gone: true},
		{name: "DeleteGrant", do: func(t *testing.T, s *sqlstore.Store, _ core.User, tok core.Token) {
			if err := s.DeleteGrant(ctx, tok.GrantID); err != nil {
				t.Fatal(err)
			}
		}, gone: true},
	}
	eachDialect(t, func(t *testing.T, dialect string) {
		a, _, _ := replicas(t, dialect)
		for _, c := range changes {
			t.Run(c.name, func(t *testing.T) {
				u := storetest.NewUser(t, a)
				if _, err := a.UpdateUser(ctx, u.ID, func(x core.User) (core.User, error) { x.SiteAdmin = true; return x, nil }); err != nil {
					t.Fatal(err)
				}
				app := core.Application{ClientID: "c-" + u.ID, Name: "app " + u.ID, RedirectURIs: []string{"http://127.0.0.1/cb"},
					Scopes: []string{core.ScopeAPI}, CreatedAt: time.Now(), UpdatedAt: time.Now()}
				if err := a.CreateApplication(ctx, &app); err != nil {
					t.Fatal(err)
				}
				g, err := a.GrantFor(ctx, u.ID, app.ID, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				tok := newToken(t, a, u.ID, core.TokenAccess, func(x *core.Token) { x.ApplicationID, x.GrantID = app.ID, g.ID })
				mustLookup(t, a, tok) // cached now
				c.do(t, a, u, tok)
				got, gotUser, err := lookup(t, a, tok)
				switch {
				case c.gone:
					if !errors.Is(err, core.ErrNotFound) {
						t.Fatalf("LookupToken after %s: %+v, %v", c.name, got, err)
					}
				case err != nil:
					t.Fatalf("LookupToken after %s: %v", c.name, err)
				default:
					c.check(t, got, gotUser)
				}
			})
		}
	})
}

// TestTokenCacheSkipsRefreshTokens: a refresh token's single use is decided by the
// database, so its lookups are never answered from memory.
func TestTokenCacheSkipsRefreshTokens(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		a, b, _ := replicas(t, dialect)
		u := storetest.NewUser(t, b)
		tok := newToken(t, b, u.ID, core.TokenRefresh, nil)
		mustLookup(t, a, tok)
		if err := b.RotateToken(context.Background(), tok.ID, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := mustLookup(t, a, tok); got.RevokedAt.IsZero() {
			t.Fatal("a refresh token was answered from memory after another replica used it")
		}
	})
}

// TestTokenCacheConcurrentRevocation races lookups against a revocation through the
// same store: once RevokeTokens has returned, no lookup may see the token live, even
// one that read the database before the revocation and stores its answer after it.
func TestTokenCacheConcurrentRevocation(t *testing.T) {
	a, _, _ := replicas(t, "sqlite")
	ctx := context.Background()
	for round := range 20 {
		u := storetest.NewUser(t, a)
		tok := newToken(t, a, u.ID, core.TokenPersonal, nil)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, _, err := a.LookupToken(ctx, tok.Hash); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		time.Sleep(time.Millisecond)
		if _, err := a.RevokeTokens(ctx, store.TokenFilter{UserID: u.ID}, time.Now()); err != nil {
			t.Fatal(err)
		}
		got, _ := mustLookup(t, a, tok)
		close(stop)
		wg.Wait()
		if got.RevokedAt.IsZero() {
			t.Fatalf("round %d: live right after RevokeTokens returned", round)
		}
		if got, _ := mustLookup(t, a, tok); got.RevokedAt.IsZero() {
			t.Fatalf("round %d: a lookup racing the revocation cached the token live", round)
		}
	}
}

// TestApplicationCache: a client secret renewed through this store stops working at
// once here, through another replica within the TTL; a deleted client likewise.
func TestApplicationCache(t *testing.T) {
	ctx := context.Background()
	eachDialect(t, func(t *testing.T, dialect string) {
		a, b, clk := replicas(t, dialect)
		newApp := func(name string) core.Application {
			app := core.Application{ClientID: "cache-" + name, Name: name, RedirectURIs: []string{"http://127.0.0.1/cb"},
				Scopes: []string{core.ScopeAPI}, Confidential: true, SecretHash: []byte("old-secret-hash"),
				CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := b.CreateApplication(ctx, &app); err != nil {
				t.Fatal(err)
			}
			return app
		}
		renew := func(s store.Store, id int64) {
			if _, err := s.UpdateApplication(ctx, id, func(x core.Application) (core.Application, error) {
				x.SecretHash = []byte("new-secret-hash")
				return x, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		secret := func(app core.Application) string {
			got, err := a.ApplicationByClientID(ctx, app.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			return string(got.SecretHash)
		}

		local := newApp("local")
		secret(local)
		renew(a, local.ID)
		if s := secret(local); s != "new-secret-hash" {
			t.Fatalf("renewed through a, a still answers the old secret (%q)", s)
		}
		if err := a.DeleteApplication(ctx, local.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ApplicationByClientID(ctx, local.ClientID); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("deleted through a, a still finds it: %v", err)
		}

		remote := newApp("remote")
		secret(remote)
		renew(b, remote.ID)
		if s := secret(remote); s != "old-secret-hash" {
			t.Fatalf("a read the database before the TTL (%q): the cache is not in use", s)
		}
		clk.advance(cacheTTL)
		if s := secret(remote); s != "new-secret-hash" {
			t.Fatalf("renewed through b, a answers the old secret after the TTL (%q)", s)
		}
	})
}
