// Package gitea is what vcsauth knows of Gitea (and its fork Forgejo, which keeps
// the same OAuth 2.0 provider and API). Gitea is self-hosted only: it needs a URL.
//
// Facts, and where they come from:
//
//   - Endpoints: {web}/login/oauth/authorize and {web}/login/oauth/access_token; PKCE
//     (S256 and plain); client credentials in the body or as HTTP Basic.
//     https://docs.gitea.com/development/oauth2-provider
//   - Lifetimes ([oauth2] in app.ini): ACCESS_TOKEN_EXPIRATION_TIME = 3600 s,
//     REFRESH_TOKEN_EXPIRATION_TIME = 730 h. Every refresh answers a new refresh token;
//     with INVALIDATE_REFRESH_TOKENS (default false) a used one is refused.
//     https://docs.gitea.com/administration/config-cheat-sheet#oauth2-oauth2
//   - No device flow and no token revocation endpoint (users revoke grants in their
//     settings).
//   - User: GET {api}/user → id, login, full_name, avatar_url, html_url.
//     https://docs.gitea.com/api/1.22/#tag/user/operation/userGetCurrent
//   - Git and API Basic auth: when the password is empty or "x-oauth-basic", the user
//     name is taken as a token (OAuth or personal), otherwise the password is a token
//     or the account password (services/auth/basic.go). We send the token as the
//     user name with "x-oauth-basic", as for GitHub. User name and password work too
//     (PasswordAuth), unless the admin turned basic auth off.
package gitea

import (
	"context"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

// Provider is a Gitea installation.
type Provider struct {
	provider.Spec
}

// New is the Gitea at webURL (required); the API defaults to {webURL}/api/v1.
func New(webURL, apiURL string) (*Provider, error) {
	w, a, err := provider.BaseURLs(webURL, apiURL, "", provider.Under("/api/v1"))
	if err != nil {
		return nil, err
	}
	return &Provider{provider.Spec{
		ProviderKind: core.ProviderGitea,
		Display:      "Gitea",
		IconName:     "gitea",
		WebURL:       w,
		URLs: provider.Endpoints{
			AuthURL:  w + "/login/oauth/authorize",
			TokenURL: w + "/login/oauth/access_token",
			APIURL:   a,
		},
		PKCE:       true,
		Scopes:     []string{"read:user", "write:repository"},
		Git:        provider.GitAuth{Password: "x-oauth-basic"},
		ClientAuth: provider.ClientAuthParams,
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

// Refresh exchanges a refresh token (forge.Refresher).
func (p *Provider) Refresh(ctx context.Context, hc *http.Client, c provider.Client, refreshToken string) (*provider.Refreshed, error) {
	return p.RefreshToken(ctx, hc, c, refreshToken)
}

type user struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	FullName  string `json:"full_name"`
	AvatarURL string `json:"avatar_url"`
	HTMLURL   string `json:"html_url"`
}

func (p *Provider) user(ctx context.Context, hc *http.Client, op string, auth func(*http.Request)) (*provider.Identity, error) {
	var u user
	if _, err := p.GetJSON(ctx, hc, op, p.URLs.APIURL+"/user", auth, &u); err != nil {
		return nil, err
	}
	if u.ID == 0 || u.Login == "" {
		return nil, p.Malformed(op, http.StatusOK, "user without id or login")
	}
	profile := u.HTMLURL
	if profile == "" {
		profile = p.WebURL + "/" + u.Login
	}
	return &provider.Identity{ID: strconv.FormatInt(u.ID, 10), Login: u.Login, Name: u.FullName, AvatarURL: u.AvatarURL, ProfileURL: profile}, nil
}

// User looks up whom the token belongs to (forge.UserLookup).
func (p *Provider) User(ctx context.Context, hc *http.Client, accessToken string) (*provider.Identity, error) {
	return p.user(ctx, hc, "user lookup", p.TokenAuth(accessToken))
}

// Validate checks the token against the API (forge.Validator).
func (p *Provider) Validate(ctx context.Context, hc *http.Client, accessToken string) error {
	_, err := p.user(ctx, hc, "validate", p.TokenAuth(accessToken))
	return err
}

// PasswordUser checks a user name and password (forge.PasswordAuth).
func (p *Provider) PasswordUser(ctx context.Context, hc *http.Client, username, password string) (*provider.Identity, error) {
	return p.user(ctx, hc, "password check", provider.BasicAuth(username, password))
}
