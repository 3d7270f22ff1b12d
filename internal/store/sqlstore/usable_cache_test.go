package sqlstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
)

// usableWorld is a person in two organizations, with a connection of their own
// in org, an organization-owned one there and a project one, and org2 with a
// connection the person does not see until they join it.
type usableWorld struct {
	u              core.User
	org, org2      core.Organization
	prj            core.Project
	oc, oc2        core.OAuthClient
	own, shared    core.Connection
	prjConn, other core.Connection
}

func newUsableWorld(t *testing.T, s store.Store) usableWorld {
	t.Helper()
	var w usableWorld
	w.u = storetest.NewUser(t, s)
	w.org, w.org2 = storetest.NewOrg(t, s), storetest.NewOrg(t, s)
	member(t, s, w.org.ID, w.u.ID)
	w.prj = storetest.NewProject(t, s, w.org.ID)
	w.oc = storetest.NewOAuthClient(t, s, w.org.ID, nil)
	w.oc2 = storetest.NewOAuthClient(t, s, w.org2.ID, nil)
	w.own = storetest.NewConnection(t, s, w.oc, w.u.ID, func(c *core.Connection) { c.OwnerKind = core.OwnerUser })
	w.shared = storetest.NewConnection(t, s, w.oc, w.u.ID, nil)
	w.prjConn = storetest.NewConnection(t, s, w.oc, w.u.ID, func(c *core.Connection) {
		c.OwnerKind, c.OwnerProjectID, c.Name = core.OwnerProject, w.prj.ID, "deploy"
	})
	w.other = storetest.NewConnection(t, s, w.oc2, w.u.ID, nil)
	return w
}

func member(t *testing.T, s store.Store, orgID, userID string) {
	t.Helper()
	if err := s.PutMembership(context.Background(), core.Membership{OrgID: orgID, UserID: userID,
		Role: core.RoleMember, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func usable(t *testing.T, s store.Store, userID string) []store.UsableConnection {
	t.Helper()
	got, err := s.UsableConnections(context.Background(), userID)
	if err != nil {
		t.Fatalf("UsableConnections: %v", err)
	}
	return got
}

func usableIDs(t *testing.T, s store.Store, userID string) []string {
	t.Helper()
	var ids []string
	for _, c := range usable(t, s, userID) {
		ids = append(ids, c.Connection.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// usableChanges are the changes that alter what a person may use, each with what
// the person may use after it.
func usableChanges() []struct {
	name string
	do   func(t *testing.T, s store.Store, w usableWorld)
	want func(w usableWorld) []string
	// check, when set, inspects the answer further: what is wrong with it, or "".
	check func(got []store.UsableConnection, w usableWorld) string
} {
	ctx := context.Background()
	all := func(w usableWorld) []string { return sorted(w.own.ID, w.shared.ID, w.prjConn.ID) }
	type change = struct {
		name  string
		do    func(t *testing.T, s store.Store, w usableWorld)
		want  func(w usableWorld) []string
		check func(got []store.UsableConnection, w usableWorld) string
	}
	return []change{
		{name: "CreateConnection", do: func(t *testing.T, s store.Store, w usableWorld) {
			storetest.NewConnection(t, s, w.oc, w.u.ID, func(c *core.Connection) { c.ID = "new-" + w.u.ID })
		}, want: func(w usableWorld) []string { return sorted(append(all(w), "new-"+w.u.ID)...) }},
		{name: "UpdateConnection", do: func(t *testing.T, s store.Store, w usableWorld) {
			if _, err := s.UpdateConnection(ctx, w.shared.ID, func(c core.Connection) (core.Connection, error) {
				c.AccessToken = "k1.cmVmcmVzaGVk"
				return c, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, want: all, check: func(got []store.UsableConnection, w usableWorld) string {
			for _, c := range got {
				if c.Connection.ID == w.shared.ID && c.Connection.AccessToken != "k1.cmVmcmVzaGVk" {
					return fmt.Sprintf("the old access token after a refresh: %q", c.Connection.AccessToken)
				}
			}
			return ""
		}},
		{name: "DeleteConnection", do: func(t *testing.T, s store.Store, w usableWorld) {
			if err := s.DeleteConnection(ctx, w.shared.ID); err != nil {
				t.Fatal(err)
			}
		}, want: func(w usableWorld) []string { return sorted(w.own.ID, w.prjConn.ID) }},
		{name: "PutMembership", do: func(t *testing.T, s store.Store, w usableWorld) { member(t, s, w.org2.ID, w.u.ID) },
			want: func(w usableWorld) []string { return sorted(append(all(w), w.other.ID)...) }},
		{name: "DeleteMembership", do: func(t *testing.T, s store.Store, w usableWorld) {
			if err := s.DeleteMembership(ctx, w.org.ID, w.u.ID); err != nil {
				t.Fatal(err)
			}
		}, want: func(usableWorld) []string { return nil }},
		{name: "UpdateOAuthClient", do: func(t *testing.T, s store.Store, w usableWorld) {
			if _, err := s.UpdateOAuthClient(ctx, w.oc.ID, func(c core.OAuthClient) (core.OAuthClient, error) {
				c.HTTPURL = "https://github.example"
				return c, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, want: all, check: func(got []store.UsableConnection, _ usableWorld) string {
			for _, c := range got {
				if c.HTTPURL != "https://github.example" {
					return fmt.Sprintf("the client's old URL: %q", c.HTTPURL)
				}
			}
			return ""
		}},
		{name: "DeleteOAuthClient", do: func(t *testing.T, s store.Store, w usableWorld) {
			if err := s.DeleteOAuthClient(ctx, w.oc.ID); err != nil {
				t.Fatal(err)
			}
		}, want: func(usableWorld) []string { return nil }},
		{name: "DeleteProject", do: func(t *testing.T, s store.Store, w usableWorld) {
			if err := s.DeleteProject(ctx, w.prj.ID); err != nil {
				t.Fatal(err)
			}
		}, want: func(w usableWorld) []string { return sorted(w.own.ID, w.shared.ID) }},
		{name: "DeleteOrg", do: func(t *testing.T, s store.Store, w usableWorld) {
			if err := s.DeleteOrg(ctx, w.org.ID); err != nil {
				t.Fatal(err)
			}
		}, want: func(usableWorld) []string { return nil }},
		{name: "DeleteUser", do: func(t *testing.T, s store.Store, w usableWorld) {
			if err := s.DeleteUser(ctx, w.u.ID); err != nil {
				t.Fatal(err)
			}
		}, want: func(usableWorld) []string { return nil }},
	}
}

// TestUsableCacheLocalChanges: every change made through the caching store is seen
// by its next credential lookup, with the clock standing still.
func TestUsableCacheLocalChanges(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		a, _, _ := replicas(t, dialect)
		for _, c := range usableChanges() {
			t.Run(c.name, func(t *testing.T) {
				w := newUsableWorld(t, a)
				if got := usableIDs(t, a, w.u.ID); !slices.Equal(got, sorted(w.own.ID, w.shared.ID, w.prjConn.ID)) {
					t.Fatalf("before: %v", got)
				}
				c.do(t, a, w)
				got := usable(t, a, w.u.ID)
				if ids := usableIDs(t, a, w.u.ID); !slices.Equal(ids, c.want(w)) {
					t.Fatalf("after %s: %v, want %v", c.name, ids, c.want(w))
				}
				if c.check != nil {
					if msg := c.check(got, w); msg != "" {
						t.Error(msg)
					}
				}
			})
		}
	})
}

// TestUsableCacheBound: a change another process makes without notifying is not
// seen before the TTL (the answer comes from memory) and is seen at it.
func TestUsableCacheBound(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		a, b, clk := replicas(t, dialect)
		w := newUsableWorld(t, b) // through b: no notification of it may reach a later
		before := usableIDs(t, a, w.u.ID)
		if err := b.DeleteConnection(context.Background(), w.shared.ID); err != nil {
			t.Fatal(err)
		}
		clk.advance(cacheTTL - time.Millisecond)
		if got := usableIDs(t, a, w.u.ID); !slices.Equal(got, before) {
			t.Fatalf("a read the database before the TTL (%v): the cache is not in use", got)
		}
		clk.advance(time.Millisecond)
		if got, want := usableIDs(t, a, w.u.ID), sorted(w.own.ID, w.prjConn.ID); !slices.Equal(got, want) {
			t.Fatalf("after the TTL: %v, want %v", got, want)
		}
	})
}

// TestUsableCacheOff: with CacheTTL 0 every lookup reads the database.
func TestUsableCacheOff(t *testing.T) {
	u := freshURL(t, "sqlite")
	a := openURL(t, u, sqlstore.Options{Migrate: true})
	b := openURL(t, u, sqlstore.Options{})
	w := newUsableWorld(t, a)
	usable(t, a, w.u.ID)
	if err := b.DeleteConnection(context.Background(), w.shared.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := usableIDs(t, a, w.u.ID), sorted(w.own.ID, w.prjConn.ID); !slices.Equal(got, want) {
		t.Fatalf("with the caches off: %v, want %v", got, want)
	}
}
