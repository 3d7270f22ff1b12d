// Package gitlab serves GitLab's Applications API (api/gitlab.md) under /api/v4, for
// gitlab client-go, python-gitlab and curl:
//
//	POST   /api/v4/applications                    register an application (site admins)
//	GET    /api/v4/applications                    list them, paginated
//	DELETE /api/v4/applications/{id}               delete one, with every grant and token of it
//	POST   /api/v4/applications/{id}/renew-secret  a new secret; the old one stops working
//	GET    /api/v4/user                            the caller, as clients check a token with it
//
// The applications are the downstream clients of vcsauth's OAuth endpoints, the same
// ones the GitHub dialect shows as the "app" of grants. The package translates and
// nothing more: who may register applications, what a redirect URI or a scope may be,
// and that a secret is shown once are the engine's rules (authserver).
//
// Wire decisions worth knowing:
//
//   - Bodies come as JSON (the Go client) or form-encoded (curl); a form's fields may
//     also come in the query string, as Grape merges them. redirect_uri holds one or
//     more URIs separated by white space (newlines or spaces), scopes names separated
//     by white space; in JSON either may also be an array of strings. confidential
//     defaults to true and takes true/false, 1/0 (also as strings).
//   - A missing field is Grape's {"error":"name is missing"}; a field with a bad value
//     is ActiveRecord's {"message":{"redirect_uri":["must be an absolute URI."]}}.
//     Both are 400. Unknown scopes are refused: scopes are vcsauth's vocabulary
//     (api, read_api, read_user, credentials, connections, admin).
//   - secret appears only in the answers of create and renew-secret; a public
//     application has none. callback_url is the redirect URIs joined by newlines.
//   - Users' ids are strings ("user-…") and GitLab's are integers, so GET /user
//     shows no "id".
package gitlab

import (
	"log/slog"
	"net/http"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

// Prefix is where the dialect is mounted: the client's base URL ends with it.
const Prefix = "/api/v4"

// MaxBodyBytes bounds a request body: an application's registration is small even
// with the most redirect URIs the engine allows.
const MaxBodyBytes = 64 << 10

// Options configure the routes.
type Options struct {
	Log *slog.Logger
}

// Register adds the routes to mux. auth resolves the caller (PRIVATE-TOKEN, Bearer
// and the other token headers): the wiring passes httpx.Authenticate(identity),
// applied here rather than globally so that Basic credentials reach the password
// check only where an API takes them.
func Register(mux *http.ServeMux, e *authserver.Engine, auth httpx.Middleware, o Options) {
	h := &handlers{e: e, base: e.Issuer() + Prefix, log: o.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	wrap := func(fn func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
		return httpx.Chain(h.authenticated(fn), httpx.Recover(h.log, Render), httpx.LimitBody(MaxBodyBytes), auth)
	}
	mux.Handle("POST "+Prefix+"/applications", wrap(h.createApplication))
	mux.Handle("GET "+Prefix+"/applications", wrap(h.listApplications))
	mux.Handle("DELETE "+Prefix+"/applications/{id}", wrap(h.deleteApplication))
	mux.Handle("POST "+Prefix+"/applications/{id}/renew-secret", wrap(h.renewSecret))
	mux.Handle("GET "+Prefix+"/user", wrap(h.currentUser))
	// Anything else under the prefix is GitLab's JSON 404, not net/http's text.
	mux.Handle(Prefix+"/", httpx.Recover(h.log, Render)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "404 Not Found"})
	})))
}

type handlers struct {
	e    *authserver.Engine
	base string // {external URL}/api/v4
	log  *slog.Logger
}

// authenticated answers 401 (or 403 for a throttled password) in GitLab's words
// when the request did not prove who sent it, and calls fn with the caller otherwise.
func (h *handlers) authenticated(fn func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
	return httpx.Authenticated(fn, func(w http.ResponseWriter, r *http.Request, err error) {
		if err != nil {
			h.authFailed(w, r, err)
			return
		}
		writeMessage(w, http.StatusUnauthorized, msgUnauthorized)
	})
}

func (h *handlers) createApplication(w http.ResponseWriter, r *http.Request, p core.Principal) {
	in, err := decodeApplication(r)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	a, secret, err := h.e.CreateApplication(r.Context(), p, in)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusCreated, application(a, secret))
}

func (h *handlers) listApplications(w http.ResponseWriter, r *http.Request, p core.Principal) {
	pg := parsePage(r)
	as, total, err := h.e.ListApplications(r.Context(), p, pg)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	out := make([]applicationJSON, 0, len(as))
	for _, a := range as {
		out = append(out, application(a, ""))
	}
	setPagination(w, r, h.base+"/applications", pg, total)
	writeJSON(w, http.StatusOK, out)
}

func (h *handlers) deleteApplication(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id, ok := httpx.PathID(r, "id")
	if !ok {
		writeMessage(w, http.StatusNotFound, msgAppNotFound)
		return
	}
	if err := h.e.DeleteApplication(r.Context(), p, id); err != nil {
		h.fail(w, r, err, msgAppNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handlers) renewSecret(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id, ok := httpx.PathID(r, "id")
	if !ok {
		writeMessage(w, http.StatusNotFound, msgAppNotFound)
		return
	}
	a, secret, err := h.e.RenewSecret(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err, msgAppNotFound)
		return
	}
	writeJSON(w, http.StatusCreated, application(a, secret))
}

// currentUser shows the caller.
func (h *handlers) currentUser(w http.ResponseWriter, r *http.Request, p core.Principal) {
	u, err := h.e.UserInfo(p)
	if err != nil {
		h.fail(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusOK, user(u))
}
