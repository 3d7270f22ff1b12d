package identity

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Mint issues a token like tmpl (user, application, grant, scopes, note, expiry …)
// of kind tmpl.Kind: it makes the text, stores only its hash and last eight
// characters, and returns the text — the one time anyone sees it. The authorization
// server issues its access and refresh tokens through here too.
func (s *Service) Mint(ctx context.Context, tmpl core.Token) (string, core.Token, error) {
	text, t, err := s.prepare(tmpl, s.Now())
	if err != nil {
		return "", core.Token{}, err
	}
	if err := s.st.CreateToken(ctx, &t); err != nil {
		return "", core.Token{}, mintErr(err, t.Fingerprint != "")
	}
	return text, t, nil
}

// MintTokens issues a token like each of tmpls, as Mint does, and stores them in one
// transaction: all or none. When rotate is not 0, that token is revoked (at now) in
// the same transaction, a compare-and-swap: a token already revoked is
// core.ErrStale and nothing is issued. The authorization server issues the access
// and refresh tokens of one response through here.
func (s *Service) MintTokens(ctx context.Context, rotate int64, tmpls ...core.Token) ([]string, []core.Token, error) {
	now := s.Now()
	texts := make([]string, len(tmpls))
	toks := make([]core.Token, len(tmpls))
	ptrs := make([]*core.Token, len(tmpls))
	fingerprint := false
	for i, tmpl := range tmpls {
		text, t, err := s.prepare(tmpl, now)
		if err != nil {
			return nil, nil, err
		}
		texts[i], toks[i], ptrs[i] = text, t, &toks[i]
		fingerprint = fingerprint || t.Fingerprint != ""
	}
	var err error
	if rotate != 0 {
		err = s.st.RotateToken(ctx, rotate, now, ptrs)
	} else {
		err = s.st.CreateTokens(ctx, ptrs)
	}
	if err != nil {
		return nil, nil, mintErr(err, fingerprint)
	}
	return texts, toks, nil
}

// prepare makes a token's text and its record from tmpl, created at now.
func (s *Service) prepare(tmpl core.Token, now time.Time) (string, core.Token, error) {
	text, err := secret.MintToken(tmpl.Kind, s.rand)
	if err != nil {
		return "", core.Token{}, fmt.Errorf("mint token: %w", err)
	}
	t := tmpl
	t.ID = 0
	t.Hash = secret.HashToken(text)
	t.LastEight = secret.LastEight(text)
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	t.CreatedAt, t.UpdatedAt = now, now
	return text, t, nil
}

func mintErr(err error, fingerprint bool) error {
	if errors.Is(err, core.ErrConflict) && fingerprint {
		return &core.ValidationError{Field: "fingerprint", Code: "already_exists", Message: "a token with this fingerprint exists"}
	}
	return err
}

// NewToken is the input of CreatePersonalToken.
type NewToken struct {
	Note        string
	NoteURL     string
	Scopes      []string
	Fingerprint string
	ExpiresAt   time.Time // zero: no expiry
}

// ValidateTokenInput checks the fields every dialect's token creation shares.
func ValidateTokenInput(in NewToken, now time.Time) (NewToken, error) {
	var err error
	if in.Scopes, err = core.NormalizeScopes(in.Scopes); err != nil {
		return in, err
	}
	if len(in.Note) > 255 || strings.ContainsAny(in.Note, "\r\n\x00") {
		return in, core.Invalid("note", "must be one line of at most 255 characters")
	}
	if in.NoteURL != "" {
		u, perr := url.Parse(in.NoteURL)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.NoteURL) > 2048 {
			return in, core.Invalid("note_url", "must be an absolute http or https URL")
		}
	}
	if len(in.Fingerprint) > 255 {
		return in, core.Invalid("fingerprint", "must be at most 255 characters")
	}
	if !in.ExpiresAt.IsZero() && !in.ExpiresAt.After(now) {
		return in, core.Invalid("expires_at", "must be in the future")
	}
	return in, nil
}

// CreatePersonalToken issues a personal access token for userID. People create their
// own; a token may only create tokens within its own scopes; site admins (and the
// operator's CLI) may create one for anyone.
func (s *Service) CreatePersonalToken(ctx context.Context, actor core.Principal, userID string, in NewToken) (string, core.Token, error) {
	if actor.User.ID != userID && !core.CanAdminSite(actor) {
		return "", core.Token{}, core.ErrForbidden
	}
	in, err := ValidateTokenInput(in, s.Now())
	if err != nil {
		return "", core.Token{}, err
	}
	if actor.Method == core.AuthToken && !core.ScopesSubset(actor.Scopes, in.Scopes) {
		return "", core.Token{}, &core.ValidationError{Field: "scopes", Code: "invalid", Message: "a token cannot create a token with more scopes than its own"}
	}
	if _, err := s.st.User(ctx, userID); err != nil {
		return "", core.Token{}, err
	}
	text, t, err := s.Mint(ctx, core.Token{Kind: core.TokenPersonal, UserID: userID, Scopes: in.Scopes,
		Note: in.Note, NoteURL: in.NoteURL, Fingerprint: in.Fingerprint, ExpiresAt: in.ExpiresAt})
	if err != nil {
		return "", core.Token{}, err
	}
	s.Audit(ctx, &actor, "token.create", "token", fmt.Sprint(t.ID), "", "kind=personal scopes="+strings.Join(t.Scopes, ","))
	return text, t, nil
}

// ListPersonalTokens lists the live personal tokens of the principal's user.
func (s *Service) ListPersonalTokens(ctx context.Context, p core.Principal, page store.Page) ([]core.Token, int, error) {
	return s.st.ListTokens(ctx, store.TokenFilter{UserID: p.User.ID, Kinds: []core.TokenKind{core.TokenPersonal}, LiveAt: s.Now()}, page)
}

// RevokeToken revokes one of the principal's tokens (any of anyone's, for site
// admins). It takes a principal allowed everything (ScopeAPI): a narrow token, say
// one a workload holds for git credentials, must not revoke the person's others.
func (s *Service) RevokeToken(ctx context.Context, actor core.Principal, id int64) error {
	t, err := s.st.Token(ctx, id)
	if err != nil {
		return err
	}
	if t.UserID != actor.User.ID && !core.CanAdminSite(actor) {
		return core.ErrNotFound
	}
	if !actor.Allows(core.ScopeAPI) {
		return core.ErrForbidden
	}
	if _, err := s.st.UpdateToken(ctx, id, func(t core.Token) (core.Token, error) {
		if t.RevokedAt.IsZero() {
			t.RevokedAt = s.Now()
		}
		return t, nil
	}); err != nil {
		return err
	}
	s.Audit(ctx, &actor, "token.revoke", "token", fmt.Sprint(id), "", "kind="+string(t.Kind))
	return nil
}

// apiKinds are the token kinds a request header may carry. Refresh tokens are only
// for the token endpoint and session tokens only for the web console's cookie, so a
// leaked one of those cannot call the API.
var apiKinds = []core.TokenKind{core.TokenPersonal, core.TokenAccess}

// AuthenticateToken resolves a token sent in any dialect's header. The checksum is
// checked before anything else, so a mistyped or made-up token costs no database
// read; a well-formed one costs one SHA-256 and one indexed lookup.
func (s *Service) AuthenticateToken(ctx context.Context, text string) (core.Principal, error) {
	return s.authenticate(ctx, text, apiKinds, core.AuthToken)
}

// AuthenticateSession resolves the web console's session cookie. Sessions created
// before the user's last password change are dead.
func (s *Service) AuthenticateSession(ctx context.Context, text string) (core.Principal, error) {
	p, err := s.authenticate(ctx, text, []core.TokenKind{core.TokenSession}, core.AuthSession)
	if err != nil {
		return p, err
	}
	if p.Token.CreatedAt.Before(p.User.PasswordChangedAt) {
		return core.Principal{}, core.ErrUnauthenticated
	}
	return p, nil
}

func (s *Service) authenticate(ctx context.Context, text string, kinds []core.TokenKind, method core.AuthMethod) (core.Principal, error) {
	kind, err := secret.ParseToken(text)
	if err != nil || !slices.Contains(kinds, kind) {
		return core.Principal{}, core.ErrUnauthenticated
	}
	t, u, err := s.st.LookupToken(ctx, secret.HashToken(text))
	if errors.Is(err, core.ErrNotFound) {
		return core.Principal{}, core.ErrUnauthenticated
	}
	if err != nil {
		return core.Principal{}, err
	}
	if t.Kind != kind || !t.Live(s.now()) {
		return core.Principal{}, core.ErrUnauthenticated
	}
	scopes := t.Scopes
	if method == core.AuthSession {
		scopes = []string{core.ScopeAPI}
	}
	return core.Principal{User: u, Method: method, Token: t, Scopes: scopes}, nil
}
