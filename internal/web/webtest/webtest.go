// Package webtest is a whole vcsauth installation for the console's tests: a real
// HTTP server wired as cmd/vcsauth/serve.go wires one (SQLite store, identity,
// authorization server, upstream engine, pages, OAuth endpoints, upstream flow
// routes, the shared middleware), with people and an organization in it, and a
// fake Git provider (forgetest) to link accounts at.
//
// The HTTP-level tests of internal/web and the browser tests (browsertest) both
// start from it, so both drive the same wiring.
package webtest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/api/native"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/authserver/oauthhttp"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/server"
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
func Keys() *secret.Keyring {
	kr, err := secret.ParseKeys("k1:"+strings.Repeat("C", 43)+"=", nil)
	if err != nil {
		panic(err)
	}
	return kr
}

// New starts an installation; it stops when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "vcsauth.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)

	// The server listens before anything is built: the external URL is its address.
	srv := httptest.NewUnstartedServer(nil)
	e := &Env{T: t, URL: "http://" + srv.Listener.Addr().String(), Server: srv, Store: st}
	keys := Keys()
	// A high failure limit: tests sign in many times, some of them wrongly.
	e.Identity = identity.New(st, keys, identity.Options{Log: log, MaxLoginFailures: 1000})
	if e.Auth, err = authserver.New(authserver.Options{Store: st, Identity: e.Identity, Issuer: e.URL, Log: log}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Auth.EnsureBuiltIn(ctx); err != nil {
		t.Fatal(err)
	}
	e.Clock = &Clock{}
	if e.Connect, err = connect.New(st, keys, e.Identity, connect.Options{ExternalURL: e.URL, Log: log, Now: e.Clock.Now,
		ProviderTimeout: 10 * time.Second, RefreshJitter: -1}); err != nil {
		t.Fatal(err)
	}
	if e.Site, err = web.New(web.Options{Identity: e.Identity, Accounts: e.Identity, Apps: e.Auth, Upstream: e.Connect,
		ExternalURL: e.URL, Log: log}); err != nil {
		t.Fatal(err)
	}
	oauth, err := oauthhttp.New(oauthhttp.Options{Engine: e.Auth, Site: e.Site, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.Site.Register(mux)
	oauth.Register(mux)
	native.Register(mux, e.Connect, httpx.Authenticate(e.Identity), native.Options{Site: e.Site, Log: log})
	e.Handler = server.Handler(mux, server.HandlerOptions{Logger: log})
	srv.Config.Handler = e.Handler
	srv.Start()
	t.Cleanup(srv.Close)

	sys := identity.System()
	mk := func(u identity.NewUser) core.User {
		user, err := e.Identity.CreateUser(ctx, sys, u)
		if err != nil {
			t.Fatal(err)
		}
		return user
	}
	e.Root = mk(identity.NewUser{Username: "root", Password: Password, Email: "root@example.com", SiteAdmin: true})
	e.Alice = mk(identity.NewUser{Username: "alice", Password: Password, Email: "alice@example.com", TOTPSecret: TOTPSecret})
	e.Bob = mk(identity.NewUser{Username: "bob", Password: Password})
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
type Clock struct{ offset atomic.Int64 }

// Now is the clock's reading.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Principal is u acting through the console.
func Principal(u core.User) core.Principal {
	return core.Principal{User: u, Method: core.AuthSession, Scopes: []string{core.ScopeAPI}}
}

// AddClient registers the fake's OAuth app for acme, as Alice, and points the
// fake's registered redirect URI at the client's callback URL.
func (e *Env) AddClient(name string) core.OAuthClient {
	e.T.Helper()
	f := e.Fake
	kind, http, api, key, sec := f.Kind, f.HTTPURL(), f.APIURL(), f.ClientID, f.ClientSecret
	oc, err := e.Connect.CreateClient(context.Background(), Principal(e.Alice), "acme",
		connect.ClientInput{Name: &name, Kind: &kind, HTTPURL: &http, APIURL: &api, Key: &key, Secret: &sec})
	if err != nil {
		e.T.Fatal(err)
	}
	e.UseClient(oc)
	return oc
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

// Client is a person's HTTP client with a cookie jar: a browser without
// JavaScript, which does not follow redirects on its own.
type Client struct {
	T    testing.TB
	Env  *Env
	HTTP *http.Client
	// Last is the body of the last response.
	Last string
}

// NewClient returns a client without a session.
func (e *Env) NewClient(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{T: t, Env: e, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Do sends a request; form, when not nil, is posted url-encoded.
func (c *Client) Do(method, path string, form url.Values) *http.Response {
	c.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.Env.URL+path, body)
	if err != nil {
		c.T.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.Last = string(raw)
	return resp
}

// Get is Do("GET", path, nil).
func (c *Client) Get(path string) *http.Response {
	c.T.Helper()
	return c.Do("GET", path, nil)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// CSRF is the CSRF token in the last page.
func (c *Client) CSRF() string {
	c.T.Helper()
	m := csrfRE.FindStringSubmatch(c.Last)
	if m == nil {
		c.T.Fatalf("no CSRF token in the page:\n%s", c.Last)
	}
	return m[1]
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
