// Package servicestagetest runs a whole vcsauth for the ServiceStage dialect's
// tests — store, identity, upstream engine, web site, the native flow routes and the
// ServiceStage routes with AK/SK signatures, behind the shared middleware, as
// `vcsauth serve` wires them — on an httptest server, with an organization, people
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
	"github.com/vcsauth/vcsauth/internal/api/native"
	"github.com/vcsauth/vcsauth/internal/api/servicestage"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/server"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
	"github.com/vcsauth/vcsauth/internal/web"
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
var Keys = func() *secret.Keyring {
	kr, err := secret.ParseKeys("k1:"+strings.Repeat("D", 43)+"=", nil)
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
	s := &Server{Store: st}
	var handler http.Handler = http.NotFoundHandler()
	s.HTTP = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(s.HTTP.Close)
	s.URL = s.HTTP.URL

	s.Identity = identity.New(st, Keys, identity.Options{Now: o.Now})
	if s.Engine, err = connect.New(st, Keys, s.Identity, connect.Options{ExternalURL: s.URL, Now: o.Now, RefreshJitter: -1}); err != nil {
		t.Fatal(err)
	}
	site, err := web.New(web.Options{Identity: s.Identity, ExternalURL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	if s.Verifier, err = akskauth.New(akskauth.Options{Keys: st, Keyring: Keys, Users: s.Identity, Now: o.Now, Replay: o.Replay}); err != nil {
		t.Fatal(err)
	}
	apiAuth := httpx.Authenticate(s.Identity)
	mux := http.NewServeMux()
	site.Register(mux)
	native.Register(mux, s.Engine, apiAuth, native.Options{Site: site})
	servicestage.Register(mux, s.Engine, apiAuth, servicestage.Options{Signatures: s.Verifier.Resolver(), ReturnURL: o.ReturnURL})
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
	mkProject := func(id string, org core.Organization, name string) core.Project {
		p := core.Project{ID: id, OrgID: org.ID, Name: name, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s.Org = mkOrg("acme")
	other := mkOrg("other")
	s.Admin, s.Alice, s.Bob, s.Outsider = mkUser("admin"), mkUser("alice"), mkUser("bob"), mkUser("outsider")
	member(s.Org, s.Admin, core.RoleAdmin)
	member(s.Org, s.Alice, core.RoleMember)
	member(s.Org, s.Bob, core.RoleMember)
	member(other, s.Outsider, core.RoleOwner)
	s.Project = mkProject("prj-web", s.Org, "web")
	s.OtherProject = mkProject("prj-elsewhere", other, "elsewhere")
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
	kind, name, h, a, key, sec := fake.Kind, "fake "+string(fake.Kind), fake.HTTPURL(), fake.APIURL(), fake.ClientID, fake.ClientSecret
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
	text, err := Keys.OpenString(got.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return text
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
