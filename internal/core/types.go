package core

import "time"

// Sealed is a secret encrypted by the keyring (internal/secret): "<key id>.<base64>".
// The store keeps it as opaque text; only the engines open it. The empty Sealed means
// "no secret".
type Sealed string

// User is a person who signs in to vcsauth.
type User struct {
	ID           string // "user-…"
	Username     string // unique, lower case
	Email        string
	PasswordHash string // argon2id, PHC string form
	TOTPSecret   Sealed // empty when the user has no second factor
	// TOTPLastStep is the last TOTP time step accepted; a code of that step or an
	// earlier one is a replay and is refused.
	TOTPLastStep int64
	SiteAdmin    bool
	// PasswordChangedAt invalidates web sessions created before it.
	PasswordChangedAt time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// HasTOTP reports whether the user enrolled a second factor.
func (u User) HasTOTP() bool { return u.TOTPSecret != "" }

// Organization is a tenant.
type Organization struct {
	ID        string // "org-…"
	Name      string // unique; the Terraform dialect uses it as the id
	Email     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Role is a member's role in an organization.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleMember }

// Membership ties a user to an organization with a role.
type Membership struct {
	OrgID     string
	UserID    string
	Role      Role
	CreatedAt time.Time
}

// Project belongs to one organization; people reach it through their membership.
type Project struct {
	ID          string // "prj-…"
	OrgID       string
	Name        string // unique within the organization
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TokenKind says what a token we issued is for. The kind is also the prefix of the
// token's text (see internal/secret).
type TokenKind string

const (
	TokenPersonal TokenKind = "personal" // vcp_: personal access token, no application
	TokenAccess   TokenKind = "access"   // vco_: OAuth access token issued to an application
	TokenRefresh  TokenKind = "refresh"  // vcr_: OAuth refresh token
	TokenSession  TokenKind = "session"  // vcs_: web console session cookie
)

// Token is a token we issued. Its text is never stored: only the SHA-256 Hash and the
// last eight characters.
type Token struct {
	ID            int64
	Kind          TokenKind
	Hash          []byte // SHA-256 of the token text; unique
	LastEight     string
	UserID        string
	ApplicationID int64 // 0 for personal and session tokens
	GrantID       int64 // 0 when ApplicationID is 0
	Scopes        []string
	Note          string
	NoteURL       string
	Fingerprint   string // unique per (user, application) when set
	// FamilyID groups the access and refresh tokens descended from one authorization
	// code or device grant; reuse of a rotated refresh token revokes the whole family.
	FamilyID   string
	ExpiresAt  time.Time // zero: does not expire
	RevokedAt  time.Time // zero: live
	LastUsedAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Live reports whether the token may still be used at now.
func (t Token) Live(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// AuditEvent records who did what to which secret-bearing object, when, from where.
type AuditEvent struct {
	ID         int64
	Time       time.Time
	ActorID    string // user id, or "" for the system
	ActorName  string
	Action     string // "user.create", "token.revoke", "session.sign_in", …
	TargetType string // "user", "token", "oauth_client", …
	TargetID   string
	OrgID      string // the tenant the target belongs to, when it has one
	RemoteAddr string
	Detail     string // free text; never a secret
}

// AccessKey is an access-key / secret-key pair bound to a user, for the ServiceStage
// dialect's SDK-HMAC-SHA256 request signatures.
type AccessKey struct {
	ID        string // the AK, public
	UserID    string
	Secret    Sealed // the SK, encrypted (the signature check needs it in clear)
	CreatedAt time.Time
}

// ProviderKind is the kind of Git provider an OAuth client talks to. The values are the
// Terraform dialect's service-provider names, plus our own gitea and gitee.
type ProviderKind string

const (
	ProviderGitHub                  ProviderKind = "github"
	ProviderGitHubEnterprise        ProviderKind = "github_enterprise"
	ProviderGitLabHosted            ProviderKind = "gitlab_hosted"
	ProviderGitLabCommunityEdition  ProviderKind = "gitlab_community_edition"
	ProviderGitLabEnterpriseEdition ProviderKind = "gitlab_enterprise_edition"
	ProviderAzureDevOpsServer       ProviderKind = "ado_server"
	ProviderAzureDevOpsServices     ProviderKind = "ado_services"
	ProviderBitbucketHosted         ProviderKind = "bitbucket_hosted"
	ProviderBitbucketServer         ProviderKind = "bitbucket_server"
	ProviderBitbucketDataCenter     ProviderKind = "bitbucket_data_center"
	ProviderGitea                   ProviderKind = "gitea"
	ProviderGitee                   ProviderKind = "gitee"
)

// ProviderKinds lists every kind, in the order people see them.
var ProviderKinds = []ProviderKind{
	ProviderGitHub, ProviderGitHubEnterprise,
	ProviderGitLabHosted, ProviderGitLabCommunityEdition, ProviderGitLabEnterpriseEdition,
	ProviderAzureDevOpsServer, ProviderAzureDevOpsServices,
	ProviderBitbucketHosted, ProviderBitbucketServer, ProviderBitbucketDataCenter,
	ProviderGitea, ProviderGitee,
}

// Valid reports whether k is a kind we know.
func (k ProviderKind) Valid() bool {
	for _, p := range ProviderKinds {
		if k == p {
			return true
		}
	}
	return false
}

// OAuthClient is the credentials of an OAuth app registered at one Git provider, owned
// by an organization and usable by all its projects (OrganizationScoped) or by a list.
type OAuthClient struct {
	ID                 string // "oc-…"
	Slug               string // optional, unique; the Coder dialect's provider id
	OrgID              string
	Name               string
	Kind               ProviderKind
	HTTPURL            string // the provider's web address, e.g. https://github.com
	APIURL             string // e.g. https://api.github.com
	Key                string // the OAuth app's client id at the provider
	Secret             Sealed // its client secret
	RSAPublicKey       string // Bitbucket Data Center
	PrivateKey         Sealed // Azure DevOps Server
	Scopes             []string
	OrganizationScoped bool
	ProjectIDs         []string // when not organization-scoped; kept sorted
	DeviceFlowDisabled bool     // device flow is on where the kind supports it, unless this
	AgentPoolID        string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// OwnerKind says who owns a connection.
type OwnerKind string

const (
	OwnerUser    OwnerKind = "user"
	OwnerOrg     OwnerKind = "organization"
	OwnerProject OwnerKind = "project"
)

// CredentialKind says how a connection's credential was obtained.
type CredentialKind string

const (
	CredentialOAuth    CredentialKind = "oauth"    // browser or device flow
	CredentialPersonal CredentialKind = "personal" // a token the person handed us
	CredentialPassword CredentialKind = "password" // username + password (basic)
)

// Health is a connection's state as far as we know it.
type Health string

const (
	HealthHealthy        Health = "healthy"
	HealthRefreshFailing Health = "refresh_failing" // transient failures; we keep trying
	HealthNeedsReauth    Health = "needs_reauth"    // the provider refused the grant
	HealthRevoked        Health = "revoked"         // the token is dead at the provider
)

// Connection is tokens obtained through one OAuthClient, owned by a user, by the
// client's organization, or by a project (then with a Name unique in the project).
type Connection struct {
	ID             string // "ot-…"
	OAuthClientID  string
	OwnerKind      OwnerKind
	OwnerUserID    string // OwnerUser; also who created it, for the others
	OwnerOrgID     string // always the client's organization
	OwnerProjectID string // OwnerProject
	Name           string // OwnerProject: unique within the project
	CredentialKind CredentialKind
	Username       string // CredentialPassword: the basic-auth user
	AccessToken    Sealed // or the password, for CredentialPassword
	RefreshToken   Sealed
	TokenType      string
	Scopes         []string
	ExpiresAt      time.Time // zero: does not expire
	SSHKey         Sealed
	// The identity the token belongs to at the provider.
	UpstreamID    string
	UpstreamLogin string
	UpstreamName  string
	AvatarURL     string
	ProfileURL    string
	Health        Health
	HealthReason  string
	LastRefreshAt time.Time // last successful refresh
	LastSuccessAt time.Time // last time the token was known to work
	// RefreshLeaseUntil / RefreshLeaseOwner: the replica that is refreshing the token
	// holds the lease until then; others wait for it instead of refreshing too.
	RefreshLeaseUntil time.Time
	RefreshLeaseOwner string
	// Version increases on every write; a refresh saves its result only if the version
	// is still the one it read (compare-and-swap).
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Application is a downstream OAuth app: a client of our /oauth endpoints.
type Application struct {
	ID           int64
	ClientID     string // public
	Name         string
	RedirectURIs []string
	Scopes       []string
	Confidential bool
	SecretHash   []byte // SHA-256 of the secret; empty for public clients
	SecretLast   string // last eight characters, so people can tell secrets apart
	OwnerID      string // user who registered it
	BuiltIn      bool   // vcsauth's own CLI; cannot be deleted
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Grant is one (user, application) pair. Its scopes are the union of its live tokens'
// scopes; deleting it revokes every token under it.
type Grant struct {
	ID            int64
	UserID        string
	ApplicationID int64
	Scopes        []string // derived: filled by the store from the live tokens
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// AuthorizationCode is a single-use code of the authorization-code flow.
type AuthorizationCode struct {
	Hash                []byte // SHA-256 of the code
	ApplicationID       int64
	UserID              string
	RedirectURI         string
	Scopes              []string
	CodeChallenge       string
	CodeChallengeMethod string
	FamilyID            string // the token family its exchange creates
	ExpiresAt           time.Time
	UsedAt              time.Time // zero until exchanged
	CreatedAt           time.Time
}

// DeviceStatus is where a device authorization stands.
type DeviceStatus string

const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
	DeviceUsed     DeviceStatus = "used"
)

// DeviceAuthorization is one RFC 8628 device flow of ours (downstream).
type DeviceAuthorization struct {
	DeviceCodeHash []byte
	UserCode       string // normalised: upper case, no dash
	ApplicationID  int64
	Scopes         []string
	Status         DeviceStatus
	UserID         string // who approved or denied it
	Interval       time.Duration
	LastPolledAt   time.Time
	ExpiresAt      time.Time
	CreatedAt      time.Time
}

// FlowState is an upstream flow in progress (browser or device), single use.
type FlowState struct {
	ID            string // "fs-…"; the hash of the state value when it is a browser flow
	StateHash     []byte // SHA-256 of the state parameter sent to the provider
	OAuthClientID string
	UserID        string // the person who started it; the callback must be theirs
	// What the flow creates when it completes.
	OwnerKind      OwnerKind
	OwnerProjectID string
	Name           string
	// Dialect that started it ("tfe", "coder", "servicestage", "web"); ServiceStage
	// flows hand the code back instead of exchanging it.
	Origin       string
	RepoType     string
	PKCEVerifier Sealed
	DeviceCode   Sealed // upstream device flow
	ReturnTo     string
	ExpiresAt    time.Time
	UsedAt       time.Time
	CreatedAt    time.Time
}
