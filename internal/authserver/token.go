package authserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// TokenResponse is a successful token response (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// CodeExchange holds the parameters of an authorization_code token request.
type CodeExchange struct {
	Code         string
	RedirectURI  string
	CodeVerifier string
}

// ExchangeCode redeems an authorization code for tokens (RFC 6749 §4.1.3). app is the
// authenticated client. A code is single use: presenting it again revokes every token
// its first exchange issued (RFC 6749 §4.1.2) and fails.
func (e *Engine) ExchangeCode(ctx context.Context, app core.Application, in CodeExchange) (*TokenResponse, error) {
	if len(app.RedirectURIs) == 0 {
		return nil, oauthErr(ErrUnauthorizedClient, "this application may not use the authorization_code grant")
	}
	if in.Code == "" {
		return nil, oauthErr(ErrInvalidRequest, "code is missing")
	}
	invalid := oauthErr(ErrInvalidGrant, "the authorization code is invalid, expired, used, or was issued to another client")
	if secret.CheckSecret(in.Code, secret.PrefixAuthCode) != nil {
		return nil, invalid
	}
	now := e.nowUTC()
	c, first, err := e.st.ConsumeAuthCode(ctx, secret.HashToken(in.Code), now)
	if errors.Is(err, core.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, internal("consume authorization code", err)
	}
	if !first {
		// Whoever holds the code now, it has leaked: the tokens of its first
		// exchange are no longer the user's alone. (A replay that races the first
		// exchange can revoke before those tokens exist; closing that window needs
		// the store to mark the code as replayed, which its contract cannot yet.)
		n, err := e.revokeFamily(ctx, c.UserID, c.ApplicationID, c.FamilyID)
		if err != nil {
			e.log.ErrorContext(ctx, "revoking the tokens of a replayed authorization code failed", "client_id", app.ClientID, "family", c.FamilyID, "err", err)
		}
		e.log.WarnContext(ctx, "authorization code replayed; its tokens are revoked", "client_id", app.ClientID, "user", c.UserID, "family", c.FamilyID, "revoked", n)
		e.id.Audit(ctx, nil, "oauth.code_replay", "application", strconv.FormatInt(c.ApplicationID, 10), "",
			fmt.Sprintf("user=%s family=%s revoked=%d", c.UserID, c.FamilyID, n))
		return nil, oauthErr(ErrInvalidGrant, "the authorization code was already used; the tokens it gave are revoked")
	}
	if !now.Before(c.ExpiresAt) || c.ApplicationID != app.ID {
		return nil, invalid
	}
	switch {
	case c.RedirectURI != "":
		if in.RedirectURI != c.RedirectURI {
			return nil, oauthErr(ErrInvalidGrant, "redirect_uri does not match the authorization request")
		}
	case in.RedirectURI != "":
		if !MatchRedirectURI(app.RedirectURIs, in.RedirectURI) {
			return nil, oauthErr(ErrInvalidGrant, "redirect_uri does not match the authorization request")
		}
	}
	if err := checkVerifier(c.CodeChallenge, c.CodeChallengeMethod, in.CodeVerifier); err != nil {
		return nil, err
	}
	return e.issueTokens(ctx, app, c.UserID, 0, c.Scopes, c.Scopes, c.FamilyID)
}

// Refresh redeems a refresh token (RFC 6749 §6) and rotates it: the presented token
// is revoked and a new one issued, with the same scopes and family. scope may narrow
// the new access token's scopes, never widen them. A refresh token that was already
// rotated (or revoked) revokes its whole family when presented (RFC 9700 §4.14.2).
func (e *Engine) Refresh(ctx context.Context, app core.Application, refreshToken, scope string) (*TokenResponse, error) {
	if refreshToken == "" {
		return nil, oauthErr(ErrInvalidRequest, "refresh_token is missing")
	}
	invalid := oauthErr(ErrInvalidGrant, "the refresh token is invalid, expired, revoked, or was issued to another client")
	if kind, err := secret.ParseToken(refreshToken); err != nil || kind != core.TokenRefresh {
		return nil, invalid
	}
	t, _, err := e.st.LookupToken(ctx, secret.HashToken(refreshToken))
	if errors.Is(err, core.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, internal("look up refresh token", err)
	}
	if t.Kind != core.TokenRefresh || t.ApplicationID != app.ID {
		return nil, invalid
	}
	now := e.nowUTC()
	if !t.RevokedAt.IsZero() {
		e.refreshReplayed(ctx, app, t)
		return nil, oauthErr(ErrInvalidGrant, "the refresh token was already used; every token of its grant is revoked")
	}
	if !t.Live(now) {
		return nil, invalid
	}
	scopes := t.Scopes
	if scope != "" {
		want, err := core.ParseScopes(scope)
		if err != nil {
			return nil, oauthErr(ErrInvalidScope, "unknown scope")
		}
		if len(want) > 0 {
			if !core.ScopesSubset(t.Scopes, want) {
				return nil, oauthErr(ErrInvalidScope, "scope may only narrow the scopes of the refresh token")
			}
			scopes = want
		}
	}
	if !core.ScopesSubset(app.Scopes, scopes) {
		return nil, oauthErr(ErrInvalidScope, "the application may no longer ask for these scopes")
	}
	family := t.FamilyID
	if family == "" {
		if family, err = e.newFamilyID(); err != nil {
			return nil, err
		}
	}
	// Rotation is a compare-and-swap on the row, in the transaction that stores the
	// new tokens: of two concurrent refreshes with one token, one wins and the other
	// is a replay. The refresh token's grant still exists: deleting a grant deletes
	// its tokens.
	resp, err := e.mintPair(ctx, app, t.UserID, t.GrantID, scopes, t.Scopes, family, t.ID)
	switch {
	case errors.Is(err, core.ErrStale):
		e.refreshReplayed(ctx, app, t)
		return nil, oauthErr(ErrInvalidGrant, "the refresh token was already used; every token of its grant is revoked")
	case errors.Is(err, core.ErrNotFound):
		return nil, invalid
	case err != nil:
		return nil, internal("rotate refresh token", err)
	}
	return resp, nil
}

func (e *Engine) refreshReplayed(ctx context.Context, app core.Application, t core.Token) {
	n, err := e.revokeFamily(ctx, t.UserID, t.ApplicationID, t.FamilyID)
	if err != nil {
		e.log.ErrorContext(ctx, "revoking the family of a replayed refresh token failed", "client_id", app.ClientID, "family", t.FamilyID, "err", err)
	}
	e.log.WarnContext(ctx, "rotated refresh token presented again; its family is revoked", "client_id", app.ClientID, "user", t.UserID, "family", t.FamilyID, "revoked", n)
	e.id.Audit(ctx, nil, "oauth.refresh_replay", "token", strconv.FormatInt(t.ID, 10), "",
		fmt.Sprintf("client_id=%s user=%s family=%s revoked=%d", app.ClientID, t.UserID, t.FamilyID, n))
}

// issueTokens mints an access token and a refresh token for (user, app) under the
// user's grant to the application: grantID, or the grant EnsureGrant finds or
// creates when grantID is 0. refreshScopes are the refresh token's, which a refresh
// keeps even when it narrows the access token's.
func (e *Engine) issueTokens(ctx context.Context, app core.Application, userID string, grantID int64, scopes, refreshScopes []string, family string) (*TokenResponse, error) {
	if grantID == 0 {
		id, err := e.st.EnsureGrant(ctx, userID, app.ID, e.nowUTC())
		if err != nil {
			return nil, internal("grant", err)
		}
		grantID = id
	}
	resp, err := e.mintPair(ctx, app, userID, grantID, scopes, refreshScopes, family, 0)
	if err != nil {
		return nil, internal("mint tokens", err)
	}
	return resp, nil
}

// mintPair stores the access and the refresh token of one response in one
// transaction, which also revokes the refresh token rotate when it is not 0 (see
// identity.Service.MintTokens). Its errors are the store's, unwrapped.
func (e *Engine) mintPair(ctx context.Context, app core.Application, userID string, grantID int64, scopes, refreshScopes []string, family string, rotate int64) (*TokenResponse, error) {
	now := e.nowUTC()
	texts, _, err := e.id.MintTokens(ctx, rotate,
		core.Token{Kind: core.TokenAccess, UserID: userID, ApplicationID: app.ID,
			GrantID: grantID, Scopes: scopes, FamilyID: family, ExpiresAt: now.Add(e.accessTTL)},
		core.Token{Kind: core.TokenRefresh, UserID: userID, ApplicationID: app.ID,
			GrantID: grantID, Scopes: refreshScopes, FamilyID: family, ExpiresAt: now.Add(e.refreshTTL)})
	if err != nil {
		return nil, err
	}
	return &TokenResponse{AccessToken: texts[0], TokenType: "Bearer", ExpiresIn: int64(e.accessTTL / time.Second),
		RefreshToken: texts[1], Scope: strings.Join(scopes, " ")}, nil
}

// Revoke revokes a token the client holds (RFC 7009 §2.1). Revoking a refresh token
// revokes its family (every access and refresh token of the same grant that descends
// from the same authorization); revoking an access token revokes that token. A token
// we do not know (or that is not ours at all) is not an error: the answer is the same
// 200 (RFC 7009 §2.2). A token issued to another client is refused with
// unauthorized_client, as §2.1 asks.
func (e *Engine) Revoke(ctx context.Context, app core.Application, token string) error {
	if token == "" {
		return oauthErr(ErrInvalidRequest, "token is missing")
	}
	kind, err := secret.ParseToken(token)
	if err != nil {
		return nil
	}
	t, _, err := e.st.LookupToken(ctx, secret.HashToken(token))
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	if err != nil {
		return internal("look up token", err)
	}
	if t.Kind != kind || (kind != core.TokenAccess && kind != core.TokenRefresh) || t.ApplicationID != app.ID {
		return oauthErr(ErrUnauthorizedClient, "the token was not issued to this client")
	}
	if !t.RevokedAt.IsZero() {
		return nil
	}
	n := 1
	if kind == core.TokenRefresh && t.FamilyID != "" {
		if n, err = e.revokeFamily(ctx, t.UserID, t.ApplicationID, t.FamilyID); err != nil {
			return internal("revoke family", err)
		}
	} else if err := e.revokeOne(ctx, t.ID); err != nil {
		return err
	}
	e.id.Audit(ctx, nil, "token.revoke", "token", strconv.FormatInt(t.ID, 10), "",
		fmt.Sprintf("kind=%s client_id=%s user=%s revoked=%d via=oauth", t.Kind, app.ClientID, t.UserID, n))
	return nil
}

func (e *Engine) revokeOne(ctx context.Context, id int64) error {
	now := e.nowUTC()
	_, err := e.st.UpdateToken(context.WithoutCancel(ctx), id, func(t core.Token) (core.Token, error) {
		if t.RevokedAt.IsZero() {
			t.RevokedAt, t.UpdatedAt = now, now
		}
		return t, nil
	})
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return internal("revoke token", err)
	}
	return nil
}

// Introspection is the answer of RFC 7662 §2.2. An inactive token is {"active":false}
// and nothing else.
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
}

// Introspect answers whether token is active (RFC 7662). app must be a confidential
// application that authenticated; it learns about its own tokens only: any other
// token, personal tokens included, is inactive to it (RFC 7662 §4, against token
// scanning and to keep one application's users private from another). token_type
// is "Bearer" for an access token and "refresh_token" for a refresh token.
func (e *Engine) Introspect(ctx context.Context, app core.Application, token string) (Introspection, error) {
	if !app.Confidential {
		return Introspection{}, oauthErr(ErrInvalidClient, "introspection needs a confidential client")
	}
	if token == "" {
		return Introspection{}, oauthErr(ErrInvalidRequest, "token is missing")
	}
	kind, err := secret.ParseToken(token)
	if err != nil || (kind != core.TokenAccess && kind != core.TokenRefresh) {
		return Introspection{}, nil
	}
	var h [32]byte
	secret.HashTokenInto(&h, token)
	t, u, err := e.st.LookupToken(ctx, h[:])
	if errors.Is(err, core.ErrNotFound) {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, internal("look up token", err)
	}
	if t.Kind != kind || t.ApplicationID != app.ID || !t.Live(e.now()) {
		return Introspection{}, nil
	}
	out := Introspection{Active: true, Scope: strings.Join(t.Scopes, " "), ClientID: app.ClientID,
		Username: u.Username, Iat: t.CreatedAt.Unix(), Sub: u.ID, Aud: app.ClientID, Iss: e.issuer}
	if !t.ExpiresAt.IsZero() {
		out.Exp = t.ExpiresAt.Unix()
	}
	if kind == core.TokenAccess {
		out.TokenType = "Bearer"
	} else {
		out.TokenType = "refresh_token"
	}
	return out, nil
}

// DeleteExpired removes authorization codes and device authorizations that expired
// before now minus grace, and returns how many. Call it now and then (the server's
// sweeper); a used code is kept until it expires so a replay is still recognised.
func (e *Engine) DeleteExpired(ctx context.Context, grace time.Duration) (int, error) {
	before := e.nowUTC().Add(-grace)
	a, err := e.st.DeleteExpiredAuthCodes(ctx, before)
	if err != nil {
		return a, err
	}
	b, err := e.st.DeleteExpiredDeviceAuths(ctx, before)
	return a + b, err
}
