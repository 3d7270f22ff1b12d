// Package apptest runs a whole vcsauth for tests: app.New, the production wiring
// of every part, on an httptest server, with a fresh database (SQLite, or
// PostgreSQL when asked) and the injection points tests need: the clock, the
// random source, the client of the Git providers and the tuning of single parts.
// Its helpers put people, organizations, projects and tokens in, and play a
// browser with a cookie jar.
//
// The dialects' harnesses (nativetest, codertest, servicestagetest …) start from
// it, so every test runs the routes as `vcsauth serve` wires them.
package apptest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/config"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
)

// Keys is the keyring of every test server.
var Keys = func() *secret.Keyring {
	kr, err := secret.ParseKeys("k1:"+strings.Repeat("C", 43)+"=", nil)
	if err != nil {
		panic(err)
	}
	return kr
}()

// Version is the version the test servers announce (X-TFE-Version).
const Version = "v202601-1"

// Options configure Start.
type Options struct {
	Dialect string // "sqlite" (default) or "postgres"
	// Identity configures the identity service (its clock, random source, login
	// throttle).
	Identity identity.Options
	// App is passed to app.New; Store, Keys, Identity, ExternalURL are filled in,
	// and Version when empty.
	App app.Deps
	// Handler, when set, is what the server serves instead of the application's
	// handler: the test's own routes (a protected endpoint to try tokens on) in
	// front of a.Handler().
	Handler func(a *app.App) http.Handler
}

// Server is a running vcsauth.
type Server struct {
	*app.App
	URL   string // the server's address, also its external URL
	HTTP  *httptest.Server
	Store *sqlstore.Store
	Keys  *secret.Keyring
	// Draining, when closed, tells long polls the server is shutting down, as
	// server.Run does on SIGTERM.
	Draining chan struct{}
}

// Start runs a vcsauth until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Dialect == "" {
		o.Dialect = "sqlite"
	}
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, storetest.FreshURL(t, o.Dialect), sqlstore.Options{Migrate: true, MaxConns: 8,
		// What serve runs with, so every dialect's revoke-then-use test crosses the cache.
		CacheTTL: config.DefaultCacheTTL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Server{Store: st, Keys: Keys, Draining: make(chan struct{})}
	// The server listens before anything is built: the external URL is its address.
	s.HTTP = httptest.NewUnstartedServer(nil)
	s.HTTP.Config.BaseContext = func(net.Listener) context.Context {
		return httpx.WithDraining(context.Background(), s.Draining)
	}
	s.URL = "http://" + s.HTTP.Listener.Addr().String()

	d := o.App
	d.Store, d.Keys, d.ExternalURL = st, Keys, s.URL
	d.Identity = identity.New(st, Keys, o.Identity)
	if d.Version == "" {
		d.Version = Version
	}
	if s.App, err = app.New(ctx, d); err != nil {
		t.Fatal(err)
	}
	s.HTTP.Config.Handler = s.Handler()
	if o.Handler != nil {
		s.HTTP.Config.Handler = o.Handler(s.App)
	}
	s.HTTP.Start()
	t.Cleanup(s.HTTP.Close)
	return s
}

// Now is the identity service's clock, to the microsecond the store keeps.
func (s *Server) Now() time.Time { return s.Identity.Now() }

// PutUser stores a user named name (id "user-"+name) straight in the store, with
// no usable password, and returns it acting with a token of scope api.
func (s *Server) PutUser(t testing.TB, name string) core.Principal {
	t.Helper()
	now := s.Now()
	u := core.User{ID: "user-" + name, Username: name, PasswordHash: "$argon2id$unused", CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return core.Principal{User: u, Method: core.AuthToken, Scopes: []string{core.ScopeAPI}}
}

// PutOrg stores o (id "org-"+name unless set) straight in the store.
func (s *Server) PutOrg(t testing.TB, o core.Organization) core.Organization {
	t.Helper()
	if o.ID == "" {
		o.ID = "org-" + o.Name
	}
	o.CreatedAt, o.UpdatedAt = s.Now(), s.Now()
	if err := s.Store.CreateOrg(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o
}

// PutMember makes p a member of org with role r.
func (s *Server) PutMember(t testing.TB, org core.Organization, p core.Principal, r core.Role) {
	t.Helper()
	if err := s.Store.PutMembership(context.Background(), core.Membership{OrgID: org.ID, UserID: p.User.ID, Role: r, CreatedAt: s.Now()}); err != nil {
		t.Fatal(err)
	}
}

// PutProject stores p straight in the store.
func (s *Server) PutProject(t testing.TB, p core.Project) core.Project {
	t.Helper()
	p.CreatedAt, p.UpdatedAt = s.Now(), s.Now()
	if err := s.Store.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Tenants are the people and organizations the dialects' tests start from.
type Tenants struct {
	// Org is "acme": Admin administers it, Alice and Bob are members; Project
	// (prj-web, "web") is its. Other is "other", owned by Outsider.
	Org, Other                  core.Organization
	Project                     core.Project
	Admin, Alice, Bob, Outsider core.Principal
}

// PutTenants stores Tenants straight in the store.
func (s *Server) PutTenants(t testing.TB) Tenants {
	t.Helper()
	var n Tenants
	n.Org, n.Other = s.PutOrg(t, core.Organization{Name: "acme"}), s.PutOrg(t, core.Organization{Name: "other"})
	n.Admin, n.Alice, n.Bob, n.Outsider = s.PutUser(t, "admin"), s.PutUser(t, "alice"), s.PutUser(t, "bob"), s.PutUser(t, "outsider")
	s.PutMember(t, n.Org, n.Admin, core.RoleAdmin)
	s.PutMember(t, n.Org, n.Alice, core.RoleMember)
	s.PutMember(t, n.Org, n.Bob, core.RoleMember)
	s.PutMember(t, n.Other, n.Outsider, core.RoleOwner)
	n.Project = s.PutProject(t, core.Project{ID: "prj-web", OrgID: n.Org.ID, Name: "web"})
	return n
}

// CreateUser creates a user through the identity service, as an admin does.
func (s *Server) CreateUser(t testing.TB, u identity.NewUser) core.User {
	t.Helper()
	user, err := s.Identity.CreateUser(context.Background(), identity.System(), u)
	if err != nil {
		t.Fatal(err)
	}
	return user
}

// Token issues the user a personal access token with note and scopes (api when
// none).
func (s *Server) Token(t testing.TB, userID, note string, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{core.ScopeAPI}
	}
	text, _, err := s.Identity.CreatePersonalToken(context.Background(), identity.System(), userID, identity.NewToken{Note: note, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// SessionCookie signs the user in to the web pages.
func (s *Server) SessionCookie(t testing.TB, userID string) *http.Cookie {
	t.Helper()
	text, _, err := s.Identity.Mint(context.Background(), core.Token{Kind: core.TokenSession, UserID: userID,
		ExpiresAt: time.Now().Add(identity.SessionLifetime)})
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: "vcsauth_session", Value: text}
}

// Open opens a sealed value of the store.
func (s *Server) Open(t testing.TB, v core.Sealed) string {
	t.Helper()
	if v == "" {
		return ""
	}
	p, err := s.Keys.OpenString(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ForgeClient registers fake's OAuth app for org as admin, named name and changed
// by mod, and points the fake's registered redirect URI at the client's callback.
func (s *Server) ForgeClient(t testing.TB, fake *forgetest.Server, admin core.Principal, org, name string, mod func(*connect.ClientInput)) core.OAuthClient {
	t.Helper()
	kind, h, a, key, sec := fake.Kind, fake.HTTPURL(), fake.APIURL(), fake.ClientID, fake.ClientSecret
	in := connect.ClientInput{Kind: &kind, Name: &name, HTTPURL: &h, APIURL: &a, Key: &key, Secret: &sec}
	if mod != nil {
		mod(&in)
	}
	oc, err := s.Connect.CreateClient(context.Background(), admin, org, in)
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	fake.RedirectURI = s.Connect.CallbackURL(oc)
	return oc
}

// Get sends a GET to path on the server and returns the status and body.
func (s *Server) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Clock is the real time plus an offset that tests move forward (to expire codes,
// to reach a fresh TOTP time step). Real time, because net/http, x/oauth2 and the
// fake providers run on it.
type Clock struct{ offset atomic.Int64 }

// Now is the clock's reading.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
