// Package codertest runs a whole vcsauth for the Coder dialect's tests — store,
// identity, upstream engine, web site, api/native and api/coder behind the shared
// middleware, wired as `vcsauth serve` wires them — on an httptest server, with
// nativetest's organization, people and helpers (Client, Link, Token, Tokens …).
package codertest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/api/coder"
	"github.com/vcsauth/vcsauth/internal/api/native"
	"github.com/vcsauth/vcsauth/internal/api/native/nativetest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/server"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
	"github.com/vcsauth/vcsauth/internal/web"
)

// Options configure Start.
type Options struct {
	Dialect string           // "sqlite" (default) or "postgres"
	Now     func() time.Time // the clock (a fake provider's, usually)
	Engine  connect.Options  // ExternalURL and Now are filled in
	Coder   coder.Options
}

// Server is a running vcsauth. Its nativetest.Server fields and helpers describe
// it: URL is this server, Admin administers Org, Alice and Bob are members,
// Outsider belongs to another organization; closing Draining makes long polls
// answer at once, as a server shutting down does.
type Server struct {
	*nativetest.Server
}

// Start runs a vcsauth until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Dialect == "" {
		o.Dialect = "sqlite"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	st, err := sqlstore.Open(context.Background(), storetest.FreshURL(t, o.Dialect), sqlstore.Options{Migrate: true, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &nativetest.Server{Store: st, Draining: make(chan struct{})}
	var root atomic.Value
	root.Store(http.Handler(http.NotFoundHandler()))
	s.HTTP = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		root.Load().(http.Handler).ServeHTTP(w, r)
	}))
	s.HTTP.Config.BaseContext = func(net.Listener) context.Context {
		return httpx.WithDraining(context.Background(), s.Draining)
	}
	s.HTTP.Start()
	t.Cleanup(s.HTTP.Close)
	s.URL = s.HTTP.URL

	s.Identity = identity.New(st, nativetest.Keys, identity.Options{Now: o.Now})
	eo := o.Engine
	eo.ExternalURL, eo.Now = s.URL, o.Now
	if eo.RefreshJitter == 0 {
		eo.RefreshJitter = -1
	}
	if s.Engine, err = connect.New(st, nativetest.Keys, s.Identity, eo); err != nil {
		t.Fatal(err)
	}
	if s.Site, err = web.New(web.Options{Identity: s.Identity, ExternalURL: s.URL}); err != nil {
		t.Fatal(err)
	}
	auth := httpx.Authenticate(s.Identity)
	mux := http.NewServeMux()
	s.Site.Register(mux)
	native.Register(mux, s.Engine, auth, native.Options{Site: s.Site})
	coder.Register(mux, s.Engine, auth, o.Coder)
	root.Store(server.Handler(mux, server.HandlerOptions{}))

	seed(t, s, o.Now().UTC().Truncate(time.Microsecond))
	return &Server{Server: s}
}

// seed makes nativetest's tenants: organization acme (Admin an admin, Alice and Bob
// members, project prj-web) and Outsider, owner of another organization.
func seed(t testing.TB, s *nativetest.Server, now time.Time) {
	t.Helper()
	ctx := context.Background()
	mkUser := func(name string) core.Principal {
		u := core.User{ID: "user-" + name, Username: name, PasswordHash: "$argon2id$unused", CreatedAt: now, UpdatedAt: now}
		if err := s.Store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return core.Principal{User: u, Method: core.AuthToken, Scopes: []string{core.ScopeAPI}}
	}
	mkOrg := func(name string) core.Organization {
		org := core.Organization{ID: "org-" + name, Name: name, CreatedAt: now, UpdatedAt: now}
		if err := s.Store.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
		return org
	}
	member := func(org core.Organization, p core.Principal, r core.Role) {
		if err := s.Store.PutMembership(ctx, core.Membership{OrgID: org.ID, UserID: p.User.ID, Role: r, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	s.Org = mkOrg("acme")
	other := mkOrg("other")
	s.Admin, s.Alice, s.Bob, s.Outsider = mkUser("admin"), mkUser("alice"), mkUser("bob"), mkUser("outsider")
	member(s.Org, s.Admin, core.RoleAdmin)
	member(s.Org, s.Alice, core.RoleMember)
	member(s.Org, s.Bob, core.RoleMember)
	member(other, s.Outsider, core.RoleOwner)
	s.Project = core.Project{ID: "prj-web", OrgID: s.Org.ID, Name: "web", CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateProject(ctx, s.Project); err != nil {
		t.Fatal(err)
	}
}
