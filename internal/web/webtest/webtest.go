// Package webtest is a whole vcsauth installation for the console's tests: a real
// HTTP server wired by app.New as `vcsauth serve` wires one (apptest), with people
// and an organization in it, and a fake Git provider (forgetest) to link accounts at.
//
// The HTTP-level tests of internal/web and the browser tests (browsertest) both
// start from it, so both drive the same wiring.
package webtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/app/apptest"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/web"
)

// Password is every seeded person's password.
const Password = "correct horse battery staple"

// TOTPSecret is the second factor of the people seeded with one (Alice).
const TOTPSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// Env is one installation.
type Env struct {
	T        testing.TB
	App      *apptest.Server
	URL      string // the server's base URL, also its external URL
	Server   *httptest.Server
	Handler  http.Handler
	Store    *sqlstore.Store
	Identity *identity.Service
	Auth     *authserver.Engine
	Connect  *connect.Engine
	Site     *web.Site
	// Fake is a GitHub that auto-approves its one user.
	Fake *forgetest.Server
	// Clock is the upstream engine's clock (the device flow's polling interval is
	// judged by it); the rest of the installation uses the real time, which TOTP
	// codes need.
	Clock *Clock

	// Organization "acme": Root is a site admin (no organization), Alice an admin
	// of acme with a second factor, Bob a plain member.
	Org              core.Organization
	Project          core.Project
	Root, Alice, Bob core.User
}

// Keys is the keyring of every Env.
func Keys() *secret.Keyring { return apptest.Keys }

// New starts an installation; it stops when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	clock := &Clock{}
	// A high failure limit: tests sign in many times, some of them wrongly.
	a := apptest.Start(t, apptest.Options{Identity: identity.Options{MaxLoginFailures: 1000},
		App: app.Deps{Connect: connect.Options{Now: clock.Now, ProviderTimeout: 10 * time.Second, RefreshJitter: -1}}})
	e := &Env{T: t, App: a, URL: a.URL, Server: a.HTTP, Handler: a.Handler(), Store: a.Store, Identity: a.Identity,
		Auth: a.Auth, Connect: a.Connect, Site: a.Site, Clock: clock}
	e.Root = a.CreateUser(t, identity.NewUser{Username: "root", Password: Password, Email: "root@example.com", SiteAdmin: true})
	e.Alice = a.CreateUser(t, identity.NewUser{Username: "alice", Password: Password, Email: "alice@example.com", TOTPSecret: TOTPSecret})
	e.Bob = a.CreateUser(t, identity.NewUser{Username: "bob", Password: Password})
	ctx, sys := context.Background(), identity.System()
	var err error
	if e.Org, err = e.Identity.CreateOrg(ctx, sys, "acme", "root"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		u    string
		role core.Role
	}{{"alice", core.RoleAdmin}, {"bob", core.RoleMember}} {
		if err := e.Identity.AddMember(ctx, sys, "acme", m.u, m.role); err != nil {
			t.Fatal(err)
		}
	}
	if e.Project, err = e.Identity.CreateProject(ctx, sys, "acme", "web", "the web site"); err != nil {
		t.Fatal(err)
	}
	e.Fake = forgetest.New(t, core.ProviderGitHub)
	return e
}

// Clock is the real time plus an offset that tests move forward.
type Clock = apptest.Clock

// Principal is u acting through the console.
func Principal(u core.User) core.Principal {
	return core.Principal{User: u, Method: core.AuthSession, Scopes: []string{core.ScopeAPI}}
}

// AddClient registers the fake's OAuth app for acme, as Alice, and points the
// fake's registered redirect URI at the client's callback URL.
func (e *Env) AddClient(name string) core.OAuthClient {
	e.T.Helper()
	return e.App.ForgeClient(e.T, e.Fake, Principal(e.Alice), "acme", name, nil)
}

// UseClient makes the fake's registered redirect URI oc's callback URL.
func (e *Env) UseClient(oc core.OAuthClient) { e.Fake.RedirectURI = e.Connect.CallbackURL(oc) }

// TOTP is the current code of Alice's second factor at t.
func TOTP(t time.Time) string {
	seed, err := secret.ParseTOTPSecret(TOTPSecret)
	if err != nil {
		panic(err)
	}
	return secret.TOTPCode(seed, t)
}

// Client is a person's browser (apptest.Browser) in the installation.
type Client struct {
	*apptest.Browser
	Env *Env
}

// NewClient returns a client without a session.
func (e *Env) NewClient(t testing.TB) *Client {
	return &Client{Browser: apptest.NewBrowser(t, e.URL), Env: e}
}

// Post loads page (for its CSRF token), then posts form to path.
func (c *Client) Post(page, path string, form url.Values) *http.Response {
	c.T.Helper()
	if resp := c.Get(page); resp.StatusCode != http.StatusOK {
		c.T.Fatalf("GET %s: %d", page, resp.StatusCode)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", c.CSRF())
	return c.Do("POST", path, form)
}

// SignIn signs u in (with the TOTP step for Alice) and fails the test otherwise.
func (c *Client) SignIn(u core.User) {
	c.T.Helper()
	form := url.Values{"username": {u.Username}, "password": {Password}}
	resp := c.Post("/login", "/login", form)
	if u.HasTOTP() {
		if resp.StatusCode != http.StatusOK {
			c.T.Fatalf("sign-in of %s, first step: %d", u.Username, resp.StatusCode)
		}
		form.Set("csrf_token", c.CSRF())
		form.Set("otp", TOTP(time.Now()))
		resp = c.Do("POST", "/login", form)
	}
	if resp.StatusCode != http.StatusSeeOther {
		c.T.Fatalf("sign-in of %s: %d\n%s", u.Username, resp.StatusCode, c.Last)
	}
}
