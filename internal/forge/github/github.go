// Package github is what vcsauth knows of GitHub (github.com) and GitHub Enterprise
// Server: one Provider type, two constructors.
//
// Facts, and where they come from:
//
//   - Endpoints: GET {web}/login/oauth/authorize, POST {web}/login/oauth/access_token,
//     POST {web}/login/device/code; the user verifies at {web}/login/device.
//     https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
//   - The token and device endpoints answer form-encoded bodies
//     ("access_token=…&scope=…&token_type=bearer") unless the request says
//     "Accept: application/json" (same page). We always ask for JSON.
//   - Errors come back with HTTP 200 and an "error" field. Codes of our concern:
//     bad_verification_code (code wrong, used or expired), incorrect_client_credentials,
//     redirect_uri_mismatch, and for refresh bad_refresh_token.
//     https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
//   - Device flow: supported on github.com and GHES (opt-in per app: device_flow_disabled
//     otherwise). Codes: authorization_pending, slow_down (adds 5 s and returns the new
//     "interval"), expired_token (the page also calls it "token_expired"),
//     incorrect_device_code, access_denied; device codes live 900 s, interval 5 s.
//     https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow
//   - PKCE: S256 only, supported (not required) on github.com since 2025-07-14; the
//     device flow does not use it.
//     https://github.blog/changelog/2025-07-14-pkce-support-for-oauth-and-github-app-authentication
//     No such statement for GHES, so Enterprise does not send PKCE.
//   - Token lifetimes: OAuth app tokens do not expire (no refresh token). GitHub App
//     user tokens expire after 8 hours and come with a refresh token valid 6 months;
//     a refresh returns a new pair and "that refresh token and the old user access
//     token will no longer work" (single-use rotation).
//     https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens
//   - Revocation: DELETE {api}/applications/{client_id}/token with the client id and
//     secret as Basic auth and {"access_token": …}; 204 on success.
//     https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-token
//   - User: GET {api}/user → login, id, name, avatar_url, html_url.
//     https://docs.github.com/en/rest/users/users#get-the-authenticated-user
//   - Rate limits: 403 or 429 with x-ratelimit-remaining: 0 and x-ratelimit-reset
//     (epoch seconds), or with retry-after for secondary limits.
//     https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
//   - Git over HTTPS: any token works as the password with any user name; the
//     long-standing convention (kept by Gitea, which copied it) is the token as the
//     user name with the password "x-oauth-basic". Password authentication for git
//     was removed on 2021-08-13, so there is no PasswordAuth.
//     https://github.blog/2020-12-15-token-authentication-requirements-for-git-operations/
package github

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

// Hosted addresses.
const (
	WebURL = "https://github.com"
	APIURL = "https://api.github.com"
)

// Provider is GitHub or a GitHub Enterprise Server.
type Provider struct {
	provider.Spec
}

// New is github.com, or a GitHub-compatible address given explicitly (tests); empty
// URLs take the hosted defaults.
func New(webURL, apiURL string) (*Provider, error) {
	w, a, err := provider.BaseURLs(webURL, apiURL, WebURL, provider.Fixed(APIURL))
	if err != nil {
		return nil, err
	}
	return build(core.ProviderGitHub, w, a, true)
}

// Enterprise is a GitHub Enterprise Server at webURL; its API defaults to
// {webURL}/api/v3.
// https://docs.github.com/en/enterprise-server@latest/rest/quickstart
func Enterprise(webURL, apiURL string) (*Provider, error) {
	w, a, err := provider.BaseURLs(webURL, apiURL, "", provider.Under("/api/v3"))
	if err != nil {
		return nil, err
	}
	return build(core.ProviderGitHubEnterprise, w, a, false)
}

// build makes the provider from validated addresses.
func build(kind core.ProviderKind, w, a string, pkce bool) (*Provider, error) {
	display, extra := "GitHub", []string{"ssh.github.com"} // SSH over port 443
	if kind == core.ProviderGitHubEnterprise {
		display, extra = "GitHub Enterprise", nil
	}
	return &Provider{provider.Spec{
		ProviderKind: kind,
		Display:      display,
		IconName:     "github",
		WebURL:       w,
		URLs: provider.Endpoints{
			AuthURL:       w + "/login/oauth/authorize",
			TokenURL:      w + "/login/oauth/access_token",
			DeviceAuthURL: w + "/login/device/code",
			RevokeURL:     a + "/applications/{client_id}/token",
			APIURL:        a,
		},
		PKCE:               pkce,
		Scopes:             []string{"repo", "read:user"},
		Git:                provider.GitAuth{Password: "x-oauth-basic"},
		ExtraRepoHosts:     extra,
		ClientAuth:         provider.ClientAuthParams,
		TokenAcceptJSON:    true,
		InvalidGrantCodes:  []string{"bad_verification_code", "bad_refresh_token"},
		InvalidClientCodes: []string{"incorrect_client_credentials"},
		ErrorAliases: map[string]string{
			"token_expired": "expired_token",
			// The device code is unknown: like an expired one, only a new flow helps.
			"incorrect_device_code": "expired_token",
		},
		APIHeaders: map[string]string{
			"Accept":               "application/vnd.github+json",
			"X-GitHub-Api-Version": "2022-11-28",
		},
		RateLimit: provider.RateLimitHeaders{Remaining: "X-RateLimit-Remaining", Reset: "X-RateLimit-Reset"},
		UserAgent: "vcsauth", // GitHub refuses API requests without a User-Agent
	}}, nil
}

// AuthCodeURL is the browser authorization URL (forge.BrowserFlow).
func (p *Provider) AuthCodeURL(c provider.Client, state, verifier string) string {
	return p.AuthorizeURL(c, state, verifier)
}

// Exchange trades the code for a token (forge.BrowserFlow).
func (p *Provider) Exchange(ctx context.Context, hc *http.Client, c provider.Client, code, verifier string) (*oauth2.Token, error) {
	return p.ExchangeCode(ctx, hc, c, code, verifier)
}

// StartDevice starts a device flow (forge.DeviceFlow).
func (p *Provider) StartDevice(ctx context.Context, hc *http.Client, c provider.Client) (*provider.DeviceAuthorization, error) {
	return p.RequestDeviceCode(ctx, hc, c)
}

// PollDevice polls once (forge.DeviceFlow).
func (p *Provider) PollDevice(ctx context.Context, hc *http.Client, c provider.Client, deviceCode string) (*oauth2.Token, error) {
	return p.PollDeviceToken(ctx, hc, c, deviceCode)
}

// Refresh exchanges a GitHub App user refresh token (forge.Refresher).
func (p *Provider) Refresh(ctx context.Context, hc *http.Client, c provider.Client, refreshToken string) (*provider.Refreshed, error) {
	return p.RefreshToken(ctx, hc, c, refreshToken)
}

type user struct {
	Login     string `json:"login"`
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	AvatarURL string `json:"avatar_url"`
	HTMLURL   string `json:"html_url"`
}

// User looks up whom the token belongs to (forge.UserLookup).
func (p *Provider) User(ctx context.Context, hc *http.Client, accessToken string) (*provider.Identity, error) {
	var u user
	if _, err := p.GetJSON(ctx, hc, "user lookup", p.URLs.APIURL+"/user", p.TokenAuth(accessToken), &u); err != nil {
		return nil, err
	}
	if u.ID == 0 || u.Login == "" {
		return nil, p.Malformed("user lookup", http.StatusOK, "user without id or login")
	}
	return &provider.Identity{ID: strconv.FormatInt(u.ID, 10), Login: u.Login, Name: u.Name, AvatarURL: u.AvatarURL, ProfileURL: u.HTMLURL}, nil
}

// Validate checks the token against the API (forge.Validator).
func (p *Provider) Validate(ctx context.Context, hc *http.Client, accessToken string) error {
	// Through User, which reads the answer: a 200 that is not the provider's user
	// (a proxy's or a captive portal's page) does not pass for a working token.
	_, err := p.User(ctx, hc, accessToken)
	return err
}

// Revoke deletes the token at GitHub (forge.Revoker). A token GitHub no longer knows
// counts as revoked.
func (p *Provider) Revoke(ctx context.Context, hc *http.Client, c provider.Client, token string) error {
	const op = "revoke"
	body, _ := json.Marshal(map[string]string{"access_token": token})
	u := p.URLs.APIURL + "/applications/" + url.PathEscape(c.ID) + "/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.ID, c.Secret)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range p.APIHeaders {
		req.Header.Set(k, v)
	}
	resp, rbody, err := p.Do(hc, op, req)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode/100 == 2, resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusUnprocessableEntity:
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return p.Refused(op, resp.StatusCode, provider.ErrInvalidClient, "the client id or secret was refused")
	}
	return p.ClassifyAPI(op, resp, rbody)
}
