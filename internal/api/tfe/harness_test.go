package tfe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gotfe "github.com/hashicorp/go-tfe"

	"github.com/vcsauth/vcsauth/internal/api/native"
	"github.com/vcsauth/vcsauth/internal/api/tfe"
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

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// keys is the keyring of every test server.
var keys = func() *secret.Keyring {
	kr, err := secret.ParseKeys("k1:"+strings.Repeat("C", 43)+"=", nil)
	if err != nil {
		panic(err)
	}
	return kr
}()

// env is a whole vcsauth on httptest, wired as cmd/vcsauth/serve.go wires one:
// the web site (sign-in), the native flow routes (connect-path) and this dialect,
// behind the shared middleware. Organization acme has an admin and a member;
// Outsider owns organization other.
type env struct {
	URL   string
	srv   *httptest.Server
	st    *sqlstore.Store
	id    *identity.Service
	e     *connect.Engine
	site  *web.Site
	org   core.Organization
	other core.Organization
	// project belongs to acme, otherProject to other.
	project, otherProject core.Project

	admin, member, outsider          core.Principal
	adminTok, memberTok, outsiderTok string

	mu     sync.Mutex
	bodies [][]byte // every response body a go-tfe client or do received
}

// dialects are the databases the lifecycle runs on: PostgreSQL when CI provides it.
var dialects = []string{"sqlite", "postgres"}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, storetest.FreshURL(t, dialect), sqlstore.Options{Migrate: true, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v := &env{st: st}
	v.srv = httptest.NewUnstartedServer(nil)
	v.URL = "http://" + v.srv.Listener.Addr().String()
	log := slog.New(slog.DiscardHandler)
	v.id = identity.New(st, keys, identity.Options{Log: log, MaxLoginFailures: 1000})
	if v.e, err = connect.New(st, keys, v.id, connect.Options{ExternalURL: v.URL, Log: log, RefreshJitter: -1,
		ProviderTimeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if v.site, err = web.New(web.Options{Identity: v.id, ExternalURL: v.URL, Log: log}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	v.site.Register(mux)
	auth := httpx.Authenticate(v.id)
	native.Register(mux, v.e, auth, native.Options{Site: v.site, Log: log})
	tfe.Register(mux, v.e, v.id, auth, tfe.Options{Log: log, Version: "v202601-1"})
	v.srv.Config.Handler = server.Handler(mux, server.HandlerOptions{Logger: log})
	v.srv.Start()
	t.Cleanup(v.srv.Close)

	now := time.Now().UTC().Truncate(time.Microsecond)
	mkUser := func(name string) core.Principal {
		u := core.User{ID: "user-" + name, Username: name, PasswordHash: "$argon2id$unused", CreatedAt: now, UpdatedAt: now}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return core.Principal{User: u, Method: core.AuthToken, Scopes: []string{core.ScopeAPI}}
	}
	mkOrg := func(name string) core.Organization {
		o := core.Organization{ID: "org-" + name, Name: name, Email: name + "@example.com", CreatedAt: now, UpdatedAt: now}
		if err := st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	member := func(o core.Organization, p core.Principal, r core.Role) {
		if err := st.PutMembership(ctx, core.Membership{OrgID: o.ID, UserID: p.User.ID, Role: r, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	v.org, v.other = mkOrg("acme"), mkOrg("other")
	v.admin, v.member, v.outsider = mkUser("admin"), mkUser("member"), mkUser("outsider")
	member(v.org, v.admin, core.RoleAdmin)
	member(v.org, v.member, core.RoleMember)
	member(v.other, v.outsider, core.RoleOwner)
	v.project = core.Project{ID: "prj-web", OrgID: v.org.ID, Name: "web", Description: "the web site", CreatedAt: now, UpdatedAt: now}
	v.otherProject = core.Project{ID: "prj-theirs", OrgID: v.other.ID, Name: "theirs", CreatedAt: now, UpdatedAt: now}
	for _, p := range []core.Project{v.project, v.otherProject} {
		if err := st.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	v.adminTok, v.memberTok, v.outsiderTok = v.token(t, v.admin), v.token(t, v.member), v.token(t, v.outsider)
	return v
}

// token issues p a personal access token with scopes (api when none).
func (v *env) token(t *testing.T, p core.Principal, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{core.ScopeAPI}
	}
	text, _, err := v.id.CreatePersonalToken(context.Background(), identity.System(), p.User.ID, identity.NewToken{Note: "test", Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// recorder keeps every response body, so tests can scan them all for secrets.
type recorder struct {
	v    *env
	next http.RoundTripper
}

func (rt recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	rt.v.record(b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (v *env) record(b []byte) {
	v.mu.Lock()
	v.bodies = append(v.bodies, b)
	v.mu.Unlock()
}

func (v *env) httpClient() *http.Client {
	return &http.Client{Transport: recorder{v: v, next: http.DefaultTransport}, Timeout: 30 * time.Second}
}

// client is go-tfe, unchanged, pointed at the server with token.
func (v *env) client(t *testing.T, token string) *gotfe.Client {
	t.Helper()
	c, err := gotfe.NewClient(&gotfe.Config{Address: v.URL, Token: token, HTTPClient: v.httpClient()})
	if err != nil {
		t.Fatalf("go-tfe NewClient: %v", err)
	}
	return c
}

// response is what do got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// doc decodes the body as JSON.
func (r response) doc(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

// do sends a raw request under /api/v2 (path starts with "/"). body is sent as is
// when it is a string or []byte, else encoded as JSON; the content type is
// JSON:API's unless header says otherwise.
func (v *env) do(t *testing.T, method, path, token string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, v.URL+tfe.Prefix+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", tfe.MediaType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := v.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// noSecrets fails when any response body seen so far holds one of secrets.
func (v *env) noSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, b := range v.bodies {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("a response body holds a secret (%.12s…): %.300s", s, b)
			}
		}
	}
}

// fake starts a fake provider of kind.
func fake(t *testing.T, kind core.ProviderKind, opts ...forgetest.Option) *forgetest.Server {
	t.Helper()
	return forgetest.New(t, kind, opts...)
}

// clientFor registers fake's app in acme through the engine (setup, not the API
// under test).
func (v *env) clientFor(t *testing.T, f *forgetest.Server, mod func(*connect.ClientInput)) core.OAuthClient {
	t.Helper()
	kind, name, h, a, key, sec := f.Kind, "fake "+string(f.Kind), f.HTTPURL(), f.APIURL(), f.ClientID, f.ClientSecret
	in := connect.ClientInput{Kind: &kind, Name: &name, HTTPURL: &h, APIURL: &a, Key: &key, Secret: &sec}
	if mod != nil {
		mod(&in)
	}
	oc, err := v.e.CreateClient(context.Background(), v.admin, v.org.Name, in)
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	f.RedirectURI = v.e.CallbackURL(oc)
	return oc
}

// snapshot is what the store holds of acme's and other's upstream objects, to
// prove a refused request changed nothing.
type snapshot struct {
	Clients     []core.OAuthClient
	Connections []core.Connection
	Projects    []core.Project
}

func (v *env) snapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	for _, o := range []core.Organization{v.org, v.other} {
		cs, _, err := v.st.ListOAuthClients(ctx, store.OAuthClientFilter{OrgID: o.ID}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		s.Clients = append(s.Clients, cs...)
		conns, _, err := v.st.ListConnections(ctx, store.ConnectionFilter{OwnerOrgID: o.ID}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		s.Connections = append(s.Connections, conns...)
		prjs, _, err := v.st.ListProjects(ctx, o.ID, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		s.Projects = append(s.Projects, prjs...)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// errorsOf checks that r is a JSON:API errors document with status, and returns its
// errors.
func errorsOf(t *testing.T, r response, status int) []map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != tfe.MediaType {
		t.Errorf("Content-Type %q, want %q", ct, tfe.MediaType)
	}
	var d struct {
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil || len(d.Errors) == 0 {
		t.Fatalf("not a JSON:API errors document (%v): %s", err, r.body)
	}
	for _, e := range d.Errors {
		if e["status"] != strconv.Itoa(status) || e["title"] == "" {
			t.Errorf("error object %v: status must be %q and there must be a title", e, strconv.Itoa(status))
		}
	}
	return d.Errors
}
