package tfe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	gotfe "github.com/hashicorp/go-tfe"

	"github.com/vcsauth/vcsauth/internal/api/apitest"
	"github.com/vcsauth/vcsauth/internal/api/tfe"
	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/app/apptest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/web"
)

// keys is the keyring of every test server.
var keys = apptest.Keys

// env is a whole vcsauth on httptest, wired by app.New as `vcsauth serve` wires one
// (apptest). Organization acme has an admin and a member; Outsider owns
// organization other.
type env struct {
	URL   string
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

	app *apptest.Server
	rec *apitest.Recorder // every response a go-tfe client or do received
}

// dialects are the databases the lifecycle runs on: PostgreSQL when CI provides it.
var dialects = []string{"sqlite", "postgres"}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	a := apptest.Start(t, apptest.Options{Dialect: dialect, Identity: identity.Options{MaxLoginFailures: 1000},
		App: app.Deps{Connect: connect.Options{RefreshJitter: -1, ProviderTimeout: 10 * time.Second}}})
	v := &env{URL: a.URL, st: a.Store, id: a.Identity, e: a.Connect, site: a.Site, app: a, rec: &apitest.Recorder{}}
	v.org = a.PutOrg(t, core.Organization{Name: "acme", Email: "acme@example.com"})
	v.other = a.PutOrg(t, core.Organization{Name: "other", Email: "other@example.com"})
	v.admin, v.member, v.outsider = a.PutUser(t, "admin"), a.PutUser(t, "member"), a.PutUser(t, "outsider")
	a.PutMember(t, v.org, v.admin, core.RoleAdmin)
	a.PutMember(t, v.org, v.member, core.RoleMember)
	a.PutMember(t, v.other, v.outsider, core.RoleOwner)
	v.project = a.PutProject(t, core.Project{ID: "prj-web", OrgID: v.org.ID, Name: "web", Description: "the web site"})
	v.otherProject = a.PutProject(t, core.Project{ID: "prj-theirs", OrgID: v.other.ID, Name: "theirs"})
	v.adminTok, v.memberTok, v.outsiderTok = v.token(t, v.admin), v.token(t, v.member), v.token(t, v.outsider)
	return v
}

// token issues p a personal access token with scopes (api when none).
func (v *env) token(t *testing.T, p core.Principal, scopes ...string) string {
	t.Helper()
	return v.app.Token(t, p.User.ID, "test", scopes...)
}

func (v *env) httpClient() *http.Client {
	return &http.Client{Transport: v.rec, Timeout: 30 * time.Second}
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
	v.rec.NoSecrets(t, secrets...)
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
	return v.app.ForgeClient(t, f, v.admin, v.org.Name, "fake "+string(f.Kind), mod)
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
