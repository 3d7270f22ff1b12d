// Package servicestagetest runs a whole vcsauth for the ServiceStage dialect's
// tests, wired as `vcsauth serve` wires it (apptest), with an organization, people
// and projects in it, and helpers to register forgetest fakes as OAuth clients,
// issue tokens and access keys, and play the browser through a flow.
//
// It is a package of its own, not a _test file, so that the SDK's tests (the
// sdktest module beside it, which carries the SDK's dependencies) run against the
// same server.
package servicestagetest

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/akskauth"
	"github.com/vcsauth/vcsauth/internal/api/servicestage"
	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/app/apptest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// Options configure Start.
type Options struct {
	Dialect string           // "sqlite" (default) or "postgres"
	Now     func() time.Time // the engine's and the verifier's clock; time.Now by default
	// ReturnURL is servicestage.Options.ReturnURL: where the callback sends the
	// browser with code and state ("" shows them on a page).
	ReturnURL string
	// Replay is the verifier's replay guard (akskauth's memory guard when nil).
	Replay akskauth.ReplayGuard
}

// Server is a running vcsauth.
type Server struct {
	App      *apptest.Server
	URL      string
	HTTP     *httptest.Server
	Store    *sqlstore.Store
	Identity *identity.Service
	Engine   *connect.Engine
	Verifier *akskauth.Verifier
	Org      core.Organization
	// Project is Org's; OtherProject belongs to another organization, whose owner
	// is Outsider.
	Project, OtherProject core.Project
	// Admin administers Org; Alice and Bob are members; Outsider is not.
	Admin, Alice, Bob, Outsider core.Principal
}

// Keys is the keyring of every test server.
var Keys = apptest.Keys

// Start runs a vcsauth until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	a := apptest.Start(t, apptest.Options{Dialect: o.Dialect, Identity: identity.Options{Now: o.Now}, App: app.Deps{Now: o.Now,
		Connect:      connect.Options{RefreshJitter: -1},
		ServiceStage: servicestage.Options{ReturnURL: o.ReturnURL},
		Signatures:   akskauth.Options{Replay: o.Replay}}})
	s := &Server{App: a, URL: a.URL, HTTP: a.HTTP, Store: a.Store, Identity: a.Identity, Engine: a.Connect, Verifier: a.Verifier}
	n := a.PutTenants(t)
	s.Org, s.Project, s.Admin, s.Alice, s.Bob, s.Outsider = n.Org, n.Project, n.Admin, n.Alice, n.Bob, n.Outsider
	s.OtherProject = a.PutProject(t, core.Project{ID: "prj-elsewhere", OrgID: n.Other.ID, Name: "elsewhere"})
	return s
}

// Token issues p a personal access token with scopes (api when none).
func (s *Server) Token(t testing.TB, p core.Principal, scopes ...string) string {
	t.Helper()
	return s.App.Token(t, p.User.ID, "test", scopes...)
}

// AccessKey makes p an access-key pair, as `vcsauth admin access-key create` does.
func (s *Server) AccessKey(t testing.TB, p core.Principal) (ak, sk string) {
	t.Helper()
	ak, sk, err := s.Identity.CreateAccessKey(context.Background(), identity.System(), p.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ak, sk
}

// Client registers fake's OAuth app for Org, usable by all its projects (changed
// by mod), and points the fake's registered redirect URI at the client's callback.
func (s *Server) Client(t testing.TB, fake *forgetest.Server, mod func(*connect.ClientInput)) core.OAuthClient {
	t.Helper()
	return s.App.ForgeClient(t, fake, s.Admin, s.Org.Name, "fake "+string(fake.Kind), mod)
}

// Connections reads the project's connections straight from the store.
func (s *Server) Connections(t testing.TB, projectID string) []core.Connection {
	t.Helper()
	cs, _, err := s.Store.ListConnections(context.Background(), store.ConnectionFilter{OwnerKind: core.OwnerProject, OwnerProjectID: projectID}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Secret opens a connection's stored access token (or password).
func (s *Server) Secret(t testing.TB, c core.Connection) string {
	t.Helper()
	got, err := s.Store.Connection(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s.App.Open(t, got.AccessToken)
}

var (
	codeRE  = regexp.MustCompile(`<label>Code</label><p><code>([^<]*)</code>`)
	stateRE = regexp.MustCompile(`<label>State</label><p><code>([^<]*)</code>`)
)

// HandBack plays the browser from the provider's authorize URL (from /redirect):
// the fake provider approves and sends it to our callback, which hands code and
// state back — on its page, or in the redirect to the configured return address.
func (s *Server) HandBack(t testing.TB, authURL string) (code, state string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := authURL
	for range 4 {
		resp, err := c.Get(next)
		if err != nil {
			t.Fatalf("GET %s: %v", next, err)
		}
		var body strings.Builder
		_, _ = io.Copy(&body, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			cm, sm := codeRE.FindStringSubmatch(body.String()), stateRE.FindStringSubmatch(body.String())
			if cm == nil || sm == nil {
				t.Fatalf("the callback page shows no code and state:\n%s", body.String())
			}
			return html.UnescapeString(cm[1]), html.UnescapeString(sm[1])
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				t.Fatal(err)
			}
			if !loopback(loc) {
				// Neither the fake provider nor us: the platform's return address.
				return loc.Query().Get("code"), loc.Query().Get("state")
			}
			next = loc.String()
		default:
			t.Fatalf("GET %s: %s\n%s", next, resp.Status, body.String())
		}
	}
	t.Fatalf("too many redirects from %s", authURL)
	return "", ""
}

// loopback: the fakes and we listen there; the platform does not.
func loopback(u *url.URL) bool {
	h := u.Hostname()
	return h == "127.0.0.1" || h == "::1" || h == "localhost"
}
