package authserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Authorizations are GitHub's word for the tokens a person holds: their personal
// tokens and the access tokens applications hold for them (refresh and session
// tokens are not shown; a refresh token belongs to the access token of its family).
// The rules here are the same whatever dialect calls them:
//
//   - Everyone sees and changes only their own authorizations; anyone else's, and
//     a revoked or expired one, is ErrNotFound.
//   - Reading needs read_user (as reading grants does); deleting needs api.
//   - Creating and changing one needs the person themselves, signed in with their
//     password (ErrPasswordRequired): a token must not mint tokens or widen scopes
//     through here, as GitHub's API refused tokens too.
//   - An application's token needs the application's client_id and client_secret,
//     and stays within the application's scopes.

// ErrPasswordRequired is returned when a token (rather than a password) tries to
// create or change an authorization. It wraps core.ErrForbidden.
var ErrPasswordRequired = fmt.Errorf("%w: creating or changing authorizations needs the username and password, not a token", core.ErrForbidden)

// AuthorizationInfo is a token with its application (the zero Application, ID 0,
// for a personal token): one "authorization" as GitHub's dialect shows it.
type AuthorizationInfo struct {
	core.Token
	Application core.Application
}

// NewAuthorization is the input of CreateAuthorization and GetOrCreateAuthorization.
type NewAuthorization struct {
	// ClientID and ClientSecret name a confidential application and prove the
	// caller has its secret; both empty for a personal token.
	ClientID     string
	ClientSecret string
	Scopes       []string
	// Note is required for a personal token: it names the token.
	Note        string
	NoteURL     string
	Fingerprint string
}

// AuthorizationUpdate is the input of EditAuthorization. A nil field is left as it
// is; at most one of Scopes, AddScopes and RemoveScopes may be given (non-nil).
type AuthorizationUpdate struct {
	Scopes       []string
	AddScopes    []string
	RemoveScopes []string
	Note         *string
	NoteURL      *string
	Fingerprint  *string
}

// authorizationKinds are the token kinds that are authorizations.
var authorizationKinds = []core.TokenKind{core.TokenPersonal, core.TokenAccess}

func requirePassword(p core.Principal) error {
	if p.Method != core.AuthPassword && p.Method != core.AuthSession {
		return ErrPasswordRequired
	}
	return nil
}

// badClient is the one answer to every client_id/client_secret failure, so the
// caller learns nothing about which half was wrong.
func badClient() error {
	return &core.ValidationError{Field: "client_secret", Code: "invalid",
		Message: "client_id and client_secret do not identify a confidential application"}
}

// authorizationClient authenticates the application of a new authorization. Both
// empty means a personal token (ok false). Public applications have no secret to
// present, so they cannot be named here.
func (e *Engine) authorizationClient(ctx context.Context, clientID, secret string) (core.Application, bool, error) {
	switch {
	case clientID == "" && secret == "":
		return core.Application{}, false, nil
	case clientID == "":
		return core.Application{}, false, core.Missing("client_id")
	case secret == "":
		return core.Application{}, false, core.Missing("client_secret")
	}
	app, err := e.AuthenticateClient(ctx, ClientCredentials{ClientID: clientID, Secret: secret})
	var oe *Error
	switch {
	case errors.As(err, &oe):
		return core.Application{}, false, badClient()
	case err != nil:
		return core.Application{}, false, err
	case !app.Confidential:
		return core.Application{}, false, badClient()
	}
	return app, true, nil
}

// CreateAuthorization creates a token for the principal: an access token of the
// application in.ClientID names (with its secret), or a personal token named by
// in.Note. It returns the token's text: the only time anyone sees it.
func (e *Engine) CreateAuthorization(ctx context.Context, p core.Principal, in NewAuthorization) (string, AuthorizationInfo, error) {
	if err := requirePassword(p); err != nil {
		return "", AuthorizationInfo{}, err
	}
	app, ok, err := e.authorizationClient(ctx, in.ClientID, in.ClientSecret)
	if err != nil {
		return "", AuthorizationInfo{}, err
	}
	// CreatePersonalToken and IssueToken validate the rest.
	nt := identity.NewToken{Note: in.Note, NoteURL: in.NoteURL, Scopes: in.Scopes, Fingerprint: in.Fingerprint}
	if !ok {
		if strings.TrimSpace(in.Note) == "" {
			return "", AuthorizationInfo{}, core.Missing("note")
		}
		text, t, err := e.id.CreatePersonalToken(ctx, p, p.User.ID, nt)
		if err != nil {
			return "", AuthorizationInfo{}, err
		}
		return text, AuthorizationInfo{Token: t}, nil
	}
	text, t, err := e.IssueToken(ctx, p, app, nt)
	if err != nil {
		return "", AuthorizationInfo{}, err
	}
	return text, AuthorizationInfo{Token: t, Application: app}, nil
}

// GetOrCreateAuthorization returns the principal's live token of application
// clientID with this fingerprint ("" for none) when there is one (created false,
// and no text: it cannot be had again), or else creates one (created true, with its
// text). fingerprint is the one of the request's path; in.Fingerprint, when given,
// must agree with it. in.ClientSecret is required.
func (e *Engine) GetOrCreateAuthorization(ctx context.Context, p core.Principal, clientID, fingerprint string, in NewAuthorization) (text string, a AuthorizationInfo, created bool, err error) {
	if err := requirePassword(p); err != nil {
		return "", AuthorizationInfo{}, false, err
	}
	switch {
	case fingerprint == "":
		fingerprint = in.Fingerprint
	case in.Fingerprint != "" && in.Fingerprint != fingerprint:
		return "", AuthorizationInfo{}, false, core.Invalid("fingerprint", "differs from the fingerprint in the path")
	}
	if in.ClientID != "" && in.ClientID != clientID {
		return "", AuthorizationInfo{}, false, core.Invalid("client_id", "differs from the client_id in the path")
	}
	// Validated before anything is looked up, so bad input is refused even when a
	// token exists that would be returned as it is.
	nt := identity.NewToken{Note: in.Note, NoteURL: in.NoteURL, Scopes: in.Scopes, Fingerprint: fingerprint}
	if _, err := identity.ValidateTokenInput(nt, e.nowUTC()); err != nil {
		return "", AuthorizationInfo{}, false, err
	}
	app, ok, err := e.authorizationClient(ctx, clientID, in.ClientSecret)
	if err != nil {
		return "", AuthorizationInfo{}, false, err
	}
	if !ok { // no client_id and no secret: there is no personal get-or-create
		return "", AuthorizationInfo{}, false, core.Missing("client_id")
	}
	// Two concurrent calls with one fingerprint: the unique index lets one create,
	// and the other finds its token on the second look.
	for attempt := 0; attempt < 2; attempt++ {
		t, err := e.AppToken(ctx, p, app, fingerprint)
		if err == nil {
			return "", AuthorizationInfo{Token: t, Application: app}, false, nil
		}
		if !errors.Is(err, core.ErrNotFound) {
			return "", AuthorizationInfo{}, false, err
		}
		text, t, err := e.IssueToken(ctx, p, app, nt)
		if v, ok := core.AsValidation(err); ok && v.Field == "fingerprint" && v.Code == "already_exists" && attempt == 0 {
			continue
		}
		if err != nil {
			return "", AuthorizationInfo{}, false, err
		}
		return text, AuthorizationInfo{Token: t, Application: app}, true, nil
	}
	return "", AuthorizationInfo{}, false, internal("get or create authorization", core.ErrConflict)
}

// ListAuthorizations lists the principal's live personal and access tokens, oldest
// first, with their applications.
func (e *Engine) ListAuthorizations(ctx context.Context, p core.Principal, page store.Page) ([]AuthorizationInfo, int, error) {
	if !p.Allows(core.ScopeReadUser) {
		return nil, 0, core.ErrForbidden
	}
	toks, total, err := e.st.ListTokens(ctx, store.TokenFilter{UserID: p.User.ID, Kinds: authorizationKinds, LiveAt: e.nowUTC()}, page)
	if err != nil {
		return nil, 0, err
	}
	apps := map[int64]core.Application{}
	out := make([]AuthorizationInfo, 0, len(toks))
	for _, t := range toks {
		a, err := e.withApplication(ctx, t, apps)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	return out, total, nil
}

// GetAuthorization returns one of the principal's live authorizations.
func (e *Engine) GetAuthorization(ctx context.Context, p core.Principal, id int64) (AuthorizationInfo, error) {
	if !p.Allows(core.ScopeReadUser) {
		return AuthorizationInfo{}, core.ErrForbidden
	}
	return e.ownAuthorization(ctx, p, id)
}

func (e *Engine) ownAuthorization(ctx context.Context, p core.Principal, id int64) (AuthorizationInfo, error) {
	t, err := e.st.Token(ctx, id)
	if err != nil {
		return AuthorizationInfo{}, err
	}
	if t.UserID != p.User.ID || !slices.Contains(authorizationKinds, t.Kind) || !t.Live(e.nowUTC()) {
		return AuthorizationInfo{}, core.ErrNotFound
	}
	return e.withApplication(ctx, t, nil)
}

// withApplication attaches t's application, through cache when it is not nil.
func (e *Engine) withApplication(ctx context.Context, t core.Token, cache map[int64]core.Application) (AuthorizationInfo, error) {
	if t.ApplicationID == 0 {
		return AuthorizationInfo{Token: t}, nil
	}
	if a, ok := cache[t.ApplicationID]; ok {
		return AuthorizationInfo{Token: t, Application: a}, nil
	}
	a, err := e.st.Application(ctx, t.ApplicationID)
	if err != nil {
		return AuthorizationInfo{}, err
	}
	if cache != nil {
		cache[t.ApplicationID] = a
	}
	return AuthorizationInfo{Token: t, Application: a}, nil
}

// EditAuthorization changes one of the principal's authorizations: its scopes
// (replaced, added to or removed from: one of the three at a time), note, note URL
// or fingerprint. An application's token stays within the application's scopes; a
// personal token keeps a note.
func (e *Engine) EditAuthorization(ctx context.Context, p core.Principal, id int64, in AuthorizationUpdate) (AuthorizationInfo, error) {
	if err := requirePassword(p); err != nil {
		return AuthorizationInfo{}, err
	}
	cur, err := e.ownAuthorization(ctx, p, id)
	if err != nil {
		return AuthorizationInfo{}, err
	}
	scopes, err := editScopes(cur.Scopes, in)
	if err != nil {
		return AuthorizationInfo{}, err
	}
	nt := identity.NewToken{Note: cur.Note, NoteURL: cur.NoteURL, Scopes: scopes, Fingerprint: cur.Fingerprint}
	if in.Note != nil {
		nt.Note = *in.Note
	}
	if in.NoteURL != nil {
		nt.NoteURL = *in.NoteURL
	}
	if in.Fingerprint != nil {
		nt.Fingerprint = *in.Fingerprint
	}
	now := e.nowUTC()
	if nt, err = identity.ValidateTokenInput(nt, now); err != nil {
		return AuthorizationInfo{}, err
	}
	if cur.ApplicationID == 0 && strings.TrimSpace(nt.Note) == "" {
		return AuthorizationInfo{}, core.Missing("note")
	}
	if cur.ApplicationID != 0 && !core.ScopesSubset(cur.Application.Scopes, nt.Scopes) {
		return AuthorizationInfo{}, &core.ValidationError{Field: "scopes", Code: "invalid", Message: "the application may not hold these scopes"}
	}
	t, err := e.st.UpdateToken(ctx, id, func(t core.Token) (core.Token, error) {
		// Revoked between the read and this transaction: it is gone.
		if t.UserID != p.User.ID || !t.Live(now) {
			return t, core.ErrNotFound
		}
		t.Scopes, t.Note, t.NoteURL, t.Fingerprint, t.UpdatedAt = nt.Scopes, nt.Note, nt.NoteURL, nt.Fingerprint, now
		return t, nil
	})
	if errors.Is(err, core.ErrConflict) {
		return AuthorizationInfo{}, &core.ValidationError{Field: "fingerprint", Code: "already_exists", Message: "a token with this fingerprint exists"}
	}
	if err != nil {
		return AuthorizationInfo{}, err
	}
	e.id.Audit(ctx, &p, "token.update", "token", strconv.FormatInt(id, 10), "",
		fmt.Sprintf("kind=%s scopes=%s", t.Kind, strings.Join(t.Scopes, ",")))
	return AuthorizationInfo{Token: t, Application: cur.Application}, nil
}

// editScopes computes the scopes an update asks for, from the current ones.
func editScopes(cur []string, in AuthorizationUpdate) ([]string, error) {
	given := 0
	for _, s := range [][]string{in.Scopes, in.AddScopes, in.RemoveScopes} {
		if s != nil {
			given++
		}
	}
	if given > 1 {
		return nil, &core.ValidationError{Field: "scopes", Code: "invalid", Message: "give only one of scopes, add_scopes and remove_scopes"}
	}
	norm := func(field string, s []string) ([]string, error) {
		out, err := core.NormalizeScopes(s)
		if v, ok := core.AsValidation(err); ok {
			return nil, &core.ValidationError{Field: field, Code: v.Code, Message: v.Message}
		}
		return out, err
	}
	switch {
	case in.Scopes != nil:
		return norm("scopes", in.Scopes)
	case in.AddScopes != nil:
		add, err := norm("add_scopes", in.AddScopes)
		if err != nil {
			return nil, err
		}
		return core.ScopesUnion(cur, add), nil
	case in.RemoveScopes != nil:
		rm, err := norm("remove_scopes", in.RemoveScopes)
		if err != nil {
			return nil, err
		}
		out := []string{}
		for _, s := range cur {
			if !slices.Contains(rm, s) {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return slices.Clone(cur), nil
}

// DeleteAuthorization revokes one of the principal's authorizations. An access
// token issued by an OAuth flow takes its family with it (the refresh token that
// would mint its successor); a token GitHub's API created is a family of one.
func (e *Engine) DeleteAuthorization(ctx context.Context, p core.Principal, id int64) error {
	a, err := e.ownAuthorization(ctx, p, id)
	if err != nil {
		return err
	}
	if !p.Allows(core.ScopeAPI) {
		return core.ErrForbidden
	}
	n := 1
	if a.FamilyID != "" && a.ApplicationID != 0 {
		if n, err = e.revokeFamily(ctx, a.UserID, a.ApplicationID, a.FamilyID); err != nil {
			return internal("revoke family", err)
		}
	} else if err := e.revokeOne(ctx, id); err != nil {
		return err
	}
	e.id.Audit(ctx, &p, "token.revoke", "token", strconv.FormatInt(id, 10), "",
		fmt.Sprintf("kind=%s client_id=%s revoked=%d via=authorizations", a.Kind, a.Application.ClientID, n))
	return nil
}
