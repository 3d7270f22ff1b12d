package coder_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/api/coder"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

// Every route is registered on a fresh mux once more: overlapping patterns panic,
// so this catches a conflict with the routes of another package too.
func TestRegisterEveryRoute(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	mux := http.NewServeMux()
	coder.Register(mux, v.Engine, nil, coder.Options{})
	for _, pattern := range []string{
		"GET /api/v2/external-auth", "GET /api/v2/external-auth/{id}", "DELETE /api/v2/external-auth/{id}",
		"GET /api/v2/external-auth/{id}/device", "POST /api/v2/external-auth/{id}/device",
		"GET /api/v2/workspaceagents/me/external-auth", "GET /api/v2/users/me",
	} {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.ReplaceAll(path, "{id}", "x")
		_, got := mux.Handler(httptestRequest(method, path))
		if got != pattern {
			t.Errorf("%s %s is served by %q, want %q", method, path, got, pattern)
		}
	}
}

func httptestRequest(method, path string) *http.Request {
	return &http.Request{Method: method, URL: &url.URL{Path: path}, Host: "vcsauth.test", Header: http.Header{}}
}

// Authentication, scopes, unknown things and wrong methods: each answer's exact
// status and body.
func TestErrors(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	gh := forgetest.New(t, core.ProviderGitHub)
	v.client(t, gh, "github", "github", nil)
	alice := v.token(t, v.Alice)
	narrow := v.token(t, v.Alice, core.ScopeReadUser)
	reader := v.token(t, v.Alice, core.ScopeReadAPI)
	outsider := v.token(t, v.Outsider)

	for _, tc := range []struct {
		name         string
		header       http.Header
		method, path string
		body         string
		status       int
		golden       string
	}{
		{"no token", nil, "GET", "/api/v2/external-auth", "", 401, "unauthenticated"},
		{"unknown token", http.Header{"Coder-Session-Token": {"vcp_notatoken"}}, "GET", "/api/v2/external-auth", "", 401, "invalid_token"},
		{"malformed token", http.Header{"Coder-Session-Token": {"a b"}}, "GET", "/api/v2/external-auth/github", "", 401, "invalid_token"},
		{"bearer", http.Header{"Authorization": {"Bearer " + alice}}, "GET", "/api/v2/external-auth", "", 200, ""},
		{"scope read_user cannot list", session(narrow), "GET", "/api/v2/external-auth", "", 403, "forbidden"},
		{"scope read_user cannot read one", session(narrow), "GET", "/api/v2/external-auth/github", "", 403, ""},
		{"scope read_api cannot start a device flow", session(reader), "GET", "/api/v2/external-auth/github/device", "", 403, ""},
		{"scope read_api cannot poll", session(reader), "POST", "/api/v2/external-auth/github/device", `{"device_code":"x"}`, 403, ""},
		{"scope read_api gets no credentials", session(reader), "GET", "/api/v2/workspaceagents/me/external-auth?id=github", "", 403, ""},
		{"unknown provider", session(alice), "GET", "/api/v2/external-auth/nope", "", 404, "not_found"},
		{"another organization's provider", session(outsider), "GET", "/api/v2/external-auth/github", "", 404, "not_found"},
		{"another organization's provider: device", session(outsider), "GET", "/api/v2/external-auth/github/device", "", 404, "not_found"},
		{"another organization's provider: poll", session(outsider), "POST", "/api/v2/external-auth/github/device", `{"device_code":"x"}`, 404, "not_found"},
		{"another organization's provider: unlink", session(outsider), "DELETE", "/api/v2/external-auth/github", "", 404, "not_found"},
		{"another organization's provider: credentials", session(outsider), "GET", "/api/v2/workspaceagents/me/external-auth?id=github", "", 404, "not_found"},
		{"unknown path under the dialect", session(alice), "GET", "/api/v2/external-auth/github/nope", "", 404, "not_found"},
		{"wrong method on a provider", session(alice), "PUT", "/api/v2/external-auth/github", "", 405, "method_not_allowed"},
		{"wrong method on the list", session(alice), "POST", "/api/v2/external-auth", "{}", 405, ""},
		{"wrong method on the device", session(alice), "DELETE", "/api/v2/external-auth/github/device", "", 405, ""},
		{"wrong method on credentials", session(alice), "POST", "/api/v2/workspaceagents/me/external-auth", "{}", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := v.doHeader(t, tc.header, tc.method, tc.path, tc.body)
			want(t, tc.name, ex, tc.status)
			if tc.golden != "" {
				v.golden(t, tc.golden, ex)
			}
		})
	}
}

func session(tok string) http.Header { return http.Header{"Coder-Session-Token": {tok}} }

// The list: the providers the caller may use, and only the caller's own links.
func TestList(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	gh := forgetest.New(t, core.ProviderGitHub)
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	bb := forgetest.New(t, core.ProviderBitbucketHosted)
	foreign := forgetest.New(t, core.ProviderGitea)
	ghc := v.client(t, gh, "github", "github", nil)
	glc := v.client(t, gl, "gitlab", "", nil)
	prj := []string{v.Project.ID}
	orgScoped := false
	bbc := v.client(t, bb, "bitbucket", "bitbucket", func(in *connect.ClientInput) {
		in.OrganizationScoped, in.ProjectIDs = &orgScoped, &prj
	})
	// Another organization's client: nobody in acme sees it.
	kind, name, h, a, key, sec, slug := foreign.Kind, "foreign", foreign.HTTPURL(), foreign.APIURL(), foreign.ClientID, foreign.ClientSecret, "foreign"
	if _, err := v.Engine.CreateClient(t.Context(), v.Outsider, "other", connect.ClientInput{Kind: &kind, Name: &name,
		HTTPURL: &h, APIURL: &a, Key: &key, Secret: &sec, Slug: &slug}); err != nil {
		t.Fatal(err)
	}
	v.link(t, gh, v.Alice, ghc)
	v.link(t, bb, v.Alice, bbc)
	bobs := v.link(t, gl, v.Bob, glc)

	t.Run("alice", func(t *testing.T) {
		ex := v.do(t, v.token(t, v.Alice), "GET", "/api/v2/external-auth", "")
		want(t, "list", ex, 200)
		v.golden(t, "list", ex)
		l := decode[coder.ListResponse](t, ex)
		var ids []string
		for _, p := range l.Providers {
			ids = append(ids, p.ID)
		}
		if got := sorted(ids); strings.Join(got, ",") != strings.Join(sorted([]string{"github", glc.ID, "bitbucket"}), ",") {
			t.Errorf("providers %v", got)
		}
		for _, k := range l.Links {
			if k.ProviderID == glc.ID {
				t.Errorf("bob's link %s is in alice's list", bobs.ID)
			}
		}
	})
	t.Run("outsider sees nothing of acme", func(t *testing.T) {
		ex := v.do(t, v.token(t, v.Outsider), "GET", "/api/v2/external-auth", "")
		want(t, "list", ex, 200)
		l := decode[coder.ListResponse](t, ex)
		if len(l.Links) != 0 || len(l.Providers) != 1 || l.Providers[0].ID != "foreign" {
			t.Errorf("outsider's list: %s", ex.Body)
		}
	})
	t.Run("nothing linked", func(t *testing.T) {
		ex := v.do(t, v.token(t, v.Admin), "GET", "/api/v2/external-auth", "")
		want(t, "list", ex, 200)
		if l := decode[coder.ListResponse](t, ex); l.Links == nil || len(l.Links) != 0 {
			t.Errorf("links must be an empty array: %s", ex.Body)
		}
	})
}

// A link's health in the list: what the last use, refresh or validation recorded.
func TestListHealth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*core.Connection, time.Time)
		golden string
		auth   bool
	}{
		{"healthy", func(*core.Connection, time.Time) {}, "", true},
		{"needs re-authorization", func(c *core.Connection, _ time.Time) {
			c.Health, c.HealthReason = core.HealthNeedsReauth, "the provider refused the refresh token (invalid_grant); authorize again"
		}, "list_needs_reauth", false},
		{"revoked", func(c *core.Connection, _ time.Time) {
			c.Health, c.HealthReason = core.HealthRevoked, "the provider refused the token"
		}, "", false},
		{"expired, refresh token at hand", func(c *core.Connection, now time.Time) { c.ExpiresAt = now.Add(-time.Minute) }, "", true},
		{"expired, refresh failing", func(c *core.Connection, now time.Time) {
			c.ExpiresAt, c.Health, c.HealthReason = now.Add(-time.Minute), core.HealthRefreshFailing, "refresh failed: 503"
		}, "list_refresh_failing", false},
		{"expired, no refresh token", func(c *core.Connection, now time.Time) { c.ExpiresAt, c.RefreshToken = now.Add(-time.Minute), "" }, "", false},
		{"refresh failing, token still valid", func(c *core.Connection, now time.Time) {
			c.Health, c.HealthReason = core.HealthRefreshFailing, "refresh failed: 503"
		}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, envOpts{})
			gl := forgetest.New(t, core.ProviderGitLabHosted)
			oc := v.client(t, gl, "gitlab", "gitlab", nil)
			c := v.link(t, gl, v.Alice, oc)
			now := time.Now().UTC().Truncate(time.Microsecond)
			if _, err := v.Store.UpdateConnection(t.Context(), c.ID, func(c core.Connection) (core.Connection, error) {
				tc.mutate(&c, now)
				return c, nil
			}); err != nil {
				t.Fatal(err)
			}
			ex := v.do(t, v.token(t, v.Alice), "GET", "/api/v2/external-auth", "")
			want(t, "list", ex, 200)
			l := decode[coder.ListResponse](t, ex)
			if len(l.Links) != 1 || l.Links[0].Authenticated != tc.auth || (l.Links[0].ValidateError == "") != tc.auth {
				t.Fatalf("links: %s", ex.Body)
			}
			if tc.golden != "" {
				v.golden(t, tc.golden, ex)
			}
		})
	}
}

// One provider, with the caller's link validated at the provider.
func TestGet(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	bb := forgetest.New(t, core.ProviderBitbucketHosted)
	glc := v.client(t, gl, "gitlab", "gitlab", nil)
	bbc := v.client(t, bb, "bitbucket", "", nil)
	alice, bob := v.token(t, v.Alice), v.token(t, v.Bob)

	ex := v.do(t, alice, "GET", "/api/v2/external-auth/gitlab", "")
	want(t, "not linked", ex, 200)
	v.golden(t, "get_not_linked", ex)

	c := v.link(t, gl, v.Alice, glc)
	lookups := gl.UserLookups()
	ex = v.do(t, alice, "GET", "/api/v2/external-auth/gitlab", "")
	want(t, "linked", ex, 200)
	v.golden(t, "get_linked", ex)
	if gl.UserLookups() == lookups {
		t.Error("the link was not validated at the provider")
	}
	ex = v.do(t, bob, "GET", "/api/v2/external-auth/gitlab", "")
	if got := decode[coder.ExternalAuth](t, ex); got.User != nil || got.Authenticated {
		t.Errorf("bob sees alice's link: %s", ex.Body)
	}

	// By oc- id, for a client without slug.
	v.link(t, bb, v.Alice, bbc)
	ex = v.do(t, alice, "GET", "/api/v2/external-auth/"+bbc.ID, "")
	want(t, "by id", ex, 200)
	v.golden(t, "get_linked_bitbucket", ex)

	// The provider is down: the stored verdict stands, and the answer is still 200.
	bb.FailNext(5, http.StatusServiceUnavailable)
	ex = v.do(t, alice, "GET", "/api/v2/external-auth/"+bbc.ID, "")
	want(t, "provider down", ex, 200)
	if got := decode[coder.ExternalAuth](t, ex); !got.Authenticated || got.User == nil {
		t.Errorf("provider down: %s", ex.Body)
	}

	// The person revoked the app at the provider: access and refresh token are dead.
	access, refresh := v.Tokens(t, c.ID)
	gl.RevokeToken(access)
	gl.RevokeToken(refresh)
	ex = v.do(t, alice, "GET", "/api/v2/external-auth/gitlab", "")
	want(t, "revoked", ex, 200)
	v.golden(t, "get_revoked", ex)
	ex = v.do(t, alice, "GET", "/api/v2/external-auth", "")
	l := decode[coder.ListResponse](t, ex)
	for _, k := range l.Links {
		if k.ProviderID == "gitlab" && (k.Authenticated || k.ValidateError == "") {
			t.Errorf("the list does not show the verdict: %s", ex.Body)
		}
	}

}

// GitHub App installations, where the token can list them; none for an OAuth app.
func TestGetInstallations(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	gh := forgetest.New(t, core.ProviderGitHub, forgetest.GitHubApp())
	proxy := installationsProxy(t, gh, `{"total_count":1,"installations":[{"id":4242,"app_slug":"vcsauth-dev",
		"html_url":"https://github.com/settings/installations/4242",
		"account":{"id":77,"login":"acme-inc","avatar_url":"https://avatars.example.com/u/77","html_url":"https://github.com/acme-inc","type":"Organization"}}]}`)
	v.normalise(proxy.URL, "{github}")
	oc := v.client(t, gh, "github", "github-app", func(in *connect.ClientInput) {
		h, a := proxy.URL, proxy.URL+"/api/v3"
		in.HTTPURL, in.APIURL = &h, &a
	})
	v.link(t, gh, v.Alice, oc)
	ex := v.do(t, v.token(t, v.Alice), "GET", "/api/v2/external-auth/github-app", "")
	want(t, "installations", ex, 200)
	v.golden(t, "get_installations", ex)

	// An OAuth app (the fake without the installations endpoint): not installable.
	plain := forgetest.New(t, core.ProviderGitHub)
	pc := v.client(t, plain, "github-oauth", "github-oauth", nil)
	v.link(t, plain, v.Alice, pc)
	ex = v.do(t, v.token(t, v.Alice), "GET", "/api/v2/external-auth/github-oauth", "")
	got := decode[coder.ExternalAuth](t, ex)
	if got.AppInstallable || got.Installations == nil || len(got.Installations) != 0 || got.AppInstallURL != "" || !got.Authenticated {
		t.Errorf("OAuth app: %s", ex.Body)
	}
}

// Unlinking: the caller's own link only, revoked at the provider where it can be.
func TestUnlink(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	bb := forgetest.New(t, core.ProviderBitbucketHosted)
	glc := v.client(t, gl, "gitlab", "gitlab", nil)
	bbc := v.client(t, bb, "bitbucket", "bitbucket", nil)
	alice, bob := v.token(t, v.Alice), v.token(t, v.Bob)

	ex := v.do(t, alice, "DELETE", "/api/v2/external-auth/gitlab", "")
	want(t, "no link", ex, 404)
	v.golden(t, "unlink_no_link", ex)

	mine := v.link(t, gl, v.Alice, glc)
	bobs := v.link(t, gl, v.Bob, glc)
	access, _ := v.Tokens(t, mine.ID)
	bobAccess, _ := v.Tokens(t, bobs.ID)
	ex = v.do(t, alice, "DELETE", "/api/v2/external-auth/gitlab", "")
	want(t, "unlink", ex, 200)
	v.golden(t, "unlink_revoked", ex)
	if gl.TokenLive(access) {
		t.Error("alice's token is still live at the provider")
	}
	if !gl.TokenLive(bobAccess) {
		t.Error("bob's token was revoked")
	}
	if _, err := v.Store.Connection(t.Context(), bobs.ID); err != nil {
		t.Errorf("bob's link: %v", err)
	}
	ex = v.do(t, alice, "DELETE", "/api/v2/external-auth/gitlab", "")
	want(t, "unlink again", ex, 404)
	ex = v.do(t, bob, "GET", "/api/v2/external-auth/gitlab", "")
	if got := decode[coder.ExternalAuth](t, ex); !got.Authenticated || got.User == nil {
		t.Errorf("bob's link after alice unlinked: %s", ex.Body)
	}

	// Bitbucket Cloud has no revocation: the link goes, the answer says so.
	v.link(t, bb, v.Alice, bbc)
	ex = v.do(t, alice, "DELETE", "/api/v2/external-auth/bitbucket", "")
	want(t, "unlink without revocation", ex, 200)
	v.golden(t, "unlink_not_revoked", ex)

	// A token that may read but not change connections.
	v.link(t, gl, v.Alice, glc)
	ex = v.do(t, v.token(t, v.Alice, core.ScopeReadAPI), "DELETE", "/api/v2/external-auth/gitlab", "")
	want(t, "read-only token", ex, 403)
}

// A link through a client the person may no longer use stays theirs to see and
// remove.
func TestUnlinkAfterLeaving(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	oc := v.client(t, gl, "gitlab", "gitlab", nil)
	v.link(t, gl, v.Alice, oc)
	if err := v.Store.DeleteMembership(t.Context(), v.Org.ID, v.Alice.User.ID); err != nil {
		t.Fatal(err)
	}
	alice := v.token(t, v.Alice)
	ex := v.do(t, alice, "GET", "/api/v2/external-auth", "")
	l := decode[coder.ListResponse](t, ex)
	if len(l.Providers) != 0 || len(l.Links) != 1 || l.Links[0].ProviderID != oc.ID {
		t.Fatalf("list after leaving: %s", ex.Body)
	}
	want(t, "provider", v.do(t, alice, "GET", "/api/v2/external-auth/gitlab", ""), 404)
	want(t, "unlink", v.do(t, alice, "DELETE", "/api/v2/external-auth/"+oc.ID, ""), 200)
}

// The device flow, poll by poll, against GitHub's fake on its clock.
func TestDevice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, v *env, gh *forgetest.Server, tok, code, userCode string)
	}{
		{"pending, slow down, approved", func(t *testing.T, v *env, gh *forgetest.Server, tok, code, userCode string) {
			body := `{"device_code":"` + code + `"}`
			ex := v.do(t, tok, "POST", "/api/v2/external-auth/github/device", body)
			want(t, "too early", ex, 400)
			v.golden(t, "device_slow_down", ex)
			gh.Advance(10 * time.Second)
			ex = v.do(t, tok, "POST", "/api/v2/external-auth/github/device", body)
			want(t, "pending", ex, 400)
			v.golden(t, "device_authorization_pending", ex)
			if err := gh.ApproveDevice(userCode); err != nil {
				t.Fatal(err)
			}
			gh.Advance(10 * time.Second)
			ex = v.do(t, tok, "POST", "/api/v2/external-auth/github/device", body)
			want(t, "approved", ex, 204)
			if len(ex.Body) != 0 {
				t.Errorf("204 with a body: %q", ex.Body)
			}
			ex = v.do(t, tok, "GET", "/api/v2/external-auth/github", "")
			if got := decode[coder.ExternalAuth](t, ex); !got.Authenticated || got.User == nil || got.User.Login != "octo" {
				t.Errorf("after the device flow: %s", ex.Body)
			}
			ex = v.do(t, tok, "POST", "/api/v2/external-auth/github/device", body)
			want(t, "used", ex, 400)
			if m := decode[coder.Response](t, ex).Message; m != "expired_token" {
				t.Errorf("a used device code: %q", m)
			}
		}},
		{"expired", func(t *testing.T, v *env, gh *forgetest.Server, tok, code, _ string) {
			gh.Advance(16 * time.Minute)
			ex := v.do(t, tok, "POST", "/api/v2/external-auth/github/device", `{"device_code":"`+code+`"}`)
			want(t, "expired", ex, 400)
			v.golden(t, "device_expired_token", ex)
		}},
		{"denied", func(t *testing.T, v *env, gh *forgetest.Server, tok, code, userCode string) {
			if err := gh.DenyDevice(userCode); err != nil {
				t.Fatal(err)
			}
			gh.Advance(5 * time.Second)
			ex := v.do(t, tok, "POST", "/api/v2/external-auth/github/device", `{"device_code":"`+code+`"}`)
			want(t, "denied", ex, 400)
			v.golden(t, "device_access_denied", ex)
		}},
		{"someone else's device code", func(t *testing.T, v *env, gh *forgetest.Server, _, code, _ string) {
			gh.Advance(5 * time.Second)
			ex := v.do(t, v.token(t, v.Bob), "POST", "/api/v2/external-auth/github/device", `{"device_code":"`+code+`"}`)
			want(t, "bob", ex, 400)
			if m := decode[coder.Response](t, ex).Message; m != "expired_token" {
				t.Errorf("bob polling alice's flow: %q", m)
			}
		}},
		{"no device code", func(t *testing.T, v *env, _ *forgetest.Server, tok, _, _ string) {
			ex := v.do(t, tok, "POST", "/api/v2/external-auth/github/device", `{}`)
			want(t, "missing", ex, 400)
			v.golden(t, "device_missing_code", ex)
		}},
		{"malformed body", func(t *testing.T, v *env, _ *forgetest.Server, tok, _, _ string) {
			ex := v.do(t, tok, "POST", "/api/v2/external-auth/github/device", `{"device_code":`)
			want(t, "malformed", ex, 400)
			v.golden(t, "device_malformed_body", ex)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := forgetest.New(t, core.ProviderGitHub)
			v := newEnv(t, envOpts{clock: gh})
			v.client(t, gh, "github", "github", nil)
			tok := v.token(t, v.Alice)
			ex := v.do(t, tok, "GET", "/api/v2/external-auth/github/device", "")
			want(t, "start", ex, 200)
			if tc.name == "pending, slow down, approved" {
				v.golden(t, "device_start", ex)
			}
			d := decode[coder.Device](t, ex)
			if d.Interval != 5 || d.ExpiresIn != 900 || d.UserCode == "" || d.VerificationURI != gh.URL+"/login/device" {
				t.Fatalf("device: %s", ex.Body)
			}
			tc.run(t, v, gh, tok, d.DeviceCode, d.UserCode)
		})
	}
}

// Clients whose provider has no device flow, or that turned it off.
func TestDeviceUnsupported(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	bb := forgetest.New(t, core.ProviderBitbucketHosted)
	gh := forgetest.New(t, core.ProviderGitHub)
	v.client(t, bb, "bitbucket", "bitbucket", nil)
	off := true
	v.client(t, gh, "github", "github", func(in *connect.ClientInput) { in.DeviceFlowDisabled = &off })
	tok := v.token(t, v.Alice)
	for _, id := range []string{"bitbucket", "github"} {
		ex := v.do(t, tok, "GET", "/api/v2/external-auth/"+id+"/device", "")
		want(t, id, ex, 400)
		v.golden(t, "device_unsupported", ex)
		ex = v.do(t, tok, "POST", "/api/v2/external-auth/"+id+"/device", `{"device_code":"vcst_x"}`)
		want(t, id+" poll", ex, 400)
		v.golden(t, "device_unsupported", ex)
		ex = v.do(t, tok, "GET", "/api/v2/external-auth/"+id, "")
		if decode[coder.ExternalAuth](t, ex).Device {
			t.Errorf("%s says device: %s", id, ex.Body)
		}
	}
	if gh.Counts().DeviceStarts != 0 {
		t.Error("a disabled device flow reached the provider")
	}
}

// Workload credentials, by remote URL or provider id, in each provider's git
// convention.
func TestWorkloadCredential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind     core.ProviderKind
		name     string
		remote   string // path of the remote under the fake's web URL
		username func(token string) string
		password func(token string) string
	}{
		{core.ProviderGitHub, "github", "/acme/app.git", func(tok string) string { return tok }, func(string) string { return "x-oauth-basic" }},
		{core.ProviderGitLabHosted, "gitlab", "/acme/app.git", func(string) string { return "oauth2" }, func(tok string) string { return tok }},
		{core.ProviderBitbucketHosted, "bitbucket", "/acme/app.git", func(string) string { return "x-token-auth" }, func(tok string) string { return tok }},
		{core.ProviderGitea, "gitea", "/acme/app.git", func(tok string) string { return tok }, func(string) string { return "x-oauth-basic" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, envOpts{})
			fake := forgetest.New(t, tc.kind)
			oc := v.client(t, fake, tc.name, tc.name, nil)
			tok := v.token(t, v.Alice, core.ScopeCredentials)
			remote := fake.HTTPURL() + tc.remote
			q := "/api/v2/workspaceagents/me/external-auth?" + url.Values{"id": {""}, "match": {remote}}.Encode()

			ex := v.do(t, tok, "GET", q, "")
			want(t, "not linked", ex, 200)
			v.golden(t, "credential_not_linked_"+tc.name, ex)

			c := v.link(t, fake, v.Alice, oc)
			access, _ := v.Tokens(t, c.ID)
			for _, path := range []string{q, "/api/v2/workspaceagents/me/external-auth?id=" + tc.name + "&match="} {
				ex = v.do(t, tok, "GET", path, "")
				want(t, path, ex, 200)
				got := decode[coder.Credential](t, ex)
				if got.AccessToken != access || got.Username != tc.username(access) || got.Password != tc.password(access) || got.Type != coder.ProviderType(tc.kind) {
					t.Errorf("%s: %s", path, ex.Body)
				}
			}
			v.golden(t, "credential_"+tc.name, ex)

			// Bob has no link of his own.
			ex = v.do(t, v.token(t, v.Bob), "GET", q, "")
			if got := decode[coder.LinkNeeded](t, ex); got.URL != v.URL+"/external-auth/"+tc.name {
				t.Errorf("bob: %s", ex.Body)
			}
		})
	}
}

func TestWorkloadCredentialErrors(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	gh := forgetest.New(t, core.ProviderGitHub)
	v.client(t, gh, "github", "github", nil)
	tok := v.token(t, v.Alice)
	for _, tc := range []struct {
		name, query string
		status      int
		golden      string
	}{
		{"neither", "id=&match=", 400, "credential_neither"},
		{"both", "id=github&match=" + url.QueryEscape(gh.URL+"/a/b"), 400, "credential_both"},
		{"a remote nobody serves", "match=" + url.QueryEscape("https://git.example.org/a/b"), 404, "credential_no_provider"},
		{"an unknown id", "id=nope", 404, "not_found"},
		{"a remote too long", "match=" + url.QueryEscape("https://git.example.org/"+strings.Repeat("a", 5000)), 400, "credential_invalid_match"},
		{"legacy url=", "url=" + url.QueryEscape(gh.URL+"/a/b"), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := v.do(t, tok, "GET", "/api/v2/workspaceagents/me/external-auth?"+tc.query, "")
			want(t, tc.name, ex, tc.status)
			if tc.golden != "" {
				v.golden(t, tc.golden, ex)
			}
		})
	}
}

// An expired token is refreshed before it is handed out.
func TestWorkloadCredentialRefresh(t *testing.T) {
	t.Parallel()
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	v := newEnv(t, envOpts{clock: gl})
	oc := v.client(t, gl, "gitlab", "gitlab", nil)
	c := v.link(t, gl, v.Alice, oc)
	old, _ := v.Tokens(t, c.ID)
	gl.Advance(3 * time.Hour)
	ex := v.do(t, v.token(t, v.Alice, core.ScopeCredentials), "GET", "/api/v2/workspaceagents/me/external-auth?id=gitlab", "")
	want(t, "refreshed", ex, 200)
	got := decode[coder.Credential](t, ex)
	if got.AccessToken == old || !gl.TokenLive(got.AccessToken) || gl.Refreshes() != 1 || got.Password != got.AccessToken {
		t.Errorf("credential after expiry: refreshes=%d body=%s", gl.Refreshes(), ex.Body)
	}
}

// listen=true holds the request until the person links, bounded, and ends early
// when the server drains.
func TestWorkloadCredentialListen(t *testing.T) {
	t.Parallel()
	t.Run("link while waiting", func(t *testing.T) {
		t.Parallel()
		v := newEnv(t, envOpts{coder: coder.Options{ListenWait: 30 * time.Second}})
		gl := forgetest.New(t, core.ProviderGitLabHosted)
		oc := v.client(t, gl, "gitlab", "gitlab", nil)
		tok := v.token(t, v.Alice)
		done := make(chan exchange, 1)
		start := time.Now()
		go func() {
			done <- v.do(t, tok, "GET", "/api/v2/workspaceagents/me/external-auth?id=gitlab&listen=true", "")
		}()
		time.Sleep(200 * time.Millisecond)
		select {
		case ex := <-done:
			t.Fatalf("answered before the link: %s", ex.Body)
		default:
		}
		c := v.Link(t, gl, v.Alice, oc)
		access, _ := v.Tokens(t, c.ID)
		select {
		case ex := <-done:
			want(t, "listen", ex, 200)
			if got := decode[coder.Credential](t, ex); got.AccessToken != access {
				t.Errorf("listen: %s", ex.Body)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("answered after %v", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no answer after the link")
		}
	})
	t.Run("bounded", func(t *testing.T) {
		t.Parallel()
		v := newEnv(t, envOpts{coder: coder.Options{ListenWait: 300 * time.Millisecond}})
		gl := forgetest.New(t, core.ProviderGitLabHosted)
		v.client(t, gl, "gitlab", "gitlab", nil)
		start := time.Now()
		ex := v.do(t, v.token(t, v.Alice), "GET", "/api/v2/workspaceagents/me/external-auth?match="+url.QueryEscape(gl.URL+"/a/b.git")+"&listen=true", "")
		want(t, "bounded", ex, 408)
		if got := decode[coder.Response](t, ex); got.Detail != v.URL+"/external-auth/gitlab" {
			t.Errorf("bounded: %s", ex.Body)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 10*time.Second {
			t.Errorf("waited %v", d)
		}
	})
	t.Run("draining", func(t *testing.T) {
		t.Parallel()
		v := newEnv(t, envOpts{coder: coder.Options{ListenWait: 60 * time.Second}})
		gl := forgetest.New(t, core.ProviderGitLabHosted)
		v.client(t, gl, "gitlab", "gitlab", nil)
		tok := v.token(t, v.Alice)
		done := make(chan exchange, 1)
		go func() {
			done <- v.do(t, tok, "GET", "/api/v2/workspaceagents/me/external-auth?id=gitlab&listen", "")
		}()
		time.Sleep(200 * time.Millisecond)
		close(v.Draining)
		select {
		case ex := <-done:
			want(t, "drained", ex, 503)
			if got := decode[coder.Response](t, ex); got.Detail != v.URL+"/external-auth/gitlab" {
				t.Errorf("drained: %s", ex.Body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the drain did not end the wait")
		}
	})
	t.Run("listen=false does not wait", func(t *testing.T) {
		t.Parallel()
		v := newEnv(t, envOpts{coder: coder.Options{ListenWait: 60 * time.Second}})
		gl := forgetest.New(t, core.ProviderGitLabHosted)
		v.client(t, gl, "gitlab", "gitlab", nil)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		ex := v.doCtx(t, ctx, session(v.token(t, v.Alice)), "GET", "/api/v2/workspaceagents/me/external-auth?id=gitlab&listen=false", "")
		want(t, "no listen", ex, 200)
	})
}

// When the provider fails: 502 for a call the person made, 503 with Retry-After
// for a token that expired and cannot be refreshed for now.
func TestProviderFailures(t *testing.T) {
	t.Parallel()
	t.Run("device start", func(t *testing.T) {
		t.Parallel()
		gh := forgetest.New(t, core.ProviderGitHub)
		v := newEnv(t, envOpts{clock: gh})
		v.client(t, gh, "github", "github", nil)
		gh.FailNext(5, http.StatusBadGateway)
		ex := v.do(t, v.token(t, v.Alice), "GET", "/api/v2/external-auth/github/device", "")
		want(t, "provider down", ex, 502)
		v.golden(t, "provider_failed", ex)
	})
	t.Run("refresh", func(t *testing.T) {
		t.Parallel()
		gl := forgetest.New(t, core.ProviderGitLabHosted)
		v := newEnv(t, envOpts{clock: gl})
		oc := v.client(t, gl, "gitlab", "gitlab", nil)
		v.link(t, gl, v.Alice, oc)
		gl.Advance(3 * time.Hour)
		gl.FailNext(5, http.StatusServiceUnavailable)
		ex := v.do(t, v.token(t, v.Alice), "GET", "/api/v2/workspaceagents/me/external-auth?id=gitlab", "")
		want(t, "refresh failing", ex, 503)
		v.golden(t, "credential_refresh_failing", ex)
	})
}

func TestDeviceBodies(t *testing.T) {
	t.Parallel()
	gh := forgetest.New(t, core.ProviderGitHub)
	v := newEnv(t, envOpts{clock: gh})
	v.client(t, gh, "github", "github", nil)
	tok := v.token(t, v.Alice)
	ex := v.do(t, tok, "POST", "/api/v2/external-auth/github/device", `{"device_code":"`+strings.Repeat("x", coder.MaxBodyBytes)+`"}`)
	want(t, "too large", ex, 413)
	v.golden(t, "device_body_too_large", ex)

	d := decode[coder.Device](t, v.do(t, tok, "GET", "/api/v2/external-auth/github/device", ""))
	if err := gh.ApproveDevice(d.UserCode); err != nil {
		t.Fatal(err)
	}
	gh.Advance(5 * time.Second)
	ex = v.do(t, tok, "POST", "/api/v2/external-auth/github/device", `{"device_code":"`+d.DeviceCode+`","extra":"ignored"}`)
	want(t, "linked", ex, 204)
	v.golden(t, "device_linked", ex)
}
