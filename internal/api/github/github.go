// Package github serves GitHub Enterprise's OAuth Authorizations API (api/github.md)
// under /api/v3, for go-github v29 and the tools built on it:
//
//	GET    /api/v3/applications/grants                          a person's grants
//	GET    /api/v3/applications/grants/{grant_id}
//	DELETE /api/v3/applications/grants/{grant_id}               revokes every token of that app for them
//	GET    /api/v3/authorizations                               a person's tokens
//	POST   /api/v3/authorizations                               create one (Basic auth)
//	PUT    /api/v3/authorizations/clients/{client_id}           get or create one for an app
//	PUT    /api/v3/authorizations/clients/{client_id}/{fingerprint}
//	GET    /api/v3/authorizations/{authorization_id}
//	PATCH  /api/v3/authorizations/{authorization_id}            scopes | add_scopes | remove_scopes, note, …
//	DELETE /api/v3/authorizations/{authorization_id}
//	GET    /api/v3/user                                         the caller, as go-github's Users.Get(ctx, "") and gh check a token
//
// It translates and nothing more: who may do what, validation and scope arithmetic
// are the engine's (authserver), so this dialect and GitLab's cannot drift apart.
//
// Wire decisions worth knowing:
//
//   - Scopes are vcsauth's vocabulary (api, read_api, read_user, credentials,
//     connections, admin), not GitHub's (repo, user, gist, …). A GitHub name is an
//     unknown scope, refused with 422 Validation Failed on the field "scopes", as
//     every dialect refuses unknown scopes (DESIGN.md, Scopes).
//   - A token may list and read; creating and changing authorizations needs Basic
//     auth with the person's username and password (+ X-GitHub-OTP), as GitHub's API
//     did: 403 with a message saying so otherwise.
//   - A wrong client_id or client_secret is 422 on the field "client_secret", the
//     same whichever half was wrong; no token is made.
//   - Users' ids are strings ("user-…") and GitHub's are integers, so a user is shown
//     with login, node_id (our id), type and site_admin, and no "id". GET /user adds
//     name (null), email, two_factor_authentication, created_at and updated_at,
//     and no URL fields: vcsauth serves no /users/{login} to point them at.
//   - GET /user answers a token request with X-OAuth-Scopes, the token's scopes
//     comma-separated, as GitHub does: clients read a token's scopes from it.
//   - A personal token's "app" is named after its note, with GitHub's all-zero
//     client_id. An application's "app" url is the origin of its first web redirect
//     URI (its home, as far as we know), or vcsauth's own URL.
//   - No X-RateLimit-* headers: nothing here is rate limited but password guessing,
//     which is answered 403 with a message (go-github would read
//     X-RateLimit-Remaining: 0 as a rate limit and stop calling until the reset).
package github

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

// Prefix is where the dialect is mounted: go-github's NewEnterpriseClient adds it to
// the base URL.
const Prefix = "/api/v3"

// MaxBodyBytes bounds a request body: an authorization request is a few hundred bytes.
const MaxBodyBytes = 64 << 10

// Options configure the routes.
type Options struct {
	Log *slog.Logger
}

// Register adds the routes to mux. auth resolves the caller (tokens in any dialect's
// header, Basic username and password with X-GitHub-OTP): the wiring passes
// httpx.Authenticate(identity), applied here rather than globally so that Basic
// credentials reach the password check only where an API takes them.
func Register(mux *http.ServeMux, e *authserver.Engine, auth httpx.Middleware, o Options) {
	h := &handlers{e: e, base: e.Issuer() + Prefix, log: o.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	wrap := func(fn func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
		return httpx.Chain(h.authenticated(fn), httpx.Recover(h.log, Render), httpx.LimitBody(MaxBodyBytes), auth)
	}
	mux.Handle("GET "+Prefix+"/applications/grants", wrap(h.listGrants))
	mux.Handle("GET "+Prefix+"/applications/grants/{grant_id}", wrap(h.getGrant))
	mux.Handle("DELETE "+Prefix+"/applications/grants/{grant_id}", wrap(h.deleteGrant))
	mux.Handle("GET "+Prefix+"/authorizations", wrap(h.listAuthorizations))
	mux.Handle("POST "+Prefix+"/authorizations", wrap(h.createAuthorization))
	mux.Handle("PUT "+Prefix+"/authorizations/clients/{client_id}", wrap(h.getOrCreateAuthorization))
	mux.Handle("PUT "+Prefix+"/authorizations/clients/{client_id}/{fingerprint}", wrap(h.getOrCreateAuthorization))
	mux.Handle("GET "+Prefix+"/authorizations/{authorization_id}", wrap(h.getAuthorization))
	mux.Handle("PATCH "+Prefix+"/authorizations/{authorization_id}", wrap(h.editAuthorization))
	mux.Handle("DELETE "+Prefix+"/authorizations/{authorization_id}", wrap(h.deleteAuthorization))
	mux.Handle("GET "+Prefix+"/user", wrap(h.currentUser))
	// Anything else under the prefix is GitHub's JSON 404, not net/http's text.
	mux.Handle(Prefix+"/", httpx.Recover(h.log, Render)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeNotFound(w)
	})))
}

type handlers struct {
	e    *authserver.Engine
	base string // {external URL}/api/v3
	log  *slog.Logger
}

// authenticated answers 401 or 403 in GitHub's words when the request did not prove
// who sent it, and calls fn with the caller otherwise.
func (h *handlers) authenticated(fn func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
	return httpx.Authenticated(fn, func(w http.ResponseWriter, r *http.Request, err error) {
		if err != nil {
			h.authFailed(w, r, err)
			return
		}
		writeError(w, http.StatusUnauthorized, msgRequiresAuth)
	})
}

func (h *handlers) listGrants(w http.ResponseWriter, r *http.Request, p core.Principal) {
	pg := parsePage(r)
	gs, total, err := h.e.ListGrants(r.Context(), p, pg)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]grantJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, h.grant(g))
	}
	setLink(w, r, h.base+"/applications/grants", pg, total)
	writeJSON(w, http.StatusOK, out)
}

func (h *handlers) getGrant(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id, ok := httpx.PathID(r, "grant_id")
	if !ok {
		writeNotFound(w)
		return
	}
	g, err := h.e.Grant(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.grant(g))
}

func (h *handlers) deleteGrant(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id, ok := httpx.PathID(r, "grant_id")
	if !ok {
		writeNotFound(w)
		return
	}
	if err := h.e.DeleteGrant(r.Context(), p, id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handlers) listAuthorizations(w http.ResponseWriter, r *http.Request, p core.Principal) {
	pg := parsePage(r)
	as, total, err := h.e.ListAuthorizations(r.Context(), p, pg)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]authorizationJSON, 0, len(as))
	for _, a := range as {
		out = append(out, h.authorization(a, p.User, ""))
	}
	setLink(w, r, h.base+"/authorizations", pg, total)
	writeJSON(w, http.StatusOK, out)
}

func (h *handlers) getAuthorization(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id, ok := httpx.PathID(r, "authorization_id")
	if !ok {
		writeNotFound(w)
		return
	}
	a, err := h.e.GetAuthorization(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.authorization(a, p.User, ""))
}

func (h *handlers) createAuthorization(w http.ResponseWriter, r *http.Request, p core.Principal) {
	var in authorizationRequest
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	text, a, err := h.e.CreateAuthorization(r.Context(), p, in.new())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, h.authorization(a, p.User, text))
}

func (h *handlers) getOrCreateAuthorization(w http.ResponseWriter, r *http.Request, p core.Principal) {
	var in authorizationRequest
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	text, a, created, err := h.e.GetOrCreateAuthorization(r.Context(), p, r.PathValue("client_id"), r.PathValue("fingerprint"), in.new())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, h.authorization(a, p.User, text))
}

func (h *handlers) editAuthorization(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id, ok := httpx.PathID(r, "authorization_id")
	if !ok {
		writeNotFound(w)
		return
	}
	var in updateRequest
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.e.EditAuthorization(r.Context(), p, id, authserver.AuthorizationUpdate{
		Scopes: in.Scopes, AddScopes: in.AddScopes, RemoveScopes: in.RemoveScopes,
		Note: in.Note, NoteURL: in.NoteURL, Fingerprint: in.Fingerprint})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.authorization(a, p.User, ""))
}

func (h *handlers) deleteAuthorization(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id, ok := httpx.PathID(r, "authorization_id")
	if !ok {
		writeNotFound(w)
		return
	}
	if err := h.e.DeleteAuthorization(r.Context(), p, id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// currentUser is GET /user: the caller, from the principal authentication loaded
// (no store read: this is the call clients check a token with).
//
// Scopes: any valid token may ask, as any token may at GitHub, whose "user" scope
// only decides whether the private part of the profile comes along. Here that is
// the engine's read_user rule (UserInfo, the one GitLab's GET /user applies): a
// token it refuses still gets the public part, without email and
// two_factor_authentication. Basic auth holds every scope.
func (h *handlers) currentUser(w http.ResponseWriter, r *http.Request, p core.Principal) {
	u, err := h.e.UserInfo(p)
	private := err == nil
	switch {
	case errors.Is(err, core.ErrForbidden):
		u = p.User
	case err != nil:
		h.fail(w, r, err)
		return
	}
	if p.Method == core.AuthToken {
		w.Header().Set("X-OAuth-Scopes", strings.Join(p.Scopes, ", "))
	}
	writeJSON(w, http.StatusOK, profile(u, private))
}
