// The Coder dialect driven by Coder's own client packages, codersdk and agentsdk
// v2.30.0, against a whole vcsauth (codertest) with fake Git providers.
package clienttest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coder/coder/v2/codersdk"
	"github.com/coder/coder/v2/codersdk/agentsdk"

	"github.com/vcsauth/vcsauth/internal/api/coder"
	"github.com/vcsauth/vcsauth/internal/api/coder/codertest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

func start(t *testing.T, o codertest.Options) *codertest.Server {
	t.Helper()
	return codertest.Start(t, o)
}

// client is codersdk with p's token as the session token.
func client(t *testing.T, s *codertest.Server, p core.Principal, scopes ...string) *codersdk.Client {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := codersdk.New(u)
	c.SetSessionToken(s.Token(t, p, scopes...))
	return c
}

// agent is agentsdk with p's token as the agent token: here any of our tokens
// identifies the person whose workload asks.
func agent(t *testing.T, s *codertest.Server, p core.Principal, scopes ...string) *agentsdk.Client {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return agentsdk.New(u, agentsdk.WithFixedToken(s.Token(t, p, scopes...)))
}

// named registers fake for acme under slug.
func named(t *testing.T, s *codertest.Server, fake *forgetest.Server, slug string, mod func(*connect.ClientInput)) core.OAuthClient {
	t.Helper()
	return s.Client(t, fake, func(in *connect.ClientInput) {
		in.Slug = &slug
		if mod != nil {
			mod(in)
		}
	})
}

// sdkError is the *codersdk.Error of err, with its status code checked.
func sdkError(t *testing.T, what string, err error, status int) *codersdk.Error {
	t.Helper()
	var e *codersdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: err = %v (%T), want a *codersdk.Error", what, err, err)
	}
	if e.StatusCode() != status {
		t.Fatalf("%s: status %d, want %d: %v", what, e.StatusCode(), status, err)
	}
	return e
}

// gitUser is the answer's username. agentsdk marks the field deprecated (Coder sends
// it only on its legacy gitauth route), but api/coder.md makes it part of this
// answer, with the provider's git convention.
func gitUser(res agentsdk.ExternalAuthResponse) string {
	//lint:ignore SA1019 api/coder.md answers username here; checking it is the point
	return res.Username
}

const notFound = "Resource not found or you do not have access to this resource"

// The list and one provider: what the caller may use, and only their own links.
func TestListAndGet(t *testing.T) {
	t.Parallel()
	s := start(t, codertest.Options{})
	gh := forgetest.New(t, core.ProviderGitHub)
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	ghc := named(t, s, gh, "github", nil)
	glc := s.Client(t, gl, nil) // no slug: its id is its oc- id
	s.Link(t, gh, s.Alice, ghc)
	s.Link(t, gl, s.Bob, glc)
	ctx := t.Context()

	alice := client(t, s, s.Alice)
	list, err := alice.ListExternalAuths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Providers) != 2 || list.Providers[0].ID != "github" || list.Providers[1].ID != glc.ID {
		t.Fatalf("providers: %+v", list.Providers)
	}
	gp := list.Providers[0]
	if gp.Type != "github" || !gp.Device || !gp.AllowRefresh || !gp.AllowValidate || !gp.SupportsRevocation || gp.DisplayName == "" {
		t.Errorf("github provider: %+v", gp)
	}
	if lp := list.Providers[1]; lp.Type != "gitlab" || len(lp.CodeChallengeMethodsSupported) != 1 || lp.CodeChallengeMethodsSupported[0] != "S256" {
		t.Errorf("gitlab provider: %+v", lp)
	}
	if len(list.Links) != 1 || list.Links[0].ProviderID != "github" || !list.Links[0].Authenticated || list.Links[0].CreatedAt.IsZero() {
		t.Fatalf("alice's links: %+v", list.Links)
	}

	ea, err := alice.ExternalAuthByID(ctx, "github")
	if err != nil {
		t.Fatal(err)
	}
	if !ea.Authenticated || ea.User == nil || ea.User.Login != "octo" || ea.User.ID != 1001 || !ea.Device || ea.AppInstallable || ea.AppInstallations == nil {
		t.Errorf("alice's github: %+v (user %+v)", ea, ea.User)
	}
	ea, err = alice.ExternalAuthByID(ctx, glc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ea.Authenticated || ea.User != nil {
		t.Errorf("alice sees bob's gitlab link: %+v", ea)
	}

	bob := client(t, s, s.Bob)
	list, err = bob.ListExternalAuths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Links) != 1 || list.Links[0].ProviderID != glc.ID || !list.Links[0].HasRefreshToken || list.Links[0].Expires.IsZero() {
		t.Fatalf("bob's links: %+v", list.Links)
	}

	for _, tc := range []struct {
		name   string
		c      *codersdk.Client
		id     string
		status int
	}{
		{"unknown provider", alice, "nope", http.StatusNotFound},
		{"another organization's member", client(t, s, s.Outsider), "github", http.StatusNotFound},
		{"no token", codersdk.New(alice.URL), "github", http.StatusUnauthorized},
		{"a token that may not read", client(t, s, s.Alice, core.ScopeReadUser), "github", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.ExternalAuthByID(ctx, tc.id)
			e := sdkError(t, tc.name, err, tc.status)
			if tc.status == http.StatusNotFound && e.Message != notFound {
				t.Errorf("404 message %q", e.Message)
			}
		})
	}
	_, err = codersdk.New(alice.URL).ListExternalAuths(ctx)
	sdkError(t, "list without token", err, http.StatusUnauthorized)
}

// Unlinking revokes at the provider where it can, and touches nobody else's link.
func TestUnlink(t *testing.T) {
	t.Parallel()
	s := start(t, codertest.Options{})
	gh := forgetest.New(t, core.ProviderGitHub)
	bb := forgetest.New(t, core.ProviderBitbucketHosted)
	ghc := named(t, s, gh, "github", nil)
	bbc := named(t, s, bb, "bitbucket", nil)
	mine := s.Link(t, gh, s.Alice, ghc)
	bobs := s.Link(t, gh, s.Bob, ghc)
	s.Link(t, bb, s.Alice, bbc)
	access, _ := s.Tokens(t, mine.ID)
	bobAccess, _ := s.Tokens(t, bobs.ID)
	ctx := t.Context()
	alice := client(t, s, s.Alice)

	res, err := alice.UnlinkExternalAuthByID(ctx, "github")
	if err != nil {
		t.Fatal(err)
	}
	if !res.TokenRevoked || res.TokenRevocationError != "" || gh.TokenLive(access) {
		t.Errorf("unlink github: %+v; token live %v", res, gh.TokenLive(access))
	}
	if !gh.TokenLive(bobAccess) {
		t.Error("bob's token was revoked")
	}
	_, err = alice.UnlinkExternalAuthByID(ctx, "github")
	sdkError(t, "unlink again", err, http.StatusNotFound)
	ea, err := client(t, s, s.Bob).ExternalAuthByID(ctx, "github")
	if err != nil || !ea.Authenticated {
		t.Errorf("bob's link after alice unlinked: %+v, %v", ea, err)
	}
	_, err = client(t, s, s.Outsider).UnlinkExternalAuthByID(ctx, "github")
	sdkError(t, "outsider", err, http.StatusNotFound)

	res, err = alice.UnlinkExternalAuthByID(ctx, "bitbucket")
	if err != nil {
		t.Fatal(err)
	}
	if res.TokenRevoked || res.TokenRevocationError == "" {
		t.Errorf("bitbucket has no revocation, yet: %+v", res)
	}
	list, err := alice.ListExternalAuths(ctx)
	if err != nil || len(list.Links) != 0 {
		t.Errorf("alice's links after unlinking: %+v, %v", list.Links, err)
	}
}

// The device flow through codersdk, on the fake provider's clock.
func TestDeviceFlow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kind core.ProviderKind
		// play polls and decides at the provider; it returns the message of the last
		// refused exchange ("" when the flow linked).
		play func(t *testing.T, fake *forgetest.Server, poll func() error, d codersdk.ExternalAuthDevice) string
		want string
	}{
		{"pending", core.ProviderGitHub, func(t *testing.T, fake *forgetest.Server, poll func() error, d codersdk.ExternalAuthDevice) string {
			fake.Advance(time.Duration(d.Interval) * time.Second)
			return message(t, poll())
		}, "authorization_pending"},
		{"slow_down honoured", core.ProviderGitHub, func(t *testing.T, fake *forgetest.Server, poll func() error, d codersdk.ExternalAuthDevice) string {
			// Polling before the interval is over: slow_down, with a longer interval
			// to keep. Keeping it, the next poll is answered normally.
			if m := message(t, poll()); m != "slow_down" {
				t.Fatalf("an early poll: %q", m)
			}
			fake.Advance(time.Duration(d.Interval)*time.Second + 5*time.Second)
			if m := message(t, poll()); m != "authorization_pending" {
				t.Fatalf("a poll that kept the new interval: %q", m)
			}
			if err := fake.ApproveDevice(d.UserCode); err != nil {
				t.Fatal(err)
			}
			if m := message(t, poll()); m != "slow_down" {
				t.Fatalf("polling again at once: %q", m)
			}
			fake.Advance(15 * time.Second)
			return message(t, poll())
		}, ""},
		{"success", core.ProviderGitHub, func(t *testing.T, fake *forgetest.Server, poll func() error, d codersdk.ExternalAuthDevice) string {
			if err := fake.ApproveDevice(d.UserCode); err != nil {
				t.Fatal(err)
			}
			fake.Advance(time.Duration(d.Interval) * time.Second)
			return message(t, poll())
		}, ""},
		{"success at GitLab", core.ProviderGitLabHosted, func(t *testing.T, fake *forgetest.Server, poll func() error, d codersdk.ExternalAuthDevice) string {
			if err := fake.ApproveDevice(d.UserCode); err != nil {
				t.Fatal(err)
			}
			fake.Advance(time.Duration(d.Interval) * time.Second)
			return message(t, poll())
		}, ""},
		{"expired", core.ProviderGitHub, func(t *testing.T, fake *forgetest.Server, poll func() error, d codersdk.ExternalAuthDevice) string {
			fake.Advance(time.Duration(d.ExpiresIn+1) * time.Second)
			return message(t, poll())
		}, "expired_token"},
		{"denied", core.ProviderGitHub, func(t *testing.T, fake *forgetest.Server, poll func() error, d codersdk.ExternalAuthDevice) string {
			if err := fake.DenyDevice(d.UserCode); err != nil {
				t.Fatal(err)
			}
			fake.Advance(time.Duration(d.Interval) * time.Second)
			return message(t, poll())
		}, "access_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := forgetest.New(t, tc.kind)
			s := start(t, codertest.Options{Now: fake.Now})
			named(t, s, fake, "git", nil)
			ctx := t.Context()
			alice := client(t, s, s.Alice)
			d, err := alice.ExternalAuthDeviceByID(ctx, "git")
			if err != nil {
				t.Fatal(err)
			}
			if d.DeviceCode == "" || d.UserCode == "" || d.VerificationURI == "" || d.Interval < 1 || d.ExpiresIn < 60 {
				t.Fatalf("device: %+v", d)
			}
			poll := func() error {
				return alice.ExternalAuthDeviceExchange(ctx, "git", codersdk.ExternalAuthDeviceExchange{DeviceCode: d.DeviceCode})
			}
			if got := tc.play(t, fake, poll, d); got != tc.want {
				t.Fatalf("last exchange: %q, want %q", got, tc.want)
			}
			ea, err := alice.ExternalAuthByID(ctx, "git")
			if err != nil {
				t.Fatal(err)
			}
			if linked := tc.want == ""; ea.Authenticated != linked || (ea.User != nil) != linked {
				t.Errorf("after the flow: authenticated %v user %+v", ea.Authenticated, ea.User)
			}
		})
	}
}

// message is the message of a refused exchange (400), or "" for none.
func message(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	e := sdkError(t, "exchange", err, http.StatusBadRequest)
	if e.Detail != e.Message {
		t.Errorf("detail %q, message %q: Coder's UI reads the code from the detail", e.Detail, e.Message)
	}
	return e.Message
}

func TestDeviceFlowUnsupported(t *testing.T) {
	t.Parallel()
	s := start(t, codertest.Options{})
	bb := forgetest.New(t, core.ProviderBitbucketHosted)
	gh := forgetest.New(t, core.ProviderGitHub)
	named(t, s, bb, "bitbucket", nil)
	off := true
	named(t, s, gh, "github", func(in *connect.ClientInput) { in.DeviceFlowDisabled = &off })
	ctx := t.Context()
	alice := client(t, s, s.Alice)
	for _, id := range []string{"bitbucket", "github"} {
		_, err := alice.ExternalAuthDeviceByID(ctx, id)
		sdkError(t, id, err, http.StatusBadRequest)
		err = alice.ExternalAuthDeviceExchange(ctx, id, codersdk.ExternalAuthDeviceExchange{DeviceCode: "vcst_x"})
		sdkError(t, id+" exchange", err, http.StatusBadRequest)
	}
	_, err := alice.ExternalAuthDeviceByID(ctx, "nope")
	sdkError(t, "unknown", err, http.StatusNotFound)
}

// Workload credentials through agentsdk, in each provider's git convention, by
// remote URL and by provider id.
func TestWorkloadCredential(t *testing.T) {
	t.Parallel()
	tokenUser := func(tok, _ string) string { return tok }
	for _, tc := range []struct {
		name     string
		kind     core.ProviderKind
		typ      string
		username func(tok, login string) string
		password func(tok string) string
	}{
		{"GitHub", core.ProviderGitHub, "github", tokenUser, func(string) string { return "x-oauth-basic" }},
		{"GitHub Enterprise", core.ProviderGitHubEnterprise, "github", tokenUser, func(string) string { return "x-oauth-basic" }},
		{"GitLab", core.ProviderGitLabHosted, "gitlab", func(string, string) string { return "oauth2" }, func(tok string) string { return tok }},
		{"GitLab self-managed", core.ProviderGitLabEnterpriseEdition, "gitlab", func(string, string) string { return "oauth2" }, func(tok string) string { return tok }},
		{"Bitbucket Cloud", core.ProviderBitbucketHosted, "bitbucket-cloud", func(string, string) string { return "x-token-auth" }, func(tok string) string { return tok }},
		{"Bitbucket Data Center", core.ProviderBitbucketDataCenter, "bitbucket-server", func(_, login string) string { return login }, func(tok string) string { return tok }},
		{"Gitea", core.ProviderGitea, "gitea", tokenUser, func(string) string { return "x-oauth-basic" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, codertest.Options{})
			fake := forgetest.New(t, tc.kind)
			oc := named(t, s, fake, "git", nil)
			ctx := t.Context()
			remote := fake.HTTPURL() + "/acme/app.git"
			ag := agent(t, s, s.Alice, core.ScopeCredentials)

			for _, req := range []agentsdk.ExternalAuthRequest{{Match: remote}, {ID: "git"}} {
				res, err := ag.ExternalAuth(ctx, req)
				if err != nil {
					t.Fatalf("%+v: %v", req, err)
				}
				if res.URL != s.URL+"/external-auth/git" || res.AccessToken != "" {
					t.Fatalf("%+v before linking: %+v", req, res)
				}
			}
			c := s.Link(t, fake, s.Alice, oc)
			access, _ := s.Tokens(t, c.ID)
			for _, req := range []agentsdk.ExternalAuthRequest{{Match: remote}, {ID: "git"}} {
				res, err := ag.ExternalAuth(ctx, req)
				if err != nil {
					t.Fatalf("%+v: %v", req, err)
				}
				if res.URL != "" || res.AccessToken != access || res.Type != tc.typ ||
					gitUser(res) != tc.username(access, fake.User().Login) || res.Password != tc.password(access) || res.TokenExtra == nil {
					t.Errorf("%+v: %+v", req, res)
				}
			}
			// Someone else's workload gets the link URL, not alice's token.
			res, err := agent(t, s, s.Bob).ExternalAuth(ctx, agentsdk.ExternalAuthRequest{Match: remote})
			if err != nil || res.AccessToken != "" || res.URL == "" {
				t.Errorf("bob: %+v, %v", res, err)
			}
		})
	}
}

func TestWorkloadCredentialErrors(t *testing.T) {
	t.Parallel()
	s := start(t, codertest.Options{})
	gh := forgetest.New(t, core.ProviderGitHub)
	named(t, s, gh, "github", nil)
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		ag     *agentsdk.Client
		req    agentsdk.ExternalAuthRequest
		status int
	}{
		{"neither id nor match", agent(t, s, s.Alice), agentsdk.ExternalAuthRequest{}, http.StatusBadRequest},
		{"both", agent(t, s, s.Alice), agentsdk.ExternalAuthRequest{ID: "github", Match: gh.URL + "/a/b"}, http.StatusBadRequest},
		{"a remote nobody serves", agent(t, s, s.Alice), agentsdk.ExternalAuthRequest{Match: "https://git.example.org/a/b"}, http.StatusNotFound},
		{"an unknown id", agent(t, s, s.Alice), agentsdk.ExternalAuthRequest{ID: "nope"}, http.StatusNotFound},
		{"another organization's provider", agent(t, s, s.Outsider), agentsdk.ExternalAuthRequest{ID: "github"}, http.StatusNotFound},
		{"a token without scope credentials", agent(t, s, s.Alice, core.ScopeReadAPI), agentsdk.ExternalAuthRequest{ID: "github"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.ag.ExternalAuth(ctx, tc.req)
			sdkError(t, tc.name, err, tc.status)
		})
	}
}

// An expired token is refreshed before it is handed out.
func TestWorkloadCredentialRefresh(t *testing.T) {
	t.Parallel()
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	s := start(t, codertest.Options{Now: gl.Now})
	oc := named(t, s, gl, "gitlab", nil)
	c := s.Link(t, gl, s.Alice, oc)
	old, _ := s.Tokens(t, c.ID)
	gl.Advance(3 * time.Hour) // GitLab's tokens live two hours
	if gl.TokenLive(old) {
		t.Fatal("the fake still takes the old token")
	}
	res, err := agent(t, s, s.Alice).ExternalAuth(t.Context(), agentsdk.ExternalAuthRequest{ID: "gitlab"})
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessToken == old || !gl.TokenLive(res.AccessToken) || res.Password != res.AccessToken || gitUser(res) != "oauth2" {
		t.Errorf("after expiry: %+v", res)
	}
	if n := gl.Refreshes(); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	stored, _ := s.Tokens(t, c.ID)
	if stored != res.AccessToken {
		t.Error("the refreshed token was not saved")
	}
}

// listen=true answers as soon as the person links, and is bounded.
func TestWorkloadCredentialListen(t *testing.T) {
	t.Parallel()
	t.Run("link while the request waits", func(t *testing.T) {
		t.Parallel()
		s := start(t, codertest.Options{Coder: coder.Options{ListenWait: 30 * time.Second}})
		gl := forgetest.New(t, core.ProviderGitLabHosted)
		oc := named(t, s, gl, "gitlab", nil)
		ag := agent(t, s, s.Alice)
		type answer struct {
			res agentsdk.ExternalAuthResponse
			err error
			at  time.Time
		}
		done := make(chan answer, 1)
		go func() {
			res, err := ag.ExternalAuth(t.Context(), agentsdk.ExternalAuthRequest{Match: gl.HTTPURL() + "/acme/app.git", Listen: true})
			done <- answer{res, err, time.Now()}
		}()
		time.Sleep(300 * time.Millisecond)
		select {
		case a := <-done:
			t.Fatalf("answered before the link: %+v %v", a.res, a.err)
		default:
		}
		linked := make(chan time.Time, 1)
		go func() {
			s.Link(t, gl, s.Alice, oc)
			linked <- time.Now()
		}()
		select {
		case a := <-done:
			if a.err != nil || a.res.AccessToken == "" || gitUser(a.res) != "oauth2" {
				t.Fatalf("listen: %+v %v", a.res, a.err)
			}
			if d := a.at.Sub(<-linked); d > 5*time.Second {
				t.Errorf("answered %v after the link", d)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no answer after the link")
		}
	})
	t.Run("without a link: an error carrying the link URL, after a bounded wait", func(t *testing.T) {
		t.Parallel()
		s := start(t, codertest.Options{Coder: coder.Options{ListenWait: 400 * time.Millisecond}})
		gl := forgetest.New(t, core.ProviderGitLabHosted)
		named(t, s, gl, "gitlab", nil)
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		begin := time.Now()
		// gitaskpass treats any answer without an error as "authenticated": the
		// client must see an error, and listen again.
		_, err := agent(t, s, s.Alice).ExternalAuth(ctx, agentsdk.ExternalAuthRequest{ID: "gitlab", Listen: true})
		var cerr *codersdk.Error
		if !errors.As(err, &cerr) || cerr.StatusCode() != http.StatusRequestTimeout || cerr.Detail != s.URL+"/external-auth/gitlab" {
			t.Fatalf("bounded: %v", err)
		}
		if d := time.Since(begin); d < 350*time.Millisecond {
			t.Errorf("answered after %v, before the wait was over", d)
		}
	})
}
