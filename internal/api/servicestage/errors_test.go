package servicestage_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/api/servicestage/servicestagetest"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// startFlow asks /redirect as a and plays the browser; it returns code and state.
func (e *env) startFlow(t *testing.T, a authn, project, repoType string) (code, state string) {
	t.Helper()
	r := e.do(t, a, "GET", "/v1/"+project+"/git/auths/"+repoType+"/redirect", nil)
	expect(t, r, http.StatusOK, "")
	var red struct{ URL string }
	if err := json.Unmarshal(r.body, &red); err != nil {
		t.Fatal(err)
	}
	return e.HandBack(t, red.URL)
}

// allNames lists every project connection's name, in every project.
func (e *env) allNames(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range []string{e.Project.ID, e.second.ID, e.OtherProject.ID} {
		out = append(out, connNames(e.Connections(t, p))...)
	}
	return out
}

// TestErrors: every refusal answers the dialect's error body with its documented
// code, and stores nothing under the name it tried.
func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{})
	alice, bob := tokenAuth(e.Token(t, e.Alice)), tokenAuth(e.Token(t, e.Bob))
	outsider := tokenAuth(e.Token(t, e.Outsider))
	readOnly := tokenAuth(e.Token(t, e.Alice, core.ScopeReadAPI))
	expect(t, e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"name": "taken", "token": e.gitlab.IssueToken().AccessToken}), http.StatusOK, "")
	forged, err := secret.Mint(secret.PrefixFlowState, nil)
	if err != nil {
		t.Fatal(err)
	}
	oauth := func(name, code, state string) map[string]string {
		return map[string]string{"name": name, "code": code, "state": state}
	}

	for _, tc := range []struct {
		name    string
		attempt string // the name that must not be stored
		run     func(t *testing.T) response
		status  int
		code    string
	}{
		{"forged_state", "x1", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/github/oauth", oauth("x1", "some-code", forged))
		}, 400, "SVCSTG.REPO.0402"},
		{"malformed_state", "x2", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/github/oauth", oauth("x2", "some-code", "not-a-state"))
		}, 400, "SVCSTG.REPO.0402"},
		{"reused_state", "x3", func(t *testing.T) response {
			code, state := e.startFlow(t, alice, e.Project.ID, "github")
			expect(t, e.do(t, alice, "POST", base+"/github/oauth", oauth("first", code, state)), http.StatusOK, "")
			return e.do(t, alice, "POST", base+"/github/oauth", oauth("x3", code, state))
		}, 400, "SVCSTG.REPO.0402"},
		{"other_project_state", "x4", func(t *testing.T) response {
			code, state := e.startFlow(t, alice, e.Project.ID, "github")
			r := e.do(t, alice, "POST", "/v1/"+e.second.ID+"/git/auths/github/oauth", oauth("x4", code, state))
			// The state was not used up: its own project can still complete it.
			expect(t, e.do(t, alice, "POST", base+"/github/oauth", oauth("rightful", code, state)), http.StatusOK, "")
			return r
		}, 400, "SVCSTG.REPO.0402"},
		{"other_repo_type_state", "x5", func(t *testing.T) response {
			code, state := e.startFlow(t, alice, e.Project.ID, "github")
			return e.do(t, alice, "POST", base+"/gitlab/oauth", oauth("x5", code, state))
		}, 400, "SVCSTG.REPO.0402"},
		{"someone_elses_state", "x6", func(t *testing.T) response {
			code, state := e.startFlow(t, alice, e.Project.ID, "github")
			return e.do(t, bob, "POST", base+"/github/oauth", oauth("x6", code, state))
		}, 400, "SVCSTG.REPO.0402"},
		{"wrong_code", "x7", func(t *testing.T) response {
			_, state := e.startFlow(t, alice, e.Project.ID, "github")
			r := e.do(t, alice, "POST", base+"/github/oauth", oauth("x7", "not-the-code", state))
			// The state was spent on the attempt.
			expect(t, e.do(t, alice, "POST", base+"/github/oauth", oauth("x7", "not-the-code", state)), 400, "SVCSTG.REPO.0402")
			return r
		}, 400, "SVCSTG.REPO.0406"},
		{"duplicate_name", "", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"name": "taken", "token": e.gitlab.IssueToken().AccessToken})
		}, 400, "SVCSTG.REPO.0403"},
		{"duplicate_name_oauth", "", func(t *testing.T) response {
			code, state := e.startFlow(t, alice, e.Project.ID, "github")
			r := e.do(t, alice, "POST", base+"/github/oauth", oauth("taken", code, state))
			// A taken name does not use up the state.
			expect(t, e.do(t, alice, "POST", base+"/github/oauth", oauth("untaken", code, state)), http.StatusOK, "")
			return r
		}, 400, "SVCSTG.REPO.0403"},
		{"unsupported_repo_type_personal", "x8", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/bitbucket/personal", map[string]string{"name": "x8", "token": "t"})
		}, 400, "SVCSTG.REPO.0401"},
		{"unsupported_repo_type_password", "x9", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/password", map[string]string{"name": "x9", "user": "octo", "password": "p"})
		}, 400, "SVCSTG.REPO.0401"},
		{"unsupported_repo_type_redirect", "", func(t *testing.T) response {
			return e.do(t, alice, "GET", base+"/svn/redirect", nil)
		}, 400, "SVCSTG.REPO.0401"},
		{"unsupported_repo_type_oauth", "x10", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/devcloud/oauth", oauth("x10", "c", forged))
		}, 400, "SVCSTG.REPO.0401"},
		{"repo_type_not_configured", "", func(t *testing.T) response {
			return e.do(t, alice, "GET", base+"/gitee/redirect", nil)
		}, 400, "SVCSTG.REPO.0405"},
		{"no_client_at_host", "x11", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"name": "x11", "token": e.gitlab.IssueToken().AccessToken, "host": "gitlab.elsewhere.example"})
		}, 400, "SVCSTG.REPO.0405"},
		{"provider_rejected_token", "x12", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"name": "x12", "token": "glpat-not-a-real-token"})
		}, 400, "SVCSTG.REPO.0404"},
		{"provider_rejected_password", "x13", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/bitbucket/password", map[string]string{"name": "x13", "user": "octo", "password": "wrong"})
		}, 400, "SVCSTG.REPO.0404"},
		{"github_password_not_a_token", "x14", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/github/password", map[string]string{"name": "x14", "user": "octo", "password": "hunter2"})
		}, 400, "SVCSTG.REPO.0404"},
		{"non_member_list", "", func(t *testing.T) response {
			return e.do(t, outsider, "GET", base, nil)
		}, 404, "SVCSTG.REPO.0440"},
		{"non_member_create", "x15", func(t *testing.T) response {
			return e.do(t, outsider, "POST", base+"/gitlab/personal", map[string]string{"name": "x15", "token": e.gitlab.IssueToken().AccessToken})
		}, 404, "SVCSTG.REPO.0440"},
		{"non_member_redirect", "", func(t *testing.T) response {
			return e.do(t, outsider, "GET", base+"/github/redirect", nil)
		}, 404, "SVCSTG.REPO.0440"},
		{"non_member_delete", "", func(t *testing.T) response {
			return e.do(t, outsider, "DELETE", base+"/taken", nil)
		}, 404, "SVCSTG.REPO.0440"},
		{"non_member_unsupported_type", "", func(t *testing.T) response {
			// Outside the organization the project does not exist, whatever else is wrong.
			return e.do(t, outsider, "GET", base+"/svn/redirect", nil)
		}, 404, "SVCSTG.REPO.0440"},
		{"unknown_project", "", func(t *testing.T) response {
			return e.do(t, alice, "GET", "/v1/prj-nope/git/auths", nil)
		}, 404, "SVCSTG.REPO.0440"},
		{"unknown_name", "", func(t *testing.T) response {
			return e.do(t, alice, "DELETE", base+"/nope", nil)
		}, 404, "SVCSTG.REPO.0441"},
		{"read_only_token", "x16", func(t *testing.T) response {
			expect(t, e.do(t, readOnly, "GET", base, nil), http.StatusOK, "")
			return e.do(t, readOnly, "POST", base+"/gitlab/personal", map[string]string{"name": "x16", "token": e.gitlab.IssueToken().AccessToken})
		}, 403, "SVCSTG.REPO.0430"},
		{"missing_name", "", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"token": e.gitlab.IssueToken().AccessToken})
		}, 400, "SVCSTG.REPO.0400"},
		{"invalid_name", "bad name!", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"name": "bad name!", "token": e.gitlab.IssueToken().AccessToken})
		}, 400, "SVCSTG.REPO.0400"},
		{"missing_token", "x17", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"name": "x17"})
		}, 400, "SVCSTG.REPO.0400"},
		{"token_not_a_token", "x18", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"name": "x18", "token": "two words"})
		}, 400, "SVCSTG.REPO.0400"},
		{"missing_user", "x19", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/bitbucket/password", map[string]string{"name": "x19", "password": "app-password"})
		}, 400, "SVCSTG.REPO.0400"},
		{"missing_state", "x20", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/github/oauth", map[string]string{"name": "x20", "code": "c"})
		}, 400, "SVCSTG.REPO.0400"},
		{"invalid_host", "x21", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", map[string]string{"name": "x21", "token": "t", "host": "ftp://gitlab.example"})
		}, 400, "SVCSTG.REPO.0400"},
		{"malformed_json", "", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", `{"name":`)
		}, 400, "SVCSTG.REPO.0400"},
		{"wrong_json_type", "", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", `{"name":1,"token":"t"}`)
		}, 400, "SVCSTG.REPO.0400"},
		{"body_too_large", "", func(t *testing.T) response {
			return e.do(t, alice, "POST", base+"/gitlab/personal", `{"name":"x","token":"`+strings.Repeat("a", 70<<10)+`"}`)
		}, 400, "SVCSTG.REPO.0400"},
		{"tag_too_long", "", func(t *testing.T) response {
			return e.do(t, alice, "GET", base+"?tag="+strings.Repeat("t", 65), nil)
		}, 400, "SVCSTG.REPO.0400"},
		{"no_credentials", "", func(t *testing.T) response {
			return e.do(t, nil, "GET", base, nil)
		}, 401, "SVCSTG.REPO.0410"},
		{"unknown_token", "", func(t *testing.T) response {
			return e.do(t, tokenAuth("vcp_notatokenofours"), "GET", base, nil)
		}, 401, "SVCSTG.REPO.0410"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Connections(t, e.Project.ID)
			r := tc.run(t)
			expect(t, r, tc.status, tc.code)
			e.golden(t, "error_"+tc.name, r.body)
			if tc.attempt != "" && slices.Contains(e.allNames(t), tc.attempt) {
				t.Fatalf("%q was stored", tc.attempt)
			}
			// Nothing the refusal touched changed either.
			after := e.Connections(t, e.Project.ID)
			for _, c := range before {
				if !slices.ContainsFunc(after, func(d core.Connection) bool { return d.ID == c.ID && d.Version == c.Version }) {
					t.Fatalf("connection %s (%s) changed", c.Name, c.ID)
				}
			}
		})
	}
}
