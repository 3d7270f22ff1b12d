// Package forge is what vcsauth knows of each Git provider: where its endpoints are,
// how its OAuth differs from the RFCs, how to read its user, how git takes its tokens.
//
// A Forge is the base every provider has. What a provider can do beyond that is a
// small interface of its own — BrowserFlow, DeviceFlow, Refresher, Revoker,
// UserLookup, Validator, PasswordAuth — asserted with a type switch or
// f.(forge.DeviceFlow): a provider without a device flow simply does not implement
// DeviceFlow (Dex's connector.go is the model).
//
// The provider packages (github, gitlab, bitbucket, azuredevops, gitea, gitee) are
// mostly data on top of package provider's shared machinery; New picks one from a
// factory map. Types and errors are declared in package provider (which the provider
// packages import) and re-exported here as aliases, so callers import only forge.
//
// No value here keeps an *http.Client or a context: every call takes ctx and hc (nil
// hc means http.DefaultClient). Every response body is read up to
// provider.MaxBody bytes.
//
// Errors the refresh engine decides on, all checkable with errors.Is / errors.As:
// ErrInvalidGrant (re-authorize), ErrTokenInvalid (401), ErrInvalidClient (the
// admin's credentials), *RateLimitError (RetryAfter), *TransientError (network,
// timeout, 5xx, ErrMalformed answers), *OAuthError (unwraps to *oauth2.RetrieveError)
// and *APIError for the rest. Device polls return ErrAuthorizationPending,
// ErrSlowDown, ErrExpiredToken or ErrAccessDenied.
package forge

import (
	"context"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/azuredevops"
	"github.com/vcsauth/vcsauth/internal/forge/bitbucket"
	"github.com/vcsauth/vcsauth/internal/forge/gitea"
	"github.com/vcsauth/vcsauth/internal/forge/gitee"
	"github.com/vcsauth/vcsauth/internal/forge/github"
	"github.com/vcsauth/vcsauth/internal/forge/gitlab"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

// Types shared with the provider packages.
type (
	Endpoints           = provider.Endpoints
	Client              = provider.Client
	Identity            = provider.Identity
	DeviceAuthorization = provider.DeviceAuthorization
	Refreshed           = provider.Refreshed
	OAuthError          = provider.OAuthError
	APIError            = provider.APIError
	RateLimitError      = provider.RateLimitError
	TransientError      = provider.TransientError
)

// Errors; the same values as package provider's.
var (
	ErrInvalidGrant         = provider.ErrInvalidGrant
	ErrTokenInvalid         = provider.ErrTokenInvalid
	ErrInvalidClient        = provider.ErrInvalidClient
	ErrAuthorizationPending = provider.ErrAuthorizationPending
	ErrSlowDown             = provider.ErrSlowDown
	ErrExpiredToken         = provider.ErrExpiredToken
	ErrAccessDenied         = provider.ErrAccessDenied
	ErrMalformed            = provider.ErrMalformed
	ErrUnsupported          = provider.ErrUnsupported
)

// IsTransient reports whether err is worth retrying later (*TransientError or
// *RateLimitError).
func IsTransient(err error) bool { return provider.IsTransient(err) }

// Forge is what every provider has.
type Forge interface {
	Kind() core.ProviderKind
	DisplayName() string
	// Icon is a short icon name ("github", "gitlab", "bitbucket", "azure-devops",
	// "gitea", "gitee").
	Icon() string
	Endpoints() Endpoints
	// OAuth2Config is the x/oauth2 configuration of an OAuth app here, with the
	// provider's client authentication style; nil scopes mean DefaultScopes. Prefer
	// BrowserFlow, which knows the quirks x/oauth2 does not (Azure DevOps'
	// assertions, GitHub's Accept header); for a kind without BrowserFlow the
	// configuration has no endpoints.
	OAuth2Config(clientID, clientSecret, redirectURL string, scopes []string) *oauth2.Config
	// SupportsPKCE reports whether the provider takes S256 PKCE.
	SupportsPKCE() bool
	DefaultScopes() []string
	// GitCredential is the user name and password that present accessToken to git
	// over HTTPS; login is the owner's Identity.Login (may be empty).
	GitCredential(login, accessToken string) (username, password string)
	// MatchesRemote reports whether a git remote URL (https, ssh://, git@host:path)
	// points at this provider.
	MatchesRemote(remoteURL string) bool
	// RepoHost is the host[:port] of this provider's HTTPS remotes.
	RepoHost() string
}

// BrowserFlow is the authorization code flow (RFC 6749 §4.1, with RFC 7636 PKCE
// where SupportsPKCE). Every provider that speaks OAuth 2.0 has it; Azure DevOps
// Server does not.
type BrowserFlow interface {
	// AuthCodeURL is where to send the browser. With a PKCE verifier, the URL carries
	// its S256 challenge when the provider takes PKCE.
	AuthCodeURL(c Client, state, verifier string) string
	// Exchange trades the code that came back to c.RedirectURL for tokens.
	Exchange(ctx context.Context, hc *http.Client, c Client, code, verifier string) (*oauth2.Token, error)
}

// DeviceFlow is the device authorization grant (RFC 8628).
type DeviceFlow interface {
	StartDevice(ctx context.Context, hc *http.Client, c Client) (*DeviceAuthorization, error)
	// PollDevice makes one poll — not a loop: our API's clients poll us, and each of
	// their polls is one upstream poll. Pending, slow_down, expired and denied come
	// back as ErrAuthorizationPending, ErrSlowDown (the *OAuthError carries the new
	// Interval when the provider sends it), ErrExpiredToken and ErrAccessDenied.
	PollDevice(ctx context.Context, hc *http.Client, c Client, deviceCode string) (*oauth2.Token, error)
}

// Refresher exchanges refresh tokens (RFC 6749 §6).
type Refresher interface {
	// Refresh returns the new token and whether the refresh token was rotated. A
	// dead refresh token is ErrInvalidGrant.
	Refresh(ctx context.Context, hc *http.Client, c Client, refreshToken string) (*Refreshed, error)
}

// Revoker revokes a token at the provider. A token the provider no longer knows is
// not an error.
type Revoker interface {
	Revoke(ctx context.Context, hc *http.Client, c Client, token string) error
}

// UserLookup reads whom a token belongs to.
type UserLookup interface {
	User(ctx context.Context, hc *http.Client, accessToken string) (*Identity, error)
}

// Validator checks a token: nil when the provider takes it, an error matching
// ErrTokenInvalid when the provider says it is dead, another error otherwise.
type Validator interface {
	Validate(ctx context.Context, hc *http.Client, accessToken string) error
}

// PasswordAuth is for providers whose git and API take a user name and password
// (or an app password, HTTP access token or PAT in its place). PasswordUser checks
// the pair and returns whose it is; a refusal matches ErrTokenInvalid. Not GitHub:
// it removed password authentication for git on 2021-08-13.
type PasswordAuth interface {
	PasswordUser(ctx context.Context, hc *http.Client, username, password string) (*Identity, error)
}

// Factory builds the forge of one kind from validated-or-empty URLs.
type Factory func(httpURL, apiURL string) (Forge, error)

var factories = map[core.ProviderKind]Factory{
	core.ProviderGitHub: func(h, a string) (Forge, error) { return github.New(h, a) },
	core.ProviderGitHubEnterprise: func(h, a string) (Forge, error) {
		return github.Enterprise(h, a)
	},
	core.ProviderGitLabHosted: func(h, a string) (Forge, error) {
		return gitlab.New(core.ProviderGitLabHosted, h, a)
	},
	core.ProviderGitLabCommunityEdition: func(h, a string) (Forge, error) {
		return gitlab.New(core.ProviderGitLabCommunityEdition, h, a)
	},
	core.ProviderGitLabEnterpriseEdition: func(h, a string) (Forge, error) {
		return gitlab.New(core.ProviderGitLabEnterpriseEdition, h, a)
	},
	core.ProviderBitbucketHosted: func(h, a string) (Forge, error) { return bitbucket.NewCloud(h, a) },
	core.ProviderBitbucketServer: func(h, a string) (Forge, error) {
		return bitbucket.NewDataCenter(core.ProviderBitbucketServer, h, a)
	},
	core.ProviderBitbucketDataCenter: func(h, a string) (Forge, error) {
		return bitbucket.NewDataCenter(core.ProviderBitbucketDataCenter, h, a)
	},
	core.ProviderAzureDevOpsServices: func(h, a string) (Forge, error) {
		if azuredevops.IsEntraAuthority(a) {
			return azuredevops.NewEntra(h, a, "")
		}
		return azuredevops.NewServices(h, a)
	},
	core.ProviderAzureDevOpsServer: func(h, a string) (Forge, error) { return azuredevops.NewServer(h, a) },
	core.ProviderGitea:             func(h, a string) (Forge, error) { return gitea.New(h, a) },
	core.ProviderGitee:             func(h, a string) (Forge, error) { return gitee.New(h, a) },
}

// Defaults are the hosted providers' http_url and api_url; empty for the
// self-hosted kinds whose api_url follows from the http_url.
func Defaults(kind core.ProviderKind) (httpURL, apiURL string) {
	switch kind {
	case core.ProviderGitHub:
		return github.WebURL, github.APIURL
	case core.ProviderGitLabHosted:
		return gitlab.WebURL, gitlab.APIURL
	case core.ProviderBitbucketHosted:
		return bitbucket.WebURL, bitbucket.APIURL
	case core.ProviderAzureDevOpsServices:
		return azuredevops.WebURL, azuredevops.VSSPSURL
	case core.ProviderGitee:
		return gitee.WebURL, gitee.APIURL
	}
	return "", ""
}

// New returns the forge of kind at httpURL / apiURL as an admin configured them.
// Empty URLs take the hosted defaults (github.com / api.github.com, gitlab.com,
// bitbucket.org / api.bitbucket.org, dev.azure.com / app.vssps.visualstudio.com,
// gitee.com); the self-hosted kinds need an http_url, and derive the api_url from
// it. For ado_services, an api_url that is a Microsoft Entra ID authority
// (https://login.microsoftonline.com/{tenant}) selects Entra ID OAuth.
// Bad input is a *core.ValidationError on "kind", "http_url" or "api_url".
func New(kind core.ProviderKind, httpURL, apiURL string) (Forge, error) {
	f, ok := factories[kind]
	if !ok {
		return nil, &core.ValidationError{Field: "kind", Code: "unknown", Message: fmt.Sprintf("unknown provider kind %q", kind)}
	}
	dh, da := Defaults(kind)
	if httpURL == "" {
		httpURL = dh
	}
	if apiURL == "" {
		apiURL = da
	}
	if httpURL == "" {
		return nil, core.Missing("http_url")
	}
	// Validate both up front, so the field names are right whatever the factory does.
	if _, err := provider.ParseBaseURL("http_url", httpURL); err != nil {
		return nil, err
	}
	if apiURL != "" {
		if _, err := provider.ParseBaseURL("api_url", apiURL); err != nil {
			return nil, err
		}
	}
	return f(httpURL, apiURL)
}

// Capabilities, stated at compile time.
var (
	_ Forge        = (*github.Provider)(nil)
	_ BrowserFlow  = (*github.Provider)(nil)
	_ DeviceFlow   = (*github.Provider)(nil)
	_ Refresher    = (*github.Provider)(nil)
	_ Revoker      = (*github.Provider)(nil)
	_ UserLookup   = (*github.Provider)(nil)
	_ Validator    = (*github.Provider)(nil)
	_ Forge        = (*gitlab.Provider)(nil)
	_ BrowserFlow  = (*gitlab.Provider)(nil)
	_ DeviceFlow   = (*gitlab.Provider)(nil)
	_ Refresher    = (*gitlab.Provider)(nil)
	_ Revoker      = (*gitlab.Provider)(nil)
	_ UserLookup   = (*gitlab.Provider)(nil)
	_ Validator    = (*gitlab.Provider)(nil)
	_ Forge        = (*bitbucket.Cloud)(nil)
	_ BrowserFlow  = (*bitbucket.Cloud)(nil)
	_ Refresher    = (*bitbucket.Cloud)(nil)
	_ UserLookup   = (*bitbucket.Cloud)(nil)
	_ Validator    = (*bitbucket.Cloud)(nil)
	_ PasswordAuth = (*bitbucket.Cloud)(nil)
	_ Forge        = (*bitbucket.DataCenter)(nil)
	_ BrowserFlow  = (*bitbucket.DataCenter)(nil)
	_ Refresher    = (*bitbucket.DataCenter)(nil)
	_ UserLookup   = (*bitbucket.DataCenter)(nil)
	_ Validator    = (*bitbucket.DataCenter)(nil)
	_ PasswordAuth = (*bitbucket.DataCenter)(nil)
	_ Forge        = (*azuredevops.Services)(nil)
	_ BrowserFlow  = (*azuredevops.Services)(nil)
	_ Refresher    = (*azuredevops.Services)(nil)
	_ UserLookup   = (*azuredevops.Services)(nil)
	_ Validator    = (*azuredevops.Services)(nil)
	_ Forge        = (*azuredevops.Entra)(nil)
	_ BrowserFlow  = (*azuredevops.Entra)(nil)
	_ DeviceFlow   = (*azuredevops.Entra)(nil)
	_ Refresher    = (*azuredevops.Entra)(nil)
	_ UserLookup   = (*azuredevops.Entra)(nil)
	_ Validator    = (*azuredevops.Entra)(nil)
	_ Forge        = (*azuredevops.Server)(nil)
	_ UserLookup   = (*azuredevops.Server)(nil)
	_ Validator    = (*azuredevops.Server)(nil)
	_ PasswordAuth = (*azuredevops.Server)(nil)
	_ Forge        = (*gitea.Provider)(nil)
	_ BrowserFlow  = (*gitea.Provider)(nil)
	_ Refresher    = (*gitea.Provider)(nil)
	_ UserLookup   = (*gitea.Provider)(nil)
	_ Validator    = (*gitea.Provider)(nil)
	_ PasswordAuth = (*gitea.Provider)(nil)
	_ Forge        = (*gitee.Provider)(nil)
	_ BrowserFlow  = (*gitee.Provider)(nil)
	_ Refresher    = (*gitee.Provider)(nil)
	_ UserLookup   = (*gitee.Provider)(nil)
	_ Validator    = (*gitee.Provider)(nil)
)
