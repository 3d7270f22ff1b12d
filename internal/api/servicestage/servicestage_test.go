package servicestage_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/api/servicestage/servicestagetest"
	"github.com/vcsauth/vcsauth/internal/core"
)

const base = "/v1/prj-web/git/auths"

// TestEndpoints drives every endpoint twice, with X-Auth-Token and with an AK/SK
// signature, through the whole life of three authorizations (one of each way),
// and compares every answer with the same golden files: how a caller proves who
// it is changes nothing in what it gets.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"token", "signature"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, servicestagetest.Options{})
			a := tokenAuth(e.Token(t, e.Alice))
			if how == "signature" {
				a = signedAuth(e.AccessKey(t, e.Alice))
			}

			r := e.do(t, a, "GET", base, nil)
			expect(t, r, http.StatusOK, "")
			e.golden(t, "list_empty", r.body)

			r = e.do(t, a, "GET", base+"/github/redirect?tag=intl", nil)
			expect(t, r, http.StatusOK, "")
			e.golden(t, "redirect", r.body)
			var red struct{ URL string }
			if err := json.Unmarshal(r.body, &red); err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(red.URL)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(red.URL, e.github.URL+"/") || u.Query().Get("state") == "" ||
				u.Query().Get("redirect_uri") != e.Engine.CallbackURL(e.clients["github"]) {
				t.Fatalf("authorize URL %s", red.URL)
			}
			code, state := e.HandBack(t, red.URL)
			if code == "" || state != u.Query().Get("state") {
				t.Fatalf("hand-back gave code %q state %q", code, state)
			}

			r = e.do(t, a, "POST", base+"/github/oauth", map[string]string{"name": "gh-oauth", "code": code, "state": state})
			expect(t, r, http.StatusOK, "")
			e.golden(t, "create_oauth", r.body)

			glToken := e.gitlab.IssueToken().AccessToken
			r = e.do(t, a, "POST", base+"/gitlab/personal", map[string]string{"name": "gl-token", "token": glToken})
			expect(t, r, http.StatusOK, "")
			e.golden(t, "create_personal", r.body)

			r = e.do(t, a, "POST", base+"/bitbucket/password", map[string]string{"name": "bb-password", "user": "octo", "password": "app-password"})
			expect(t, r, http.StatusOK, "")
			e.golden(t, "create_password", r.body)

			r = e.do(t, a, "GET", base+"?tag=intl", nil)
			expect(t, r, http.StatusOK, "")
			e.golden(t, "list", r.body)
			r = e.do(t, a, "GET", base, nil)
			expect(t, r, http.StatusOK, "")
			e.golden(t, "list_untagged", r.body)

			// What the store holds: three project connections, made by alice, with
			// the credentials handed over.
			cs := e.Connections(t, e.Project.ID)
			if got := connNames(cs); !slices.Equal(got, []string{"gh-oauth", "gl-token", "bb-password"}) {
				t.Fatalf("stored %v", got)
			}
			for _, c := range cs {
				if c.OwnerKind != core.OwnerProject || c.OwnerUserID != e.Alice.User.ID || c.Health != core.HealthHealthy {
					t.Fatalf("connection %+v", c)
				}
			}
			if cs[0].CredentialKind != core.CredentialOAuth || cs[1].CredentialKind != core.CredentialPersonal ||
				cs[2].CredentialKind != core.CredentialPassword || cs[2].Username != "octo" {
				t.Fatalf("credential kinds %s %s %s", cs[0].CredentialKind, cs[1].CredentialKind, cs[2].CredentialKind)
			}
			if e.Secret(t, cs[1]) != glToken || e.Secret(t, cs[2]) != "app-password" || !e.github.TokenLive(e.Secret(t, cs[0])) {
				t.Fatal("the stored credentials are not the ones handed over")
			}

			for _, name := range []string{"gh-oauth", "gl-token", "bb-password"} {
				r = e.do(t, a, "DELETE", base+"/"+name, nil)
				expect(t, r, http.StatusNoContent, "")
				if len(r.body) != 0 {
					t.Fatalf("DELETE answered a body: %s", r.body)
				}
			}
			r = e.do(t, a, "GET", base, nil)
			expect(t, r, http.StatusOK, "")
			e.golden(t, "list_empty", r.body)
			if cs := e.Connections(t, e.Project.ID); len(cs) != 0 {
				t.Fatalf("left behind: %v", connNames(cs))
			}
			if e.github.Revocations() == 0 {
				t.Fatal("deleting the OAuth authorization did not revoke its token at GitHub")
			}
		})
	}
}

// TestBearer: our Bearer token works as X-Auth-Token does.
func TestBearer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{})
	r := e.do(t, bearerAuth(e.Token(t, e.Bob)), "GET", base, nil)
	expect(t, r, http.StatusOK, "")
	e.golden(t, "list_empty", r.body)
}

// TestGitea: our extension takes every way in.
func TestGitea(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{})
	a := tokenAuth(e.Token(t, e.Alice))
	r := e.do(t, a, "GET", base+"/gitea/redirect", nil)
	expect(t, r, http.StatusOK, "")
	var red struct{ URL string }
	if err := json.Unmarshal(r.body, &red); err != nil {
		t.Fatal(err)
	}
	code, state := e.HandBack(t, red.URL)
	expect(t, e.do(t, a, "POST", base+"/gitea/oauth", map[string]string{"name": "gt-oauth", "code": code, "state": state}), http.StatusOK, "")
	expect(t, e.do(t, a, "POST", base+"/gitea/personal", map[string]string{"name": "gt-token", "token": e.gitea.IssueToken().AccessToken}), http.StatusOK, "")
	expect(t, e.do(t, a, "POST", base+"/gitea/password", map[string]string{"name": "gt-password", "user": "octo", "password": "app-password"}), http.StatusOK, "")
	r = e.do(t, a, "GET", base, nil)
	expect(t, r, http.StatusOK, "")
	var list struct {
		Authorizations []struct {
			Name, RepoType, TokenType string
		}
		Count int
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Count != 3 {
		t.Fatalf("list %s", r.body)
	}
	for _, a := range list.Authorizations {
		if !strings.HasPrefix(a.Name, "gt-") {
			t.Fatalf("list %s", r.body)
		}
	}
	if got := connNames(e.Connections(t, e.Project.ID)); !slices.Equal(got, []string{"gt-oauth", "gt-token", "gt-password"}) {
		t.Fatalf("stored %v", got)
	}
}

// TestGitHubPassword: GitHub takes no passwords for git; a personal access token
// in the password's place is checked as a token and kept with the user as a basic
// credential.
func TestGitHubPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{})
	a := tokenAuth(e.Token(t, e.Alice))
	pat := e.github.IssueToken().AccessToken
	r := e.do(t, a, "POST", base+"/github/password", map[string]string{"name": "gh-basic", "user": "octo", "password": pat})
	expect(t, r, http.StatusOK, "")
	e.golden(t, "create_password_github", r.body)
	cs := e.Connections(t, e.Project.ID)
	if len(cs) != 1 || cs[0].CredentialKind != core.CredentialPassword || cs[0].Username != "octo" || e.Secret(t, cs[0]) != pat {
		t.Fatalf("stored %+v", cs)
	}
}

// TestReturnURL: with a return address configured, the callback sends the browser
// there with code and state, and they complete the flow.
func TestReturnURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{ReturnURL: "https://servicestage.example/git/callback?x=1"})
	a := tokenAuth(e.Token(t, e.Alice))
	r := e.do(t, a, "GET", base+"/gitlab/redirect", nil)
	expect(t, r, http.StatusOK, "")
	var red struct{ URL string }
	if err := json.Unmarshal(r.body, &red); err != nil {
		t.Fatal(err)
	}
	code, state := e.HandBack(t, red.URL)
	if code == "" || state == "" {
		t.Fatal("the return address got no code and state")
	}
	expect(t, e.do(t, a, "POST", base+"/gitlab/oauth", map[string]string{"name": "gl", "code": code, "state": state}), http.StatusOK, "")
}

// TestStatus: status follows the connection's health.
func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{})
	a := tokenAuth(e.Token(t, e.Alice))
	expect(t, e.do(t, a, "POST", base+"/gitlab/personal", map[string]string{"name": "t", "token": e.gitlab.IssueToken().AccessToken}), http.StatusOK, "")
	c := e.Connections(t, e.Project.ID)[0]
	for _, tc := range []struct {
		health core.Health
		want   int
	}{
		{core.HealthHealthy, 0},
		{core.HealthRefreshFailing, 0},
		{core.HealthNeedsReauth, 1},
		{core.HealthRevoked, 2},
	} {
		if _, err := e.Store.UpdateConnection(t.Context(), c.ID, func(c core.Connection) (core.Connection, error) {
			c.Health = tc.health
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		r := e.do(t, a, "GET", base, nil)
		var list struct{ Authorizations []struct{ Status int } }
		if err := json.Unmarshal(r.body, &list); err != nil || len(list.Authorizations) != 1 {
			t.Fatalf("list %s", r.body)
		}
		if got := list.Authorizations[0].Status; got != tc.want {
			t.Errorf("health %s: status %d, want %d", tc.health, got, tc.want)
		}
	}
}

// TestRoutes: what is not an operation here is the dialect's 404.
func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{})
	a := tokenAuth(e.Token(t, e.Alice))
	for _, tc := range []struct{ method, path string }{
		{"POST", base},
		{"PUT", base + "/x"},
		{"GET", base + "/github/other"},
		{"GET", base + "/github/oauth"},
		{"POST", base + "/github/redirect"},
	} {
		r := e.do(t, a, tc.method, tc.path, nil)
		expect(t, r, http.StatusNotFound, "SVCSTG.REPO.0442")
	}
	e.golden(t, "error_no_such_operation", e.do(t, a, "POST", base, nil).body)
}
