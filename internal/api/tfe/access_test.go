package tfe_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	gotfe "github.com/hashicorp/go-tfe"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
)

// call is one request of the dialect.
type call struct {
	name, method, path string
	body               any
}

// fixture is a client of acme with an oauth-token and a project, and the requests
// that reach every endpoint with their ids.
type fixture struct {
	oc            core.OAuthClient
	tokenID       string
	reads, writes []call
}

func newFixture(t *testing.T, v *env) fixture {
	t.Helper()
	f := fake(t, core.ProviderGitHub)
	oc := v.clientFor(t, f, func(in *connect.ClientInput) {
		in.OAuthTokenString = ptr(f.IssueToken().AccessToken)
		in.ProjectIDs = &[]string{v.project.ID}
		in.OrganizationScoped = ptr(false)
	})
	conns, err := v.e.ClientConnections(t.Context(), v.admin, oc.ID)
	if err != nil || len(conns) != 1 {
		t.Fatalf("fixture token: %v, %v", conns, err)
	}
	fx := fixture{oc: oc, tokenID: conns[0].ID}
	clientPath, tokenPath, projectPath := "/oauth-clients/"+oc.ID, "/oauth-tokens/"+fx.tokenID, "/projects/"+v.project.ID
	fx.reads = []call{
		{"list organizations", http.MethodGet, "/organizations", nil},
		{"show organization", http.MethodGet, "/organizations/acme", nil},
		{"list clients", http.MethodGet, "/organizations/acme/oauth-clients?include=oauth_tokens,projects", nil},
		{"show client", http.MethodGet, clientPath + "?include=oauth_tokens,projects", nil},
		{"list client tokens", http.MethodGet, clientPath + "/oauth-tokens", nil},
		{"list organization tokens", http.MethodGet, "/organizations/acme/oauth-tokens", nil},
		{"show token", http.MethodGet, tokenPath, nil},
		{"list projects", http.MethodGet, "/organizations/acme/projects", nil},
		{"show project", http.MethodGet, projectPath, nil},
	}
	fx.writes = []call{
		{"create client", http.MethodPost, "/organizations/acme/oauth-clients",
			doc("oauth-clients", map[string]any{"service-provider": "github", "key": "k", "secret": "s"}, nil)},
		{"update client", http.MethodPatch, clientPath, doc("oauth-clients", map[string]any{"name": "renamed"}, nil)},
		{"attach projects", http.MethodPost, clientPath + "/relationships/projects", projectRefs(v.project.ID)},
		{"detach projects", http.MethodDelete, clientPath + "/relationships/projects", projectRefs(v.project.ID)},
		{"update token", http.MethodPatch, tokenPath, doc("oauth-tokens", map[string]any{"ssh-key": sshKey}, nil)},
		{"delete token", http.MethodDelete, tokenPath, nil},
		{"create project", http.MethodPost, "/organizations/acme/projects", doc("projects", map[string]any{"name": "new"}, nil)},
		{"update project", http.MethodPatch, projectPath, doc("projects", map[string]any{"name": "renamed"}, nil)},
		{"delete project", http.MethodDelete, projectPath, nil},
		{"delete client", http.MethodDelete, clientPath, nil},
	}
	return fx
}

// TestPermissions: members read and are refused changes (403); another
// organization's owner gets 404 for every endpoint and id; without valid
// credentials every endpoint but ping is 401. Nothing is changed by a refusal.
func TestPermissions(t *testing.T) {
	t.Parallel()
	v := newEnv(t, "sqlite")
	fx := newFixture(t, v)
	readOnly := v.token(t, v.admin, core.ScopeReadAPI)
	before := v.snapshot(t)

	for _, c := range fx.reads {
		if r := v.do(t, c.method, c.path, v.memberTok, c.body); r.status != http.StatusOK {
			t.Errorf("member: %s: %d %s", c.name, r.status, r.body)
		}
		if r := v.do(t, c.method, c.path, readOnly, c.body); r.status != http.StatusOK {
			t.Errorf("read_api token: %s: %d %s", c.name, r.status, r.body)
		}
	}
	for _, c := range fx.writes {
		t.Run("member/"+c.name, func(t *testing.T) {
			errs := errorsOf(t, v.do(t, c.method, c.path, v.memberTok, c.body), http.StatusForbidden)
			if !strings.Contains(errs[0]["detail"].(string), "admins") {
				t.Errorf("403 detail: %v", errs[0])
			}
		})
		t.Run("read_api token/"+c.name, func(t *testing.T) {
			errorsOf(t, v.do(t, c.method, c.path, readOnly, c.body), http.StatusForbidden)
		})
	}
	for _, c := range append(fx.reads[1:], fx.writes...) {
		t.Run("outsider/"+c.name, func(t *testing.T) {
			errorsOf(t, v.do(t, c.method, c.path, v.outsiderTok, c.body), http.StatusNotFound)
		})
	}
	// The outsider's own organization is all they see.
	if r := v.do(t, http.MethodGet, "/organizations", v.outsiderTok, nil); !strings.Contains(string(r.body), `"id":"other"`) ||
		strings.Contains(string(r.body), "acme") {
		t.Errorf("outsider's organizations: %s", r.body)
	}
	// The outsider's own project cannot be attached to acme's client, nor acme's
	// project be reached through their organization.
	errorsOf(t, v.do(t, http.MethodPost, "/oauth-clients/"+fx.oc.ID+"/relationships/projects", v.outsiderTok, projectRefs(v.otherProject.ID)), http.StatusNotFound)

	for _, tok := range []string{"", "vcp_notatoken", "not a token at all"} {
		for _, c := range append(fx.reads, fx.writes...) {
			errs := errorsOf(t, v.do(t, c.method, c.path, tok, c.body), http.StatusUnauthorized)
			if errs[0]["title"] != "unauthorized" {
				t.Errorf("401 %s: %v", c.name, errs)
			}
		}
	}
	if r := v.do(t, http.MethodGet, "/ping", "", nil); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("ping without credentials: %d %q", r.status, r.body)
	}

	// go-tfe sees the same: not found for the outsider, an error for the member.
	ctx := t.Context()
	if _, err := v.client(t, v.outsiderTok).OAuthClients.Read(ctx, fx.oc.ID); !errors.Is(err, gotfe.ErrResourceNotFound) {
		t.Errorf("go-tfe, outsider: %v", err)
	}
	if err := v.client(t, v.memberTok).OAuthClients.Delete(ctx, fx.oc.ID); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("go-tfe, member deleting: %v", err)
	}
	if _, err := gotfe.NewClient(&gotfe.Config{Address: v.URL, Token: "vcp_notatoken"}); err != nil {
		t.Errorf("go-tfe with a bad token must still start (ping is public): %v", err)
	}

	if after := v.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Errorf("refused requests changed the store:\nbefore %+v\n after %+v", before, after)
	}

	// The admin may do every one of them.
	for _, c := range fx.writes {
		if r := v.do(t, c.method, c.path, v.adminTok, c.body); r.status >= 300 {
			t.Errorf("admin: %s: %d %s", c.name, r.status, r.body)
		}
	}
}

// TestNotFound: unknown ids and paths are JSON:API 404s, wrong methods 405s.
func TestNotFound(t *testing.T) {
	t.Parallel()
	v := newEnv(t, "sqlite")
	for _, c := range []call{
		{"client", http.MethodGet, "/oauth-clients/oc-nope", nil},
		{"client update", http.MethodPatch, "/oauth-clients/oc-nope", doc("oauth-clients", map[string]any{"name": "x"}, nil)},
		{"client delete", http.MethodDelete, "/oauth-clients/oc-nope", nil},
		{"client tokens", http.MethodGet, "/oauth-clients/oc-nope/oauth-tokens", nil},
		{"attach", http.MethodPost, "/oauth-clients/oc-nope/relationships/projects", projectRefs(v.project.ID)},
		{"token", http.MethodGet, "/oauth-tokens/ot-nope", nil},
		{"token update", http.MethodPatch, "/oauth-tokens/ot-nope", doc("oauth-tokens", map[string]any{"ssh-key": sshKey}, nil)},
		{"token delete", http.MethodDelete, "/oauth-tokens/ot-nope", nil},
		{"project", http.MethodGet, "/projects/prj-nope", nil},
		{"organization", http.MethodGet, "/organizations/nope", nil},
		{"organization clients", http.MethodGet, "/organizations/nope/oauth-clients", nil},
		{"organization tokens", http.MethodGet, "/organizations/nope/oauth-tokens", nil},
		{"organization projects", http.MethodPost, "/organizations/nope/projects", doc("projects", map[string]any{"name": "x"}, nil)},
		{"unknown path", http.MethodGet, "/organizations/acme/workspaces", nil},
		{"unknown subpath", http.MethodGet, "/oauth-clients/oc-nope/whatever", nil},
	} {
		errorsOf(t, v.do(t, c.method, c.path, v.adminTok, c.body), http.StatusNotFound)
	}
	// A person's own connection is not an oauth-token.
	f := fake(t, core.ProviderGitHub)
	oc := v.clientFor(t, f, nil)
	own, err := v.e.ImportToken(t.Context(), v.admin, connect.Target{OAuthClient: oc.ID}, f.IssueToken().AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	errorsOf(t, v.do(t, http.MethodGet, "/oauth-tokens/"+own.ID, v.adminTok, nil), http.StatusNotFound)
	errorsOf(t, v.do(t, http.MethodDelete, "/oauth-tokens/"+own.ID, v.adminTok, nil), http.StatusNotFound)
	if r := v.do(t, http.MethodGet, "/oauth-clients/"+oc.ID+"/oauth-tokens", v.adminTok, nil); strings.Contains(string(r.body), own.ID) {
		t.Errorf("a person's own connection is listed as an oauth-token: %s", r.body)
	}

	for _, c := range []struct {
		method, path, allow string
	}{
		{http.MethodPut, "/oauth-clients/oc-x", "GET, PATCH, DELETE"},
		{http.MethodPost, "/oauth-tokens/ot-x", "GET, PATCH, DELETE"},
		{http.MethodPatch, "/organizations/acme/oauth-clients", "GET, POST"},
		{http.MethodPost, "/ping", "GET"},
		{http.MethodDelete, "/organizations", "GET"},
	} {
		r := v.do(t, c.method, c.path, v.adminTok, nil)
		errorsOf(t, r, http.StatusMethodNotAllowed)
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}
