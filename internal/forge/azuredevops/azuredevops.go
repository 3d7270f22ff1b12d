// Package azuredevops is what vcsauth knows of Azure DevOps: the cloud service
// (ado_services) and the on-premises Azure DevOps Server (ado_server).
//
// What an admin can configure, and what each type models:
//
//   - Services: Azure DevOps' own OAuth 2.0 at app.vssps.visualstudio.com (what
//     Terraform Cloud's ado_services connects to; api_url
//     https://app.vssps.visualstudio.com). Microsoft deprecated it: no new app
//     registrations since April 2025, full deprecation planned for 2026; existing apps
//     keep working until then. Its token endpoint is not RFC 6749: the client secret
//     travels as client_assertion (client_assertion_type …:jwt-bearer), the code as
//     assertion with grant_type urn:ietf:params:oauth:grant-type:jwt-bearer, a refresh
//     as grant_type=refresh_token with the refresh token as assertion, and the
//     authorize URL takes response_type=Assertion. Every refresh issues a new refresh
//     token. Web server flow only: no PKCE, no device flow, no revocation endpoint.
//     Client secrets expire every 60 days (two may coexist).
//     https://learn.microsoft.com/azure/devops/integrate/get-started/authentication/azure-devops-oauth
//     https://learn.microsoft.com/azure/devops/integrate/get-started/authentication/oauth
//   - Entra: the recommended replacement, Microsoft Entra ID OAuth. The admin
//     registers an app in their tenant, grants it the Azure DevOps API permission
//     (resource 499b84ac-1321-427f-aa17-267ca6975798), and sets api_url to the tenant
//     authority, e.g. https://login.microsoftonline.com/contoso.onmicrosoft.com.
//     Endpoints {authority}/oauth2/v2.0/authorize, /token, /devicecode; PKCE; device
//     flow (it says authorization_declined where RFC 8628 says access_denied, and
//     bad_verification_code for an unknown device code); access tokens live 60–90
//     minutes; "refresh tokens replace themselves with a fresh token upon every use";
//     interaction_required means the user must sign in again (MFA, consent). No
//     revocation endpoint. The device flow is a public-client flow (we poll with the
//     client id alone): the app registration must allow public client flows.
//     https://learn.microsoft.com/azure/devops/integrate/get-started/authentication/entra-oauth
//     https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code
//     https://learn.microsoft.com/entra/identity-platform/refresh-tokens
//     https://learn.microsoft.com/entra/identity-platform/access-tokens#token-lifetime
//   - Server: Azure DevOps Server has no OAuth 2.0 for third parties ("OAuth 2.0 is
//     available only for Azure DevOps Services, not Azure DevOps Server. For
//     on-premises scenarios, use … personal access tokens"). A connection is a
//     personal access token (Basic auth, empty user name, the PAT as password) or a
//     user name and password. Server has no BrowserFlow, no Refresher.
//
// Both services models read the user from the profile API,
// GET https://app.vssps.visualstudio.com/_apis/profile/profiles/me → id,
// displayName, emailAddress, publicAlias.
// https://learn.microsoft.com/rest/api/azure/devops/profile/profiles/get
// Server reads GET {collection}/_apis/connectionData → authenticatedUser.
//
// Git over HTTPS ignores the user name for a PAT ("any non-empty string"); Git
// Credential Manager sends the account name with an Entra token, so we send the
// login (e-mail) and the token. Rate limits: 429 with Retry-After and
// X-RateLimit-Remaining / X-RateLimit-Reset.
// https://learn.microsoft.com/azure/devops/integrate/concepts/rate-limits
package azuredevops

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

// Hosted addresses.
const (
	WebURL   = "https://dev.azure.com"
	VSSPSURL = "https://app.vssps.visualstudio.com"
	// Resource is Azure DevOps' application id in Entra ID; scopes are named under it.
	Resource = "499b84ac-1321-427f-aa17-267ca6975798"
)

var (
	servicesRepoHosts = []string{"ssh.dev.azure.com", "vs-ssh.visualstudio.com", "*.visualstudio.com"}
	rateLimit         = provider.RateLimitHeaders{Remaining: "X-RateLimit-Remaining", Reset: "X-RateLimit-Reset"}
)

// IsEntraAuthority reports whether an api_url is a Microsoft Entra ID authority
// (global, US government or China clouds) rather than app.vssps.visualstudio.com.
func IsEntraAuthority(apiURL string) bool {
	u, err := url.Parse(apiURL)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "login.microsoftonline.com", "login.microsoftonline.us", "login.partner.microsoftonline.cn", "login.chinacloudapi.cn":
		return true
	}
	return false
}

// Services is Azure DevOps Services through its own (deprecated) OAuth 2.0.
type Services struct {
	provider.Spec
}

// NewServices is Azure DevOps Services with its own OAuth at vsspsURL (empty:
// https://app.vssps.visualstudio.com; tests give the fake's).
func NewServices(webURL, vsspsURL string) (*Services, error) {
	w, a, err := provider.BaseURLs(webURL, vsspsURL, WebURL, provider.Fixed(VSSPSURL))
	if err != nil {
		return nil, err
	}
	return &Services{provider.Spec{
		ProviderKind: core.ProviderAzureDevOpsServices,
		Display:      "Azure DevOps Services",
		IconName:     "azure-devops",
		WebURL:       w,
		URLs: provider.Endpoints{
			AuthURL:  a + "/oauth2/authorize",
			TokenURL: a + "/oauth2/token",
			APIURL:   a,
		},
		Scopes:         []string{"vso.code_write", "vso.profile"},
		Git:            provider.GitAuth{UseLogin: true, Username: "azure-devops"},
		ExtraRepoHosts: servicesRepoHosts,
		ClientAuth:     provider.ClientAuthAssertion,
		AuthParams:     map[string]string{"response_type": "Assertion"},
		RateLimit:      rateLimit,
	}}, nil
}

// AuthCodeURL is the browser authorization URL (forge.BrowserFlow).
func (p *Services) AuthCodeURL(c provider.Client, state, verifier string) string {
	return p.AuthorizeURL(c, state, verifier)
}

// Exchange trades the code for tokens (forge.BrowserFlow).
func (p *Services) Exchange(ctx context.Context, hc *http.Client, c provider.Client, code, verifier string) (*oauth2.Token, error) {
	return p.ExchangeCode(ctx, hc, c, code, verifier)
}

// Refresh exchanges a refresh token (forge.Refresher).
func (p *Services) Refresh(ctx context.Context, hc *http.Client, c provider.Client, refreshToken string) (*provider.Refreshed, error) {
	return p.RefreshToken(ctx, hc, c, refreshToken)
}

// User reads the profile of the token's owner (forge.UserLookup).
func (p *Services) User(ctx context.Context, hc *http.Client, accessToken string) (*provider.Identity, error) {
	return profile(ctx, &p.Spec, hc, "user lookup", p.URLs.APIURL, accessToken)
}

// Validate checks the token against the profile API (forge.Validator).
func (p *Services) Validate(ctx context.Context, hc *http.Client, accessToken string) error {
	_, err := profile(ctx, &p.Spec, hc, "validate", p.URLs.APIURL, accessToken)
	return err
}

// Entra is Azure DevOps Services through Microsoft Entra ID OAuth.
type Entra struct {
	provider.Spec
	profileURL string // the vssps base serving the profile API
}

// NewEntra is Azure DevOps Services with tokens from the Entra ID authority (for
// example https://login.microsoftonline.com/{tenant}). profileURL is the vssps base
// for the profile API; empty means https://app.vssps.visualstudio.com.
func NewEntra(webURL, authority, profileURL string) (*Entra, error) {
	if webURL == "" {
		webURL = WebURL
	}
	if profileURL == "" {
		profileURL = VSSPSURL
	}
	w, err := provider.ParseBaseURL("http_url", webURL)
	if err != nil {
		return nil, err
	}
	a, err := provider.ParseBaseURL("api_url", authority)
	if err != nil {
		return nil, err
	}
	if u, _ := url.Parse(a); strings.Trim(u.Path, "/") == "" {
		return nil, core.Invalid("api_url", "api url must name the Entra tenant, e.g. https://login.microsoftonline.com/{tenant}")
	}
	pr, err := provider.ParseBaseURL("api_url", profileURL)
	if err != nil {
		return nil, err
	}
	return &Entra{Spec: provider.Spec{
		ProviderKind: core.ProviderAzureDevOpsServices,
		Display:      "Azure DevOps Services",
		IconName:     "azure-devops",
		WebURL:       w,
		URLs: provider.Endpoints{
			AuthURL:       a + "/oauth2/v2.0/authorize",
			TokenURL:      a + "/oauth2/v2.0/token",
			DeviceAuthURL: a + "/oauth2/v2.0/devicecode",
			APIURL:        a,
		},
		PKCE: true,
		// .default asks for the permissions granted to the app registration;
		// offline_access for a refresh token.
		Scopes:            []string{Resource + "/.default", "offline_access"},
		Git:               provider.GitAuth{UseLogin: true, Username: "azure-devops"},
		ExtraRepoHosts:    servicesRepoHosts,
		ClientAuth:        provider.ClientAuthParams,
		RefreshScope:      true,
		InvalidGrantCodes: []string{"interaction_required"},
		ErrorAliases: map[string]string{
			"authorization_declined": "access_denied",
			"bad_verification_code":  "expired_token",
		},
		RateLimit: rateLimit,
	}, profileURL: pr}, nil
}

// AuthCodeURL is the browser authorization URL (forge.BrowserFlow).
func (p *Entra) AuthCodeURL(c provider.Client, state, verifier string) string {
	return p.AuthorizeURL(c, state, verifier)
}

// Exchange trades the code for tokens (forge.BrowserFlow).
func (p *Entra) Exchange(ctx context.Context, hc *http.Client, c provider.Client, code, verifier string) (*oauth2.Token, error) {
	return p.ExchangeCode(ctx, hc, c, code, verifier)
}

// StartDevice starts a device flow (forge.DeviceFlow).
func (p *Entra) StartDevice(ctx context.Context, hc *http.Client, c provider.Client) (*provider.DeviceAuthorization, error) {
	return p.RequestDeviceCode(ctx, hc, c)
}

// PollDevice polls once (forge.DeviceFlow).
func (p *Entra) PollDevice(ctx context.Context, hc *http.Client, c provider.Client, deviceCode string) (*oauth2.Token, error) {
	return p.PollDeviceToken(ctx, hc, c, deviceCode)
}

// Refresh exchanges a refresh token (forge.Refresher).
func (p *Entra) Refresh(ctx context.Context, hc *http.Client, c provider.Client, refreshToken string) (*provider.Refreshed, error) {
	return p.RefreshToken(ctx, hc, c, refreshToken)
}

// User reads the profile of the token's owner (forge.UserLookup).
func (p *Entra) User(ctx context.Context, hc *http.Client, accessToken string) (*provider.Identity, error) {
	return profile(ctx, &p.Spec, hc, "user lookup", p.profileURL, accessToken)
}

// Validate checks the token against the profile API (forge.Validator).
func (p *Entra) Validate(ctx context.Context, hc *http.Client, accessToken string) error {
	_, err := profile(ctx, &p.Spec, hc, "validate", p.profileURL, accessToken)
	return err
}

type profileJSON struct {
	ID           string `json:"id"`
	DisplayName  string `json:"displayName"`
	PublicAlias  string `json:"publicAlias"`
	EmailAddress string `json:"emailAddress"`
}

func profile(ctx context.Context, s *provider.Spec, hc *http.Client, op, base, token string) (*provider.Identity, error) {
	var pj profileJSON
	if _, err := s.GetJSON(ctx, hc, op, base+"/_apis/profile/profiles/me?api-version=7.1", s.TokenAuth(token), &pj); err != nil {
		return nil, err
	}
	if pj.ID == "" {
		return nil, s.Malformed(op, http.StatusOK, "profile without id")
	}
	login := pj.EmailAddress
	if login == "" {
		login = pj.PublicAlias
	}
	return &provider.Identity{ID: pj.ID, Login: login, Name: pj.DisplayName}, nil
}

// Server is an Azure DevOps Server collection, reached with personal access tokens.
type Server struct {
	provider.Spec
}

// NewServer is the Azure DevOps Server collection at webURL (for example
// https://ado.example.com/DefaultCollection); the API defaults to the same URL.
func NewServer(webURL, apiURL string) (*Server, error) {
	w, a, err := provider.BaseURLs(webURL, apiURL, "", provider.Under(""))
	if err != nil {
		return nil, err
	}
	return &Server{provider.Spec{
		ProviderKind: core.ProviderAzureDevOpsServer,
		Display:      "Azure DevOps Server",
		IconName:     "azure-devops",
		WebURL:       w,
		URLs:         provider.Endpoints{APIURL: a},
		Git:          provider.GitAuth{UseLogin: true, Username: "pat"},
		APIAuth:      provider.APIAuthBasicPassword,
		RateLimit:    rateLimit,
	}}, nil
}

type connectionData struct {
	AuthenticatedUser struct {
		ID                  string `json:"id"`
		ProviderDisplayName string `json:"providerDisplayName"`
		Properties          struct {
			Account struct {
				Value string `json:"$value"`
			} `json:"Account"`
		} `json:"properties"`
	} `json:"authenticatedUser"`
}

func (p *Server) user(ctx context.Context, hc *http.Client, op string, auth func(*http.Request)) (*provider.Identity, error) {
	var cd connectionData
	if _, err := p.GetJSON(ctx, hc, op, p.URLs.APIURL+"/_apis/connectionData", auth, &cd); err != nil {
		return nil, err
	}
	u := cd.AuthenticatedUser
	if u.ID == "" {
		return nil, p.Malformed(op, http.StatusOK, "connection data without an authenticated user")
	}
	login := u.Properties.Account.Value
	if login == "" {
		login = u.ProviderDisplayName
	}
	return &provider.Identity{ID: u.ID, Login: login, Name: u.ProviderDisplayName}, nil
}

// User reads whom a personal access token belongs to (forge.UserLookup).
func (p *Server) User(ctx context.Context, hc *http.Client, accessToken string) (*provider.Identity, error) {
	return p.user(ctx, hc, "user lookup", p.TokenAuth(accessToken))
}

// Validate checks a personal access token (forge.Validator).
func (p *Server) Validate(ctx context.Context, hc *http.Client, accessToken string) error {
	_, err := p.user(ctx, hc, "validate", p.TokenAuth(accessToken))
	return err
}

// PasswordUser checks a user name and password or PAT (forge.PasswordAuth).
func (p *Server) PasswordUser(ctx context.Context, hc *http.Client, username, password string) (*provider.Identity, error) {
	return p.user(ctx, hc, "password check", provider.BasicAuth(username, password))
}
