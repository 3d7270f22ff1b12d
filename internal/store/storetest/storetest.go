// Package storetest is the conformance suite every store.Store implementation runs:
// sqlstore on SQLite always, and on PostgreSQL whenever VCSAUTH_TEST_POSTGRES_URL is
// set. Each test gets a fresh, empty, migrated store from the Opener.
package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Opener returns a fresh, empty, migrated store that lives as long as t.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	t.Run("Identity", func(t *testing.T) { runIdentity(t, open) })
	t.Run("Upstream", func(t *testing.T) { runUpstream(t, open) })
	t.Run("Downstream", func(t *testing.T) { runDownstream(t, open) })
}

// each runs every named test in its own subtest with its own store, in parallel.
func each(t *testing.T, open Opener, tests map[string]func(t *testing.T, s store.Store)) {
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

// now is a fixed instant with microsecond precision (what the store keeps), so
// round-tripped times compare equal.
var now = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

var seq atomic.Int64

// uniq returns a name unique within the test binary.
func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, seq.Add(1)) }

func ctx(t *testing.T) context.Context { return t.Context() }

// NewUser stores a user with a unique name and returns it.
func NewUser(t *testing.T, s store.Store) core.User {
	t.Helper()
	name := uniq("user")
	u := core.User{ID: "user-" + name, Username: name, Email: name + "@example.com",
		PasswordHash: "$argon2id$fake", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx(t), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// NewOrg stores an organization with a unique name and returns it.
func NewOrg(t *testing.T, s store.Store) core.Organization {
	t.Helper()
	name := uniq("org")
	o := core.Organization{ID: "org-" + name, Name: name, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrg(ctx(t), o); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	return o
}

// NewProject stores a project in org and returns it.
func NewProject(t *testing.T, s store.Store, orgID string) core.Project {
	t.Helper()
	name := uniq("prj")
	p := core.Project{ID: "prj-" + name, OrgID: orgID, Name: name, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateProject(ctx(t), p); err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	return p
}
