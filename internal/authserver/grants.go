package authserver

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store"
)

// GrantInfo is a grant with its application, as the GitHub dialect shows it.
type GrantInfo struct {
	core.Grant
	Application core.Application
}

// Scope rules of the grant and token methods, the same in every dialect: reading
// one's grants needs read_user (implied by read_api and api); changing them needs api.

// ListGrants lists the principal's own grants with their applications and scopes.
func (e *Engine) ListGrants(ctx context.Context, p core.Principal, page store.Page) ([]GrantInfo, int, error) {
	if !p.Allows(core.ScopeReadUser) {
		return nil, 0, core.ErrForbidden
	}
	gs, total, err := e.st.ListGrants(ctx, p.User.ID, e.nowUTC(), page)
	if err != nil {
		return nil, 0, err
	}
	apps := map[int64]core.Application{}
	out := make([]GrantInfo, 0, len(gs))
	for _, g := range gs {
		a, ok := apps[g.ApplicationID]
		if !ok {
			if a, err = e.st.Application(ctx, g.ApplicationID); err != nil {
				return nil, 0, err
			}
			apps[g.ApplicationID] = a
		}
		out = append(out, GrantInfo{Grant: g, Application: a})
	}
	return out, total, nil
}

// Grant returns one of the principal's grants; anyone else's is ErrNotFound.
func (e *Engine) Grant(ctx context.Context, p core.Principal, id int64) (GrantInfo, error) {
	if !p.Allows(core.ScopeReadUser) {
		return GrantInfo{}, core.ErrForbidden
	}
	return e.ownGrant(ctx, p, id)
}

func (e *Engine) ownGrant(ctx context.Context, p core.Principal, id int64) (GrantInfo, error) {
	g, err := e.st.Grant(ctx, id, e.nowUTC())
	if err != nil {
		return GrantInfo{}, err
	}
	if g.UserID != p.User.ID {
		return GrantInfo{}, core.ErrNotFound
	}
	a, err := e.st.Application(ctx, g.ApplicationID)
	if err != nil {
		return GrantInfo{}, err
	}
	return GrantInfo{Grant: g, Application: a}, nil
}

// DeleteGrant deletes one of the principal's grants and, with it, every token the
// application holds for them.
func (e *Engine) DeleteGrant(ctx context.Context, p core.Principal, id int64) error {
	gi, err := e.ownGrant(ctx, p, id)
	if err != nil {
		return err
	}
	if !p.Allows(core.ScopeAPI) {
		return core.ErrForbidden
	}
	if err := e.st.DeleteGrant(ctx, id); err != nil {
		return err
	}
	e.id.Audit(ctx, &p, "grant.delete", "grant", strconv.FormatInt(id, 10), "", "client_id="+gi.Application.ClientID)
	return nil
}

// IssueToken issues an access token for (the principal's user, app) outside any
// OAuth flow, as GitHub's "create an authorization" does: app must already be
// authenticated by the caller (AuthenticateClient with its client_id and secret).
// The token has the scopes asked for, which must lie within the application's (and
// within the principal's own when it is a token); it expires at in.ExpiresAt, or
// never, and has no refresh token. A fingerprint is unique per (user, application).
func (e *Engine) IssueToken(ctx context.Context, p core.Principal, app core.Application, in identity.NewToken) (string, core.Token, error) {
	if !p.Allows(core.ScopeAPI) {
		return "", core.Token{}, core.ErrForbidden
	}
	now := e.nowUTC()
	in, err := identity.ValidateTokenInput(in, now)
	if err != nil {
		return "", core.Token{}, err
	}
	if !core.ScopesSubset(app.Scopes, in.Scopes) {
		return "", core.Token{}, &core.ValidationError{Field: "scopes", Code: "invalid", Message: "the application may not hold these scopes"}
	}
	if p.Method == core.AuthToken && !core.ScopesSubset(p.Scopes, in.Scopes) {
		return "", core.Token{}, &core.ValidationError{Field: "scopes", Code: "invalid", Message: "a token cannot create a token with more scopes than its own"}
	}
	grantID, err := e.st.EnsureGrant(ctx, p.User.ID, app.ID, now)
	if err != nil {
		return "", core.Token{}, err
	}
	family, err := e.newFamilyID()
	if err != nil {
		return "", core.Token{}, err
	}
	text, t, err := e.id.Mint(ctx, core.Token{Kind: core.TokenAccess, UserID: p.User.ID, ApplicationID: app.ID, GrantID: grantID,
		Scopes: in.Scopes, Note: in.Note, NoteURL: in.NoteURL, Fingerprint: in.Fingerprint, FamilyID: family, ExpiresAt: in.ExpiresAt})
	if err != nil {
		return "", core.Token{}, err
	}
	e.id.Audit(ctx, &p, "token.create", "token", strconv.FormatInt(t.ID, 10), "",
		fmt.Sprintf("kind=access client_id=%s scopes=%s", app.ClientID, strings.Join(t.Scopes, ",")))
	return text, t, nil
}

// AppToken returns the principal's newest live access token for app with exactly
// this fingerprint ("" for none), as GitHub's get-or-create-for-app needs; its text
// cannot be had again, only its record. ErrNotFound when there is none.
func (e *Engine) AppToken(ctx context.Context, p core.Principal, app core.Application, fingerprint string) (core.Token, error) {
	if !p.Allows(core.ScopeReadUser) {
		return core.Token{}, core.ErrForbidden
	}
	toks, _, err := e.st.ListTokens(ctx, store.TokenFilter{UserID: p.User.ID, ApplicationID: app.ID,
		Kinds: []core.TokenKind{core.TokenAccess}, Fingerprint: fingerprint, LiveAt: e.nowUTC()}, store.Page{})
	if err != nil {
		return core.Token{}, err
	}
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].Fingerprint == fingerprint {
			return toks[i], nil
		}
	}
	return core.Token{}, core.ErrNotFound
}

// RevokeToken revokes one of the principal's tokens by id (any of anyone's, for site
// administrators). A refresh token takes its family with it.
func (e *Engine) RevokeToken(ctx context.Context, p core.Principal, id int64) error {
	t, err := e.st.Token(ctx, id)
	if err != nil {
		return err
	}
	if t.UserID != p.User.ID && !core.CanAdminSite(p) {
		return core.ErrNotFound
	}
	if !p.Allows(core.ScopeAPI) {
		return core.ErrForbidden
	}
	if t.Kind == core.TokenRefresh && t.FamilyID != "" && t.ApplicationID != 0 {
		n, err := e.revokeFamily(ctx, t.UserID, t.ApplicationID, t.FamilyID)
		if err != nil {
			return internal("revoke family", err)
		}
		e.id.Audit(ctx, &p, "token.revoke", "token", strconv.FormatInt(id, 10), "", fmt.Sprintf("kind=refresh family=%s revoked=%d", t.FamilyID, n))
		return nil
	}
	if err := e.revokeOne(ctx, id); err != nil {
		return err
	}
	e.id.Audit(ctx, &p, "token.revoke", "token", strconv.FormatInt(id, 10), "", "kind="+string(t.Kind))
	return nil
}
