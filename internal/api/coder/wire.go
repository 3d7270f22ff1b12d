package coder

import (
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// The wire types, field for field those of codersdk and agentsdk v2.30.0 (which this
// module must not import): the golden files and the clienttest module hold them to it.

// Response is every error answer (codersdk.Response).
type Response struct {
	Message     string            `json:"message"`
	Detail      string            `json:"detail,omitempty"`
	Validations []ValidationError `json:"validations,omitempty"`
}

// ValidationError names one bad field (codersdk.ValidationError).
type ValidationError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// ListResponse is GET /api/v2/external-auth (codersdk.ListUserExternalAuthResponse).
type ListResponse struct {
	Providers []LinkProvider `json:"providers"`
	Links     []Link         `json:"links"`
}

// LinkProvider is a provider's static details (codersdk.ExternalAuthLinkProvider).
type LinkProvider struct {
	ID                            string   `json:"id"`
	Type                          string   `json:"type"`
	Device                        bool     `json:"device"`
	DisplayName                   string   `json:"display_name"`
	DisplayIcon                   string   `json:"display_icon"`
	AllowRefresh                  bool     `json:"allow_refresh"`
	AllowValidate                 bool     `json:"allow_validate"`
	SupportsRevocation            bool     `json:"supports_revocation"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
}

// Link is one of the caller's links (codersdk.ExternalAuthLink). Expires is the zero
// time ("0001-01-01T00:00:00Z") for a token that does not expire, as Coder sends it.
type Link struct {
	ProviderID      string    `json:"provider_id"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	HasRefreshToken bool      `json:"has_refresh_token"`
	Expires         time.Time `json:"expires"`
	Authenticated   bool      `json:"authenticated"`
	ValidateError   string    `json:"validate_error"`
}

// ExternalAuth is GET /api/v2/external-auth/{id} (codersdk.ExternalAuth).
type ExternalAuth struct {
	Authenticated      bool              `json:"authenticated"`
	Device             bool              `json:"device"`
	DisplayName        string            `json:"display_name"`
	SupportsRevocation bool              `json:"supports_revocation"`
	User               *User             `json:"user"`
	AppInstallable     bool              `json:"app_installable"`
	Installations      []AppInstallation `json:"installations"`
	AppInstallURL      string            `json:"app_install_url"`
}

// User is an account at the provider (codersdk.ExternalAuthUser). ID is 0 where the
// provider's ids are not numbers.
type User struct {
	ID         int64  `json:"id"`
	Login      string `json:"login"`
	AvatarURL  string `json:"avatar_url"`
	ProfileURL string `json:"profile_url"`
	Name       string `json:"name"`
}

// AppInstallation is a GitHub App installation (codersdk.ExternalAuthAppInstallation).
type AppInstallation struct {
	ID           int64  `json:"id"`
	Account      User   `json:"account"`
	ConfigureURL string `json:"configure_url"`
}

// DeleteResponse is DELETE /api/v2/external-auth/{id}
// (codersdk.DeleteExternalAuthByIDResponse).
type DeleteResponse struct {
	TokenRevoked         bool   `json:"token_revoked"`
	TokenRevocationError string `json:"token_revocation_error,omitempty"`
}

// Device is GET /api/v2/external-auth/{id}/device (codersdk.ExternalAuthDevice).
type Device struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
}

// DeviceExchange is the body of POST /api/v2/external-auth/{id}/device
// (codersdk.ExternalAuthDeviceExchange).
type DeviceExchange struct {
	DeviceCode string `json:"device_code"`
}

// Credential is the workload credential (agentsdk.ExternalAuthResponse when linked).
// TokenExtra is always an object: vcsauth keeps no extra token fields.
type Credential struct {
	AccessToken string         `json:"access_token"`
	TokenExtra  map[string]any `json:"token_extra"`
	Type        string         `json:"type"`
	Username    string         `json:"username"`
	Password    string         `json:"password"`
}

// LinkNeeded is the workload answer when the person must link first
// (agentsdk.ExternalAuthResponse with only its url).
type LinkNeeded struct {
	URL string `json:"url"`
}

// CurrentUser is GET /api/v2/users/me (codersdk.User, with its embedded
// ReducedUser and MinimalUser). ID is a UUID string (UserUUID); LastSeenAt is
// always the zero time, which Coder sends for a user it has not seen, as
// vcsauth does not write down every request a person makes.
type CurrentUser struct {
	ID              string     `json:"id"`
	Username        string     `json:"username"`
	Name            string     `json:"name,omitempty"`
	AvatarURL       string     `json:"avatar_url,omitempty"`
	Email           string     `json:"email"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	LastSeenAt      time.Time  `json:"last_seen_at"`
	Status          string     `json:"status"`
	LoginType       string     `json:"login_type"`
	ThemePreference string     `json:"theme_preference,omitempty"`
	OrganizationIDs []string   `json:"organization_ids"`
	Roles           []SlimRole `json:"roles"`
}

// SlimRole is one of a user's roles (codersdk.SlimRole).
type SlimRole struct {
	Name           string `json:"name"`
	DisplayName    string `json:"display_name"`
	OrganizationID string `json:"organization_id,omitempty"`
}

// ProviderType is the Coder provider type of a kind (codersdk's
// EnhancedExternalAuthProvider values; gitee has none there and keeps its name).
func ProviderType(k core.ProviderKind) string {
	switch k {
	case core.ProviderGitHub, core.ProviderGitHubEnterprise:
		return "github"
	case core.ProviderGitLabHosted, core.ProviderGitLabCommunityEdition, core.ProviderGitLabEnterpriseEdition:
		return "gitlab"
	case core.ProviderBitbucketHosted:
		return "bitbucket-cloud"
	case core.ProviderBitbucketServer, core.ProviderBitbucketDataCenter:
		return "bitbucket-server"
	case core.ProviderAzureDevOpsServices, core.ProviderAzureDevOpsServer:
		return "azure-devops"
	}
	return string(k)
}
