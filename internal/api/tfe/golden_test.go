package tfe_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/api/apitest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
)

// normalizer makes a response stable across runs: generated ids become oc-1,
// ot-1 … in order of first appearance, times one fixed time, and the servers'
// random addresses fixed names.
type normalizer struct {
	ids  map[string]string
	next map[string]int
	urls [][2]string
}

var (
	idRE   = regexp.MustCompile(`\b(oc|ot|prj|user)-[A-Za-z0-9]{12,}\b`)
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
)

func (n *normalizer) apply(b []byte) []byte {
	s := string(b)
	for _, u := range n.urls {
		s = strings.ReplaceAll(s, u[0], u[1])
	}
	s = timeRE.ReplaceAllString(s, "2026-01-02T03:04:05Z")
	return []byte(idRE.ReplaceAllStringFunc(s, func(id string) string {
		if r, ok := n.ids[id]; ok {
			return r
		}
		prefix := id[:strings.IndexByte(id, '-')]
		n.next[prefix]++
		r := fmt.Sprintf("%s-%d", prefix, n.next[prefix])
		n.ids[id] = r
		return r
	}))
}

// TestGolden pins every response shape the dialect sends: each response (status,
// content type, body) is compared with testdata/<name>.golden.json; -update
// rewrites them.
func TestGolden(t *testing.T) {
	t.Parallel()
	v := newEnv(t, "sqlite")
	ctx := t.Context()
	f := fake(t, core.ProviderGitHubEnterprise)
	n := &normalizer{ids: map[string]string{}, next: map[string]int{},
		urls: [][2]string{{v.URL, "http://vcsauth.example"}, {f.URL, "http://github.example"}}}

	// A client made through the engine, with a token, for the reads.
	oc := v.clientFor(t, f, func(in *connect.ClientInput) {
		in.Name = ptr("GitHub Enterprise")
		in.OAuthTokenString = ptr(f.IssueToken().AccessToken)
		in.ProjectIDs = &[]string{v.project.ID}
		in.OrganizationScoped = ptr(false)
		in.Slug = ptr("ghe")
	})
	conns, err := v.e.ClientConnections(ctx, v.admin, oc.ID)
	if err != nil || len(conns) != 1 {
		t.Fatal(err)
	}
	if _, err := v.e.SetSSHKey(ctx, v.admin, conns[0].ID, sshKey); err != nil {
		t.Fatal(err)
	}
	n.apply([]byte(oc.ID + " " + conns[0].ID)) // oc-1, ot-1
	created := map[string]string{}
	steps := []struct {
		name, method, path, token string
		body                      any
		save                      string // remember data.id under this name
	}{
		{"ping", http.MethodGet, "/ping", "", nil, ""},
		{"account_details", http.MethodGet, "/account/details", v.adminTok, nil, ""},
		{"error_401_account_details", http.MethodGet, "/account/details", "vcp_notatoken", nil, ""},
		{"organizations_list", http.MethodGet, "/organizations", v.adminTok, nil, ""},
		{"organization_show", http.MethodGet, "/organizations/acme", v.adminTok, nil, ""},
		{"project_create", http.MethodPost, "/organizations/acme/projects", v.adminTok,
			doc("projects", map[string]any{"name": "api", "description": "the API"}, nil), "project"},
		{"project_show", http.MethodGet, "/projects/{project}", v.adminTok, nil, ""},
		{"project_update", http.MethodPatch, "/projects/{project}", v.adminTok, doc("projects", map[string]any{"description": "the public API"}, nil), ""},
		{"projects_list", http.MethodGet, "/organizations/acme/projects?page[size]=1", v.adminTok, nil, ""},
		{"oauth_client_show", http.MethodGet, "/oauth-clients/" + oc.ID, v.memberTok, nil, ""},
		{"oauth_client_show_include", http.MethodGet, "/oauth-clients/" + oc.ID + "?include=oauth_tokens,projects", v.memberTok, nil, ""},
		{"oauth_client_create", http.MethodPost, "/organizations/acme/oauth-clients", v.adminTok,
			doc("oauth-clients", map[string]any{"service-provider": "bitbucket_data_center", "name": nil, "http-url": "https://bitbucket.example.com/",
				"key": "app-key", "secret": "app-secret", "rsa-public-key": rsaPublicKey},
				map[string]any{"projects": projectRefs(v.project.ID), "agent-pool": map[string]any{"data": map[string]any{"type": "agent-pools", "id": "apool-1"}}}), "client"},
		{"oauth_client_update", http.MethodPatch, "/oauth-clients/{client}", v.adminTok,
			doc("oauth-clients", map[string]any{"name": "Bitbucket", "device-flow": false},
				map[string]any{"projects": map[string]any{"data": []any{}}, "agent-pool": map[string]any{"data": nil}}), ""},
		{"oauth_clients_list", http.MethodGet, "/organizations/acme/oauth-clients?page[number]=1&page[size]=1", v.memberTok, nil, ""},
		{"oauth_clients_list_include", http.MethodGet, "/organizations/acme/oauth-clients?include=oauth_tokens,projects", v.memberTok, nil, ""},
		{"oauth_clients_list_past_end", http.MethodGet, "/organizations/acme/oauth-clients?page[number]=5&page[size]=10", v.memberTok, nil, ""},
		{"oauth_tokens_list_client", http.MethodGet, "/oauth-clients/" + oc.ID + "/oauth-tokens", v.memberTok, nil, ""},
		{"oauth_tokens_list_organization", http.MethodGet, "/organizations/acme/oauth-tokens?page[size]=5", v.memberTok, nil, ""},
		{"oauth_token_show", http.MethodGet, "/oauth-tokens/" + conns[0].ID, v.memberTok, nil, ""},
		{"oauth_token_update", http.MethodPatch, "/oauth-tokens/" + conns[0].ID, v.adminTok, doc("oauth-tokens", map[string]any{"ssh-key": nil}, nil), ""},
		{"attach_projects", http.MethodPost, "/oauth-clients/{client}/relationships/projects", v.adminTok, projectRefs(v.project.ID), ""},
		{"detach_projects", http.MethodDelete, "/oauth-clients/{client}/relationships/projects", v.adminTok, projectRefs(v.project.ID), ""},
		{"oauth_client_delete", http.MethodDelete, "/oauth-clients/{client}", v.adminTok, nil, ""},
		{"project_delete", http.MethodDelete, "/projects/{project}", v.adminTok, nil, ""},
		{"error_413", http.MethodPost, "/organizations/acme/projects", v.adminTok,
			`{"data":{"type":"projects","attributes":{"name":"` + strings.Repeat("x", 1<<20) + `"}}}`, ""},
		{"error_401", http.MethodGet, "/oauth-clients/" + oc.ID, "", nil, ""},
		{"error_403", http.MethodDelete, "/oauth-clients/" + oc.ID, v.memberTok, nil, ""},
		{"error_404", http.MethodGet, "/oauth-clients/" + oc.ID, v.outsiderTok, nil, ""},
		{"error_405", http.MethodPut, "/oauth-clients/" + oc.ID, v.adminTok, nil, ""},
		{"error_400_include", http.MethodGet, "/oauth-clients/" + oc.ID + "?include=workspaces", v.adminTok, nil, ""},
		{"error_400_page", http.MethodGet, "/organizations/acme/oauth-clients?page[size]=many", v.adminTok, nil, ""},
		{"error_422", http.MethodPost, "/organizations/acme/oauth-clients", v.adminTok,
			doc("oauth-clients", map[string]any{"service-provider": "gitlab_community_edition", "http-url": "gitlab.example.com", "key": "k", "secret": "s"}, nil), ""},
		{"error_422_document", http.MethodPost, "/organizations/acme/oauth-clients", v.adminTok, "{", ""},
		{"oauth_token_delete", http.MethodDelete, "/oauth-tokens/" + conns[0].ID, v.adminTok, nil, ""},
	}
	for _, s := range steps {
		path := s.path
		for k, id := range created {
			path = strings.ReplaceAll(path, "{"+k+"}", id)
		}
		r := v.do(t, s.method, path, s.token, s.body)
		if s.save != "" {
			var d struct {
				Data struct{ ID string } `json:"data"`
			}
			if err := json.Unmarshal(r.body, &d); err != nil || d.Data.ID == "" {
				t.Fatalf("%s: %d %s", s.name, r.status, r.body)
			}
			created[s.save] = d.Data.ID
		}
		compareGolden(t, s.name, r, n)
	}
	v.noSecrets(t, "app-secret", f.ClientSecret, "OPENSSH")
}

func compareGolden(t *testing.T, name string, r response, n *normalizer) {
	t.Helper()
	var body any
	if len(r.body) > 0 {
		if err := json.Unmarshal(n.apply(r.body), &body); err != nil {
			t.Errorf("%s: body is not JSON: %s", name, r.body)
			return
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Status      int    `json:"status"`
		ContentType string `json:"content-type,omitempty"`
		Body        any    `json:"body"`
	}{r.status, r.header.Get("Content-Type"), body}); err != nil {
		t.Fatal(err)
	}
	apitest.Golden(t, name, buf.Bytes())
}
