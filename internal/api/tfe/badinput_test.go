package tfe_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

// TestBadInput: every refusal is a JSON:API error whose pointer names the member at
// fault, and leaves the store as it was.
func TestBadInput(t *testing.T) {
	t.Parallel()
	v := newEnv(t, "sqlite")
	fx := newFixture(t, v)
	ado := fake(t, core.ProviderAzureDevOpsServer)
	clientPath, tokenPath := "/oauth-clients/"+fx.oc.ID, "/oauth-tokens/"+fx.tokenID
	gh := func(extra map[string]any) map[string]any {
		a := map[string]any{"service-provider": "github", "key": "k", "secret": "s"}
		for k, val := range extra {
			a[k] = val
		}
		return a
	}
	create := func(attrs map[string]any, rels map[string]any) map[string]any {
		return doc("oauth-clients", attrs, rels)
	}
	const clients = "/organizations/acme/oauth-clients"
	cases := []struct {
		name, method, path string
		body               any
		status             int
		pointer            string // "-": no source pointer
	}{
		{"wrong type", http.MethodPost, clients, doc("oauth-client", gh(nil), nil), 422, "/data/type"},
		{"type of another resource", http.MethodPost, clients, doc("projects", gh(nil), nil), 422, "/data/type"},
		{"no type", http.MethodPost, clients, map[string]any{"data": map[string]any{"attributes": gh(nil)}}, 422, "/data/type"},
		{"type not a string", http.MethodPost, clients, map[string]any{"data": map[string]any{"type": 7}}, 422, "/data/type"},
		{"missing service-provider", http.MethodPost, clients, create(map[string]any{"key": "k", "secret": "s"}, nil), 422, "/data/attributes/service-provider"},
		{"null service-provider", http.MethodPost, clients, create(map[string]any{"service-provider": nil, "key": "k", "secret": "s"}, nil), 422, "/data/attributes/service-provider"},
		{"unknown provider", http.MethodPost, clients, create(gh(map[string]any{"service-provider": "bitbucket_server_legacy"}), nil), 422, "/data/attributes/service-provider"},
		{"service-provider not a string", http.MethodPost, clients, create(gh(map[string]any{"service-provider": 3}), nil), 422, "/data/attributes/service-provider"},
		{"malformed http-url", http.MethodPost, clients, create(gh(map[string]any{"service-provider": "gitlab_community_edition", "http-url": "not a url"}), nil), 422, "/data/attributes/http-url"},
		{"http-url with a query", http.MethodPost, clients, create(gh(map[string]any{"service-provider": "gitea", "http-url": "https://git.example.com/?x=1"}), nil), 422, "/data/attributes/http-url"},
		{"malformed api-url", http.MethodPost, clients, create(gh(map[string]any{"api-url": "ftp://api.example.com"}), nil), 422, "/data/attributes/api-url"},
		{"self-hosted without http-url", http.MethodPost, clients, create(gh(map[string]any{"service-provider": "gitea"}), nil), 422, "/data/attributes/http-url"},
		{"rsa-public-key without secret", http.MethodPost, clients, create(map[string]any{"service-provider": "bitbucket_data_center",
			"http-url": "https://bitbucket.example.com", "key": "k", "rsa-public-key": rsaPublicKey}, nil), 422, "/data/attributes/secret"},
		{"rsa-public-key for github", http.MethodPost, clients, create(gh(map[string]any{"rsa-public-key": rsaPublicKey}), nil), 422, "/data/attributes/rsa-public-key"},
		{"private-key for github", http.MethodPost, clients, create(gh(map[string]any{"private-key": "-----BEGIN PRIVATE KEY-----"}), nil), 422, "/data/attributes/private-key"},
		{"no key", http.MethodPost, clients, create(map[string]any{"service-provider": "github", "secret": "s"}, nil), 422, "/data/attributes/key"},
		{"no secret", http.MethodPost, clients, create(map[string]any{"service-provider": "github", "key": "k"}, nil), 422, "/data/attributes/secret"},
		{"ado_server without a token", http.MethodPost, clients, create(map[string]any{"service-provider": "ado_server", "http-url": ado.HTTPURL()}, nil), 422, "/data/attributes/oauth-token-string"},
		{"a token the provider refuses", http.MethodPost, clients, create(map[string]any{"service-provider": "ado_server", "http-url": ado.HTTPURL(),
			"api-url": ado.APIURL(), "oauth-token-string": "not-a-token-the-provider-knows"}, nil), 422, "/data/attributes/oauth-token-string"},
		{"name not a string", http.MethodPost, clients, create(gh(map[string]any{"name": 5}), nil), 422, "/data/attributes/name"},
		{"name on two lines", http.MethodPost, clients, create(gh(map[string]any{"name": "a\nb"}), nil), 422, "/data/attributes/name"},
		{"organization-scoped not a boolean", http.MethodPost, clients, create(gh(map[string]any{"organization-scoped": "yes"}), nil), 422, "/data/attributes/organization-scoped"},
		{"bad slug", http.MethodPost, clients, create(gh(map[string]any{"slug": "Bad Slug"}), nil), 422, "/data/attributes/slug"},
		{"unknown project", http.MethodPost, clients, create(gh(nil), map[string]any{"projects": projectRefs("prj-nope")}), 422, "/data/relationships/projects"},
		{"another organization's project", http.MethodPost, clients, create(gh(nil), map[string]any{"projects": projectRefs(v.otherProject.ID)}), 422, "/data/relationships/projects"},
		{"project of the wrong type", http.MethodPost, clients, create(gh(nil), map[string]any{"projects": map[string]any{"data": []any{map[string]any{"type": "workspaces", "id": "ws-1"}}}}), 422, "/data/relationships/projects/data/0/type"},
		{"project without id", http.MethodPost, clients, create(gh(nil), map[string]any{"projects": map[string]any{"data": []any{map[string]any{"type": "projects"}}}}), 422, "/data/relationships/projects/data/0/id"},
		{"relationship without data", http.MethodPost, clients, create(gh(nil), map[string]any{"projects": map[string]any{}}), 422, "/data/relationships/projects"},
		{"agent pool of the wrong type", http.MethodPost, clients, create(gh(nil), map[string]any{"agent-pool": map[string]any{"data": map[string]any{"type": "projects", "id": "x"}}}), 422, "/data/relationships/agent-pool/data/type"},
		{"attributes not an object", http.MethodPost, clients, map[string]any{"data": map[string]any{"type": "oauth-clients", "attributes": []any{1}}}, 422, "/data/attributes"},
		{"data an array", http.MethodPost, clients, map[string]any{"data": []any{}}, 422, "/data"},
		{"no data", http.MethodPost, clients, map[string]any{"meta": map[string]any{}}, 422, "/data"},
		{"null data", http.MethodPost, clients, map[string]any{"data": nil}, 422, "/data"},
		{"not JSON", http.MethodPost, clients, "service-provider=github&key=k", 422, ""},
		{"truncated JSON", http.MethodPost, clients, `{"data":{"type":"oauth-clients"`, 422, ""},
		{"empty body", http.MethodPost, clients, "", 422, ""},
		{"two documents", http.MethodPost, clients, `{"data":{}} {"data":{}}`, 422, ""},
		{"a JSON array", http.MethodPost, clients, `[1,2]`, 422, ""},
		{"too large", http.MethodPost, clients, `{"data":{"type":"oauth-clients","attributes":{"name":"` + strings.Repeat("x", 1<<20) + `"}}}`, 413, "-"},

		{"update: wrong type", http.MethodPatch, clientPath, doc("projects", map[string]any{"name": "x"}, nil), 422, "/data/type"},
		{"update: another id", http.MethodPatch, clientPath, map[string]any{"data": map[string]any{"type": "oauth-clients", "id": "oc-other", "attributes": map[string]any{"name": "x"}}}, 422, "/data/id"},
		{"update: another provider", http.MethodPatch, clientPath, doc("oauth-clients", map[string]any{"service-provider": "gitlab_hosted"}, nil), 422, "/data/attributes/service-provider"},
		{"update: malformed http-url", http.MethodPatch, clientPath, doc("oauth-clients", map[string]any{"http-url": "http://"}, nil), 422, "/data/attributes/http-url"},
		{"update: empty secret", http.MethodPatch, clientPath, doc("oauth-clients", map[string]any{"secret": ""}, nil), 422, "/data/attributes/secret"},
		{"update: unknown project", http.MethodPatch, clientPath, doc("oauth-clients", nil, map[string]any{"projects": projectRefs(v.project.ID, "prj-nope")}), 422, "/data/relationships/projects"},
		{"update: not JSON", http.MethodPatch, clientPath, "<xml/>", 422, ""},

		{"attach: unknown project", http.MethodPost, clientPath + "/relationships/projects", projectRefs("prj-nope"), 422, "/data"},
		{"attach: another organization's project", http.MethodPost, clientPath + "/relationships/projects", projectRefs(v.otherProject.ID), 422, "/data"},
		{"attach: wrong type", http.MethodPost, clientPath + "/relationships/projects", map[string]any{"data": []any{map[string]any{"type": "project", "id": v.project.ID}}}, 422, "/data/0/type"},
		{"attach: nothing", http.MethodPost, clientPath + "/relationships/projects", projectRefs(), 422, "/data"},
		{"attach: one object", http.MethodPost, clientPath + "/relationships/projects", map[string]any{"data": map[string]any{"type": "projects", "id": v.project.ID}}, 422, "/data"},
		{"detach: unknown project", http.MethodDelete, clientPath + "/relationships/projects", projectRefs("prj-nope"), 422, "/data"},
		{"detach: no body", http.MethodDelete, clientPath + "/relationships/projects", nil, 422, ""},

		{"token: not a key", http.MethodPatch, tokenPath, doc("oauth-tokens", map[string]any{"ssh-key": "ssh-rsa AAAA public"}, nil), 422, "/data/attributes/ssh-key"},
		{"token: no ssh-key", http.MethodPatch, tokenPath, doc("oauth-tokens", map[string]any{}, nil), 422, "/data/attributes/ssh-key"},
		{"token: wrong type", http.MethodPatch, tokenPath, doc("oauth-clients", map[string]any{"ssh-key": sshKey}, nil), 422, "/data/type"},

		{"project: no name", http.MethodPost, "/organizations/acme/projects", doc("projects", map[string]any{"description": "x"}, nil), 422, "/data/attributes/name"},
		{"project: name taken", http.MethodPost, "/organizations/acme/projects", doc("projects", map[string]any{"name": "web"}, nil), 422, "/data/attributes/name"},
		{"project: description not a string", http.MethodPost, "/organizations/acme/projects", doc("projects", map[string]any{"name": "n", "description": true}, nil), 422, "/data/attributes/description"},
		{"project update: empty name", http.MethodPatch, "/projects/" + v.project.ID, doc("projects", map[string]any{"name": ""}, nil), 422, "/data/attributes/name"},
		{"project update: wrong type", http.MethodPatch, "/projects/" + v.project.ID, doc("oauth-clients", map[string]any{"name": "x"}, nil), 422, "/data/type"},
	}
	before := v.snapshot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := errorsOf(t, v.do(t, tc.method, tc.path, v.adminTok, tc.body), tc.status)
			src, _ := errs[0]["source"].(map[string]any)
			switch {
			case tc.pointer == "-":
				if src != nil {
					t.Errorf("unexpected source %v", src)
				}
			case src == nil || src["pointer"] != tc.pointer:
				t.Errorf("source %v, want pointer %q (%v)", src, tc.pointer, errs[0]["detail"])
			}
			if d, _ := errs[0]["detail"].(string); d == "" {
				t.Errorf("no detail: %v", errs[0])
			}
		})
	}
	if after := v.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Errorf("refused requests changed the store:\nbefore %+v\n after %+v", before, after)
	}

	// Plain JSON is accepted as well as JSON:API's media type.
	r := v.do(t, http.MethodPost, "/organizations/acme/projects", v.adminTok, `{"data":{"type":"projects","attributes":{"name":"plain"}}}`,
		"Content-Type", "application/json")
	if r.status != http.StatusCreated {
		t.Errorf("a plain JSON body: %d %s", r.status, r.body)
	}
	v.noSecrets(t, "-----BEGIN PRIVATE KEY-----", "not-a-token-the-provider-knows")
}
