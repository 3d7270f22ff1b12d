// Package bitbucket is what vcsauth knows of Bitbucket: Bitbucket Cloud
// (bitbucket.org) and the self-hosted Bitbucket Server / Data Center.
//
// Bitbucket Cloud — facts and sources:
//
//   - Endpoints: https://bitbucket.org/site/oauth2/authorize and
//     https://bitbucket.org/site/oauth2/access_token; the client authenticates with
//     HTTP Basic ("curl -X POST -u client_id:secret").
//     https://developer.atlassian.com/cloud/bitbucket/oauth-2/
//   - Access tokens expire in two hours (expires_in 7200); the answer carries a
//     refresh token. https://community.developer.atlassian.com/t/oauth2-token-lifetime-expiration-clarification/22136
//   - From 2026-05-04: "each use of a refresh token will generate a new refresh token"
//     (rotation), unused refresh tokens expire after 3 months, answers say "scope"
//     instead of "scopes", and access tokens are accepted only in the Authorization
//     header. https://community.developer.atlassian.com/t/oauth-2-0-and-api-authentication-changes-for-bitbucket-cloud/99003
//   - No PKCE, no device flow, no revocation endpoint for OAuth consumers.
//     https://github.com/avivsinai/bitbucket-cli/issues/136 (survey, matching the docs above)
//   - Git over HTTPS with an access token: user name "x-token-auth", the token as the
//     password. https://developer.atlassian.com/cloud/bitbucket/oauth-2/ ("Cloning a
//     repository with an access token")
//   - User: GET https://api.bitbucket.org/2.0/user → uuid, account_id, nickname,
//     display_name, links.avatar.href, links.html.href.
//     https://developer.atlassian.com/cloud/bitbucket/rest/api-group-users/#api-user-get
//   - Passwords: app passwords (user name + app password, for git and the API) can no
//     longer be created since 2025-09-09 and stop working on 2026-06-09; their
//     replacement, API tokens, go to git with the Bitbucket user name (or the fixed
//     name "x-bitbucket-api-token-auth") and to the API with the Atlassian account
//     e-mail. PasswordUser checks whatever pair it is given against the API.
//     https://community.atlassian.com/forums/Bitbucket-articles/Deprecation-notice-Bitbucket-Cloud-shifts-to-API-tokens-from-app/ba-p/3040975
//     https://support.atlassian.com/bitbucket-cloud/docs/using-api-tokens/
//
// Bitbucket Server / Data Center — facts and sources:
//
//   - OAuth 2.0 "incoming application links" exist from 7.21 on:
//     {web}/rest/oauth2/latest/authorize and {web}/rest/oauth2/latest/token, with
//     PKCE (S256 or plain), client credentials as form parameters.
//     https://confluence.atlassian.com/bitbucketserver/bitbucket-oauth-2-0-provider-api-1108483661.html
//     https://python-social-auth.readthedocs.io/en/latest/backends/bitbucket_datacenter_oauth2.html
//   - Lifetimes (system properties): access tokens 3600 s, refresh tokens 90 days.
//     https://confluence.atlassian.com/bitbucketserver101/oauth-2-0-provider-system-properties-1721011884.html
//     Whether a refresh token survives its use is not documented; the answer carries
//     a refresh token and we treat a new one as a rotation.
//   - Older Bitbucket Server speaks OAuth 1.0a with an RSA key pair (what
//     core.OAuthClient.RSAPublicKey is for); that is not implemented here.
//   - User: no "current user" resource. The X-AUSERNAME header of any authenticated
//     REST answer names the user; then GET /rest/api/latest/users/{slug}.
//     https://community.developer.atlassian.com/t/obtain-authorised-users-username-from-api/24422/2
//   - Git over HTTPS: user name and password, or an HTTP access token as the password
//     (PasswordAuth); for OAuth tokens we send the login and the token.
//   - No device flow, no revocation endpoint.
package bitbucket

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

// Hosted addresses of Bitbucket Cloud.
const (
	WebURL = "https://bitbucket.org"
	APIURL = "https://api.bitbucket.org/2.0"
)

// Cloud is Bitbucket Cloud.
type Cloud struct {
	provider.Spec
}

// NewCloud is Bitbucket Cloud; empty URLs take the hosted defaults (tests give the
// fake's).
func NewCloud(webURL, apiURL string) (*Cloud, error) {
	w, a, err := provider.BaseURLs(webURL, apiURL, WebURL, provider.Fixed(APIURL))
	if err != nil {
		return nil, err
	}
	return &Cloud{provider.Spec{
		ProviderKind: core.ProviderBitbucketHosted,
		Display:      "Bitbucket Cloud",
		IconName:     "bitbucket",
		WebURL:       w,
		URLs: provider.Endpoints{
			AuthURL:  w + "/site/oauth2/authorize",
			TokenURL: w + "/site/oauth2/access_token",
			APIURL:   a,
		},
		Scopes:         []string{"account", "repository:write"},
		Git:            provider.GitAuth{Username: "x-token-auth"},
		ExtraRepoHosts: []string{"altssh.bitbucket.org"}, // SSH over port 443
		ClientAuth:     provider.ClientAuthBasic,
	}}, nil
}

// AuthCodeURL is the browser authorization URL (forge.BrowserFlow).
func (p *Cloud) AuthCodeURL(c provider.Client, state, verifier string) string {
	return p.AuthorizeURL(c, state, verifier)
}

// Exchange trades the code for tokens (forge.BrowserFlow).
func (p *Cloud) Exchange(ctx context.Context, hc *http.Client, c provider.Client, code, verifier string) (*oauth2.Token, error) {
	return p.ExchangeCode(ctx, hc, c, code, verifier)
}

// Refresh exchanges a refresh token (forge.Refresher).
func (p *Cloud) Refresh(ctx context.Context, hc *http.Client, c provider.Client, refreshToken string) (*provider.Refreshed, error) {
	return p.RefreshToken(ctx, hc, c, refreshToken)
}

type link struct {
	Href string `json:"href"`
}

type cloudUser struct {
	UUID        string `json:"uuid"`
	AccountID   string `json:"account_id"`
	Username    string `json:"username"` // gone from most answers since 2019; kept when present
	Nickname    string `json:"nickname"`
	DisplayName string `json:"display_name"`
	Links       struct {
		Avatar link `json:"avatar"`
		HTML   link `json:"html"`
	} `json:"links"`
}

func (p *Cloud) user(ctx context.Context, hc *http.Client, op string, auth func(*http.Request)) (*provider.Identity, error) {
	var u cloudUser
	if _, err := p.GetJSON(ctx, hc, op, p.URLs.APIURL+"/user", auth, &u); err != nil {
		return nil, err
	}
	login := u.Username
	if login == "" {
		login = u.Nickname
	}
	if u.UUID == "" || login == "" {
		return nil, p.Malformed(op, http.StatusOK, "user without uuid or name")
	}
	return &provider.Identity{ID: u.UUID, Login: login, Name: u.DisplayName, AvatarURL: u.Links.Avatar.Href, ProfileURL: u.Links.HTML.Href}, nil
}

// User looks up whom the token belongs to (forge.UserLookup).
func (p *Cloud) User(ctx context.Context, hc *http.Client, accessToken string) (*provider.Identity, error) {
	return p.user(ctx, hc, "user lookup", p.TokenAuth(accessToken))
}

// Validate checks the token against the API (forge.Validator).
func (p *Cloud) Validate(ctx context.Context, hc *http.Client, accessToken string) error {
	_, err := p.user(ctx, hc, "validate", p.TokenAuth(accessToken))
	return err
}

// PasswordUser checks a user name and an app password or API token against the API
// (forge.PasswordAuth). A refusal matches ErrTokenInvalid.
func (p *Cloud) PasswordUser(ctx context.Context, hc *http.Client, username, password string) (*provider.Identity, error) {
	return p.user(ctx, hc, "password check", provider.BasicAuth(username, password))
}

// DataCenter is a Bitbucket Server or Data Center installation with OAuth 2.0
// incoming application links (7.21 and later).
type DataCenter struct {
	provider.Spec
}

// NewDataCenter is the Bitbucket Server / Data Center at webURL. The API base
// defaults to webURL (REST paths are /rest/api/latest/…).
func NewDataCenter(kind core.ProviderKind, webURL, apiURL string) (*DataCenter, error) {
	w, a, err := provider.BaseURLs(webURL, apiURL, "", provider.Under(""))
	if err != nil {
		return nil, err
	}
	display := "Bitbucket Data Center"
	if kind == core.ProviderBitbucketServer {
		display = "Bitbucket Server"
	}
	return &DataCenter{provider.Spec{
		ProviderKind: kind,
		Display:      display,
		IconName:     "bitbucket",
		WebURL:       w,
		URLs: provider.Endpoints{
			AuthURL:  w + "/rest/oauth2/latest/authorize",
			TokenURL: w + "/rest/oauth2/latest/token",
			APIURL:   a,
		},
		PKCE:       true,
		Scopes:     []string{"REPO_WRITE"},
		Git:        provider.GitAuth{UseLogin: true, Username: "x-token-auth"},
		ClientAuth: provider.ClientAuthParams,
	}}, nil
}

// AuthCodeURL is the browser authorization URL (forge.BrowserFlow).
func (p *DataCenter) AuthCodeURL(c provider.Client, state, verifier string) string {
	return p.AuthorizeURL(c, state, verifier)
}

// Exchange trades the code for tokens (forge.BrowserFlow).
func (p *DataCenter) Exchange(ctx context.Context, hc *http.Client, c provider.Client, code, verifier string) (*oauth2.Token, error) {
	return p.ExchangeCode(ctx, hc, c, code, verifier)
}

// Refresh exchanges a refresh token (forge.Refresher).
func (p *DataCenter) Refresh(ctx context.Context, hc *http.Client, c provider.Client, refreshToken string) (*provider.Refreshed, error) {
	return p.RefreshToken(ctx, hc, c, refreshToken)
}

type dcUser struct {
	Name         string `json:"name"`
	EmailAddress string `json:"emailAddress"`
	ID           int64  `json:"id"`
	DisplayName  string `json:"displayName"`
	Slug         string `json:"slug"`
	AvatarURL    string `json:"avatarUrl"`
	Links        struct {
		Self []link `json:"self"`
	} `json:"links"`
}

func (p *DataCenter) user(ctx context.Context, hc *http.Client, op string, auth func(*http.Request)) (*provider.Identity, error) {
	base := p.URLs.APIURL + "/rest/api/latest"
	var props struct {
		Version string `json:"version"`
	}
	h, err := p.GetJSON(ctx, hc, op, base+"/application-properties", auth, &props)
	if err != nil {
		return nil, err
	}
	if props.Version == "" {
		// A proxy's sign-in page with status 200, say: not Bitbucket answering.
		return nil, p.Malformed(op, http.StatusOK, "application properties without a version")
	}
	slug := h.Get("X-AUSERNAME")
	if slug == "" {
		// Bitbucket answered, anonymously: the credentials were not taken.
		return nil, p.Refused(op, http.StatusOK, provider.ErrTokenInvalid, "the answer names no user (X-AUSERNAME)")
	}
	var u dcUser
	if _, err := p.GetJSON(ctx, hc, op, base+"/users/"+url.PathEscape(slug)+"?avatarSize=48", auth, &u); err != nil {
		return nil, err
	}
	if u.ID == 0 || u.Slug == "" {
		return nil, p.Malformed(op, http.StatusOK, "user without id or slug")
	}
	id := &provider.Identity{ID: strconv.FormatInt(u.ID, 10), Login: u.Slug, Name: u.DisplayName, AvatarURL: u.AvatarURL}
	if strings.HasPrefix(id.AvatarURL, "/") {
		id.AvatarURL = p.WebURL + id.AvatarURL
	}
	if len(u.Links.Self) > 0 {
		id.ProfileURL = u.Links.Self[0].Href
	}
	return id, nil
}

// User looks up whom the token belongs to (forge.UserLookup).
func (p *DataCenter) User(ctx context.Context, hc *http.Client, accessToken string) (*provider.Identity, error) {
	return p.user(ctx, hc, "user lookup", p.TokenAuth(accessToken))
}

// Validate checks the token against the API (forge.Validator).
func (p *DataCenter) Validate(ctx context.Context, hc *http.Client, accessToken string) error {
	_, err := p.user(ctx, hc, "validate", p.TokenAuth(accessToken))
	return err
}

// PasswordUser checks a user name and a password or HTTP access token
// (forge.PasswordAuth).
func (p *DataCenter) PasswordUser(ctx context.Context, hc *http.Client, username, password string) (*provider.Identity, error) {
	return p.user(ctx, hc, "password check", provider.BasicAuth(username, password))
}
