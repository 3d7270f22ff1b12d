package tfe

import (
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// The resources as they go on the wire, tagged for github.com/hashicorp/jsonapi —
// the library go-tfe decodes them with, so the two agree on every detail (the
// iso8601 tag writes UTC with a literal Z). Nothing secret has a field here: not
// the client's secret or private key, not a token, not an SSH key.

// JSON:API resource types. The client rejects a mismatch, also in relationships.
const (
	typeOAuthClients  = "oauth-clients"
	typeOAuthTokens   = "oauth-tokens"
	typeOrganizations = "organizations"
	typeProjects      = "projects"
	typeAgentPools    = "agent-pools"
	typeUsers         = "users"
)

// clientModel is an oauth-clients resource; slug and device-flow are vcsauth's
// extensions (the Coder dialect's provider id; whether the device flow is available).
type clientModel struct {
	ID                  string    `jsonapi:"primary,oauth-clients"`
	Name                *string   `jsonapi:"attr,name"`
	ServiceProvider     string    `jsonapi:"attr,service-provider"`
	ServiceProviderName string    `jsonapi:"attr,service-provider-display-name"`
	HTTPURL             string    `jsonapi:"attr,http-url"`
	APIURL              string    `jsonapi:"attr,api-url"`
	Key                 *string   `jsonapi:"attr,key"`
	RSAPublicKey        *string   `jsonapi:"attr,rsa-public-key"`
	CallbackURL         string    `jsonapi:"attr,callback-url"`
	ConnectPath         string    `jsonapi:"attr,connect-path"`
	OrganizationScoped  bool      `jsonapi:"attr,organization-scoped"`
	CreatedAt           time.Time `jsonapi:"attr,created-at,iso8601"`
	Slug                *string   `jsonapi:"attr,slug"`
	DeviceFlow          bool      `jsonapi:"attr,device-flow"`

	Organization *orgRef         `jsonapi:"relation,organization"`
	OAuthTokens  []*tokenModel   `jsonapi:"relation,oauth-tokens"`
	Projects     []*projectModel `jsonapi:"relation,projects"`
	AgentPool    *agentPoolRef   `jsonapi:"relation,agent-pool"`
}

// tokenModel is an oauth-tokens resource: an organization-owned connection.
type tokenModel struct {
	ID                  string    `jsonapi:"primary,oauth-tokens"`
	UID                 string    `jsonapi:"attr,uid"`
	CreatedAt           time.Time `jsonapi:"attr,created-at,iso8601"`
	HasSSHKey           bool      `jsonapi:"attr,has-ssh-key"`
	ServiceProviderUser string    `jsonapi:"attr,service-provider-user"`

	OAuthClient *clientRef `jsonapi:"relation,oauth-client"`
}

type projectModel struct {
	ID          string    `jsonapi:"primary,projects"`
	Name        string    `jsonapi:"attr,name"`
	Description string    `jsonapi:"attr,description"`
	CreatedAt   time.Time `jsonapi:"attr,created-at,iso8601"`

	Organization *orgRef `jsonapi:"relation,organization"`
}

// orgModel is an organizations resource; its id is the organization's name, and
// external-id our org- id (what connect-path's organization_id names).
type orgModel struct {
	Name       string    `jsonapi:"primary,organizations"`
	ExternalID string    `jsonapi:"attr,external-id"`
	Email      *string   `jsonapi:"attr,email"`
	CreatedAt  time.Time `jsonapi:"attr,created-at,iso8601"`
}

// userDocument is the users resource GET /account/details shows the caller with
// (go-tfe's tfe.User). It is the one document not encoded by jsonapi: the call is
// how clients check a token, the dialect's hottest, and jsonapi builds a map per
// attribute by reflection (it was most of the call's cost). The JSON is the same as
// jsonapi's for the same resource (TestUserDocumentIsJSONAPI).
//
// email and avatar-url are null when unknown (vcsauth keeps no avatars),
// unconfirmed-email always (an email address changes only by an operator, so there
// is never one waiting for confirmation). No account is a service account or signs
// in through SSO. is-admin is is-site-admin's successor in TFE v202406; both are sent.
type userDocument struct {
	Data userResource `json:"data"`
}

type userResource struct {
	Type       string         `json:"type"` // typeUsers
	ID         string         `json:"id"`
	Attributes userAttributes `json:"attributes"`
}

type userAttributes struct {
	Username         string          `json:"username"`
	Email            *string         `json:"email"`
	AvatarURL        *string         `json:"avatar-url"`
	IsServiceAccount bool            `json:"is-service-account"`
	TwoFactor        twoFactor       `json:"two-factor"`
	UnconfirmedEmail *string         `json:"unconfirmed-email"`
	V2Only           bool            `json:"v2-only"`
	IsSiteAdmin      bool            `json:"is-site-admin"`
	IsAdmin          bool            `json:"is-admin"`
	IsSSOLogin       bool            `json:"is-sso-login"`
	Permissions      userPermissions `json:"permissions"`
}

// twoFactor is the user's two-factor attribute: a TOTP second factor here is
// verified by a code when it is enrolled, so enabled and verified go together.
type twoFactor struct {
	Enabled  bool `json:"enabled"`
	Verified bool `json:"verified"`
}

// userPermissions is the user's permissions attribute (go-tfe's UserPermissions).
type userPermissions struct {
	CanCreateOrganizations bool `json:"can-create-organizations"`
	CanChangeEmail         bool `json:"can-change-email"`
	CanChangeUsername      bool `json:"can-change-username"`
	CanManageUserTokens    bool `json:"can-manage-user-tokens"`
	CanView2FaSettings     bool `json:"can-view2fa-settings"`
	CanManageHcpAccount    bool `json:"can-manage-hcp-account"`
}

// References: resources named in relationships whose attributes are never included
// (a reference to the full model would recurse, client → token → client).
type (
	orgRef struct {
		Name string `jsonapi:"primary,organizations"`
	}
	clientRef struct {
		ID string `jsonapi:"primary,oauth-clients"`
	}
	agentPoolRef struct {
		ID string `jsonapi:"primary,agent-pools"`
	}
)

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// clientOf builds the resource of oc in the organization named orgName. tokens are
// its organization-owned connections; projects, when known, describe its projects
// (for included), else they are named by id only.
func (h *handlers) clientOf(oc core.OAuthClient, orgName string, tokens []core.Connection, projects map[string]core.Project) *clientModel {
	m := &clientModel{
		ID: oc.ID, Name: nullable(oc.Name), ServiceProvider: string(oc.Kind), ServiceProviderName: string(oc.Kind),
		HTTPURL: oc.HTTPURL, APIURL: oc.APIURL, Key: nullable(oc.Key), RSAPublicKey: nullable(oc.RSAPublicKey),
		CallbackURL: h.e.CallbackURL(oc), ConnectPath: h.e.ConnectPath(oc), OrganizationScoped: oc.OrganizationScoped,
		CreatedAt: oc.CreatedAt, Slug: nullable(oc.Slug),
		Organization: &orgRef{Name: orgName}, OAuthTokens: []*tokenModel{}, Projects: []*projectModel{},
	}
	if info, err := h.e.Describe(oc); err == nil {
		m.ServiceProviderName, m.DeviceFlow = info.DisplayName, info.Device
	}
	for _, c := range tokens {
		if c.OAuthClientID == oc.ID {
			m.OAuthTokens = append(m.OAuthTokens, tokenOf(c))
		}
	}
	for _, id := range oc.ProjectIDs {
		if prj, ok := projects[id]; ok {
			m.Projects = append(m.Projects, projectOf(prj, orgName))
		} else {
			m.Projects = append(m.Projects, &projectModel{ID: id, Organization: &orgRef{Name: orgName}})
		}
	}
	if oc.AgentPoolID != "" {
		m.AgentPool = &agentPoolRef{ID: oc.AgentPoolID}
	}
	return m
}

// tokenOf builds the resource of an organization-owned connection, as the engine
// hands it out (every sealed value connect.Redacted). uid is the account's id at the
// provider, when the provider said.
func tokenOf(c core.Connection) *tokenModel {
	uid := c.UpstreamID
	if uid == "" {
		uid = c.ID
	}
	return &tokenModel{ID: c.ID, UID: uid, CreatedAt: c.CreatedAt, HasSSHKey: c.SSHKey != "",
		ServiceProviderUser: c.UpstreamLogin, OAuthClient: &clientRef{ID: c.OAuthClientID}}
}

func projectOf(p core.Project, orgName string) *projectModel {
	return &projectModel{ID: p.ID, Name: p.Name, Description: p.Description, CreatedAt: p.CreatedAt,
		Organization: &orgRef{Name: orgName}}
}

func orgOf(o core.Organization) *orgModel {
	return &orgModel{Name: o.Name, ExternalID: o.ID, Email: nullable(o.Email), CreatedAt: o.CreatedAt}
}

// userOf shows the caller, from the principal alone: no store read, so the call a
// client checks its token with costs no more than authenticating it.
//
// The permissions say what vcsauth lets the person do, in the core's words where
// the core has a rule: organizations are created by site administrators
// (core.CanAdminSite, identity.CreateOrg's check, so it also depends on the token
// allowing administration); people manage their own tokens and second factor in the
// web console; nobody changes their own email or username, and there is no HCP
// account.
func userOf(p core.Principal) userDocument {
	u := p.User
	var email *string
	var tf twoFactor
	if core.CanReadProfile(p) {
		email, tf = nullable(u.Email), twoFactor{Enabled: u.HasTOTP(), Verified: u.HasTOTP()}
	}
	return userDocument{Data: userResource{Type: typeUsers, ID: u.ID, Attributes: userAttributes{
		Username: u.Username, Email: email,
		TwoFactor:   tf,
		IsSiteAdmin: u.SiteAdmin, IsAdmin: u.SiteAdmin,
		Permissions: userPermissions{CanCreateOrganizations: core.CanAdminSite(p),
			CanManageUserTokens: true, CanView2FaSettings: true},
	}}}
}
