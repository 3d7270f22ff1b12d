package connect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Redacted stands in for every sealed value the engine returns: API packages can
// tell that a secret is set (has-ssh-key, has_refresh_token) without ever holding
// one, even encrypted.
const Redacted core.Sealed = "(redacted)"

func redact(s core.Sealed) core.Sealed {
	if s == "" {
		return ""
	}
	return Redacted
}

func redactClient(c core.OAuthClient) core.OAuthClient {
	c.Secret, c.PrivateKey = redact(c.Secret), redact(c.PrivateKey)
	if c.ProjectIDs == nil {
		c.ProjectIDs = []string{}
	}
	return c
}

// ClientInput is what an admin sets on an OAuth client. A nil field takes its
// default on create and keeps its value on update.
type ClientInput struct {
	Name *string
	// Kind is set on create; an update may repeat it but not change it (the
	// connections were made with the old provider).
	Kind    *core.ProviderKind
	HTTPURL *string
	APIURL  *string
	Key     *string
	Secret  *string
	// RSAPublicKey: Bitbucket Server and Data Center application links.
	RSAPublicKey *string
	// PrivateKey: Azure DevOps Server.
	PrivateKey         *string
	Scopes             *[]string
	OrganizationScoped *bool
	ProjectIDs         *[]string
	DeviceFlowDisabled *bool
	Slug               *string
	AgentPoolID        *string
	// OAuthTokenString is a token the admin already has: it becomes an
	// organization-owned connection of the client, after the provider accepted it.
	OAuthTokenString *string
}

var (
	slugRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	keyRE   = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
	scopeRE = regexp.MustCompile(`^[\x21-\x7e]{1,100}$`)
)

func oneLine(field, s string, max int) error {
	if len(s) > max || strings.ContainsAny(s, "\x00\r\n") {
		return core.Invalid(field, "must be one line of at most %d characters", max)
	}
	return nil
}

// hasOAuth reports whether people can authorize through a client of this forge,
// which then needs the OAuth app's key and secret.
func hasOAuth(f forge.Forge) bool {
	_, browser := f.(forge.BrowserFlow)
	_, device := f.(forge.DeviceFlow)
	return browser || device
}

// applyClient merges in into c and checks the result. It needs neither the network
// nor the database, so it runs again inside the update's transaction on the row as
// locked. Projects must have been checked (checkProjects) and the secrets sealed.
func (e *Engine) applyClient(c core.OAuthClient, in ClientInput, sealed sealedInput, creating bool) (core.OAuthClient, forge.Forge, error) {
	switch {
	case in.Kind == nil && creating:
		return c, nil, core.Missing("kind")
	case in.Kind != nil && creating:
		c.Kind = *in.Kind
	case in.Kind != nil && *in.Kind != c.Kind:
		return c, nil, core.Invalid("kind", "cannot be changed; create another OAuth client")
	}
	if !c.Kind.Valid() {
		return c, nil, &core.ValidationError{Field: "kind", Code: "unknown", Message: fmt.Sprintf("unknown provider kind %q", c.Kind)}
	}
	if in.Name != nil {
		c.Name = strings.TrimSpace(*in.Name)
		if err := oneLine("name", c.Name, 255); err != nil {
			return c, nil, err
		}
	}
	if in.HTTPURL != nil {
		c.HTTPURL = strings.TrimRight(strings.TrimSpace(*in.HTTPURL), "/")
	}
	if in.APIURL != nil {
		c.APIURL = strings.TrimRight(strings.TrimSpace(*in.APIURL), "/")
	}
	if c.HTTPURL == "" || c.APIURL == "" {
		dh, da := forge.Defaults(c.Kind)
		if c.HTTPURL == "" {
			c.HTTPURL = dh
		}
		if c.APIURL == "" {
			c.APIURL = da
		}
	}
	f, err := forge.New(c.Kind, c.HTTPURL, c.APIURL)
	if err != nil {
		return c, nil, err
	}
	if c.APIURL == "" {
		// A self-hosted kind derives its API from its web address; show what it
		// derived, if feeding it back gives the same provider.
		if derived := f.Endpoints().APIURL; derived != "" {
			if f2, err := forge.New(c.Kind, c.HTTPURL, derived); err == nil && f2.Endpoints() == f.Endpoints() {
				c.APIURL = derived
			}
		}
	}
	if in.Key != nil {
		c.Key = strings.TrimSpace(*in.Key)
		if c.Key != "" && !keyRE.MatchString(c.Key) {
			return c, nil, core.Invalid("key", "must be 1 to 255 visible characters without spaces")
		}
	}
	if in.Secret != nil {
		c.Secret = sealed.secret
	}
	if hasOAuth(f) {
		if c.Key == "" {
			return c, nil, core.Missing("key")
		}
		if c.Secret == "" {
			return c, nil, core.Missing("secret")
		}
	}
	if in.RSAPublicKey != nil {
		c.RSAPublicKey = strings.TrimSpace(*in.RSAPublicKey)
		if len(c.RSAPublicKey) > 16<<10 || strings.ContainsRune(c.RSAPublicKey, 0) {
			return c, nil, core.Invalid("rsa_public_key", "must be a public key of at most 16 KiB")
		}
	}
	if c.RSAPublicKey != "" {
		switch c.Kind {
		case core.ProviderBitbucketDataCenter:
			if c.Secret == "" {
				return c, nil, &core.ValidationError{Field: "secret", Code: "missing", Message: "secret is required with an rsa_public_key"}
			}
		case core.ProviderBitbucketServer:
		default:
			return c, nil, core.Invalid("rsa_public_key", "is only for Bitbucket Server and Data Center")
		}
	}
	if in.PrivateKey != nil {
		c.PrivateKey = sealed.privateKey
	}
	if c.PrivateKey != "" && c.Kind != core.ProviderAzureDevOpsServer {
		return c, nil, core.Invalid("private_key", "is only for Azure DevOps Server")
	}
	if in.Scopes != nil {
		scopes := []string{}
		for _, s := range *in.Scopes {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if !scopeRE.MatchString(s) {
				return c, nil, core.Invalid("scopes", "a scope is 1 to 100 visible characters without spaces")
			}
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
		if len(scopes) > 50 {
			return c, nil, core.Invalid("scopes", "at most 50 scopes")
		}
		c.Scopes = scopes
	}
	if in.OrganizationScoped != nil {
		c.OrganizationScoped = *in.OrganizationScoped
	}
	if in.ProjectIDs != nil {
		ids := slices.Clone(*in.ProjectIDs)
		slices.Sort(ids)
		c.ProjectIDs = slices.Compact(ids)
	}
	if c.ProjectIDs == nil {
		c.ProjectIDs = []string{}
	}
	if in.DeviceFlowDisabled != nil {
		c.DeviceFlowDisabled = *in.DeviceFlowDisabled
	}
	if in.Slug != nil {
		c.Slug = strings.TrimSpace(*in.Slug)
		switch {
		case c.Slug == "":
		case strings.HasPrefix(c.Slug, "oc-"):
			return c, nil, core.Invalid("slug", `must not start with "oc-", which names clients by id`)
		case !slugRE.MatchString(c.Slug):
			return c, nil, core.Invalid("slug", "must be 1 to 63 characters: lower-case letters, digits and '-', starting with a letter or digit")
		}
	}
	if in.AgentPoolID != nil {
		c.AgentPoolID = strings.TrimSpace(*in.AgentPoolID)
		if err := oneLine("agent_pool_id", c.AgentPoolID, 64); err != nil {
			return c, nil, err
		}
	}
	return c, f, nil
}

// sealedInput holds ClientInput's secrets, sealed once before the transaction.
type sealedInput struct {
	secret, privateKey core.Sealed
}

func (e *Engine) sealInput(in ClientInput) (sealedInput, error) {
	var out sealedInput
	var err error
	if in.Secret != nil && *in.Secret != "" {
		if len(*in.Secret) > 4096 {
			return out, core.Invalid("secret", "must be at most 4096 characters")
		}
		if out.secret, err = e.keys.SealString(*in.Secret); err != nil {
			return out, err
		}
	}
	if in.PrivateKey != nil && *in.PrivateKey != "" {
		if len(*in.PrivateKey) > 16<<10 {
			return out, core.Invalid("private_key", "must be at most 16 KiB")
		}
		if out.privateKey, err = e.keys.SealString(*in.PrivateKey); err != nil {
			return out, err
		}
	}
	return out, nil
}

// checkProjects verifies that every project exists, is visible to p, and belongs to
// the organization orgID.
func (e *Engine) checkProjects(ctx context.Context, p core.Principal, orgID string, ids []string) error {
	if len(ids) > 1000 {
		return core.Invalid("projects", "at most 1000 projects")
	}
	for _, id := range ids {
		prj, _, err := e.id.Project(ctx, p, id)
		if errors.Is(err, core.ErrNotFound) || (err == nil && prj.OrgID != orgID) {
			return &core.ValidationError{Field: "projects", Code: "invalid",
				Message: fmt.Sprintf("project %q is not a project of the client's organization", id)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// adminOrg returns the organization named orgName if p administers it: a member who
// is not an admin gets core.ErrForbidden, anyone else core.ErrNotFound.
func (e *Engine) adminOrg(ctx context.Context, p core.Principal, orgName string) (core.Organization, error) {
	o, _, err := e.id.AdminOrg(ctx, p, orgName)
	return o, err
}

// visibleClient loads a client and p's role in its organization; a client of an
// organization p does not belong to is core.ErrNotFound.
func (e *Engine) visibleClient(ctx context.Context, p core.Principal, ref string) (core.OAuthClient, core.Role, error) {
	oc, err := e.clientByRef(ctx, ref)
	if err != nil {
		return core.OAuthClient{}, "", err
	}
	_, role, err := e.id.OrgByID(ctx, p, oc.OrgID)
	if err != nil {
		return core.OAuthClient{}, "", err
	}
	return oc, role, nil
}

// clientByRef finds a client by id ("oc-…") or slug, which cannot start with "oc-".
func (e *Engine) clientByRef(ctx context.Context, ref string) (core.OAuthClient, error) {
	if ref == "" {
		return core.OAuthClient{}, core.ErrNotFound
	}
	if strings.HasPrefix(ref, "oc-") {
		return e.st.OAuthClient(ctx, ref)
	}
	return e.st.OAuthClientBySlug(ctx, ref)
}

// adminClient is visibleClient for changes: members who are not admins get
// core.ErrForbidden.
func (e *Engine) adminClient(ctx context.Context, p core.Principal, ref string) (core.OAuthClient, error) {
	oc, role, err := e.visibleClient(ctx, p, ref)
	if err != nil {
		return core.OAuthClient{}, err
	}
	if !core.CanAdminOrg(p, role) {
		return core.OAuthClient{}, core.ErrForbidden
	}
	return oc, nil
}

func takenSlug(err error) error {
	if errors.Is(err, core.ErrConflict) {
		return &core.ValidationError{Field: "slug", Code: "taken", Message: "another OAuth client has this slug"}
	}
	return err
}

// CreateClient registers an OAuth client for the organization named orgName; its org
// admins only. With OAuthTokenString, the token is checked with the provider and
// becomes the client's first organization-owned connection; a token the provider
// refuses is a *core.ValidationError on "oauth_token_string" and nothing is created.
func (e *Engine) CreateClient(ctx context.Context, p core.Principal, orgName string, in ClientInput) (core.OAuthClient, error) {
	org, err := e.adminOrg(ctx, p, orgName)
	if err != nil {
		return core.OAuthClient{}, err
	}
	sealed, err := e.sealInput(in)
	if err != nil {
		return core.OAuthClient{}, err
	}
	c, f, err := e.applyClient(core.OAuthClient{OrgID: org.ID, OrganizationScoped: true}, in, sealed, true)
	if err != nil {
		return core.OAuthClient{}, err
	}
	token := ""
	if in.OAuthTokenString != nil {
		token = strings.TrimSpace(*in.OAuthTokenString)
	}
	if token == "" && !hasOAuth(f) {
		// Azure DevOps Server has no OAuth: a personal access token is the only way in.
		return core.OAuthClient{}, core.Missing("oauth_token_string")
	}
	if err := e.checkProjects(ctx, p, org.ID, c.ProjectIDs); err != nil {
		return core.OAuthClient{}, err
	}
	var imp *checkedToken
	if token != "" {
		if imp, err = e.checkToken(ctx, f, token, "oauth_token_string"); err != nil {
			return core.OAuthClient{}, err
		}
	}
	if c.ID, err = e.newID("oc"); err != nil {
		return core.OAuthClient{}, err
	}
	now := e.nowUTC()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := e.st.CreateOAuthClient(ctx, c); err != nil {
		return core.OAuthClient{}, takenSlug(err)
	}
	e.audit(ctx, p, "oauth_client.create", "oauth_client", c.ID, c.OrgID, "kind="+string(c.Kind)+" http_url="+c.HTTPURL)
	if imp != nil {
		if _, err := e.importChecked(ctx, p, c, owner{kind: core.OwnerOrg}, imp, "tfe"); err != nil {
			// The admin asked for both; leave neither.
			_ = e.st.DeleteOAuthClient(context.WithoutCancel(ctx), c.ID)
			e.audit(ctx, p, "oauth_client.delete", "oauth_client", c.ID, c.OrgID, "rolled back: token import failed")
			return core.OAuthClient{}, err
		}
	}
	return redactClient(c), nil
}

// UpdateClient changes an OAuth client; its org admins only. Fields left nil keep
// their value; ProjectIDs replaces the whole list (an empty list clears it). An
// OAuthTokenString adds another organization-owned connection.
func (e *Engine) UpdateClient(ctx context.Context, p core.Principal, ref string, in ClientInput) (core.OAuthClient, error) {
	oc, err := e.adminClient(ctx, p, ref)
	if err != nil {
		return core.OAuthClient{}, err
	}
	sealed, err := e.sealInput(in)
	if err != nil {
		return core.OAuthClient{}, err
	}
	// Validate against what we read (for the error the admin sees), then again on
	// the locked row inside the transaction.
	merged, f, err := e.applyClient(oc, in, sealed, false)
	if err != nil {
		return core.OAuthClient{}, err
	}
	if in.ProjectIDs != nil {
		if err := e.checkProjects(ctx, p, oc.OrgID, merged.ProjectIDs); err != nil {
			return core.OAuthClient{}, err
		}
	}
	var imp *checkedToken
	if in.OAuthTokenString != nil && strings.TrimSpace(*in.OAuthTokenString) != "" {
		if imp, err = e.checkToken(ctx, f, strings.TrimSpace(*in.OAuthTokenString), "oauth_token_string"); err != nil {
			return core.OAuthClient{}, err
		}
	}
	out, err := e.st.UpdateOAuthClient(ctx, oc.ID, func(cur core.OAuthClient) (core.OAuthClient, error) {
		next, _, err := e.applyClient(cur, in, sealed, false)
		if err != nil {
			return cur, err
		}
		next.UpdatedAt = e.nowUTC()
		return next, nil
	})
	if err != nil {
		return core.OAuthClient{}, takenSlug(err)
	}
	e.audit(ctx, p, "oauth_client.update", "oauth_client", out.ID, out.OrgID, changedFields(in))
	if imp != nil {
		if _, err := e.importChecked(ctx, p, out, owner{kind: core.OwnerOrg}, imp, "tfe"); err != nil {
			return core.OAuthClient{}, err
		}
	}
	return redactClient(out), nil
}

// changedFields names the fields an update set, for the audit trail (never values).
func changedFields(in ClientInput) string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"name", in.Name != nil}, {"kind", in.Kind != nil}, {"http_url", in.HTTPURL != nil}, {"api_url", in.APIURL != nil},
		{"key", in.Key != nil}, {"secret", in.Secret != nil}, {"rsa_public_key", in.RSAPublicKey != nil},
		{"private_key", in.PrivateKey != nil}, {"scopes", in.Scopes != nil}, {"organization_scoped", in.OrganizationScoped != nil},
		{"projects", in.ProjectIDs != nil}, {"device_flow", in.DeviceFlowDisabled != nil}, {"slug", in.Slug != nil},
		{"agent_pool", in.AgentPoolID != nil}, {"oauth_token_string", in.OAuthTokenString != nil},
	} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return "fields=" + strings.Join(names, ",")
}

// SetDeviceFlow turns the client's device flow on or off; org admins only.
func (e *Engine) SetDeviceFlow(ctx context.Context, p core.Principal, ref string, enabled bool) (core.OAuthClient, error) {
	disabled := !enabled
	return e.UpdateClient(ctx, p, ref, ClientInput{DeviceFlowDisabled: &disabled})
}

// AttachProjects adds projects of the client's organization to its list; org admins
// only.
func (e *Engine) AttachProjects(ctx context.Context, p core.Principal, ref string, projectIDs []string) (core.OAuthClient, error) {
	return e.changeProjects(ctx, p, ref, projectIDs, true)
}

// DetachProjects removes projects from the client's list; org admins only. Projects
// not on the list are ignored.
func (e *Engine) DetachProjects(ctx context.Context, p core.Principal, ref string, projectIDs []string) (core.OAuthClient, error) {
	return e.changeProjects(ctx, p, ref, projectIDs, false)
}

func (e *Engine) changeProjects(ctx context.Context, p core.Principal, ref string, ids []string, attach bool) (core.OAuthClient, error) {
	oc, err := e.adminClient(ctx, p, ref)
	if err != nil {
		return core.OAuthClient{}, err
	}
	if len(ids) == 0 {
		return core.OAuthClient{}, core.Missing("projects")
	}
	if attach {
		if err := e.checkProjects(ctx, p, oc.OrgID, ids); err != nil {
			return core.OAuthClient{}, err
		}
	}
	out, err := e.st.UpdateOAuthClient(ctx, oc.ID, func(cur core.OAuthClient) (core.OAuthClient, error) {
		if attach {
			cur.ProjectIDs = append(cur.ProjectIDs, ids...)
		} else {
			cur.ProjectIDs = slices.DeleteFunc(cur.ProjectIDs, func(id string) bool { return slices.Contains(ids, id) })
		}
		slices.Sort(cur.ProjectIDs)
		cur.ProjectIDs = slices.Compact(cur.ProjectIDs)
		cur.UpdatedAt = e.nowUTC()
		return cur, nil
	})
	if err != nil {
		return core.OAuthClient{}, err
	}
	action := "oauth_client.detach_projects"
	if attach {
		action = "oauth_client.attach_projects"
	}
	e.audit(ctx, p, action, "oauth_client", oc.ID, oc.OrgID, "projects="+strings.Join(ids, ","))
	return redactClient(out), nil
}

// DeleteClient deletes an OAuth client and every connection made through it; org
// admins only. Tokens are not revoked at the provider: deleting the OAuth app there
// is the admin's next step, and revokes them all at once.
func (e *Engine) DeleteClient(ctx context.Context, p core.Principal, ref string) error {
	oc, err := e.adminClient(ctx, p, ref)
	if err != nil {
		return err
	}
	if err := e.st.DeleteOAuthClient(ctx, oc.ID); err != nil {
		return err
	}
	e.audit(ctx, p, "oauth_client.delete", "oauth_client", oc.ID, oc.OrgID, "kind="+string(oc.Kind))
	return nil
}

// Client returns an OAuth client by id or slug to a member of its organization.
func (e *Engine) Client(ctx context.Context, p core.Principal, ref string) (core.OAuthClient, error) {
	oc, _, err := e.visibleClient(ctx, p, ref)
	if err != nil {
		return core.OAuthClient{}, err
	}
	return redactClient(oc), nil
}

// ListClients lists the OAuth clients of the organization named orgName to its
// members, oldest first.
func (e *Engine) ListClients(ctx context.Context, p core.Principal, orgName string, page store.Page) ([]core.OAuthClient, int, error) {
	org, _, err := e.id.Org(ctx, p, orgName)
	if err != nil {
		return nil, 0, err
	}
	cs, n, err := e.st.ListOAuthClients(ctx, store.OAuthClientFilter{OrgID: org.ID}, page)
	for i := range cs {
		cs[i] = redactClient(cs[i])
	}
	return cs, n, err
}

// UsableClients lists the clients p may link through: organization-scoped clients of
// p's organizations, and clients listing a project of theirs (the Coder dialect's
// providers).
func (e *Engine) UsableClients(ctx context.Context, p core.Principal) ([]core.OAuthClient, error) {
	if !p.Allows(core.ScopeReadAPI) && !p.Allows(core.ScopeConnections) {
		return nil, core.ErrForbidden
	}
	cs, _, err := e.st.ListOAuthClients(ctx, store.OAuthClientFilter{AvailableToUser: p.User.ID}, store.Page{})
	for i := range cs {
		cs[i] = redactClient(cs[i])
	}
	return cs, err
}

// UsableClient is UsableClients' member named by id or slug; others are
// core.ErrNotFound.
func (e *Engine) UsableClient(ctx context.Context, p core.Principal, ref string) (core.OAuthClient, error) {
	oc, _, err := e.usableClient(ctx, p, ref)
	if err != nil {
		return core.OAuthClient{}, err
	}
	return redactClient(oc), nil
}

func (e *Engine) usableClient(ctx context.Context, p core.Principal, ref string) (core.OAuthClient, core.Role, error) {
	oc, err := e.clientByRef(ctx, ref)
	if err != nil {
		return core.OAuthClient{}, "", err
	}
	role, err := e.id.Role(ctx, oc.OrgID, p.User.ID)
	if err != nil {
		return core.OAuthClient{}, "", err
	}
	// Projects belong to the client's organization and people reach them through
	// its membership: every member may use a client that serves any project.
	if !role.Valid() || (!oc.OrganizationScoped && len(oc.ProjectIDs) == 0) {
		return core.OAuthClient{}, "", core.ErrNotFound
	}
	return oc, role, nil
}

// ProjectClients lists the clients a project may use: organization-scoped clients of
// its organization and clients that list it, to members of that organization.
func (e *Engine) ProjectClients(ctx context.Context, p core.Principal, projectID string) ([]core.OAuthClient, error) {
	if _, _, err := e.id.Project(ctx, p, projectID); err != nil {
		return nil, err
	}
	cs, _, err := e.st.ListOAuthClients(ctx, store.OAuthClientFilter{AvailableToProject: projectID}, store.Page{})
	for i := range cs {
		cs[i] = redactClient(cs[i])
	}
	return cs, err
}

// ProjectClientOfKind is the first (oldest) client of one of kinds that the project
// may use, which is how the ServiceStage dialect picks a client for a repo_type.
func (e *Engine) ProjectClientOfKind(ctx context.Context, p core.Principal, projectID string, kinds ...core.ProviderKind) (core.OAuthClient, error) {
	cs, err := e.ProjectClients(ctx, p, projectID)
	if err != nil {
		return core.OAuthClient{}, err
	}
	for _, c := range cs {
		if slices.Contains(kinds, c.Kind) {
			return c, nil
		}
	}
	return core.OAuthClient{}, fmt.Errorf("connect: no OAuth client of kind %v for project %s: %w", kinds, projectID, core.ErrNotFound)
}

// ClientInfo is what a client's provider can do, for the dialects that show it.
type ClientInfo struct {
	DisplayName   string
	Icon          string
	Device        bool // the device flow is available (the provider has one and the client allows it)
	Refresh       bool
	Revoke        bool
	Validate      bool
	PKCE          bool
	PasswordAuth  bool
	BrowserFlow   bool
	GitUsername   string // the user name git is given with a token ("" when it is the token or the login)
	CallbackURL   string
	ConnectPath   string
	LinkURL       string
	ProviderID    string
	DefaultScopes []string
}

// Describe says what oc's provider can do.
func (e *Engine) Describe(oc core.OAuthClient) (ClientInfo, error) {
	f, err := e.clientForge(oc)
	if err != nil {
		return ClientInfo{}, err
	}
	_, browser := f.(forge.BrowserFlow)
	_, device := f.(forge.DeviceFlow)
	_, refresh := f.(forge.Refresher)
	_, revoke := f.(forge.Revoker)
	_, validate := f.(forge.Validator)
	_, password := f.(forge.PasswordAuth)
	user, _ := f.GitCredential("", "\x00")
	if user == "\x00" {
		user = ""
	}
	return ClientInfo{DisplayName: f.DisplayName(), Icon: f.Icon(), Device: device && !oc.DeviceFlowDisabled,
		Refresh: refresh, Revoke: revoke, Validate: validate, PKCE: f.SupportsPKCE(), PasswordAuth: password,
		BrowserFlow: browser, GitUsername: user, CallbackURL: e.CallbackURL(oc), ConnectPath: e.ConnectPath(oc),
		LinkURL: e.LinkURL(ProviderID(oc)), ProviderID: ProviderID(oc), DefaultScopes: f.DefaultScopes()}, nil
}
