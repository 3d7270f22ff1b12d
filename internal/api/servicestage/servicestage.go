// Package servicestage serves Huawei ServiceStage's Git repository authorizations
// (api/servicestage.md) for the huaweicloud-sdk-go-v3 servicestage/v2 client and
// plain HTTP:
//
//	GET    /v1/{project_id}/git/auths                       list the project's authorizations (?tag echoed)
//	GET    /v1/{project_id}/git/auths/{repo_type}/redirect  start a browser flow: {"url": provider authorize URL}
//	POST   /v1/{project_id}/git/auths/{repo_type}/oauth     {name, code, state} → the authorization
//	POST   /v1/{project_id}/git/auths/{repo_type}/personal  {name, token, host?} → the authorization
//	POST   /v1/{project_id}/git/auths/{repo_type}/password  {name, user, password} → the authorization
//	DELETE /v1/{project_id}/git/auths/{name}                204
//
// An authorization is a connection owned by the project, named uniquely in it. The
// package translates and nothing more: which repository types each operation
// takes, which OAuth client serves one, what a state must be bound to, when a
// token counts as refused and what status an authorization is in are the engine's
// rules (connect's ProjectAuthorizations, StartProjectAuthorization,
// CompleteProjectAuthorization, ImportProjectToken, LinkProjectPassword,
// DeleteProjectAuthorization).
//
// # Authentication
//
// X-Auth-Token or Authorization: Bearer with one of our tokens, or the SDK's
// SDK-HMAC-SHA256 signature with an access key (package akskauth; `vcsauth admin
// access-key create --username U` prints a pair). The caller must be a member of
// the organization of {project_id}; to anyone else the project does not exist
// (404, SVCSTG.REPO.0440), as every foreign tenant's object is "not found".
//
// # The browser flow
//
// /redirect returns the provider's authorize URL with a single-use state bound to
// the caller, the project, the repository type and the OAuth client, whose one
// callback URL is the redirect_uri. The callback hands code and state back (a page
// that shows them, or a redirect to Options.ReturnURL with them) instead of
// exchanging the code; /oauth exchanges it. A state that was not issued through
// /redirect for the same project and repository type, or is used or expired, is
// SVCSTG.REPO.0402 and creates nothing; a taken name is refused before the state
// is used up.
//
// # Error codes
//
// Every error is {"error_code":"SVCSTG.REPO.<nnnn>","error_msg":"…"}:
//
//	code              status  when
//	SVCSTG.REPO.0400  400     invalid parameter: a malformed or oversized body, a missing or invalid
//	                          name, token, user, password, code, state, host or tag
//	SVCSTG.REPO.0401  400     the repository type is not one this operation takes
//	                          (oauth/redirect: github gitlab gitee bitbucket gitea;
//	                          personal: github gitlab gitee gitea; password: github bitbucket gitea)
//	SVCSTG.REPO.0402  400     the OAuth state is unknown, used, expired, someone else's, or was issued
//	                          for another project or repository type; nothing was created
//	SVCSTG.REPO.0403  400     the project already has an authorization of this name
//	SVCSTG.REPO.0404  400     the provider refused the token, or the user and password
//	SVCSTG.REPO.0405  400     no OAuth client of this repository type (at host, when given) serves the
//	                          project; an organization admin registers one
//	SVCSTG.REPO.0406  400     the provider refused the authorization code (wrong, used or expired) or
//	                          the authorization itself
//	SVCSTG.REPO.0410  401     no credentials, or credentials that do not verify: an unknown or revoked
//	                          token, an unknown access key, a signature that does not match the
//	                          request, a malformed Authorization or X-Sdk-Date header, an unsigned
//	                          body, a signature with a token besides
//	SVCSTG.REPO.0411  401     X-Sdk-Date is more than 15 minutes from our clock
//	SVCSTG.REPO.0412  401     a state-changing signed request that was already received (replay)
//	SVCSTG.REPO.0430  403     the caller's token may not do this (its scopes), or the caller's role
//	                          may not change this authorization
//	SVCSTG.REPO.0431  403     too many failed password sign-ins; try again later
//	SVCSTG.REPO.0440  404     the project does not exist or the caller is not a member of its
//	                          organization
//	SVCSTG.REPO.0441  404     the project has no authorization of this name
//	SVCSTG.REPO.0442  404     no such operation under /v1/{project_id}/git/auths
//	SVCSTG.REPO.0500  500     internal error
//	SVCSTG.REPO.0502  500     the Git provider failed, could not be reached, or refused the OAuth
//	                          client's own credentials
//
// # Wire decisions
//
//   - avartar is spelled as the real API spells it. create_time and update_time are
//     milliseconds since the epoch. status: 0 normal, 1 expired (the provider
//     refused a refresh, or the token expired with nothing to refresh it), 2
//     unauthenticated (the provider refuses the token or password).
//   - tag is echoed in every list item, null without one; /redirect and /oauth
//     accept it (the SDK sends it) and ignore it.
//   - repo_type in the list is the client's provider (github for GitHub and GitHub
//     Enterprise, gitlab for every GitLab, bitbucket for every Bitbucket, gitee,
//     gitea, azure-devops for an Azure DevOps connection made elsewhere);
//     repo_host is the client's http_url, repo_home the account's profile URL.
//   - password for github: GitHub takes no passwords for git since 2021; the
//     password must be a personal access token (checked as one) and is kept with the
//     user as a basic credential.
//   - host (personal) picks among several clients of the type the one at that host.
package servicestage

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vcsauth/vcsauth/internal/akskauth"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

// Prefix is where the dialect is mounted.
const Prefix = "/v1/{project_id}/git/auths"

// MaxBodyBytes bounds a request body: the largest holds a token or a password.
const MaxBodyBytes = 64 << 10

// Options configure the routes.
type Options struct {
	// Signatures resolves SDK-HMAC-SHA256 signed requests (akskauth.Verifier's
	// Resolver). It runs before the token credentials; nil: tokens only.
	Signatures httpx.Resolver
	// ReturnURL is the platform's page the OAuth callback sends the browser on to,
	// with code and state in its query; "" shows them on a page instead. It comes
	// from configuration (an absolute http or https URL), never from a request.
	ReturnURL string
	Log       *slog.Logger
}

// Register adds the routes to mux. auth resolves our tokens (the wiring passes
// httpx.Authenticate(identity), as for the other dialects); Options.Signatures goes
// in front of it, so a signed request is settled by its signature and an unsigned
// one falls through to the tokens.
func Register(mux *http.ServeMux, e *connect.Engine, auth httpx.Middleware, o Options) {
	h := &handlers{e: e, returnURL: o.ReturnURL, log: o.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	var sig httpx.Middleware
	if o.Signatures != nil {
		sig = httpx.Resolve(o.Signatures)
	}
	wrap := func(fn func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
		return httpx.Chain(h.authenticated(fn), httpx.Recover(h.log, Render), httpx.LimitBody(MaxBodyBytes), sig, auth)
	}
	mux.Handle("GET "+Prefix, wrap(h.list))
	mux.Handle("GET "+Prefix+"/{repo_type}/redirect", wrap(h.redirect))
	mux.Handle("POST "+Prefix+"/{repo_type}/oauth", wrap(h.createOAuth))
	mux.Handle("POST "+Prefix+"/{repo_type}/personal", wrap(h.createPersonal))
	mux.Handle("POST "+Prefix+"/{repo_type}/password", wrap(h.createPassword))
	mux.Handle("DELETE "+Prefix+"/{name}", wrap(h.delete))
	// Anything else under the prefix (another method, another path) is the
	// dialect's 404, not net/http's text.
	none := httpx.Recover(h.log, Render)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, CodeNoSuchOperation, "no such operation on Git authorizations")
	}))
	mux.Handle(Prefix, none)
	mux.Handle(Prefix+"/", none)
}

type handlers struct {
	e         *connect.Engine
	returnURL string
	log       *slog.Logger
}

// authenticated answers 401 in the dialect's words when the request did not prove
// who sent it, and calls fn with the caller otherwise.
func (h *handlers) authenticated(fn func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
	return httpx.Authenticated(fn, func(w http.ResponseWriter, r *http.Request, err error) {
		if err != nil {
			h.authFailed(w, r, err)
			return
		}
		writeError(w, http.StatusUnauthorized, CodeUnauthenticated,
			"authentication required: send X-Auth-Token or a Bearer token, or sign the request with an access key (SDK-HMAC-SHA256)")
	})
}

func (h *handlers) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, httpx.ErrBodyTooLarge):
		writeError(w, http.StatusBadRequest, CodeInvalidParameter, "the request body is too large")
	case errors.Is(err, akskauth.ErrExpired):
		writeError(w, http.StatusUnauthorized, CodeSignatureExpired, trimAuth(err))
	case errors.Is(err, akskauth.ErrReplayed):
		writeError(w, http.StatusUnauthorized, CodeSignatureReplayed, trimAuth(err))
	case errors.Is(err, core.ErrThrottled):
		writeError(w, http.StatusForbidden, CodeThrottled, "too many failed sign-ins; try again later")
	case errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrOTPRequired):
		msg := "the credentials are not valid"
		if errors.Is(err, akskauth.ErrMalformed) || errors.Is(err, akskauth.ErrBadSignature) ||
			errors.Is(err, akskauth.ErrUnsupportedAlgorithm) || errors.Is(err, akskauth.ErrUnsignedPayload) {
			msg = trimAuth(err)
		}
		writeError(w, http.StatusUnauthorized, CodeUnauthenticated, msg)
	default:
		h.log.ErrorContext(r.Context(), "authentication failed internally", "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal server error")
	}
}

// trimAuth drops the "unauthenticated: " that every authentication error starts
// with: the status says it.
func trimAuth(err error) string {
	return strings.TrimPrefix(err.Error(), core.ErrUnauthenticated.Error()+": ")
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request, p core.Principal) {
	q := r.URL.Query()
	var tag *string
	if q.Has("tag") {
		t := q.Get("tag")
		if len(t) > 64 || strings.ContainsFunc(t, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			writeError(w, http.StatusBadRequest, CodeInvalidParameter, "tag: must be at most 64 characters on one line")
			return
		}
		tag = &t
	}
	as, err := h.e.ProjectAuthorizations(r.Context(), p, r.PathValue("project_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := listJSON{Authorizations: make([]listedJSON, 0, len(as)), Count: len(as)}
	for _, a := range as {
		out.Authorizations = append(out.Authorizations, listedJSON{authorizationJSON: authorization(a), Tag: tag})
	}
	_ = httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handlers) redirect(w http.ResponseWriter, r *http.Request, p core.Principal) {
	u, err := h.e.StartProjectAuthorization(r.Context(), p, r.PathValue("project_id"), r.PathValue("repo_type"), h.returnURL)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_ = httpx.WriteJSON(w, http.StatusOK, redirectJSON{URL: u})
}

func (h *handlers) createOAuth(w http.ResponseWriter, r *http.Request, p core.Principal) {
	var in oauthBody
	if err := httpx.DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.e.CompleteProjectAuthorization(r.Context(), p, connect.ProjectOAuthInput{
		ProjectID: r.PathValue("project_id"), RepoType: r.PathValue("repo_type"),
		Name: in.Name, Code: in.Code, State: in.State})
	h.created(w, r, a, err)
}

func (h *handlers) createPersonal(w http.ResponseWriter, r *http.Request, p core.Principal) {
	var in personalBody
	if err := httpx.DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.e.ImportProjectToken(r.Context(), p, connect.ProjectTokenInput{
		ProjectID: r.PathValue("project_id"), RepoType: r.PathValue("repo_type"),
		Name: in.Name, Token: in.Token, Host: in.Host})
	h.created(w, r, a, err)
}

func (h *handlers) createPassword(w http.ResponseWriter, r *http.Request, p core.Principal) {
	var in passwordBody
	if err := httpx.DecodeJSON(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.e.LinkProjectPassword(r.Context(), p, connect.ProjectPasswordInput{
		ProjectID: r.PathValue("project_id"), RepoType: r.PathValue("repo_type"),
		Name: in.Name, Username: in.User, Password: in.Password})
	h.created(w, r, a, err)
}

func (h *handlers) created(w http.ResponseWriter, r *http.Request, a connect.ProjectAuthorization, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_ = httpx.WriteJSON(w, http.StatusOK, createdJSON{Authorization: authorization(a)})
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request, p core.Principal) {
	res, err := h.e.DeleteProjectAuthorization(r.Context(), p, r.PathValue("project_id"), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if res.RevocationError != "" {
		h.log.InfoContext(r.Context(), "authorization deleted; its token was not revoked at the provider", "reason", res.RevocationError)
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail answers an engine error with the dialect's code for it.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		prov    *connect.ProviderError
		consent *connect.ConsentError
	)
	if v, ok := core.AsValidation(err); ok {
		code := CodeInvalidParameter
		switch {
		case errors.Is(err, connect.ErrCredentialRefused):
			code = CodeCredentialRefused
		case v.Field == "repo_type" && v.Code == "unsupported":
			code = CodeUnsupportedRepoType
		case v.Field == "repo_type" && v.Code == "not_configured", v.Field == "oauth_client":
			code = CodeRepoTypeNotConfigured
		case v.Field == "state" && v.Code == "invalid":
			code = CodeInvalidState
		case v.Field == "name" && v.Code == "taken":
			code = CodeNameTaken
		case v.Field == "return_to":
			// The configured ReturnURL, not the request, is wrong.
			h.log.ErrorContext(r.Context(), "servicestage: the configured return URL is refused", "err", err)
			writeError(w, http.StatusInternalServerError, CodeInternal, "internal server error")
			return
		}
		writeError(w, http.StatusBadRequest, code, validationMessage(v))
		return
	}
	switch {
	case errors.Is(err, connect.ErrFlowInvalid):
		writeError(w, http.StatusBadRequest, CodeInvalidState, "state: is unknown, used or expired")
	case errors.Is(err, connect.ErrNameNotFound):
		writeError(w, http.StatusNotFound, CodeAuthorizationNotFound, "the project has no authorization of this name")
	case errors.Is(err, core.ErrNotFound):
		writeError(w, http.StatusNotFound, CodeProjectNotFound, "the project does not exist, or you are not a member of its organization")
	case errors.Is(err, core.ErrForbidden):
		writeError(w, http.StatusForbidden, CodeForbidden, "you may not do this: it needs a token with the connections scope (and, to read, read_api)")
	case errors.Is(err, core.ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, CodeUnauthenticated, "the credentials are not valid")
	case errors.As(err, &consent):
		writeError(w, http.StatusBadRequest, CodeAuthorizationRefused, "the provider did not grant the authorization: "+consent.Code)
	case errors.As(err, &prov) && errors.Is(err, forge.ErrInvalidGrant):
		writeError(w, http.StatusBadRequest, CodeAuthorizationRefused, "code: the provider refused the authorization code (wrong, used or expired); start again with /redirect")
	case errors.As(err, &prov):
		msg := "the Git provider failed or could not be reached (" + prov.Op + "); nothing was stored, try again"
		if errors.Is(err, forge.ErrInvalidClient) {
			msg = "the Git provider refused the OAuth client's own credentials; an organization admin must correct the OAuth client"
		}
		h.log.WarnContext(r.Context(), "servicestage: provider failed", "err", err)
		writeError(w, http.StatusInternalServerError, CodeProviderFailed, msg)
	default:
		h.log.ErrorContext(r.Context(), "servicestage: request failed", "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal server error")
	}
}
