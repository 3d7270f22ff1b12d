package forgetest

import (
	"strconv"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// clientAuthMode is how the fake's token endpoint accepts client credentials.
type clientAuthMode int

const (
	authEither     clientAuthMode = iota // form parameters or HTTP Basic
	authBasicOnly                        // HTTP Basic only (Bitbucket Cloud)
	authParamsOnly                       // form parameters only (Gitee)
	authAssertion                        // client_assertion (Azure DevOps vssps)
)

type apiAuthMode int

const (
	apiBearer   apiAuthMode = iota // Authorization: Bearer (or "token", GitHub/Gitea style)
	apiQuery                       // ?access_token= (Gitee)
	apiBasicPAT                    // Basic with the PAT as password (Azure DevOps Server)
)

type rateLimitStyle int

const (
	rlRetryAfter rateLimitStyle = iota // 429 + Retry-After
	rlGitHub                           // 403 + x-ratelimit-remaining: 0 + x-ratelimit-reset
	rlGitLab                           // 429 + Retry-After + RateLimit-Reset
)

// wire is how one provider kind behaves on the wire: paths relative to the
// server's URL, encodings, error conventions, lifetimes.
type wire struct {
	authorize, token, device, verify, revoke string
	apiPrefix                                string // the API base, relative to the server URL
	httpPrefix                               string // the web base, relative (Azure DevOps Server collections)
	profilePrefix                            string // Azure DevOps: where the profile API lives

	clientAuth     clientAuthMode
	formUnlessJSON bool // GitHub: form-encoded answers unless Accept: application/json
	errorsWith200  bool // GitHub: OAuth errors with status 200
	capitalErrors  bool // Azure DevOps vssps: {"Error":…,"ErrorDescription":…}
	responseType   string
	pkce           bool
	deviceFlow     bool
	oauth          bool // false: no OAuth at all (Azure DevOps Server)

	accessTTL          time.Duration // 0: never expires
	refreshTokens      bool
	refreshKillsAccess bool   // a refresh revokes the access token it came with
	badCode            string // error code for a bad authorization code
	badRefresh         string // error code for a bad refresh token
	badDevice          string // error code for an unknown device code
	denied             string // device flow: the user said no
	deviceTTL          time.Duration
	tokenType          string
	createdAt          bool // Doorkeeper's created_at in token answers
	revokeStyle        string
	apiAuth            apiAuthMode
	rateLimit          rateLimitStyle
	tokenPrefix        string
}

func wireFor(kind core.ProviderKind, entraTenant string) (wire, bool) {
	switch kind {
	case core.ProviderGitHub, core.ProviderGitHubEnterprise:
		return wire{
			authorize: "/login/oauth/authorize", token: "/login/oauth/access_token",
			device: "/login/device/code", verify: "/login/device", revoke: "github",
			apiPrefix: "/api/v3", clientAuth: authEither, formUnlessJSON: true, errorsWith200: true,
			responseType: "code", pkce: kind == core.ProviderGitHub, deviceFlow: true, oauth: true,
			badCode: "bad_verification_code", badRefresh: "bad_refresh_token", badDevice: "incorrect_device_code",
			denied: "access_denied", deviceTTL: 900 * time.Second, tokenType: "bearer",
			refreshKillsAccess: true, revokeStyle: "github", apiAuth: apiBearer, rateLimit: rlGitHub, tokenPrefix: "gho_",
		}, true
	case core.ProviderGitLabHosted, core.ProviderGitLabCommunityEdition, core.ProviderGitLabEnterpriseEdition:
		return wire{
			authorize: "/oauth/authorize", token: "/oauth/token", device: "/oauth/authorize_device",
			verify: "/oauth/device", revoke: "/oauth/revoke", apiPrefix: "/api/v4",
			clientAuth: authEither, responseType: "code", pkce: true, deviceFlow: true, oauth: true,
			accessTTL: 7200 * time.Second, refreshTokens: true, refreshKillsAccess: true,
			badCode: "invalid_grant", badRefresh: "invalid_grant", badDevice: "invalid_grant",
			denied: "access_denied", deviceTTL: 300 * time.Second, tokenType: "Bearer", createdAt: true,
			revokeStyle: "rfc7009", apiAuth: apiBearer, rateLimit: rlGitLab, tokenPrefix: "gloas-",
		}, true
	case core.ProviderBitbucketHosted:
		return wire{
			authorize: "/site/oauth2/authorize", token: "/site/oauth2/access_token", apiPrefix: "/api/2.0",
			clientAuth: authBasicOnly, responseType: "code", oauth: true,
			accessTTL: 7200 * time.Second, refreshTokens: true,
			badCode: "invalid_grant", badRefresh: "invalid_grant", tokenType: "bearer",
			apiAuth: apiBearer, rateLimit: rlRetryAfter, tokenPrefix: "bbc-",
		}, true
	case core.ProviderBitbucketServer, core.ProviderBitbucketDataCenter:
		return wire{
			authorize: "/rest/oauth2/latest/authorize", token: "/rest/oauth2/latest/token", apiPrefix: "",
			clientAuth: authEither, responseType: "code", pkce: true, oauth: true,
			accessTTL: 3600 * time.Second, refreshTokens: true,
			badCode: "invalid_grant", badRefresh: "invalid_grant", tokenType: "bearer",
			apiAuth: apiBearer, rateLimit: rlRetryAfter, tokenPrefix: "bbdc-",
		}, true
	case core.ProviderAzureDevOpsServices:
		if entraTenant != "" {
			p := "/" + entraTenant + "/oauth2/v2.0"
			return wire{
				authorize: p + "/authorize", token: p + "/token", device: p + "/devicecode", verify: "/devicelogin",
				apiPrefix: "/" + entraTenant, profilePrefix: "/vssps",
				clientAuth: authEither, responseType: "code", pkce: true, deviceFlow: true, oauth: true,
				accessTTL: 3600 * time.Second, refreshTokens: true,
				badCode: "invalid_grant", badRefresh: "invalid_grant", badDevice: "bad_verification_code",
				denied: "authorization_declined", deviceTTL: 900 * time.Second, tokenType: "Bearer",
				apiAuth: apiBearer, rateLimit: rlRetryAfter, tokenPrefix: "eyJ0eXAiOiJKV1Qi.",
			}, true
		}
		return wire{
			authorize: "/vssps/oauth2/authorize", token: "/vssps/oauth2/token", apiPrefix: "/vssps", profilePrefix: "/vssps",
			clientAuth: authAssertion, capitalErrors: true, responseType: "Assertion", oauth: true,
			accessTTL: 3599 * time.Second, refreshTokens: true,
			badCode: "invalid_grant", badRefresh: "invalid_grant", tokenType: "jwt-bearer",
			apiAuth: apiBearer, rateLimit: rlRetryAfter, tokenPrefix: "eyJ0eXAiOiJKV1Qi.",
		}, true
	case core.ProviderAzureDevOpsServer:
		return wire{
			httpPrefix: "/tfs/DefaultCollection", apiPrefix: "/tfs/DefaultCollection",
			apiAuth: apiBasicPAT, rateLimit: rlRetryAfter, tokenPrefix: "pat",
		}, true
	case core.ProviderGitea:
		return wire{
			authorize: "/login/oauth/authorize", token: "/login/oauth/access_token", apiPrefix: "/api/v1",
			clientAuth: authEither, responseType: "code", pkce: true, oauth: true,
			accessTTL: 3600 * time.Second, refreshTokens: true,
			badCode: "invalid_grant", badRefresh: "invalid_grant", tokenType: "bearer",
			apiAuth: apiBearer, rateLimit: rlRetryAfter, tokenPrefix: "gta_",
		}, true
	case core.ProviderGitee:
		return wire{
			authorize: "/oauth/authorize", token: "/oauth/token", apiPrefix: "/api/v5",
			clientAuth: authParamsOnly, responseType: "code", oauth: true,
			accessTTL: 86400 * time.Second, refreshTokens: true,
			badCode: "invalid_grant", badRefresh: "invalid_grant", tokenType: "bearer", createdAt: true,
			apiAuth: apiQuery, rateLimit: rlRetryAfter, tokenPrefix: "gte_",
		}, true
	}
	return wire{}, false
}

// userJSON renders the configured user the way kind's user API does.
func (s *Server) userJSON() any {
	u := s.user
	id, _ := strconv.ParseInt(u.ID, 10, 64)
	web := s.URL + s.wire.httpPrefix
	switch s.Kind {
	case core.ProviderGitHub, core.ProviderGitHubEnterprise:
		return map[string]any{"login": u.Login, "id": id, "node_id": "U_" + u.ID, "name": u.Name,
			"email": u.Email, "avatar_url": u.AvatarURL, "html_url": web + "/" + u.Login, "type": "User"}
	case core.ProviderGitLabHosted, core.ProviderGitLabCommunityEdition, core.ProviderGitLabEnterpriseEdition:
		return map[string]any{"id": id, "username": u.Login, "name": u.Name, "state": "active",
			"avatar_url": u.AvatarURL, "web_url": web + "/" + u.Login, "email": u.Email}
	case core.ProviderBitbucketHosted:
		links := map[string]any{
			"avatar": map[string]string{"href": u.AvatarURL},
			"html":   map[string]string{"href": web + "/%7B" + u.ID + "%7D/"},
		}
		return map[string]any{"type": "user", "uuid": "{" + u.ID + "}", "account_id": "557058:" + u.ID,
			"nickname": u.Login, "display_name": u.Name, "links": links}
	case core.ProviderBitbucketServer, core.ProviderBitbucketDataCenter:
		return map[string]any{"name": u.Login, "emailAddress": u.Email, "id": id, "displayName": u.Name,
			"active": true, "slug": u.Login, "type": "NORMAL",
			"links":     map[string]any{"self": []map[string]string{{"href": web + "/users/" + u.Login}}},
			"avatarUrl": "/users/" + u.Login + "/avatar.png?s=48"}
	case core.ProviderAzureDevOpsServices:
		return map[string]any{"displayName": u.Name, "publicAlias": u.ID, "emailAddress": u.Email,
			"coreRevision": 1, "timeStamp": "2026-01-01T00:00:00Z", "id": u.ID, "revision": 1}
	case core.ProviderAzureDevOpsServer:
		return map[string]any{
			"authenticatedUser": map[string]any{"id": u.ID, "descriptor": "System.Security.Principal.WindowsIdentity;" + u.ID,
				"providerDisplayName": u.Name, "isActive": true,
				"properties": map[string]any{"Account": map[string]string{"$type": "System.String", "$value": u.Login}}},
			"instanceId": "00000000-0000-0000-0000-000000000001", "locationServiceData": map[string]any{},
		}
	case core.ProviderGitea:
		return map[string]any{"id": id, "login": u.Login, "full_name": u.Name, "email": u.Email,
			"avatar_url": u.AvatarURL, "html_url": web + "/" + u.Login, "is_admin": false}
	case core.ProviderGitee:
		return map[string]any{"id": id, "login": u.Login, "name": u.Name, "avatar_url": u.AvatarURL,
			"html_url": web + "/" + u.Login, "type": "User"}
	}
	return nil
}
