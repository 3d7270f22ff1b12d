package forge_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/azuredevops"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

type caps struct {
	browser, device, refresh, revoke, password, pkce bool
	refreshTokens                                    bool // the fake issues refresh tokens
}

type kindCase struct {
	name  string
	kind  core.ProviderKind
	opts  []forgetest.Option
	entra bool
	want  caps
}

var (
	oauthAll  = caps{browser: true, device: true, refresh: true, revoke: true, pkce: true, refreshTokens: true}
	webRotate = caps{browser: true, refresh: true, refreshTokens: true}
)

// kindCases covers every core.ProviderKind (TestKindCasesCoverEveryKind checks).
var kindCases = []kindCase{
	{name: "github_oauth_app", kind: core.ProviderGitHub,
		want: caps{browser: true, device: true, refresh: true, revoke: true, pkce: true}},
	{name: "github_app", kind: core.ProviderGitHub, opts: []forgetest.Option{forgetest.GitHubApp()}, want: oauthAll},
	{name: "github_enterprise", kind: core.ProviderGitHubEnterprise, opts: []forgetest.Option{forgetest.GitHubApp()},
		want: caps{browser: true, device: true, refresh: true, revoke: true, refreshTokens: true}},
	{name: "gitlab_hosted", kind: core.ProviderGitLabHosted, want: oauthAll},
	{name: "gitlab_community_edition", kind: core.ProviderGitLabCommunityEdition, want: oauthAll},
	{name: "gitlab_enterprise_edition", kind: core.ProviderGitLabEnterpriseEdition, want: oauthAll},
	{name: "bitbucket_hosted", kind: core.ProviderBitbucketHosted,
		want: caps{browser: true, refresh: true, password: true, refreshTokens: true}},
	{name: "bitbucket_server", kind: core.ProviderBitbucketServer,
		want: caps{browser: true, refresh: true, password: true, pkce: true, refreshTokens: true}},
	{name: "bitbucket_data_center", kind: core.ProviderBitbucketDataCenter,
		want: caps{browser: true, refresh: true, password: true, pkce: true, refreshTokens: true}},
	{name: "ado_services", kind: core.ProviderAzureDevOpsServices, want: webRotate},
	{name: "ado_services_entra", kind: core.ProviderAzureDevOpsServices, entra: true,
		opts: []forgetest.Option{forgetest.AzureEntra("contoso.onmicrosoft.com")},
		want: caps{browser: true, device: true, refresh: true, pkce: true, refreshTokens: true}},
	{name: "ado_server", kind: core.ProviderAzureDevOpsServer, want: caps{password: true}},
	{name: "gitea", kind: core.ProviderGitea,
		want: caps{browser: true, refresh: true, password: true, pkce: true, refreshTokens: true}},
	{name: "gitee", kind: core.ProviderGitee, want: webRotate},
}

func caseNamed(t *testing.T, name string) kindCase {
	for _, kc := range kindCases {
		if kc.name == name {
			return kc
		}
	}
	t.Fatalf("no case %s", name)
	return kindCase{}
}

func setup(t *testing.T, kc kindCase, extra ...forgetest.Option) (*forgetest.Server, forge.Forge) {
	t.Helper()
	srv := forgetest.New(t, kc.kind, append(append([]forgetest.Option(nil), kc.opts...), extra...)...)
	var f forge.Forge
	var err error
	if kc.entra {
		f, err = azuredevops.NewEntra(srv.HTTPURL(), srv.APIURL(), srv.ProfileURL())
	} else {
		f, err = forge.New(kc.kind, srv.HTTPURL(), srv.APIURL())
	}
	if err != nil {
		t.Fatalf("forge for %s: %v", kc.name, err)
	}
	return srv, f
}

// wantLogin is the login forge reports for the fake's user: Azure DevOps Services
// has no user names, so its login is the e-mail address.
func wantLogin(kc kindCase, u forgetest.User) string {
	if kc.kind == core.ProviderAzureDevOpsServices {
		return u.Email
	}
	return u.Login
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKindCasesCoverEveryKind(t *testing.T) {
	t.Parallel()
	seen := map[core.ProviderKind]bool{}
	for _, kc := range kindCases {
		seen[kc.kind] = true
	}
	for _, k := range core.ProviderKinds {
		if !seen[k] {
			t.Errorf("no flow test case for kind %s", k)
		}
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			_, f := setup(t, kc)
			_, browser := f.(forge.BrowserFlow)
			_, device := f.(forge.DeviceFlow)
			_, refresh := f.(forge.Refresher)
			_, revoke := f.(forge.Revoker)
			_, password := f.(forge.PasswordAuth)
			_, user := f.(forge.UserLookup)
			_, validate := f.(forge.Validator)
			got := caps{browser: browser, device: device, refresh: refresh, revoke: revoke, password: password,
				pkce: f.SupportsPKCE(), refreshTokens: kc.want.refreshTokens}
			if got != kc.want {
				t.Errorf("capabilities = %+v, want %+v", got, kc.want)
			}
			if !user || !validate {
				t.Errorf("every provider must look users up and validate tokens (user %v, validate %v)", user, validate)
			}
			if f.Kind() != kc.kind || f.DisplayName() == "" || f.Icon() == "" {
				t.Errorf("kind %q display %q icon %q", f.Kind(), f.DisplayName(), f.Icon())
			}
			if browser && (f.Endpoints().AuthURL == "" || f.Endpoints().TokenURL == "") {
				t.Errorf("browser flow without endpoints: %+v", f.Endpoints())
			}
			if device != (f.Endpoints().DeviceAuthURL != "") {
				t.Errorf("device flow %v but device endpoint %q", device, f.Endpoints().DeviceAuthURL)
			}
		})
	}
}

// noRedirect is an HTTP client that stops at the provider's redirect, as a test
// standing in for a browser does.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize follows the browser half of the flow: it loads the authorize URL and
// returns the code from the redirect to the callback.
func authorize(t *testing.T, srv *forgetest.Server, authURL, wantState string) string {
	t.Helper()
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != srv.RedirectURI {
		t.Fatalf("redirected to %s, want %s", got, srv.RedirectURI)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorize refused: %s %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != wantState {
		t.Fatalf("state %q, want %q", q.Get("state"), wantState)
	}
	return q.Get("code")
}

func TestBrowserFlow(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		if !kc.want.browser {
			continue
		}
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			srv, f := setup(t, kc)
			bf := f.(forge.BrowserFlow)
			ctx := ctxT(t)
			c := srv.OAuthClient()
			verifier := oauth2.GenerateVerifier()
			u := bf.AuthCodeURL(c, "st4te", verifier)
			pu, err := url.Parse(u)
			if err != nil || !strings.HasPrefix(u, srv.URL) {
				t.Fatalf("authorize URL %q is not at the fake", u)
			}
			if got := pu.Query().Get("code_challenge") != ""; got != f.SupportsPKCE() {
				t.Errorf("code_challenge sent = %v, PKCE supported = %v", got, f.SupportsPKCE())
			}
			if pu.Query().Get("scope") == "" {
				t.Errorf("no default scopes in %s", u)
			}
			code := authorize(t, srv, u, "st4te")
			tok, err := bf.Exchange(ctx, nil, c, code, verifier)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tok.AccessToken == "" || (kc.want.refreshTokens && tok.RefreshToken == "") {
				t.Fatalf("token %+v", tok)
			}
			if kc.want.refreshTokens && tok.Expiry.IsZero() {
				t.Errorf("expiring token without expiry")
			}
			id, err := f.(forge.UserLookup).User(ctx, nil, tok.AccessToken)
			if err != nil {
				t.Fatalf("user: %v", err)
			}
			if id.Login != wantLogin(kc, srv.User()) || id.Name != srv.User().Name || !strings.Contains(id.ID, srv.User().ID) {
				t.Errorf("identity %+v, user %+v", id, srv.User())
			}
			// A code is single use.
			if _, err := bf.Exchange(ctx, nil, c, code, verifier); !errors.Is(err, forge.ErrInvalidGrant) {
				t.Errorf("second exchange: %v, want ErrInvalidGrant", err)
			}
			if srv.TokenRequests("authorization_code") != 2 {
				t.Errorf("code grants counted %d, want 2", srv.TokenRequests("authorization_code"))
			}
			// The wrong secret is the admin's problem, not the user's.
			code = authorize(t, srv, bf.AuthCodeURL(c, "s2", verifier), "s2")
			bad := c
			bad.Secret = "wrong"
			if _, err := bf.Exchange(ctx, nil, bad, code, verifier); !errors.Is(err, forge.ErrInvalidClient) {
				t.Errorf("exchange with a wrong secret: %v, want ErrInvalidClient", err)
			}
			if f.SupportsPKCE() {
				code = authorize(t, srv, bf.AuthCodeURL(c, "s3", verifier), "s3")
				if _, err := bf.Exchange(ctx, nil, c, code, oauth2.GenerateVerifier()); !errors.Is(err, forge.ErrInvalidGrant) {
					t.Errorf("exchange with the wrong verifier: %v, want ErrInvalidGrant", err)
				}
			}
		})
	}
}

func TestAuthorizeWithoutBrowser(t *testing.T) {
	t.Parallel()
	srv, f := setup(t, caseNamed(t, "gitlab_hosted"))
	c := srv.OAuthClient()
	verifier := oauth2.GenerateVerifier()
	loc, err := srv.Authorize(c.ID, c.RedirectURL, "xyz", oauth2.S256ChallengeFromVerifier(verifier))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	if _, err := f.(forge.BrowserFlow).Exchange(ctxT(t), nil, c, u.Query().Get("code"), verifier); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := srv.Authorize(c.ID, c.RedirectURL+"/other", "xyz", ""); err == nil {
		t.Errorf("a redirect URI that is not an exact match was accepted")
	}
	if _, err := srv.Authorize("someone-else", c.RedirectURL, "xyz", ""); err == nil {
		t.Errorf("an unknown client was accepted")
	}
}

func TestUserAndValidate(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			srv, f := setup(t, kc)
			ctx := ctxT(t)
			ul, v := f.(forge.UserLookup), f.(forge.Validator)
			tok := srv.IssueToken()
			id, err := ul.User(ctx, nil, tok.AccessToken)
			if err != nil {
				t.Fatalf("user: %v", err)
			}
			if id.Login != wantLogin(kc, srv.User()) || id.ID == "" {
				t.Errorf("identity %+v", id)
			}
			if err := v.Validate(ctx, nil, tok.AccessToken); err != nil {
				t.Errorf("validate a live token: %v", err)
			}
			srv.RevokeToken(tok.AccessToken)
			if err := v.Validate(ctx, nil, tok.AccessToken); !errors.Is(err, forge.ErrTokenInvalid) {
				t.Errorf("validate a revoked token: %v, want ErrTokenInvalid", err)
			}
			tok2 := srv.IssueToken()
			srv.ExpireToken(tok2.AccessToken)
			if _, err := ul.User(ctx, nil, tok2.AccessToken); !errors.Is(err, forge.ErrTokenInvalid) {
				t.Errorf("user with an expired token: %v, want ErrTokenInvalid", err)
			}
			if err := v.Validate(ctx, nil, "never-issued"); !errors.Is(err, forge.ErrTokenInvalid) || forge.IsTransient(err) {
				t.Errorf("validate garbage token: %v", err)
			}
			if srv.UserLookups() < 4 {
				t.Errorf("user lookups counted %d", srv.UserLookups())
			}
			// A 200 that is not the provider's answer (a proxy's page) is no proof
			// that the token works.
			tok3 := srv.IssueToken()
			srv.GarbageNext(2)
			for i := range 2 {
				if err := v.Validate(ctx, nil, tok3.AccessToken); err == nil {
					t.Errorf("validate answered by garbage (%d): no error", i)
				}
			}
		})
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		if !kc.want.refresh {
			continue
		}
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			srv, f := setup(t, kc)
			ctx := ctxT(t)
			r := f.(forge.Refresher)
			c := srv.OAuthClient()
			tok := srv.IssueToken()
			if !kc.want.refreshTokens {
				// A GitHub OAuth app token has no refresh token: nothing to refresh.
				if _, err := r.Refresh(ctx, nil, c, tok.RefreshToken); !errors.Is(err, forge.ErrInvalidGrant) {
					t.Errorf("refresh without a refresh token: %v, want ErrInvalidGrant", err)
				}
				return
			}
			got, err := r.Refresh(ctx, nil, c, tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if !got.Rotated || got.Token.RefreshToken == tok.RefreshToken || got.Token.AccessToken == tok.AccessToken {
				t.Errorf("refresh did not rotate: %+v", got)
			}
			if got.Token.Expiry.IsZero() {
				t.Errorf("refreshed token without expiry")
			}
			if err := f.(forge.Validator).Validate(ctx, nil, got.Token.AccessToken); err != nil {
				t.Errorf("new access token refused: %v", err)
			}
			// The old refresh token is dead.
			if _, err := r.Refresh(ctx, nil, c, tok.RefreshToken); !errors.Is(err, forge.ErrInvalidGrant) {
				t.Errorf("reused refresh token: %v, want ErrInvalidGrant", err)
			}
			var oe *forge.OAuthError
			var re *oauth2.RetrieveError
			_, err = r.Refresh(ctx, nil, c, tok.RefreshToken)
			if !errors.As(err, &oe) || !errors.As(err, &re) || re.ErrorCode == "" {
				t.Errorf("refusal should be an *OAuthError wrapping *oauth2.RetrieveError: %#v", err)
			}
			if _, err := r.Refresh(ctx, nil, c, got.Token.RefreshToken); err != nil {
				t.Errorf("refresh with the rotated token: %v", err)
			}
			if srv.Refreshes() != 2 || srv.TokenRequests("refresh_token") != 4 {
				t.Errorf("refreshes %d, refresh requests %d; want 2, 4", srv.Refreshes(), srv.TokenRequests("refresh_token"))
			}
		})
	}
}

func TestRefreshWithoutRotation(t *testing.T) {
	t.Parallel()
	srv, f := setup(t, caseNamed(t, "bitbucket_hosted"), forgetest.KeepRefreshTokens())
	ctx := ctxT(t)
	tok := srv.IssueToken()
	for range 2 {
		got, err := f.(forge.Refresher).Refresh(ctx, nil, srv.OAuthClient(), tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if got.Rotated || got.Token.RefreshToken != tok.RefreshToken {
			t.Errorf("refresh reported a rotation that did not happen: %+v", got)
		}
	}
}

// Many concurrent refreshes with one single-use refresh token: exactly one wins.
func TestConcurrentRefreshOneWinner(t *testing.T) {
	t.Parallel()
	srv, f := setup(t, caseNamed(t, "gitlab_hosted"))
	ctx := ctxT(t)
	tok := srv.IssueToken()
	r := f.(forge.Refresher)
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, refused := 0, 0
	for range n {
		wg.Go(func() {
			_, err := r.Refresh(ctx, nil, srv.OAuthClient(), tok.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, forge.ErrInvalidGrant):
				refused++
			default:
				t.Errorf("refresh: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || refused != n-1 || srv.Refreshes() != 1 || srv.TokenRequests("refresh_token") != n {
		t.Errorf("wins %d refused %d; server: refreshes %d, requests %d", wins, refused, srv.Refreshes(), srv.TokenRequests("refresh_token"))
	}
}

func TestDeviceFlow(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		if !kc.want.device {
			continue
		}
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			const interval = 2 * time.Second
			start := func(t *testing.T) (*forgetest.Server, forge.Forge, forge.DeviceFlow, *forge.DeviceAuthorization) {
				srv, f := setup(t, kc, forgetest.DeviceInterval(interval))
				df := f.(forge.DeviceFlow)
				da, err := df.StartDevice(ctxT(t), nil, srv.OAuthClient())
				if err != nil {
					t.Fatalf("start: %v", err)
				}
				if da.DeviceCode == "" || da.UserCode == "" || !strings.HasPrefix(da.VerificationURI, srv.URL) ||
					da.ExpiresIn <= 0 || da.Interval != interval {
					t.Fatalf("device authorization %+v", da)
				}
				return srv, f, df, da
			}
			t.Run("success", func(t *testing.T) {
				t.Parallel()
				srv, f, df, da := start(t)
				ctx, c := ctxT(t), srv.OAuthClient()
				// Polling at once is faster than the interval: slow_down, 5 s more.
				_, err := df.PollDevice(ctx, nil, c, da.DeviceCode)
				var oe *forge.OAuthError
				if !errors.Is(err, forge.ErrSlowDown) || !errors.As(err, &oe) || oe.Interval != interval+5*time.Second {
					t.Fatalf("first poll: %v (interval %v), want slow_down with %v", err, oe, interval+5*time.Second)
				}
				srv.Advance(oe.Interval)
				if _, err := df.PollDevice(ctx, nil, c, da.DeviceCode); !errors.Is(err, forge.ErrAuthorizationPending) {
					t.Fatalf("poll before approval: %v, want authorization_pending", err)
				}
				if err := srv.ApproveDevice(da.UserCode); err != nil {
					t.Fatal(err)
				}
				srv.Advance(oe.Interval)
				tok, err := df.PollDevice(ctx, nil, c, da.DeviceCode)
				if err != nil {
					t.Fatalf("poll after approval: %v", err)
				}
				if _, err := f.(forge.UserLookup).User(ctx, nil, tok.AccessToken); err != nil {
					t.Errorf("device token refused: %v", err)
				}
				if got := srv.TokenRequests("device_code"); got != 3 {
					t.Errorf("device polls counted %d, want 3", got)
				}
			})
			t.Run("expired", func(t *testing.T) {
				t.Parallel()
				srv, _, df, da := start(t)
				srv.Advance(da.ExpiresIn + time.Second)
				if _, err := df.PollDevice(ctxT(t), nil, srv.OAuthClient(), da.DeviceCode); !errors.Is(err, forge.ErrExpiredToken) {
					t.Errorf("poll after expiry: %v, want expired_token", err)
				}
			})
			t.Run("denied", func(t *testing.T) {
				t.Parallel()
				srv, _, df, da := start(t)
				if err := srv.DenyDevice(da.UserCode); err != nil {
					t.Fatal(err)
				}
				srv.Advance(interval)
				if _, err := df.PollDevice(ctxT(t), nil, srv.OAuthClient(), da.DeviceCode); !errors.Is(err, forge.ErrAccessDenied) {
					t.Errorf("poll after denial: %v, want access_denied", err)
				}
			})
			t.Run("unknown_code", func(t *testing.T) {
				t.Parallel()
				srv, _, df, _ := start(t)
				_, err := df.PollDevice(ctxT(t), nil, srv.OAuthClient(), "no-such-code")
				if err == nil || forge.IsTransient(err) {
					t.Errorf("poll with an unknown device code: %v", err)
				}
			})
		})
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		if !kc.want.revoke {
			continue
		}
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			srv, f := setup(t, kc)
			ctx, c := ctxT(t), srv.OAuthClient()
			rv := f.(forge.Revoker)
			tok := srv.IssueToken()
			if err := rv.Revoke(ctx, nil, c, tok.AccessToken); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if err := f.(forge.Validator).Validate(ctx, nil, tok.AccessToken); !errors.Is(err, forge.ErrTokenInvalid) {
				t.Errorf("validate after revoke: %v, want ErrTokenInvalid", err)
			}
			if err := rv.Revoke(ctx, nil, c, tok.AccessToken); err != nil {
				t.Errorf("revoking a revoked token: %v, want nil", err)
			}
			bad := c
			bad.Secret = "wrong"
			if err := rv.Revoke(ctx, nil, bad, srv.IssueToken().AccessToken); !errors.Is(err, forge.ErrInvalidClient) {
				t.Errorf("revoke with a wrong secret: %v, want ErrInvalidClient", err)
			}
			if srv.Revocations() < 2 {
				t.Errorf("revocations counted %d", srv.Revocations())
			}
		})
	}
}

func TestPasswordAuth(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		if !kc.want.password {
			continue
		}
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			srv, f := setup(t, kc)
			ctx := ctxT(t)
			pa := f.(forge.PasswordAuth)
			u := srv.User()
			id, err := pa.PasswordUser(ctx, nil, u.Login, u.Password)
			if err != nil {
				t.Fatalf("password user: %v", err)
			}
			if id.Login != u.Login {
				t.Errorf("identity %+v", id)
			}
			if _, err := pa.PasswordUser(ctx, nil, u.Login, "wrong"); !errors.Is(err, forge.ErrTokenInvalid) {
				t.Errorf("wrong password: %v, want ErrTokenInvalid", err)
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			srv, f := setup(t, kc)
			ctx := ctxT(t)
			ul := f.(forge.UserLookup)
			tok := srv.IssueToken()

			srv.FailNext(1, http.StatusServiceUnavailable)
			_, err := ul.User(ctx, nil, tok.AccessToken)
			var te *forge.TransientError
			if !errors.As(err, &te) || te.Status != http.StatusServiceUnavailable || !forge.IsTransient(err) {
				t.Errorf("5xx: %v, want *TransientError 503", err)
			}

			srv.RateLimitNext(1)
			_, err = ul.User(ctx, nil, tok.AccessToken)
			var rl *forge.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
				t.Errorf("rate limit: %v, want *RateLimitError with RetryAfter in (0, 1m]", err)
			}

			srv.GarbageNext(2) // an HTML page, then truncated JSON
			for i := range 2 {
				_, err = ul.User(ctx, nil, tok.AccessToken)
				if !errors.Is(err, forge.ErrMalformed) || !errors.As(err, &te) {
					t.Errorf("garbage %d: %v, want a transient ErrMalformed", i, err)
				}
			}

			srv.HangNext(1)
			hctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, err = ul.User(hctx, nil, tok.AccessToken)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &te) {
				t.Errorf("hang: %v, want a transient context.DeadlineExceeded", err)
			}

			if _, err := ul.User(ctx, nil, tok.AccessToken); err != nil {
				t.Errorf("after the faults: %v", err)
			}

			r, ok := f.(forge.Refresher)
			if !ok || !kc.want.refreshTokens {
				return
			}
			c := srv.OAuthClient()
			srv.FailNext(1, http.StatusBadGateway)
			if _, err := r.Refresh(ctx, nil, c, tok.RefreshToken); !errors.As(err, &te) || te.Status != http.StatusBadGateway {
				t.Errorf("refresh 5xx: %v, want *TransientError 502", err)
			}
			srv.RateLimitNext(1)
			if _, err := r.Refresh(ctx, nil, c, tok.RefreshToken); !errors.As(err, &rl) || rl.RetryAfter <= 0 {
				t.Errorf("refresh rate limit: %v, want *RateLimitError", err)
			}
			srv.GarbageNext(2)
			for i := range 2 {
				if _, err := r.Refresh(ctx, nil, c, tok.RefreshToken); !errors.Is(err, forge.ErrMalformed) || !errors.As(err, &te) {
					t.Errorf("refresh garbage %d: %v, want a transient ErrMalformed", i, err)
				}
			}
			srv.HangNext(1)
			hctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
			_, err = r.Refresh(hctx, nil, c, tok.RefreshToken)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || !forge.IsTransient(err) {
				t.Errorf("refresh hang: %v, want a transient context.DeadlineExceeded", err)
			}
			// None of that reached the emulation: the refresh token still works.
			if _, err := r.Refresh(ctx, nil, c, tok.RefreshToken); err != nil {
				t.Errorf("refresh after the faults: %v", err)
			}
		})
	}
}

func TestLatencyRespectsDeadline(t *testing.T) {
	t.Parallel()
	srv, f := setup(t, caseNamed(t, "github_oauth_app"))
	srv.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := f.(forge.Validator).Validate(ctx, nil, srv.IssueToken().AccessToken)
	if !errors.Is(err, context.DeadlineExceeded) || !forge.IsTransient(err) {
		t.Errorf("slow provider: %v, want a transient deadline error", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	f, err := forge.New(core.ProviderGitHub, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if e := f.Endpoints(); e.APIURL != "https://api.github.com" || e.AuthURL != "https://github.com/login/oauth/authorize" {
		t.Errorf("github defaults: %+v", e)
	}
	defaults := map[core.ProviderKind]string{
		core.ProviderGitLabHosted:        "https://gitlab.com/api/v4",
		core.ProviderBitbucketHosted:     "https://api.bitbucket.org/2.0",
		core.ProviderAzureDevOpsServices: "https://app.vssps.visualstudio.com",
		core.ProviderGitee:               "https://gitee.com/api/v5",
	}
	for k, api := range defaults {
		f, err := forge.New(k, "", "")
		if err != nil || f.Endpoints().APIURL != api {
			t.Errorf("%s: %v %+v", k, err, f)
		}
	}
	ghe, err := forge.New(core.ProviderGitHubEnterprise, "https://ghe.example.com/", "")
	if err != nil || ghe.Endpoints().APIURL != "https://ghe.example.com/api/v3" || ghe.RepoHost() != "ghe.example.com" {
		t.Errorf("ghe: %v %+v", err, ghe)
	}
	entra, err := forge.New(core.ProviderAzureDevOpsServices, "", "https://login.microsoftonline.com/contoso.onmicrosoft.com")
	if _, ok := entra.(forge.DeviceFlow); err != nil || !ok {
		t.Errorf("ado_services with an Entra authority: %v %T", err, entra)
	}

	bad := []struct {
		kind         core.ProviderKind
		httpURL, api string
		field        string
	}{
		{"svn", "https://x.example", "", "kind"},
		{core.ProviderGitea, "", "", "http_url"},
		{core.ProviderGitHubEnterprise, "", "", "http_url"},
		{core.ProviderGitea, "ftp://gitea.example.com", "", "http_url"},
		{core.ProviderGitea, "gitea.example.com", "", "http_url"},
		{core.ProviderGitea, "/relative/path", "", "http_url"},
		{core.ProviderGitea, "https://gitea.example.com?x=1", "", "http_url"},
		{core.ProviderGitea, "https://gitea.example.com/#frag", "", "http_url"},
		{core.ProviderGitea, "https://user:pw@gitea.example.com", "", "http_url"},
		{core.ProviderGitea, "https://gitea.example.com", "https://gitea.example.com/api/v1?token=x", "api_url"},
		{core.ProviderGitLabCommunityEdition, "https://gitlab.example.com", "https://:443/api", "api_url"},
		{core.ProviderAzureDevOpsServices, "", "https://login.microsoftonline.com/", "api_url"},
	}
	for _, b := range bad {
		_, err := forge.New(b.kind, b.httpURL, b.api)
		v, ok := core.AsValidation(err)
		if !ok || v.Field != b.field {
			t.Errorf("New(%q, %q, %q) = %v, want a validation error on %s", b.kind, b.httpURL, b.api, err, b.field)
		}
	}
}

func TestGitCredential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind                  core.ProviderKind
		httpURL               string
		login, user, password string
	}{
		{core.ProviderGitHub, "", "octo", "TOKEN", "x-oauth-basic"},
		{core.ProviderGitHubEnterprise, "https://ghe.example.com", "octo", "TOKEN", "x-oauth-basic"},
		{core.ProviderGitLabHosted, "", "octo", "oauth2", "TOKEN"},
		{core.ProviderGitLabEnterpriseEdition, "https://gitlab.example.com", "", "oauth2", "TOKEN"},
		{core.ProviderBitbucketHosted, "", "octo", "x-token-auth", "TOKEN"},
		{core.ProviderBitbucketDataCenter, "https://bb.example.com", "octo", "octo", "TOKEN"},
		{core.ProviderBitbucketDataCenter, "https://bb.example.com", "", "x-token-auth", "TOKEN"},
		{core.ProviderAzureDevOpsServices, "", "octo@example.com", "octo@example.com", "TOKEN"},
		{core.ProviderAzureDevOpsServer, "https://ado.example.com/DefaultCollection", "", "pat", "TOKEN"},
		{core.ProviderGitea, "https://gitea.example.com", "octo", "TOKEN", "x-oauth-basic"},
		{core.ProviderGitee, "", "octo", "octo", "TOKEN"},
		{core.ProviderGitee, "", "", "oauth2", "TOKEN"},
	}
	for _, tt := range tests {
		f, err := forge.New(tt.kind, tt.httpURL, "")
		if err != nil {
			t.Fatal(err)
		}
		u, p := f.GitCredential(tt.login, "TOKEN")
		if u != tt.user || p != tt.password {
			t.Errorf("%s login %q: (%q, %q), want (%q, %q)", tt.kind, tt.login, u, p, tt.user, tt.password)
		}
	}
}

func TestMatchesRemote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind    core.ProviderKind
		httpURL string
		remote  string
		want    bool
	}{
		{core.ProviderGitHub, "", "https://github.com/octo/repo.git", true},
		{core.ProviderGitHub, "", "https://octo:tok@github.com/octo/repo", true},
		{core.ProviderGitHub, "", "https://GitHub.com:443/octo/repo", true},
		{core.ProviderGitHub, "", "git@github.com:octo/repo.git", true},
		{core.ProviderGitHub, "", "ssh://git@ssh.github.com:443/octo/repo.git", true},
		{core.ProviderGitHub, "", "https://github.com:8443/octo/repo", false},
		{core.ProviderGitHub, "", "https://gitlab.com/octo/repo", false},
		{core.ProviderGitHub, "", "https://github.com.evil.example/octo/repo", false},
		{core.ProviderGitHub, "", "git@evil.example:github.com/repo", false},
		{core.ProviderGitHub, "", "/home/octo/repo", false},
		{core.ProviderGitHubEnterprise, "https://ghe.example.com:8443", "https://ghe.example.com:8443/o/r", true},
		{core.ProviderGitHubEnterprise, "https://ghe.example.com:8443", "https://ghe.example.com/o/r", false},
		{core.ProviderGitHubEnterprise, "https://ghe.example.com:8443", "ssh://git@ghe.example.com:2222/o/r", true},
		{core.ProviderGitLabEnterpriseEdition, "https://example.com/gitlab", "https://example.com/gitlab/group/repo.git", true},
		{core.ProviderGitLabEnterpriseEdition, "https://example.com/gitlab", "https://example.com/gitea/group/repo.git", false},
		{core.ProviderGitLabEnterpriseEdition, "https://example.com/gitlab", "git@example.com:group/repo.git", true},
		{core.ProviderBitbucketHosted, "", "git@bitbucket.org:team/repo.git", true},
		{core.ProviderBitbucketHosted, "", "ssh://git@altssh.bitbucket.org:443/team/repo.git", true},
		{core.ProviderBitbucketHosted, "", "https://x-token-auth:tok@bitbucket.org/team/repo.git", true},
		{core.ProviderAzureDevOpsServices, "", "https://org@dev.azure.com/org/project/_git/repo", true},
		{core.ProviderAzureDevOpsServices, "", "git@ssh.dev.azure.com:v3/org/project/repo", true},
		{core.ProviderAzureDevOpsServices, "", "https://org.visualstudio.com/project/_git/repo", true},
		{core.ProviderAzureDevOpsServices, "", "https://visualstudio.com.evil.example/x", false},
		{core.ProviderGitea, "http://gitea.local:3000", "http://gitea.local:3000/o/r.git", true},
		{core.ProviderGitea, "http://gitea.local:3000", "http://gitea.local/o/r.git", false},
		{core.ProviderGitee, "", "git@gitee.com:o/r.git", true},
	}
	for _, tt := range tests {
		f, err := forge.New(tt.kind, tt.httpURL, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := f.MatchesRemote(tt.remote); got != tt.want {
			t.Errorf("%s at %q: MatchesRemote(%q) = %v, want %v", tt.kind, tt.httpURL, tt.remote, got, tt.want)
		}
	}
}

func TestOAuth2Config(t *testing.T) {
	t.Parallel()
	bb, _ := forge.New(core.ProviderBitbucketHosted, "", "")
	if s := bb.OAuth2Config("id", "secret", "https://cb", nil).Endpoint.AuthStyle; s != oauth2.AuthStyleInHeader {
		t.Errorf("bitbucket cloud auth style %v, want in header", s)
	}
	gl, _ := forge.New(core.ProviderGitLabHosted, "", "")
	cfg := gl.OAuth2Config("id", "secret", "https://cb", nil)
	if cfg.Endpoint.AuthStyle != oauth2.AuthStyleInParams || len(cfg.Scopes) == 0 || cfg.Endpoint.DeviceAuthURL == "" {
		t.Errorf("gitlab config %+v", cfg)
	}
	if got := gl.OAuth2Config("id", "", "", []string{"api"}).Scopes; len(got) != 1 || got[0] != "api" {
		t.Errorf("explicit scopes %v", got)
	}
}
