package authserver

import (
	"slices"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Metadata is the authorization server metadata document (RFC 8414 §2).
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// Metadata returns the server's metadata document.
func (e *Engine) Metadata() Metadata {
	clientAuth := []string{"client_secret_basic", "client_secret_post", "none"}
	return Metadata{
		Issuer:                                     e.issuer,
		AuthorizationEndpoint:                      e.issuer + PathAuthorize,
		TokenEndpoint:                              e.issuer + PathToken,
		DeviceAuthorizationEndpoint:                e.issuer + PathDeviceCode,
		RevocationEndpoint:                         e.issuer + PathRevoke,
		IntrospectionEndpoint:                      e.issuer + PathIntrospect,
		ScopesSupported:                            slices.Clone(core.Scopes),
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{GrantAuthorizationCode, GrantRefreshToken, GrantDeviceCode},
		TokenEndpointAuthMethodsSupported:          clientAuth,
		RevocationEndpointAuthMethodsSupported:     clientAuth,
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post"},
		CodeChallengeMethodsSupported:              []string{PKCES256},
		AuthorizationResponseIssParameterSupported: true,
	}
}
