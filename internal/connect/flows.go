package connect

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// Origins: the dialect that started a flow.
const (
	OriginWeb          = "web"
	OriginTFE          = "tfe"
	OriginCoder        = "coder"
	OriginServiceStage = "servicestage"
)

var origins = []string{OriginWeb, OriginTFE, OriginCoder, OriginServiceStage}

// FlowRequest starts a browser or device flow.
type FlowRequest struct {
	Target
	// Origin is the dialect that starts it (OriginWeb when empty). ServiceStage flows
	// hand code and state back at the callback instead of exchanging the code.
	Origin string
	// RepoType is ServiceStage's repository type, checked again when the flow
	// completes.
	RepoType string
	// ReturnTo is where the browser goes once the callback is done: a path on this
	// server ("/…"). A ServiceStage flow may name an absolute http(s) address of the
	// platform, which the dialect must take from configuration, not from the request.
	ReturnTo string
}

func checkOrigin(o string) (string, error) {
	if o == "" {
		return OriginWeb, nil
	}
	if !slices.Contains(origins, o) {
		return "", core.Invalid("origin", "unknown origin %q", o)
	}
	return o, nil
}

// checkReturnTo refuses addresses that would make the callback an open redirect.
func checkReturnTo(origin, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 2048 || strings.ContainsAny(s, "\x00\r\n\\") {
		return core.Invalid("return_to", "is not a usable address")
	}
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return nil
	}
	if origin == OriginServiceStage {
		if u, err := url.Parse(s); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil {
			return nil
		}
	}
	return core.Invalid("return_to", "must be a path on this server")
}

// flowID is a flow state's id, derived from the hash of its secret (the state
// parameter, or the device handle), so a callback can read the flow and check whose
// it is before consuming it.
func flowID(hash []byte) string { return "fs-" + hex.EncodeToString(hash[:16]) }

// pkceVerifier draws an RFC 7636 code verifier: 32 random bytes, base64url (43
// characters).
func (e *Engine) pkceVerifier() (string, error) {
	var b [32]byte
	e.randMu.Lock()
	_, err := io.ReadFull(e.rand, b[:])
	e.randMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("connect: pkce verifier: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (e *Engine) mintFlowSecret() (string, []byte, error) {
	e.randMu.Lock()
	s, err := secret.Mint(secret.PrefixFlowState, e.rand)
	e.randMu.Unlock()
	if err != nil {
		return "", nil, fmt.Errorf("connect: flow state: %w", err)
	}
	return s, secret.HashToken(s), nil
}

// StartBrowser starts the authorization code flow for req and returns the
// provider's authorize URL to send the browser to. The state is single use, lives
// FlowLifetime, and is bound to p, the client and what the flow will create; the
// PKCE verifier is sealed in the flow state. The redirect URI is always the client's
// one callback URL.
func (e *Engine) StartBrowser(ctx context.Context, p core.Principal, req FlowRequest) (string, error) {
	origin, err := checkOrigin(req.Origin)
	if err != nil {
		return "", err
	}
	oc, o, err := e.authorizeTarget(ctx, p, req.Target, origin != OriginServiceStage)
	if err != nil {
		return "", err
	}
	if err := checkReturnTo(origin, req.ReturnTo); err != nil {
		return "", err
	}
	if len(req.RepoType) > 32 {
		return "", core.Invalid("repo_type", "is too long")
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return "", err
	}
	bf, ok := f.(forge.BrowserFlow)
	if !ok {
		return "", &core.ValidationError{Field: "oauth_client", Code: "unsupported", Message: f.DisplayName() + " has no browser sign-in; hand over a token instead"}
	}
	cl, err := e.forgeClient(oc)
	if err != nil {
		return "", err
	}
	state, hash, err := e.mintFlowSecret()
	if err != nil {
		return "", err
	}
	verifier, err := e.pkceVerifier()
	if err != nil {
		return "", err
	}
	sealed, err := e.keys.SealString(verifier)
	if err != nil {
		return "", err
	}
	returnTo := req.ReturnTo
	if returnTo == "" && origin == OriginCoder {
		returnTo = "/external-auth/" + url.PathEscape(ProviderID(oc)) + "?redirected=true"
	}
	now := e.nowUTC()
	st := core.FlowState{ID: flowID(hash), StateHash: hash, OAuthClientID: oc.ID, UserID: p.User.ID,
		OwnerKind: o.kind, OwnerProjectID: o.projectID, Name: o.name, Origin: origin, RepoType: req.RepoType,
		PKCEVerifier: sealed, ReturnTo: returnTo, ExpiresAt: now.Add(e.flowTTL), CreatedAt: now}
	if err := e.st.CreateFlowState(ctx, st); err != nil {
		return "", err
	}
	return bf.AuthCodeURL(cl, state, verifier), nil
}

// CallbackInput is what the provider sent the browser back with.
type CallbackInput struct {
	// OAuthClient is the client named in the callback's path (id or slug).
	OAuthClient      string
	State            string
	Code             string
	Error            string // the provider's error parameter, when the person refused
	ErrorDescription string
}

// CallbackResult is what a callback did.
type CallbackResult struct {
	// Flow is the flow the callback belonged to (its sealed verifier removed).
	Flow core.FlowState
	// Connection is the connection made or renewed (tokens Redacted); zero for a
	// hand-back.
	Connection core.Connection
	Relinked   bool
	// HandBack is set for a ServiceStage flow: nothing was exchanged, and the page
	// must give Code and State back to the platform (and send the browser on to
	// ReturnTo with them, when there is one).
	HandBack *HandBack
	// ReturnTo is where to send the browser now ("" for a result page).
	ReturnTo string
}

// HandBack is a ServiceStage flow's code and state, for the platform to POST.
type HandBack struct {
	Code, State, ReturnTo string
}

// loadFlow reads the flow whose secret is text without consuming it. A malformed,
// unknown, used or expired secret is ErrFlowInvalid.
func (e *Engine) loadFlow(ctx context.Context, text string) (core.FlowState, []byte, error) {
	if secret.CheckSecret(text, secret.PrefixFlowState) != nil {
		return core.FlowState{}, nil, ErrFlowInvalid // forged or truncated: no database read
	}
	hash := secret.HashToken(text)
	st, err := e.st.FlowState(ctx, flowID(hash))
	if errors.Is(err, core.ErrNotFound) {
		return core.FlowState{}, nil, ErrFlowInvalid
	}
	if err != nil {
		return core.FlowState{}, nil, err
	}
	if !st.UsedAt.IsZero() || !e.nowUTC().Before(st.ExpiresAt) {
		return core.FlowState{}, nil, ErrFlowInvalid
	}
	return st, hash, nil
}

// Callback completes a browser flow when the provider sends the browser back to
// the client's callback URL. p is who is signed in (nil: nobody).
//
// Order of checks, and why: the state is read without consuming it and checked
// (exists, unused, unexpired, issued for this client); a ServiceStage flow then gets
// its hand-back, with no sign-in needed, since the platform, not this browser,
// completes it. For the others the signed-in person must be the one who started the
// flow, and that is checked BEFORE the state is consumed: a person who is sent
// someone else's callback URL (a login-CSRF attempt, or a leaked URL) is refused
// without burning the rightful owner's flow, so the owner can still finish it, and
// the code is never exchanged on the wrong account. Only then is the state consumed,
// atomically (of two concurrent callbacks exactly one proceeds), and the code
// exchanged within ProviderTimeout. A failed exchange or user lookup leaves every
// existing connection as it was.
func (e *Engine) Callback(ctx context.Context, p *core.Principal, in CallbackInput) (CallbackResult, error) {
	st, hash, err := e.loadFlow(ctx, in.State)
	if err != nil {
		return CallbackResult{}, err
	}
	oc, err := e.clientByRef(ctx, in.OAuthClient)
	if err != nil || oc.ID != st.OAuthClientID || st.DeviceCode != "" {
		return CallbackResult{}, ErrFlowInvalid
	}
	res := CallbackResult{Flow: st, ReturnTo: st.ReturnTo}
	res.Flow.PKCEVerifier = ""
	if st.Origin == OriginServiceStage {
		if in.Error != "" {
			return res, &ConsentError{Code: in.Error, Description: in.ErrorDescription}
		}
		if in.Code == "" {
			return res, ErrFlowInvalid
		}
		res.HandBack = &HandBack{Code: in.Code, State: in.State, ReturnTo: st.ReturnTo}
		return res, nil
	}
	if p == nil {
		return res, core.ErrUnauthenticated
	}
	if st.UserID != p.User.ID {
		return res, ErrFlowNotYours
	}
	if _, err := e.st.ConsumeFlowState(ctx, hash, e.nowUTC()); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return res, ErrFlowInvalid // consumed by a concurrent callback, or just expired
		}
		return res, err
	}
	if in.Error != "" {
		return res, &ConsentError{Code: in.Error, Description: in.ErrorDescription}
	}
	if in.Code == "" {
		return res, &ConsentError{Code: "invalid_request", Description: "the provider sent no authorization code"}
	}
	c, relinked, err := e.completeCode(ctx, *p, st, owner{kind: st.OwnerKind, projectID: st.OwnerProjectID, name: st.Name}, in.Code)
	if err != nil {
		return res, err
	}
	res.Connection, res.Relinked = redactConn(c), relinked
	return res, nil
}

// HandBackCompletion is what ServiceStage POSTs to finish a flow it started.
type HandBackCompletion struct {
	State, Code string
	ProjectID   string
	RepoType    string
	Name        string
}

// CompleteHandBack exchanges the code of a ServiceStage flow that the platform
// hands back, and stores the project's connection under Name. The state must be one
// p started through that dialect for the same project and repository type, unused
// and unexpired; otherwise it is a *core.ValidationError on "state" and nothing is
// created.
func (e *Engine) CompleteHandBack(ctx context.Context, p core.Principal, in HandBackCompletion) (core.Connection, error) {
	bad := &core.ValidationError{Field: "state", Code: "invalid",
		Message: "state is unknown, used, expired, or was not issued for this project and repository type"}
	st, hash, err := e.loadFlow(ctx, in.State)
	if errors.Is(err, ErrFlowInvalid) {
		return core.Connection{}, bad
	}
	if err != nil {
		return core.Connection{}, err
	}
	if st.Origin != OriginServiceStage || st.UserID != p.User.ID || st.OwnerProjectID != in.ProjectID || st.RepoType != in.RepoType || st.DeviceCode != "" {
		return core.Connection{}, bad
	}
	if in.Code == "" {
		return core.Connection{}, core.Missing("code")
	}
	o := owner{kind: core.OwnerProject, projectID: st.OwnerProjectID, name: strings.TrimSpace(in.Name)}
	if o.name == "" {
		o.name = st.Name
	}
	if _, _, err := e.authorizeTarget(ctx, p, Target{OAuthClient: st.OAuthClientID, OwnerKind: core.OwnerProject, ProjectID: o.projectID, Name: o.name}, true); err != nil {
		return core.Connection{}, err
	}
	if _, err := e.st.ConsumeFlowState(ctx, hash, e.nowUTC()); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return core.Connection{}, bad
		}
		return core.Connection{}, err
	}
	c, _, err := e.completeCode(ctx, p, st, o, in.Code)
	return redactConn(c), err
}

// completeCode exchanges a consumed flow's code, looks up whose token it is and
// saves the connection. p's rights are checked again: they may have changed since
// the flow started.
func (e *Engine) completeCode(ctx context.Context, p core.Principal, st core.FlowState, o owner, code string) (core.Connection, bool, error) {
	oc, o2, err := e.authorizeTarget(ctx, p, Target{OAuthClient: st.OAuthClientID, OwnerKind: o.kind, ProjectID: o.projectID, Name: o.name}, o.kind == core.OwnerProject)
	if err != nil {
		return core.Connection{}, false, err
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return core.Connection{}, false, err
	}
	bf, ok := f.(forge.BrowserFlow)
	if !ok {
		return core.Connection{}, false, ErrFlowInvalid
	}
	cl, err := e.forgeClient(oc)
	if err != nil {
		return core.Connection{}, false, err
	}
	verifier, err := e.keys.OpenString(st.PKCEVerifier)
	if err != nil {
		return core.Connection{}, false, fmt.Errorf("connect: flow %s: verifier: %w", st.ID, err)
	}
	pctx, cancel := e.providerCtx(ctx)
	tok, err := bf.Exchange(pctx, e.httpClient(), cl, code, verifier)
	cancel()
	if err != nil {
		return core.Connection{}, false, &ProviderError{Op: "code exchange", Err: err}
	}
	ident, err := e.lookupUser(ctx, f, tok.AccessToken)
	if err != nil {
		e.discardToken(ctx, f, cl, tok.AccessToken)
		return core.Connection{}, false, err
	}
	return e.saveLink(ctx, p, oc, o2, linkInput{cred: core.CredentialOAuth, access: tok.AccessToken,
		refresh: tok.RefreshToken, tokenType: tok.TokenType, scopes: tokenScopes(tok, oc.Scopes),
		expiresAt: e.tokenExpiry(tok, e.nowUTC()), ident: ident}, st.Origin)
}

// lookupUser asks whose a fresh token is, where the provider can say.
func (e *Engine) lookupUser(ctx context.Context, f forge.Forge, token string) (*forge.Identity, error) {
	ul, ok := f.(forge.UserLookup)
	if !ok {
		return nil, nil
	}
	pctx, cancel := e.providerCtx(ctx)
	defer cancel()
	ident, err := ul.User(pctx, e.httpClient(), token)
	if err != nil {
		return nil, &ProviderError{Op: "user lookup", Err: err}
	}
	return ident, nil
}

// discardToken revokes, best effort, a token we obtained but will not keep.
func (e *Engine) discardToken(ctx context.Context, f forge.Forge, cl forge.Client, token string) {
	r, ok := f.(forge.Revoker)
	if !ok {
		return
	}
	pctx, cancel := e.providerCtx(context.WithoutCancel(ctx))
	defer cancel()
	if err := r.Revoke(pctx, e.httpClient(), cl, token); err != nil {
		e.log.WarnContext(ctx, "could not revoke a token that was not kept", "err", err)
	}
}
