// Package gitee is what vcsauth knows of Gitee (gitee.com, 码云).
//
// Facts, and where they come from (https://gitee.com/api/v5/oauth_doc unless noted):
//
//   - Endpoints: GET https://gitee.com/oauth/authorize?client_id&redirect_uri&
//     response_type=code[&scope&state], POST https://gitee.com/oauth/token. The doc
//     shows the parameters in the query string and advises sending client_secret in
//     the body; we send everything in the form body (client_secret_post).
//   - "当 access_token 过期后（有效期为一天）": access tokens live one day; refresh with
//     POST /oauth/token?grant_type=refresh_token&refresh_token=… (no client
//     credentials needed; we send them anyway in the body, harmless). The answer has
//     Doorkeeper's shape (access_token, token_type, expires_in, refresh_token, scope,
//     created_at) and a new refresh token; whether the old one dies is not documented,
//     we treat a new one as a rotation.
//   - A request without a User-Agent may be answered 403 (noted in the same doc's
//     community copies); we always send one.
//   - No PKCE, no device flow, no revocation endpoint.
//   - User: GET https://gitee.com/api/v5/user?access_token=… → id, login, name,
//     avatar_url, html_url. The API documents the token as the access_token query
//     parameter. https://gitee.com/api/v5/swagger#/getV5User
//   - Git over HTTPS: Gitee documents the account's user name with its password or a
//     private token; we send the login and the OAuth token (falling back to "oauth2"
//     when the login is unknown). Not confirmed for OAuth tokens.
package gitee

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
	WebURL = "https://gitee.com"
	APIURL = "https://gitee.com/api/v5"
)

// Provider is Gitee.
type Provider struct {
	provider.Spec
}

// New is gitee.com; empty URLs take the hosted defaults (tests give the fake's).
func New(webURL, apiURL string) (*Provider, error) {
	w, a, err := provider.BaseURLs(webURL, apiURL, WebURL, provider.Fixed(APIURL))
	if err != nil {
		return nil, err
	}
	return &Provider{provider.Spec{
		ProviderKind: core.ProviderGitee,
		Display:      "Gitee",
		IconName:     "gitee",
		WebURL:       w,
		URLs: provider.Endpoints{
			AuthURL:  w + "/oauth/authorize",
			TokenURL: w + "/oauth/token",
			APIURL:   a,
		},
		Scopes:     []string{"user_info", "projects"},
		Git:        provider.GitAuth{UseLogin: true, Username: "oauth2"},
		ClientAuth: provider.ClientAuthParams,
		APIAuth:    provider.APIAuthQuery,
		UserAgent:  "vcsauth",
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
