package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
)

// On PostgreSQL a change made through another replica reaches a caching store by
// notification (notify.go), long before the TTL: these tests keep the caching
// store's clock still, so only a notification can make it read the database again.

// eventually polls cond until it holds or 10 s pass, and returns how long it took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: not seen in 10s with the clock standing still: no notification arrived", what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// notifiedReplicas opens a caching store a, listening, and a store b whose changes
// notify (a replica, or an admin command).
func notifiedReplicas(t *testing.T) (a, b *sqlstore.Store) {
	t.Helper()
	postgresURL(t)
	u := freshURL(t, "postgres")
	a = openCaching(t, u, &manualClock{t: time.Now()})
	return a, openURL(t, u, sqlstore.Options{})
}

func TestCacheNotifiedAcrossReplicas(t *testing.T) {
	t.Parallel()
	a, b := notifiedReplicas(t)
	ctx := context.Background()
	var slowest time.Duration
	seen := func(what string, cond func() bool) {
		t.Helper()
		if d := eventually(t, what, cond); d > slowest {
			slowest = d
		}
	}

	t.Run("token revoked", func(t *testing.T) {
		u := storetest.NewUser(t, b)
		tok := newToken(t, b, u.ID, core.TokenPersonal, nil)
		mustLookup(t, a, tok)
		revoke(t, b, tok.ID)
		seen("revocation", func() bool { got, _ := mustLookup(t, a, tok); return !got.RevokedAt.IsZero() })
	})
	t.Run("user deleted", func(t *testing.T) {
		u := storetest.NewUser(t, b)
		tok := newToken(t, b, u.ID, core.TokenPersonal, nil)
		mustLookup(t, a, tok)
		if err := b.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		seen("user deletion", func() bool { _, _, err := lookup(t, a, tok); return errors.Is(err, core.ErrNotFound) })
	})
	t.Run("client secret renewed", func(t *testing.T) {
		app := core.Application{ClientID: "notify-app", Name: "notify", RedirectURIs: []string{"http://127.0.0.1/cb"},
			Scopes: []string{core.ScopeAPI}, Confidential: true, SecretHash: []byte("old"), CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := b.CreateApplication(ctx, &app); err != nil {
			t.Fatal(err)
		}
		secretOf := func() string {
			got, err := a.ApplicationByClientID(ctx, app.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			return string(got.SecretHash)
		}
		secretOf()
		if _, err := b.UpdateApplication(ctx, app.ID, func(x core.Application) (core.Application, error) {
			x.SecretHash = []byte("new")
			return x, nil
		}); err != nil {
			t.Fatal(err)
		}
		seen("renewed secret", func() bool { return secretOf() == "new" })
	})
	for _, c := range usableChanges() {
		t.Run("credentials: "+c.name, func(t *testing.T) {
			w := newUsableWorld(t, b)
			usable(t, a, w.u.ID)
			c.do(t, b, w)
			seen(c.name, func() bool {
				got := usable(t, a, w.u.ID)
				return slices.Equal(usableIDs(t, a, w.u.ID), c.want(w)) && (c.check == nil || c.check(got, w) == "")
			})
		})
	}
	t.Logf("slowest change to reach the other replica: %v", slowest)
}

// TestCacheSuspendedWithoutListener: while the listening connection is down the
// caches answer nothing from memory, so a change whose notification was lost is
// seen at once; once listening again, they cache again.
func TestCacheSuspendedWithoutListener(t *testing.T) {
	t.Parallel()
	postgresURL(t)
	u := freshURL(t, "postgres")
	clk := &manualClock{t: time.Now()}
	a := openCaching(t, u, clk)
	silent := openURL(t, u+"&session_replication_role=replica", sqlstore.Options{})
	ctx := context.Background()
	w := newUsableWorld(t, a)
	usable(t, a, w.u.ID)

	_, pid := sqlstore.Listening(a)
	if _, err := silent.DB().ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	waitListening(t, a, false)
	if err := silent.DeleteConnection(ctx, w.shared.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := usableIDs(t, a, w.u.ID), sorted(w.own.ID, w.prjConn.ID); !slices.Equal(got, want) {
		t.Fatalf("listener down, a change without notification: %v, want %v (answered from memory)", got, want)
	}

	waitListening(t, a, true)
	before := usableIDs(t, a, w.u.ID) // cached again
	if err := silent.DeleteConnection(ctx, w.prjConn.ID); err != nil {
		t.Fatal(err)
	}
	if got := usableIDs(t, a, w.u.ID); !slices.Equal(got, before) {
		t.Fatalf("listening again, the cache is not in use: %v, want %v from memory", got, before)
	}
	clk.advance(cacheTTL)
	if got, want := usableIDs(t, a, w.u.ID), []string{w.own.ID}; !slices.Equal(got, want) {
		t.Fatalf("after the TTL: %v, want %v", got, want)
	}
}
