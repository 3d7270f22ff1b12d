package connect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Target names what a new connection is made through and for whom.
type Target struct {
	// OAuthClient is the client's id ("oc-…") or slug.
	OAuthClient string
	// OwnerKind is core.OwnerUser (the caller; also when empty), core.OwnerOrg (the
	// client's organization; its admins only) or core.OwnerProject (ProjectID, under
	// Name, unique in the project; members of the project's organization).
	OwnerKind core.OwnerKind
	ProjectID string
	Name      string
	// OrgID, when set, is the organization the caller acts for (TFE's connect-path
	// names it): a client of another organization is then not found.
	OrgID string
}

type owner struct {
	kind      core.OwnerKind
	projectID string
	name      string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func validateName(name string) error {
	if name == "" {
		return core.Missing("name")
	}
	if !nameRE.MatchString(name) {
		return core.Invalid("name", "must be 1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

func redactConn(c core.Connection) core.Connection {
	c.AccessToken, c.RefreshToken, c.SSHKey = redact(c.AccessToken), redact(c.RefreshToken), redact(c.SSHKey)
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	return c
}

func redactConns(cs []core.Connection) []core.Connection {
	for i := range cs {
		cs[i] = redactConn(cs[i])
	}
	return cs
}

// authorizeTarget resolves t's client and checks that p may make that connection.
// needName is false while a flow starts without the name it will be saved under
// (ServiceStage names its authorization only when it completes).
func (e *Engine) authorizeTarget(ctx context.Context, p core.Principal, t Target, needName bool) (core.OAuthClient, owner, error) {
	o := owner{kind: t.OwnerKind, projectID: t.ProjectID, name: strings.TrimSpace(t.Name)}
	if o.kind == "" {
		o.kind = core.OwnerUser
	}
	oc, err := e.clientByRef(ctx, t.OAuthClient)
	if err != nil {
		return core.OAuthClient{}, o, err
	}
	if t.OrgID != "" && t.OrgID != oc.OrgID {
		return core.OAuthClient{}, o, fmt.Errorf("connect: client %s is not organization %s's: %w", oc.ID, t.OrgID, core.ErrNotFound)
	}
	role, err := e.id.Role(ctx, oc.OrgID, p.User.ID)
	if err != nil {
		return core.OAuthClient{}, o, err
	}
	switch o.kind {
	case core.OwnerUser:
		if !role.Valid() || (!oc.OrganizationScoped && len(oc.ProjectIDs) == 0) {
			return core.OAuthClient{}, o, core.ErrNotFound
		}
		if !p.Allows(core.ScopeConnections) {
			return core.OAuthClient{}, o, core.ErrForbidden
		}
		o.projectID, o.name = "", ""
	case core.OwnerOrg:
		if !core.CanSeeOrg(p, role) {
			return core.OAuthClient{}, o, core.ErrNotFound
		}
		if !core.CanAdminOrg(p, role) {
			return core.OAuthClient{}, o, core.ErrForbidden
		}
		o.projectID, o.name = "", ""
	case core.OwnerProject:
		if o.projectID == "" {
			return core.OAuthClient{}, o, core.Missing("project_id")
		}
		prj, _, err := e.id.Project(ctx, p, o.projectID)
		if err != nil {
			return core.OAuthClient{}, o, err
		}
		if prj.OrgID != oc.OrgID || (!oc.OrganizationScoped && !slices.Contains(oc.ProjectIDs, prj.ID)) {
			return core.OAuthClient{}, o, fmt.Errorf("connect: oauth client %s does not serve project %s: %w", oc.ID, prj.ID, core.ErrNotFound)
		}
		if !p.Allows(core.ScopeConnections) {
			return core.OAuthClient{}, o, core.ErrForbidden
		}
		if needName || o.name != "" {
			if err := validateName(o.name); err != nil {
				return core.OAuthClient{}, o, err
			}
			if err := e.nameFree(ctx, prj.ID, o.name); err != nil {
				return core.OAuthClient{}, o, err
			}
		}
	default:
		return core.OAuthClient{}, o, core.Invalid("owner_kind", "must be user, organization or project")
	}
	return oc, o, nil
}

func (e *Engine) nameFree(ctx context.Context, projectID, name string) error {
	_, n, err := e.st.ListConnections(ctx, store.ConnectionFilter{OwnerProjectID: projectID, Name: name}, store.Page{Number: 1, Size: 1})
	if err != nil {
		return err
	}
	if n > 0 {
		return nameTaken(name)
	}
	return nil
}

func nameTaken(name string) error {
	return &core.ValidationError{Field: "name", Code: "taken", Message: fmt.Sprintf("the project has a connection named %q", name)}
}

// checkedToken is a token the provider accepted, with whom it belongs to.
type checkedToken struct {
	token string
	ident *forge.Identity
}

// checkToken asks the provider about a token someone hands us. A refusal is a
// *core.ValidationError on field; a provider that cannot answer is a
// *ProviderError. Either way nothing is stored.
func (e *Engine) checkToken(ctx context.Context, f forge.Forge, token, field string) (*checkedToken, error) {
	if err := checkTokenShape(field, token); err != nil {
		return nil, err
	}
	pctx, cancel := e.providerCtx(ctx)
	defer cancel()
	refused := &core.ValidationError{Field: field, Code: "invalid", Message: "the provider refused the token"}
	// A user lookup proves the token works and says whose it is in one call.
	if ul, ok := f.(forge.UserLookup); ok {
		ident, err := ul.User(pctx, e.httpClient(), token)
		if errors.Is(err, forge.ErrTokenInvalid) {
			return nil, refused
		}
		if err != nil {
			return nil, &ProviderError{Op: "token validation", Err: err}
		}
		return &checkedToken{token: token, ident: ident}, nil
	}
	if v, ok := f.(forge.Validator); ok {
		err := v.Validate(pctx, e.httpClient(), token)
		if errors.Is(err, forge.ErrTokenInvalid) {
			return nil, refused
		}
		if err != nil {
			return nil, &ProviderError{Op: "token validation", Err: err}
		}
	}
	return &checkedToken{token: token}, nil
}

func (e *Engine) importChecked(ctx context.Context, p core.Principal, oc core.OAuthClient, o owner, imp *checkedToken, origin string) (core.Connection, error) {
	c, _, err := e.saveLink(ctx, p, oc, o, linkInput{cred: core.CredentialPersonal, access: imp.token,
		tokenType: "bearer", scopes: []string{}, ident: imp.ident}, origin)
	return c, err
}

// ImportToken makes a connection from a token the caller already has (a personal
// access token, or an OAuth token from elsewhere). The provider must accept it first:
// a refused token is a *core.ValidationError on "token" and nothing is stored. The
// caller's own connection through the client is replaced, not duplicated.
func (e *Engine) ImportToken(ctx context.Context, p core.Principal, t Target, token string) (core.Connection, error) {
	oc, o, err := e.authorizeTarget(ctx, p, t, true)
	if err != nil {
		return core.Connection{}, err
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return core.Connection{}, err
	}
	imp, err := e.checkToken(ctx, f, strings.TrimSpace(token), "token")
	if err != nil {
		return core.Connection{}, err
	}
	c, err := e.importChecked(ctx, p, oc, o, imp, "")
	return redactConn(c), err
}

// LinkPassword makes a connection from a username and password (or an app password,
// HTTP access token …) where the provider takes them (forge.PasswordAuth); it is
// stored as a basic credential. A pair the provider refuses is a
// *core.ValidationError on "password".
func (e *Engine) LinkPassword(ctx context.Context, p core.Principal, t Target, username, password string) (core.Connection, error) {
	oc, o, err := e.authorizeTarget(ctx, p, t, true)
	if err != nil {
		return core.Connection{}, err
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return core.Connection{}, err
	}
	pa, ok := f.(forge.PasswordAuth)
	if !ok {
		return core.Connection{}, &core.ValidationError{Field: "password", Code: "unsupported",
			Message: f.DisplayName() + " does not take a username and password for git"}
	}
	username = strings.TrimSpace(username)
	switch {
	case username == "":
		return core.Connection{}, core.Missing("username")
	case password == "":
		return core.Connection{}, core.Missing("password")
	case oneLine("username", username, 255) != nil || strings.Contains(username, ":"):
		return core.Connection{}, core.Invalid("username", "must be one line without ':'")
	case len(password) > 4096 || strings.ContainsAny(password, "\x00\r\n"):
		return core.Connection{}, core.Invalid("password", "must be one line of at most 4096 characters")
	}
	pctx, cancel := e.providerCtx(ctx)
	ident, err := pa.PasswordUser(pctx, e.httpClient(), username, password)
	cancel()
	if errors.Is(err, forge.ErrTokenInvalid) {
		return core.Connection{}, &core.ValidationError{Field: "password", Code: "invalid", Message: "the provider refused the username and password"}
	}
	if err != nil {
		return core.Connection{}, &ProviderError{Op: "password check", Err: err}
	}
	c, _, err := e.saveLink(ctx, p, oc, o, linkInput{cred: core.CredentialPassword, username: username,
		access: password, tokenType: "basic", scopes: []string{}, ident: ident}, "")
	return redactConn(c), err
}

// linkInput is what a completed flow or an import saves.
type linkInput struct {
	cred      core.CredentialKind
	username  string
	access    string
	refresh   string
	tokenType string
	scopes    []string
	expiresAt time.Time
	ident     *forge.Identity
}

// saveLink stores a new connection, or renews the one it replaces: the caller's own
// connection through the client (a person relinking), or the organization's
// connection to the same upstream account. A project's connections are named and
// never replaced: a taken name is a *core.ValidationError. In-process credential
// waiters are woken.
func (e *Engine) saveLink(ctx context.Context, p core.Principal, oc core.OAuthClient, o owner, in linkInput, origin string) (core.Connection, bool, error) {
	access, err := e.keys.SealString(in.access)
	if err != nil {
		return core.Connection{}, false, err
	}
	var refresh core.Sealed
	if in.refresh != "" {
		if refresh, err = e.keys.SealString(in.refresh); err != nil {
			return core.Connection{}, false, err
		}
	}
	ident := forge.Identity{}
	if in.ident != nil {
		ident = *in.ident
	}
	now := e.nowUTC()
	fill := func(c core.Connection) core.Connection {
		c.CredentialKind, c.Username = in.cred, in.username
		c.AccessToken, c.RefreshToken, c.TokenType = access, refresh, in.tokenType
		c.Scopes, c.ExpiresAt = in.scopes, in.expiresAt
		c.UpstreamID, c.UpstreamLogin, c.UpstreamName = ident.ID, ident.Login, ident.Name
		c.AvatarURL, c.ProfileURL = ident.AvatarURL, ident.ProfileURL
		c.Health, c.HealthReason, c.LastSuccessAt = core.HealthHealthy, "", now
		// New tokens start a new lineage: a refresh still running on the old ones
		// finds its compare-and-swap lost and discards its answer.
		c.RefreshLeaseOwner, c.RefreshLeaseUntil = "", time.Time{}
		c.UpdatedAt = now
		return c
	}
	var out core.Connection
	var relinked bool
	// A second round only when a person's first link lost a race with another
	// (the store keeps one per person and client): then it renews the winner's.
	for range 2 {
		var existing *core.Connection
		switch o.kind {
		case core.OwnerUser, core.OwnerOrg:
			f := store.ConnectionFilter{OAuthClientID: oc.ID, OwnerKind: o.kind, OwnerUserID: p.User.ID}
			if o.kind == core.OwnerOrg {
				f.OwnerUserID = ""
			}
			cs, _, err := e.st.ListConnections(ctx, f, store.Page{})
			if err != nil {
				return core.Connection{}, false, err
			}
			for i := range cs {
				if o.kind == core.OwnerUser || (ident.ID != "" && cs[i].UpstreamID == ident.ID) {
					existing = &cs[i]
					break
				}
			}
		}
		relinked = existing != nil
		if relinked {
			out, err = e.st.UpdateConnection(ctx, existing.ID, func(c core.Connection) (core.Connection, error) {
				return fill(c), nil
			})
		}
		if !relinked || errors.Is(err, core.ErrNotFound) {
			relinked = false
			id, ierr := e.newID("ot")
			if ierr != nil {
				return core.Connection{}, false, ierr
			}
			out = fill(core.Connection{ID: id, OAuthClientID: oc.ID, OwnerKind: o.kind, OwnerUserID: p.User.ID,
				OwnerOrgID: oc.OrgID, OwnerProjectID: o.projectID, Name: o.name, Version: 1, CreatedAt: now})
			err = e.st.CreateConnection(ctx, out)
			if errors.Is(err, core.ErrConflict) && o.kind == core.OwnerUser {
				continue
			}
			if errors.Is(err, core.ErrConflict) && o.kind == core.OwnerProject {
				err = nameTaken(o.name)
			}
		}
		break
	}
	if err != nil {
		return core.Connection{}, false, err
	}
	action := "connection.create"
	if relinked {
		action = "connection.relink"
	}
	detail := fmt.Sprintf("owner=%s credential=%s oauth_client=%s", o.kind, in.cred, oc.ID)
	if origin != "" {
		detail += " origin=" + origin
	}
	if ident.Login != "" {
		detail += " upstream_login=" + ident.Login
	}
	e.audit(ctx, p, action, "connection", out.ID, oc.OrgID, detail)
	e.links.notify()
	return out, relinked, nil
}

// canSee: the owner of a user-owned connection; members of the organization for the
// others. Everyone else gets core.ErrNotFound.
func (e *Engine) canSee(ctx context.Context, p core.Principal, c core.Connection) error {
	if !p.Allows(core.ScopeReadAPI) && !p.Allows(core.ScopeConnections) {
		return core.ErrNotFound
	}
	if c.OwnerKind == core.OwnerUser {
		if c.OwnerUserID != p.User.ID {
			return core.ErrNotFound
		}
		return nil
	}
	role, err := e.id.Role(ctx, c.OwnerOrgID, p.User.ID)
	if err != nil {
		return err
	}
	if !core.CanSeeOrg(p, role) {
		return core.ErrNotFound
	}
	return nil
}

// canChange: the owner (with scope connections) of a user-owned connection; org
// admins for an organization's; members (with scope connections) for a project's.
func (e *Engine) canChange(ctx context.Context, p core.Principal, c core.Connection) error {
	if err := e.canSee(ctx, p, c); err != nil {
		return err
	}
	if c.OwnerKind == core.OwnerOrg {
		role, err := e.id.Role(ctx, c.OwnerOrgID, p.User.ID)
		if err != nil {
			return err
		}
		if !core.CanAdminOrg(p, role) {
			return core.ErrForbidden
		}
		return nil
	}
	if !p.Allows(core.ScopeConnections) {
		return core.ErrForbidden
	}
	return nil
}

// Connection returns a connection p may see; tokens and keys come back Redacted.
func (e *Engine) Connection(ctx context.Context, p core.Principal, id string) (core.Connection, error) {
	c, err := e.st.Connection(ctx, id)
	if err != nil {
		return core.Connection{}, err
	}
	if err := e.canSee(ctx, p, c); err != nil {
		return core.Connection{}, err
	}
	return redactConn(c), nil
}

// ClientConnections lists the organization-owned connections of a client (the
// Terraform dialect's oauth-tokens), to members of its organization.
func (e *Engine) ClientConnections(ctx context.Context, p core.Principal, ref string) ([]core.Connection, error) {
	oc, _, err := e.visibleClient(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OAuthClientID: oc.ID, OwnerKind: core.OwnerOrg}, store.Page{})
	return redactConns(cs), err
}

// OrgConnections lists the organization-owned connections of every client of the
// organization named orgName, to its members.
func (e *Engine) OrgConnections(ctx context.Context, p core.Principal, orgName string, page store.Page) ([]core.Connection, int, error) {
	org, _, err := e.id.Org(ctx, p, orgName)
	if err != nil {
		return nil, 0, err
	}
	cs, n, err := e.st.ListConnections(ctx, store.ConnectionFilter{OwnerOrgID: org.ID, OwnerKind: core.OwnerOrg}, page)
	return redactConns(cs), n, err
}

// UserConnections lists the caller's own connections (the Coder dialect's links).
func (e *Engine) UserConnections(ctx context.Context, p core.Principal) ([]core.Connection, error) {
	if !p.Allows(core.ScopeReadAPI) && !p.Allows(core.ScopeConnections) {
		return nil, core.ErrForbidden
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OwnerKind: core.OwnerUser, OwnerUserID: p.User.ID}, store.Page{})
	return redactConns(cs), err
}

// UserLink is the caller's own connection through the client named ref (id or
// slug); core.ErrNotFound when there is none or the client is not theirs to use.
func (e *Engine) UserLink(ctx context.Context, p core.Principal, ref string) (core.Connection, error) {
	oc, _, err := e.usableClient(ctx, p, ref)
	if err != nil {
		return core.Connection{}, err
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OAuthClientID: oc.ID, OwnerKind: core.OwnerUser, OwnerUserID: p.User.ID}, store.Page{Number: 1, Size: 1})
	if err != nil {
		return core.Connection{}, err
	}
	if len(cs) == 0 {
		return core.Connection{}, fmt.Errorf("connect: no link through %s: %w", oc.ID, core.ErrNotFound)
	}
	return redactConn(cs[0]), nil
}

// ProjectConnections lists a project's connections to members of its organization.
func (e *Engine) ProjectConnections(ctx context.Context, p core.Principal, projectID string) ([]core.Connection, error) {
	if _, _, err := e.id.Project(ctx, p, projectID); err != nil {
		return nil, err
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OwnerKind: core.OwnerProject, OwnerProjectID: projectID}, store.Page{})
	return redactConns(cs), err
}

// ProjectConnection is a project's connection by name.
func (e *Engine) ProjectConnection(ctx context.Context, p core.Principal, projectID, name string) (core.Connection, error) {
	if _, _, err := e.id.Project(ctx, p, projectID); err != nil {
		return core.Connection{}, err
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OwnerKind: core.OwnerProject, OwnerProjectID: projectID, Name: name}, store.Page{})
	if err != nil {
		return core.Connection{}, err
	}
	if len(cs) == 0 {
		return core.Connection{}, fmt.Errorf("connect: project %s has no connection %q: %w", projectID, name, core.ErrNotFound)
	}
	return redactConn(cs[0]), nil
}

// DeleteResult says what became of the token at the provider.
type DeleteResult struct {
	Revoked bool
	// RevocationError says why it was not revoked, when it was not: the provider has
	// no revocation, the token was the person's own (a personal access token is
	// theirs to delete), or the provider failed.
	RevocationError string
}

// DeleteConnection deletes a connection p may change and revokes its tokens at the
// provider where the provider supports that. The connection is gone even when the
// revocation fails: that is reported, not returned as an error.
func (e *Engine) DeleteConnection(ctx context.Context, p core.Principal, id string) (DeleteResult, error) {
	c, err := e.st.Connection(ctx, id)
	if err != nil {
		return DeleteResult{}, err
	}
	if err := e.canChange(ctx, p, c); err != nil {
		return DeleteResult{}, err
	}
	if err := e.st.DeleteConnection(ctx, c.ID); err != nil {
		return DeleteResult{}, err
	}
	e.audit(ctx, p, "connection.delete", "connection", c.ID, c.OwnerOrgID, fmt.Sprintf("owner=%s oauth_client=%s", c.OwnerKind, c.OAuthClientID))
	return e.revoke(context.WithoutCancel(ctx), c), nil
}

// revoke revokes a deleted connection's tokens, best effort.
func (e *Engine) revoke(ctx context.Context, c core.Connection) DeleteResult {
	if c.CredentialKind != core.CredentialOAuth {
		return DeleteResult{RevocationError: "a token or password handed to vcsauth is its owner's to revoke at the provider"}
	}
	oc, err := e.st.OAuthClient(ctx, c.OAuthClientID)
	if err != nil {
		return DeleteResult{RevocationError: "the OAuth client is gone"}
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return DeleteResult{RevocationError: err.Error()}
	}
	r, ok := f.(forge.Revoker)
	if !ok {
		return DeleteResult{RevocationError: f.DisplayName() + " offers no token revocation"}
	}
	cl, err := e.forgeClient(oc)
	if err != nil {
		return DeleteResult{RevocationError: "the OAuth client's secret cannot be read"}
	}
	for _, s := range []core.Sealed{c.AccessToken, c.RefreshToken} {
		if s == "" {
			continue
		}
		tok, err := e.keys.OpenString(s)
		if err != nil {
			return DeleteResult{RevocationError: "the stored token cannot be read"}
		}
		pctx, cancel := e.providerCtx(ctx)
		err = r.Revoke(pctx, e.httpClient(), cl, tok)
		cancel()
		if err != nil {
			e.log.WarnContext(ctx, "token revocation failed", "connection", c.ID, "err", err)
			return DeleteResult{RevocationError: err.Error()}
		}
	}
	return DeleteResult{Revoked: true}
}

// SetSSHKey stores (sealed) or, with "", removes the connection's SSH private key.
func (e *Engine) SetSSHKey(ctx context.Context, p core.Principal, id, key string) (core.Connection, error) {
	c, err := e.st.Connection(ctx, id)
	if err != nil {
		return core.Connection{}, err
	}
	if err := e.canChange(ctx, p, c); err != nil {
		return core.Connection{}, err
	}
	key = strings.TrimSpace(key)
	var sealed core.Sealed
	if key != "" {
		if len(key) > 16<<10 || !strings.HasPrefix(key, "-----BEGIN ") || !strings.Contains(key, "PRIVATE KEY-----") {
			return core.Connection{}, core.Invalid("ssh_key", "must be a PEM or OpenSSH private key of at most 16 KiB")
		}
		if sealed, err = e.keys.SealString(key + "\n"); err != nil {
			return core.Connection{}, err
		}
	}
	out, err := e.st.UpdateConnection(ctx, c.ID, func(cur core.Connection) (core.Connection, error) {
		cur.SSHKey, cur.UpdatedAt = sealed, e.nowUTC()
		return cur, nil
	})
	if err != nil {
		return core.Connection{}, err
	}
	action := "connection.ssh_key.set"
	if key == "" {
		action = "connection.ssh_key.remove"
	}
	e.audit(ctx, p, action, "connection", c.ID, c.OwnerOrgID, "")
	return redactConn(out), nil
}

// Validate asks the provider whether the connection's credential still works, and
// records the answer: healthy (LastSuccessAt), revoked (the provider says the token
// is dead and there is nothing to refresh it with) or needs_reauth (the refresh was
// refused too). An expired token is refreshed first. When the provider cannot be
// asked, the health is left as it was and a *ProviderError comes back with the
// connection.
func (e *Engine) Validate(ctx context.Context, p core.Principal, id string) (core.Connection, error) {
	c, err := e.st.Connection(ctx, id)
	if err != nil {
		return core.Connection{}, err
	}
	if err := e.canSee(ctx, p, c); err != nil {
		return core.Connection{}, err
	}
	c, err = e.validate(ctx, c)
	return redactConn(c), err
}

func (e *Engine) validate(ctx context.Context, c core.Connection) (core.Connection, error) {
	if dead(c.Health) {
		return c, nil // nothing but a new link helps
	}
	if e.needsRefresh(c, e.nowUTC()) {
		r, err := e.refresh(ctx, c.ID, false)
		var re *RefreshError
		if errors.As(err, &re) {
			return r, nil // the verdict is recorded on the connection
		}
		if err != nil {
			return c, err
		}
		c = r
	}
	oc, err := e.st.OAuthClient(ctx, c.OAuthClientID)
	if err != nil {
		return c, err
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return c, err
	}
	secretText, err := e.keys.OpenString(c.AccessToken)
	if err != nil {
		return c, fmt.Errorf("connect: connection %s: token: %w", c.ID, err)
	}
	pctx, cancel := e.providerCtx(ctx)
	defer cancel()
	switch {
	case c.CredentialKind == core.CredentialPassword:
		if pa, ok := f.(forge.PasswordAuth); ok {
			_, err = pa.PasswordUser(pctx, e.httpClient(), c.Username, secretText)
		}
	default:
		if v, ok := f.(forge.Validator); ok {
			err = v.Validate(pctx, e.httpClient(), secretText)
		} else if ul, ok := f.(forge.UserLookup); ok {
			_, err = ul.User(pctx, e.httpClient(), secretText)
		}
	}
	switch {
	case err == nil:
		return e.markHealth(ctx, c, core.HealthHealthy, "")
	case errors.Is(err, forge.ErrTokenInvalid):
		if c.CredentialKind == core.CredentialOAuth && c.RefreshToken != "" {
			// Perhaps only the access token died: a refresh decides.
			r, rerr := e.refresh(ctx, c.ID, true)
			var re *RefreshError
			if rerr == nil || errors.As(rerr, &re) {
				return r, nil
			}
			return c, rerr
		}
		reason := "the provider refused the token"
		if c.CredentialKind == core.CredentialPassword {
			reason = "the provider refused the username and password"
		}
		return e.markHealth(ctx, c, core.HealthRevoked, reason)
	}
	return c, &ProviderError{Op: "validation", Err: err}
}

// markHealth records a validation verdict, unless the connection got other tokens
// since they were read (a refresh or a relink), about which the verdict says nothing.
func (e *Engine) markHealth(ctx context.Context, c core.Connection, h core.Health, reason string) (core.Connection, error) {
	now := e.nowUTC()
	out, err := e.st.UpdateConnection(ctx, c.ID, func(cur core.Connection) (core.Connection, error) {
		if cur.AccessToken != c.AccessToken {
			return cur, core.ErrStale
		}
		cur.Health, cur.HealthReason = h, reason
		if h == core.HealthHealthy {
			cur.LastSuccessAt = now
		}
		cur.UpdatedAt = now
		return cur, nil
	})
	if errors.Is(err, core.ErrStale) {
		return e.st.Connection(ctx, c.ID)
	}
	return out, err
}
