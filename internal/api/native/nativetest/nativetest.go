// Package nativetest runs a whole vcsauth for tests (apptest: every part wired as
// `vcsauth serve` wires it) with an organization and people in it, and helpers to
// register a forgetest fake as an OAuth client and link accounts through it.
package nativetest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/app/apptest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/web"
)

// Options configure Start.
type Options struct {
	Dialect string           // "sqlite" (default) or "postgres"
	Now     func() time.Time // the clock (a fake provider's, usually)
	Engine  connect.Options  // ExternalURL and Now are filled in
	// App tunes the other parts (app.Deps's Coder, ServiceStage …); its Now and
	// Connect are the two above.
	App app.Deps
}

// Server is a running vcsauth.
type Server struct {
	App      *apptest.Server
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
var Keys = apptest.Keys

// Start runs a vcsauth until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	eo := o.Engine
	if eo.RefreshJitter == 0 {
		eo.RefreshJitter = -1
	}
	d := o.App
	d.Now, d.Connect = o.Now, eo
	a := apptest.Start(t, apptest.Options{Dialect: o.Dialect, Identity: identity.Options{Now: o.Now}, App: d})
	s := &Server{App: a, URL: a.URL, HTTP: a.HTTP, Store: a.Store, Identity: a.Identity, Engine: a.Connect, Site: a.Site,
		Draining: a.Draining}
	n := a.PutTenants(t)
	s.Org, s.Project, s.Admin, s.Alice, s.Bob, s.Outsider = n.Org, n.Project, n.Admin, n.Alice, n.Bob, n.Outsider
	return s
}

// Token issues p a personal access token with scopes (api when none).
func (s *Server) Token(t testing.TB, p core.Principal, scopes ...string) string {
	t.Helper()
	return s.App.Token(t, p.User.ID, "test", scopes...)
}

// SessionCookie signs p in to the web pages.
func (s *Server) SessionCookie(t testing.TB, p core.Principal) *http.Cookie {
	t.Helper()
	return s.App.SessionCookie(t, p.User.ID)
}

// Client registers fake's OAuth app for Org (changed by mod) and points the fake's
// registered redirect URI at the client's callback URL.
func (s *Server) Client(t testing.TB, fake *forgetest.Server, mod func(*connect.ClientInput)) core.OAuthClient {
	t.Helper()
	return s.App.ForgeClient(t, fake, s.Admin, s.Org.Name, "fake", mod)
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
	return s.App.Open(t, c.AccessToken), s.App.Open(t, c.RefreshToken)
}
