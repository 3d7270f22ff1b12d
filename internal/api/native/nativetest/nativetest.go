// Package nativetest runs a whole vcsauth for tests — store, identity, upstream
// engine, web site and the native routes behind the shared middleware — on an
// httptest server, with an organization and people in it, and helpers to register a
// forgetest fake as an OAuth client and link accounts through it.
package nativetest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/api/native"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
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
}

// Server is a running vcsauth.
type Server struct {
	URL      string
	HTTP     *httptest.Server
	Store    *sqlstore.Store
	Identity *identity.Service
	Engine   *connect.Engine
	Site     *web.Site
	Org      core.Organization
	Project  core.Project
	// Admin administers Org; Alice and Bob are members; Outsider is not.
	Admin, Alice, Bob, Outsider core.Principal
	// Draining, when closed, tells long polls the server is shutting down.
	Draining chan struct{}
}

// Keys is the keyring of every test server.
var Keys = func() *secret.Keyring {
	kr, err := secret.ParseKeys("k1:"+strings.Repeat("C", 43)+"=", nil)
	if err != nil {
		panic(err)
	}
	return kr
}()

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
	s := &Server{Store: st, Draining: make(chan struct{})}
	var handler http.Handler = http.NotFoundHandler()
	s.HTTP = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	s.HTTP.Config.BaseContext = func(net.Listener) context.Context {
		return httpx.WithDraining(context.Background(), s.Draining)
	}
	s.HTTP.Start()
	t.Cleanup(s.HTTP.Close)
	s.URL = s.HTTP.URL

	s.Identity = identity.New(st, Keys, identity.Options{Now: o.Now})
	eo := o.Engine
	eo.ExternalURL, eo.Now = s.URL, o.Now
	if eo.RefreshJitter == 0 {
		eo.RefreshJitter = -1
	}
	if s.Engine, err = connect.New(st, Keys, s.Identity, eo); err != nil {
		t.Fatal(err)
	}
	if s.Site, err = web.New(web.Options{Identity: s.Identity, ExternalURL: s.URL}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Site.Register(mux)
	native.Register(mux, s.Engine, httpx.Authenticate(s.Identity), native.Options{Site: s.Site})
	handler = server.Handler(mux, server.HandlerOptions{})

	ctx := context.Background()
	now := o.Now().UTC().Truncate(time.Microsecond)
	mkUser := func(name string) core.Principal {
		u := core.User{ID: "user-" + name, Username: name, PasswordHash: "$argon2id$unused", CreatedAt: now, UpdatedAt: now}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return core.Principal{User: u, Method: core.AuthToken, Scopes: []string{core.ScopeAPI}}
	}
	mkOrg := func(name string) core.Organization {
		org := core.Organization{ID: "org-" + name, Name: name, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
		return org
	}
	member := func(org core.Organization, p core.Principal, r core.Role) {
		if err := st.PutMembership(ctx, core.Membership{OrgID: org.ID, UserID: p.User.ID, Role: r, CreatedAt: now}); err != nil {
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
	if err := st.CreateProject(ctx, s.Project); err != nil {
		t.Fatal(err)
	}
	return s
}

// Token issues p a personal access token with scopes (api when none).
func (s *Server) Token(t testing.TB, p core.Principal, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{core.ScopeAPI}
	}
	text, _, err := s.Identity.CreatePersonalToken(context.Background(), identity.System(), p.User.ID, identity.NewToken{Note: "test", Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// SessionCookie signs p in to the web pages.
func (s *Server) SessionCookie(t testing.TB, p core.Principal) *http.Cookie {
	t.Helper()
	text, _, err := s.Identity.Mint(context.Background(), core.Token{Kind: core.TokenSession, UserID: p.User.ID,
		ExpiresAt: time.Now().Add(identity.SessionLifetime)})
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: "vcsauth_session", Value: text}
}

// Client registers fake's OAuth app for Org (changed by mod) and points the fake's
// registered redirect URI at the client's callback URL.
func (s *Server) Client(t testing.TB, fake *forgetest.Server, mod func(*connect.ClientInput)) core.OAuthClient {
	t.Helper()
	kind, name, h, a, key, sec := fake.Kind, "fake", fake.HTTPURL(), fake.APIURL(), fake.ClientID, fake.ClientSecret
	in := connect.ClientInput{Kind: &kind, Name: &name, HTTPURL: &h, APIURL: &a, Key: &key, Secret: &sec}
	if mod != nil {
		mod(&in)
	}
	oc, err := s.Engine.CreateClient(context.Background(), s.Admin, s.Org.Name, in)
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	fake.RedirectURI = s.Engine.CallbackURL(oc)
	return oc
}

// Link makes p's own connection through oc with the browser flow, driven through the
// engine (the fake approves at once).
func (s *Server) Link(t testing.TB, fake *forgetest.Server, p core.Principal, oc core.OAuthClient) core.Connection {
	t.Helper()
	ctx := context.Background()
	u, err := s.Engine.StartBrowser(ctx, p, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}})
	if err != nil {
		t.Fatalf("StartBrowser: %v", err)
	}
	state, code := Authorize(t, fake, u)
	res, err := s.Engine.Callback(ctx, &p, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	return res.Connection
}

// Authorize plays the browser at the fake's authorize endpoint and returns the state
// and code it sends back.
func Authorize(t testing.TB, fake *forgetest.Server, authURL string) (state, code string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	loc, err := fake.Authorize(q.Get("client_id"), q.Get("redirect_uri"), q.Get("state"), q.Get("code_challenge"))
	if err != nil {
		t.Fatalf("authorize at the fake: %v", err)
	}
	lu, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return lu.Query().Get("state"), lu.Query().Get("code")
}

// Tokens opens a connection's stored access and refresh tokens.
func (s *Server) Tokens(t testing.TB, id string) (access, refresh string) {
	t.Helper()
	c, err := s.Store.Connection(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	open := func(v core.Sealed) string {
		if v == "" {
			return ""
		}
		p, err := Keys.OpenString(v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return open(c.AccessToken), open(c.RefreshToken)
}
