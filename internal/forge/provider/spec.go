// Package provider is the machinery every Git provider package shares: Spec, the data
// that describes one provider at one address, and the OAuth 2.0 and REST calls driven
// by that data, with the error classification the refresh engine depends on.
//
// Package forge re-exports the types and errors declared here (type aliases, same
// values), so callers only ever import forge. The provider packages (github, gitlab,
// …) embed Spec and add what is theirs: the shape of the user API, revocation, and
// the capability methods they choose to expose. A method that Spec offers as a
// helper (ExchangeCode, RefreshToken, …) is deliberately named differently from the
// capability method (Exchange, Refresh, …), so embedding Spec never grants a provider
// a capability it does not have.
//
// Nothing here keeps an *http.Client or a context: every call takes both.
package provider

import (
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
)

// MaxBody bounds every response body we read from a provider. x/oauth2 uses the same
// bound for token responses.
const MaxBody = 1 << 20

// Endpoints are a provider's addresses, absolute. Empty means "this provider has no
// such endpoint".
type Endpoints struct {
	AuthURL       string // browser authorization (RFC 6749 §3.1)
	TokenURL      string // token endpoint (RFC 6749 §3.2)
	DeviceAuthURL string // device authorization endpoint (RFC 8628 §3.1)
	RevokeURL     string // revocation, where the provider has one (RFC 7009, or GitHub's {client_id} template)
	APIURL        string // REST API base, as the admin configures it (api_url)
}

// Client is an OAuth app's registration at the provider, as an admin configured it on
// a core.OAuthClient: Key, the opened Secret, the callback URL, Scopes.
type Client struct {
	ID          string
	Secret      string
	RedirectURL string
	Scopes      []string // nil: the provider's default scopes
}

// Identity is whom a token belongs to at the provider.
type Identity struct {
	ID         string // stable id (numeric id, uuid, …), as a string
	Login      string // the name people know the account by
	Name       string // display name; may be empty
	AvatarURL  string
	ProfileURL string
}

// DeviceAuthorization is the answer of a device authorization endpoint (RFC 8628 §3.2).
type DeviceAuthorization struct {
	DeviceCode              string
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string        // empty when the provider sends none
	ExpiresIn               time.Duration // how long the codes live
	Interval                time.Duration // minimum time between polls (5 s when not sent)
}

// Refreshed is the result of a refresh-token exchange.
type Refreshed struct {
	Token *oauth2.Token
	// Rotated reports that the provider issued a new refresh token. The caller must
	// save it before anything else touches the network: where refresh tokens are
	// single use, the old one is already dead.
	Rotated bool
}

// ClientAuth is how a client authenticates at the token endpoint.
type ClientAuth int

const (
	// ClientAuthParams sends client_id and client_secret in the form body
	// (RFC 6749 §2.3.1, the alternative the RFC allows).
	ClientAuthParams ClientAuth = iota
	// ClientAuthBasic sends them as HTTP Basic credentials (RFC 6749 §2.3.1).
	ClientAuthBasic
	// ClientAuthAssertion is Azure DevOps' own OAuth (app.vssps.visualstudio.com): the
	// client secret travels as client_assertion with client_assertion_type
	// jwt-bearer, and the code or refresh token as assertion.
	ClientAuthAssertion
)

func (a ClientAuth) style() oauth2.AuthStyle {
	if a == ClientAuthBasic {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

// APIAuth is how a token is presented to the provider's REST API.
type APIAuth int

const (
	// APIAuthBearer: "Authorization: Bearer <token>" (RFC 6750 §2.1).
	APIAuthBearer APIAuth = iota
	// APIAuthBasicPassword: HTTP Basic with an empty user and the token as password,
	// how Azure DevOps takes a personal access token.
	APIAuthBasicPassword
	// APIAuthQuery: "?access_token=<token>", how Gitee's API v5 documents it.
	APIAuthQuery
)

// GitAuth says how a token is presented to git over HTTPS (Basic auth).
type GitAuth struct {
	// UseLogin: the account's login is the user name and the token the password.
	// When the login is unknown, Username is used instead.
	UseLogin bool
	// Username is a fixed user name sent with the token as the password ("oauth2",
	// "x-token-auth"). When empty (and UseLogin does not apply), the token itself is
	// the user name and Password is the password.
	Username string
	// Password accompanies a token sent as the user name ("x-oauth-basic").
	Password string
}

// Credential returns the git user name and password for token, owned by login.
func (g GitAuth) Credential(login, token string) (username, password string) {
	switch {
	case g.UseLogin && login != "":
		return login, token
	case g.Username != "":
		return g.Username, token
	default:
		return token, g.Password
	}
}

// RateLimitHeaders names the headers in which a provider reports its rate limit.
// Retry-After (RFC 9110 §10.2.3) is always honoured first.
type RateLimitHeaders struct {
	Remaining string // "0" when the budget is spent
	Reset     string // Unix time (seconds) at which the budget refills
}

// Spec is what vcsauth knows of one provider kind at one address. It is data; the
// methods on it drive the shared OAuth 2.0 and REST calls from that data.
type Spec struct {
	ProviderKind core.ProviderKind
	Display      string
	IconName     string
	// WebURL is the provider's web address (http_url), without a trailing slash.
	WebURL string
	URLs   Endpoints

	PKCE   bool     // the authorize and token endpoints take S256 PKCE (RFC 7636)
	Scopes []string // default scopes
	Git    GitAuth
	// ExtraRepoHosts are other hosts that serve this provider's repositories (SSH
	// front ends, legacy host names). "*.example.com" matches any subdomain.
	ExtraRepoHosts []string

	ClientAuth ClientAuth
	// TokenAcceptJSON sends "Accept: application/json" to the token and device
	// endpoints. GitHub answers form-encoded bodies otherwise.
	TokenAcceptJSON bool
	// AuthParams are extra authorize-URL parameters, or overrides (Azure DevOps:
	// response_type=Assertion).
	AuthParams map[string]string
	// RefreshScope sends the scopes with a refresh (Entra ID documents scope as part
	// of the refresh request; x/oauth2 does not send it).
	RefreshScope bool
	// InvalidGrantCodes are the OAuth error codes meaning "this code or refresh token
	// is dead; the user must authorize again". invalid_grant always is.
	InvalidGrantCodes []string
	// InvalidClientCodes are the codes meaning "the client's credentials are wrong".
	// invalid_client and unauthorized_client always are.
	InvalidClientCodes []string
	// ErrorAliases maps a provider's own device-flow error codes to RFC 8628's.
	ErrorAliases map[string]string

	APIAuth    APIAuth
	APIHeaders map[string]string // sent with every REST call (API versions, media types)
	RateLimit  RateLimitHeaders
	UserAgent  string // sent with every call; some providers refuse an empty one

	// Now is the clock (Retry-After from a reset time, token expiry). Nil: time.Now.
	Now func() time.Time
}

func (s *Spec) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Kind is the provider kind.
func (s *Spec) Kind() core.ProviderKind { return s.ProviderKind }

// DisplayName is the provider's name for people.
func (s *Spec) DisplayName() string { return s.Display }

// Icon is a short icon name ("github", "gitlab", …).
func (s *Spec) Icon() string { return s.IconName }

// Endpoints are the provider's addresses.
func (s *Spec) Endpoints() Endpoints { return s.URLs }

// SupportsPKCE reports whether the provider takes S256 PKCE.
func (s *Spec) SupportsPKCE() bool { return s.PKCE }

// DefaultScopes are the scopes asked for when an OAuth client names none.
func (s *Spec) DefaultScopes() []string { return append([]string(nil), s.Scopes...) }

// GitCredential returns the git user name and password that present accessToken,
// owned by login (the Identity's Login; may be empty), over HTTPS.
func (s *Spec) GitCredential(login, accessToken string) (username, password string) {
	return s.Git.Credential(login, accessToken)
}

// RepoHost is the host (with a port when not the scheme's default) git sees in this
// provider's HTTPS remote URLs.
func (s *Spec) RepoHost() string {
	u, err := url.Parse(s.WebURL)
	if err != nil {
		return ""
	}
	return hostPort(u)
}

// MatchesRemote reports whether a git remote URL (https, ssh://, git@host:path, …)
// points at this provider.
func (s *Spec) MatchesRemote(remoteURL string) bool {
	return MatchRemote(s.WebURL, s.ExtraRepoHosts, remoteURL)
}

// OAuth2Config builds the x/oauth2 configuration for an OAuth app at this provider.
// Scopes nil means the default scopes.
func (s *Spec) OAuth2Config(clientID, clientSecret, redirectURL string, scopes []string) *oauth2.Config {
	if scopes == nil {
		scopes = s.DefaultScopes()
	}
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  redirectURL,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:       s.URLs.AuthURL,
			TokenURL:      s.URLs.TokenURL,
			DeviceAuthURL: s.URLs.DeviceAuthURL,
			AuthStyle:     s.ClientAuth.style(),
		},
	}
}

func (s *Spec) config(c Client) *oauth2.Config {
	return s.OAuth2Config(c.ID, c.Secret, c.RedirectURL, c.Scopes)
}

func (s *Spec) scopes(c Client) []string {
	if c.Scopes == nil {
		return s.Scopes
	}
	return c.Scopes
}

// client returns hc, or http.DefaultClient when hc is nil.
func client(hc *http.Client) *http.Client {
	if hc == nil {
		return http.DefaultClient
	}
	return hc
}
