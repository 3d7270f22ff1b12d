package connect_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
)

const external = "https://vcsauth.test"

var testKeys = func() *secret.Keyring {
	kr, err := secret.ParseKeys("k1:"+strings.Repeat("B", 43)+"=", nil)
	if err != nil {
		panic(err)
	}
	return kr
}()

func ptr[T any](v T) *T { return &v }

// env is one vcsauth installation: a fresh database with an organization "acme"
// (admin, alice and bob; a project), an outsider in another organization, and an
// engine.
type env struct {
	t        *testing.T
	url      string
	st       *sqlstore.Store
	id       *identity.Service
	e        *connect.Engine
	now      func() time.Time
	opts     connect.Options
	org      core.Organization
	prj      core.Project
	admin    core.Principal
	alice    core.Principal
	bob      core.Principal
	outsider core.Principal
}

type envOpt struct {
	dialect string           // "sqlite" (default) or "postgres"
	now     func() time.Time // the clock; time.Now by default
	opts    connect.Options  // engine options; ExternalURL and Now are filled in
	wrap    func(store.Upstream) store.Upstream
}

func openStore(t *testing.T, rawURL string) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), rawURL, sqlstore.Options{Migrate: true, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newEnv(t *testing.T, o envOpt) *env {
	t.Helper()
	if o.dialect == "" {
		o.dialect = "sqlite"
	}
	if o.now == nil {
		o.now = time.Now
	}
	v := &env{t: t, url: storetest.FreshURL(t, o.dialect), now: o.now}
	v.st = openStore(t, v.url)
	v.id = identity.New(v.st, testKeys, identity.Options{Now: o.now})
	ctx := context.Background()
	now := o.now().UTC().Truncate(time.Microsecond)
	mkUser := func(name string) core.Principal {
		u := core.User{ID: "user-" + name, Username: name, PasswordHash: "$argon2id$unused", CreatedAt: now, UpdatedAt: now}
		if err := v.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return core.Principal{User: u, Method: core.AuthToken, Scopes: []string{core.ScopeAPI}}
	}
	mkOrg := func(name string) core.Organization {
		o := core.Organization{ID: "org-" + name, Name: name, CreatedAt: now, UpdatedAt: now}
		if err := v.st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	member := func(o core.Organization, p core.Principal, r core.Role) {
		if err := v.st.PutMembership(ctx, core.Membership{OrgID: o.ID, UserID: p.User.ID, Role: r, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	v.org = mkOrg("acme")
	other := mkOrg("other")
	v.admin, v.alice, v.bob, v.outsider = mkUser("admin"), mkUser("alice"), mkUser("bob"), mkUser("outsider")
	member(v.org, v.admin, core.RoleAdmin)
	member(v.org, v.alice, core.RoleMember)
	member(v.org, v.bob, core.RoleMember)
	member(other, v.outsider, core.RoleOwner)
	v.prj = core.Project{ID: "prj-web", OrgID: v.org.ID, Name: "web", CreatedAt: now, UpdatedAt: now}
	if err := v.st.CreateProject(ctx, v.prj); err != nil {
		t.Fatal(err)
	}
	if err := v.st.CreateProject(ctx, core.Project{ID: "prj-foreign", OrgID: other.ID, Name: "foreign", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	v.opts = o.opts
	v.opts.ExternalURL, v.opts.Now = external, o.now
	if v.opts.ProviderTimeout == 0 {
		v.opts.ProviderTimeout = 5 * time.Second
	}
	if v.opts.RefreshJitter == 0 {
		v.opts.RefreshJitter = -1
	}
	var up store.Upstream = v.st
	if o.wrap != nil {
		up = o.wrap(up)
	}
	v.e = v.engine(t, up, "replica-a")
	return v
}

// engine builds another engine on st, as another replica would be.
func (v *env) engine(t *testing.T, st store.Upstream, replica string) *connect.Engine {
	t.Helper()
	o := v.opts
	o.ReplicaID = replica
	e, err := connect.New(st, testKeys, identity.New(v.st, testKeys, identity.Options{Now: v.now}), o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// replica is a second process on the same database: its own pool, identity service
// and engine.
func (v *env) replica(t *testing.T, name string) *connect.Engine {
	t.Helper()
	st := openStore(t, v.url)
	o := v.opts
	o.ReplicaID = name
	e, err := connect.New(st, testKeys, identity.New(st, testKeys, identity.Options{Now: v.now}), o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// clientInput registers srv's OAuth app.
func clientInput(srv *forgetest.Server) connect.ClientInput {
	return connect.ClientInput{Kind: ptr(srv.Kind), Name: ptr("fake " + string(srv.Kind)), HTTPURL: ptr(srv.HTTPURL()),
		APIURL: ptr(srv.APIURL()), Key: ptr(srv.ClientID), Secret: ptr(srv.ClientSecret)}
}

// mkClient registers srv's OAuth app for acme (changed by mod) and points the fake's
// registered redirect URI at the client's callback URL.
func (v *env) mkClient(t *testing.T, srv *forgetest.Server, mod func(*connect.ClientInput)) core.OAuthClient {
	t.Helper()
	in := clientInput(srv)
	if mod != nil {
		mod(&in)
	}
	oc, err := v.e.CreateClient(t.Context(), v.admin, v.org.Name, in)
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	srv.RedirectURI = v.e.CallbackURL(oc)
	return oc
}

// authorize plays the browser: it follows the authorize URL at the fake, which
// approves, and returns the state and code the callback receives.
func authorize(t *testing.T, srv *forgetest.Server, authURL string) (state, code string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	loc, err := srv.Authorize(q.Get("client_id"), q.Get("redirect_uri"), q.Get("state"), q.Get("code_challenge"))
	if err != nil {
		t.Fatalf("authorize at the fake: %v", err)
	}
	lu, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if got := lu.Scheme + "://" + lu.Host + lu.Path; got != srv.RedirectURI {
		t.Fatalf("provider redirected to %s, want the client's callback %s", got, srv.RedirectURI)
	}
	return lu.Query().Get("state"), lu.Query().Get("code")
}

// link runs a whole browser flow for p.
func (v *env) link(t *testing.T, srv *forgetest.Server, e *connect.Engine, p core.Principal, req connect.FlowRequest) connect.CallbackResult {
	t.Helper()
	u, err := e.StartBrowser(t.Context(), p, req)
	if err != nil {
		t.Fatalf("StartBrowser: %v", err)
	}
	state, code := authorize(t, srv, u)
	res, err := e.Callback(t.Context(), &p, connect.CallbackInput{OAuthClient: req.OAuthClient, State: state, Code: code})
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	return res
}

// tokens opens a connection's stored tokens.
func (v *env) tokens(t *testing.T, id string) (core.Connection, string, string) {
	t.Helper()
	c, err := v.st.Connection(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	open := func(s core.Sealed) string {
		if s == "" {
			return ""
		}
		p, err := testKeys.OpenString(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return c, open(c.AccessToken), open(c.RefreshToken)
}

// expire moves c's stored expiry to the past, as if its token had aged.
func (v *env) expire(t *testing.T, id string) {
	t.Helper()
	_, err := v.st.UpdateConnection(context.Background(), id, func(c core.Connection) (core.Connection, error) {
		c.ExpiresAt = v.now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr[T error](t *testing.T, what string, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("%s: err = %v (%T), want %T", what, err, err, target)
	}
	return target
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// faultTransport fails or rewrites chosen requests, for faults forgetest cannot aim
// at one endpoint.
type faultTransport struct {
	match func(*http.Request) bool
	do    func(*http.Request) (*http.Response, error)
}

func (f faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.match != nil && f.match(r) {
		return f.do(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// forgeOf is the forge the engine builds for srv.
func forgeOf(t *testing.T, srv *forgetest.Server) forge.Forge {
	t.Helper()
	f, err := forge.New(srv.Kind, srv.HTTPURL(), srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var store0 = store.Page{}

func errorsIsNotFound(err error) bool { return errors.Is(err, core.ErrNotFound) }
