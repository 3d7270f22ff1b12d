// Package gitlab is what vcsauth knows of GitLab: gitlab.com and self-managed
// Community and Enterprise Editions, which speak the same OAuth 2.0 (Doorkeeper).
//
// Facts, and where they come from (https://docs.gitlab.com/api/oauth2/ unless noted):
//
//   - Endpoints: {web}/oauth/authorize, {web}/oauth/token, {web}/oauth/revoke,
//     {web}/oauth/authorize_device (device authorization; users verify at
//     {web}/oauth/device).
//   - PKCE (S256) for the authorization code flow.
//   - Device authorization grant: introduced in 17.2 behind the flag
//     oauth2_device_grant_flow, on by default in 17.3, generally available in 17.9.
//     Older self-managed installations answer the device endpoint with an error;
//     the OAuth client can turn device flow off.
//   - Tokens: JSON answers; access tokens expire in 7200 s ("expires_in": 7200). A
//     refresh "invalidates the existing access_token and refresh_token" and sends a
//     new pair: single-use rotation.
//   - Client authentication: client_id and client_secret as form parameters (the
//     documented examples); Doorkeeper also takes HTTP Basic.
//   - Revocation: POST /oauth/revoke with client_id, client_secret, token; 200 and {}.
//   - Git over HTTPS: "Use the token as the password. You can set the username to any
//     string value. You should use oauth2."
//   - User: GET {api}/user → id, username, name, avatar_url, web_url.
//     https://docs.gitlab.com/api/users/#get-the-current-user
//   - Rate limits: 429 with Retry-After and RateLimit-Remaining / RateLimit-Reset.
//     https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/#response-headers
//   - Personal access tokens are not passwords for the API (it wants a token header),
//     so there is no PasswordAuth: hand us the PAT as a token instead.
package gitlab

import (
	"context"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

// Hosted addresses.
const (
	WebURL = "https://gitlab.com"
	APIURL = "https://gitlab.com/api/v4"
)

// Provider is a GitLab installation.
type Provider struct {
	provider.Spec
}

// New is the GitLab of the given kind at webURL; the API defaults to
// {webURL}/api/v4. For gitlab_hosted, an empty webURL means gitlab.com.
func New(kind core.ProviderKind, webURL, apiURL string) (*Provider, error) {
	defaultWeb := ""
	if kind == core.ProviderGitLabHosted {
		defaultWeb = WebURL
	}
	w, a, err := provider.BaseURLs(webURL, apiURL, defaultWeb, provider.Under("/api/v4"))
	if err != nil {
		return nil, err
	}
	display := "GitLab"
	switch kind {
	case core.ProviderGitLabCommunityEdition:
		display = "GitLab Community Edition"
	case core.ProviderGitLabEnterpriseEdition:
		display = "GitLab Enterprise Edition"
	}
	return &Provider{provider.Spec{
		ProviderKind: kind,
		Display:      display,
		IconName:     "gitlab",
		WebURL:       w,
		URLs: provider.Endpoints{
			AuthURL:       w + "/oauth/authorize",
			TokenURL:      w + "/oauth/token",
			DeviceAuthURL: w + "/oauth/authorize_device",
			RevokeURL:     w + "/oauth/revoke",
			APIURL:        a,
		},
		PKCE:       true,
		Scopes:     []string{"read_user", "write_repository"},
		Git:        provider.GitAuth{Username: "oauth2"},
		ClientAuth: provider.ClientAuthParams,
		RateLimit:  provider.RateLimitHeaders{Remaining: "RateLimit-Remaining", Reset: "RateLimit-Reset"},
	}}, nil
}

// AuthCodeURL is the browser authorization URL (forge.BrowserFlow).
func (p *Provider) AuthCodeURL(c provider.Client, state, verifier string) string {
	return p.AuthorizeURL(c, state, verifier)
}

// Exchange trades the code for tokens (forge.BrowserFlow).
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

// Refresh exchanges a refresh token (forge.Refresher).
func (p *Provider) Refresh(ctx context.Context, hc *http.Client, c provider.Client, refreshToken string) (*provider.Refreshed, error) {
	return p.RefreshToken(ctx, hc, c, refreshToken)
}

// Revoke revokes a token at /oauth/revoke (forge.Revoker).
func (p *Provider) Revoke(ctx context.Context, hc *http.Client, c provider.Client, token string) error {
	return p.RevokeRFC7009(ctx, hc, c, token)
}

type user struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

// User looks up whom the token belongs to (forge.UserLookup).
func (p *Provider) User(ctx context.Context, hc *http.Client, accessToken string) (*provider.Identity, error) {
	var u user
	if _, err := p.GetJSON(ctx, hc, "user lookup", p.URLs.APIURL+"/user", p.TokenAuth(accessToken), &u); err != nil {
		return nil, err
	}
	if u.ID == 0 || u.Username == "" {
		return nil, p.Malformed("user lookup", http.StatusOK, "user without id or username")
	}
	return &provider.Identity{ID: strconv.FormatInt(u.ID, 10), Login: u.Username, Name: u.Name, AvatarURL: u.AvatarURL, ProfileURL: u.WebURL}, nil
}

// Validate checks the token against the API (forge.Validator).
func (p *Provider) Validate(ctx context.Context, hc *http.Client, accessToken string) error {
	// Through User, which reads the answer: a 200 that is not the provider's user
	// (a proxy's or a captive portal's page) does not pass for a working token.
	_, err := p.User(ctx, hc, accessToken)
	return err
}
