package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// PKCE methods (RFC 7636 §4.3). Only S256 is accepted.
const (
	PKCES256  = "S256"
	pkcePlain = "plain"
)

// maxStateLen bounds the state parameter, which we echo in a URL.
const maxStateLen = 2048

// AuthorizeRequest holds the parameters of an authorization request (RFC 6749
// §4.1.1, RFC 7636 §4.3), as the client sent them.
type AuthorizeRequest struct {
	ResponseType        string
	ClientID            string
	RedirectURI         string
	Scope               string
	State               string
	CodeChallenge       string
	CodeChallengeMethod string
	// Repeated lists the parameters that appeared more than once, which RFC 6749
	// §3.1 forbids.
	Repeated []string
}

// Authorization is a validated authorization request.
type Authorization struct {
	Request AuthorizeRequest
	App     core.Application
	// RedirectURI is where the answer goes: the request's redirect_uri, or the
	// application's only registered one when the request named none. It is empty
	// when the client or the redirect URI could not be trusted, and then nothing may
	// be sent anywhere: the error is for the person at the browser (RFC 6749 §4.1.2.1).
	RedirectURI string
	// Scopes are the requested scopes, or the application's when none were requested.
	Scopes []string
}

// Redirectable reports whether errors about this request may go to its redirect URI.
func (a Authorization) Redirectable() bool { return a.RedirectURI != "" && a.App.ID != 0 }

// ValidateAuthorize checks an authorization request. On failure the error is an
// *Error; when the returned Authorization is Redirectable, the error goes back to the
// client with ErrorURL, else it is shown to the person and goes nowhere.
func (e *Engine) ValidateAuthorize(ctx context.Context, req AuthorizeRequest) (Authorization, error) {
	az := Authorization{Request: req}
	if slices.Contains(req.Repeated, "client_id") || slices.Contains(req.Repeated, "redirect_uri") {
		return az, oauthErr(ErrInvalidRequest, "client_id and redirect_uri must appear at most once")
	}
	if req.ClientID == "" {
		return az, oauthErr(ErrInvalidRequest, "client_id is missing")
	}
	app, err := e.st.ApplicationByClientID(ctx, req.ClientID)
	if errors.Is(err, core.ErrNotFound) {
		return az, oauthErr(ErrInvalidClient, "no application has this client_id")
	}
	if err != nil {
		return az, internal("client lookup", err)
	}
	if len(app.RedirectURIs) == 0 {
		return az, oauthErr(ErrUnauthorizedClient, "this application has no redirect URI and cannot use the authorization code flow")
	}
	switch {
	case req.RedirectURI != "":
		if !MatchRedirectURI(app.RedirectURIs, req.RedirectURI) {
			return az, oauthErr(ErrInvalidRequest, "redirect_uri does not match any redirect URI registered for this application")
		}
		az.RedirectURI = req.RedirectURI
	case len(app.RedirectURIs) == 1:
		az.RedirectURI = app.RedirectURIs[0]
	default:
		return az, oauthErr(ErrInvalidRequest, "redirect_uri is required: this application registered several")
	}
	az.App = app
	// From here on, errors go back to the client.
	if len(req.Repeated) > 0 {
		return az, oauthErr(ErrInvalidRequest, "parameters must not be repeated: "+strings.Join(safeNames(req.Repeated), ", "))
	}
	if len(req.State) > maxStateLen {
		az.Request.State = ""
		return az, oauthErr(ErrInvalidRequest, "state is too long")
	}
	switch req.ResponseType {
	case "code":
	case "":
		return az, oauthErr(ErrInvalidRequest, "response_type is missing")
	default:
		return az, oauthErr(ErrUnsupportedResponseType, "only response_type=code is supported")
	}
	if az.Scopes, err = e.requestedScopes(app, req.Scope); err != nil {
		return az, err
	}
	if err := checkChallenge(app, req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return az, err
	}
	return az, nil
}

// safeNames keeps parameter names that are plain words, for an error description.
func safeNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		ok := len(n) <= 40
		for i := 0; i < len(n) && ok; i++ {
			c := n[i]
			ok = c == '_' || c == '-' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
		}
		if ok {
			out = append(out, n)
		}
	}
	return out
}

// requestedScopes parses a scope parameter against what the application registered;
// no scope asks for all of those (RFC 6749 §3.3 lets the server pick a default).
func (e *Engine) requestedScopes(app core.Application, scope string) ([]string, error) {
	want, err := core.ParseScopes(scope)
	if err != nil {
		return nil, oauthErr(ErrInvalidScope, "unknown scope")
	}
	if len(want) == 0 {
		return slices.Clone(app.Scopes), nil
	}
	if !core.ScopesSubset(app.Scopes, want) {
		return nil, oauthErr(ErrInvalidScope, "the application may not ask for these scopes")
	}
	return want, nil
}

// checkChallenge applies RFC 7636 and RFC 9700 §2.1.1 at the authorization endpoint:
// S256 only; required of public clients.
func checkChallenge(app core.Application, challenge, method string) error {
	if challenge == "" {
		if method != "" {
			return oauthErr(ErrInvalidRequest, "code_challenge_method without code_challenge")
		}
		if !app.Confidential {
			return oauthErr(ErrInvalidRequest, "public clients must send a code_challenge (PKCE with S256)")
		}
		return nil
	}
	switch method {
	case PKCES256:
	case "", pkcePlain:
		// An absent method means plain (RFC 7636 §4.3), which would let a stolen
		// authorization request's challenge double as the verifier.
		return oauthErr(ErrInvalidRequest, "code_challenge_method must be S256; plain is not supported")
	default:
		return oauthErr(ErrInvalidRequest, "code_challenge_method is not supported; use S256")
	}
	if !validS256Challenge(challenge) {
		return oauthErr(ErrInvalidRequest, "code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	}
	return nil
}

func validS256Challenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !isBase64URL(c[i]) {
			return false
		}
	}
	return true
}

func isBase64URL(c byte) bool {
	return c == '-' || c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// checkVerifier applies RFC 7636 §4.6 at the token endpoint.
func checkVerifier(challenge, method, verifier string) error {
	if challenge == "" {
		if verifier != "" {
			// RFC 9700 §2.1.1: a verifier for a code issued without a challenge is
			// a downgrade attempt.
			return oauthErr(ErrInvalidGrant, "code_verifier was sent but the authorization request had no code_challenge")
		}
		return nil
	}
	if verifier == "" {
		return oauthErr(ErrInvalidGrant, "code_verifier is missing")
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return oauthErr(ErrInvalidGrant, "code_verifier must be 43 to 128 characters")
	}
	for i := 0; i < len(verifier); i++ {
		if c := verifier[i]; !isBase64URL(c) && c != '.' && c != '~' {
			return oauthErr(ErrInvalidGrant, "code_verifier has characters RFC 7636 does not allow")
		}
	}
	if method != PKCES256 {
		return oauthErr(ErrInvalidGrant, "the code was issued with an unsupported challenge method")
	}
	sum := sha256.Sum256([]byte(verifier))
	var enc [43]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	if !secret.Equal(enc[:], []byte(challenge)) {
		return oauthErr(ErrInvalidGrant, "code_verifier does not match the code_challenge")
	}
	return nil
}

// NeedsConsent reports whether the user must be asked: not when their grant to the
// application already covers every requested scope through a live token.
func (e *Engine) NeedsConsent(ctx context.Context, userID string, az Authorization) (bool, error) {
	g, err := e.st.FindGrant(ctx, userID, az.App.ID, e.nowUTC())
	if errors.Is(err, core.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return true, internal("find grant", err)
	}
	return !core.ScopesSubset(g.Scopes, az.Scopes), nil
}

// IssueCode records the user's approval of az and returns the URL to send the
// browser to: the redirect URI with code, state and iss (RFC 9207). The code is
// single use, expires after the code lifetime, and is bound to the application, the
// redirect URI and the PKCE challenge.
func (e *Engine) IssueCode(ctx context.Context, p core.Principal, az Authorization) (string, error) {
	if !az.Redirectable() || p.User.ID == "" {
		return "", errors.New("authserver: IssueCode needs a validated authorization and a user")
	}
	code, err := secret.Mint(secret.PrefixAuthCode, e.rand)
	if err != nil {
		return "", internal("authorization code", err)
	}
	family, err := e.newFamilyID()
	if err != nil {
		return "", err
	}
	now := e.nowUTC()
	c := core.AuthorizationCode{Hash: secret.HashToken(code), ApplicationID: az.App.ID, UserID: p.User.ID,
		// The redirect_uri as the request gave it ("" when it named none): the token
		// request must then repeat it exactly (RFC 6749 §4.1.3).
		RedirectURI: az.Request.RedirectURI, Scopes: az.Scopes,
		CodeChallenge: az.Request.CodeChallenge, CodeChallengeMethod: az.Request.CodeChallengeMethod,
		FamilyID: family, ExpiresAt: now.Add(e.codeTTL), CreatedAt: now}
	if c.CodeChallenge == "" {
		c.CodeChallengeMethod = ""
	}
	if err := e.st.CreateAuthCode(ctx, c); err != nil {
		return "", internal("store authorization code", err)
	}
	e.id.Audit(ctx, &p, "oauth.authorize", "application", strconv.FormatInt(az.App.ID, 10), "",
		fmt.Sprintf("client_id=%s scopes=%s", az.App.ClientID, strings.Join(az.Scopes, ",")))
	v := url.Values{"code": {code}, "iss": {e.issuer}}
	if az.Request.State != "" {
		v.Set("state", az.Request.State)
	}
	return appendQuery(az.RedirectURI, v), nil
}

// ErrorURL returns the redirect URI carrying an error response (RFC 6749 §4.1.2.1)
// with state and iss. It must only be used when az.Redirectable().
func (e *Engine) ErrorURL(az Authorization, oe *Error) string {
	v := url.Values{"error": {oe.Code}, "iss": {e.issuer}}
	if oe.Description != "" {
		v.Set("error_description", oe.Description)
	}
	if az.Request.State != "" {
		v.Set("state", az.Request.State)
	}
	return appendQuery(az.RedirectURI, v)
}

// DenyURL is ErrorURL for a person who declined: access_denied.
func (e *Engine) DenyURL(az Authorization) string {
	return e.ErrorURL(az, oauthErr(ErrAccessDenied, "the user denied the request"))
}
