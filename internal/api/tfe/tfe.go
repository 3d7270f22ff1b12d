// Package tfe is the Terraform Cloud / Enterprise dialect of vcsauth's upstream half:
// the JSON:API endpoints through which go-tfe (and the tooling built on it) manages
// VCS connections — oauth-clients, oauth-tokens — and, as far as that client needs
// them, projects and organizations. The contract is api/tfe.md. Beside those:
//
//	GET /api/v2/ping             204 with the version headers, without credentials
//	GET /api/v2/account/details  the caller (a users resource), as terraform login
//	                             and go-tfe's Users.ReadCurrent check a token
//
// It translates and nothing more: a handler decodes the JSON:API document, calls
// connect or identity, and encodes the answer. Who may do what, validation and
// defaults are theirs. Documents are written with github.com/hashicorp/jsonapi, the
// library go-tfe reads them with, from the models in models.go (all but the users
// document of the token check, written directly for speed: see userDocument); requests are
// decoded by hand (decode.go), because an update must tell an absent attribute from
// a present one and every error must point at the member that caused it.
//
// Status codes: a foreign organization's object, or one the caller may not see, is
// 404. A member of the organization, who may see its OAuth clients, tokens and
// projects, gets 403 for a change only its admins may make (core.ErrForbidden:
// "known and visible, but not yours to change"), so a member can tell a refusal
// from a typo while an outsider learns nothing. Validation failures are 422 with a
// source pointer; a provider that cannot be reached while a token is checked is 502.
package tfe

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
)

// MediaType is JSON:API's media type, on every response with a body.
const MediaType = "application/vnd.api+json"

// APIVersion is what TFP-API-Version announces: the version of the TFE API whose
// endpoints this dialect serves.
const APIVersion = "2.6"

// Prefix is where the dialect is mounted.
const Prefix = "/api/v2"

// Options configure the routes.
type Options struct {
	Log *slog.Logger
	// Version is sent as X-TFE-Version; "vcsauth" when empty.
	Version string
}

// Register adds the dialect's routes to mux. auth resolves the callers (the wiring
// passes httpx.Authenticate(identity)); go-tfe sends "Authorization: Bearer".
// GET /api/v2/ping answers without credentials, as go-tfe's first call.
func Register(mux *http.ServeMux, e *connect.Engine, id *identity.Service, auth httpx.Middleware, o Options) {
	h := &handlers{e: e, id: id, log: o.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	version := o.Version
	if version == "" {
		version = "vcsauth"
	}
	common := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("TFP-API-Version", APIVersion)
			w.Header().Set("X-TFE-Version", version)
			next.ServeHTTP(w, r)
		})
	}
	public := func(f http.HandlerFunc) http.Handler {
		return httpx.Chain(f, httpx.Recover(h.log, renderError), common)
	}
	private := func(f func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
		return httpx.Chain(h.authenticated(f), httpx.Recover(h.log, renderError), common, auth)
	}

	mux.Handle("GET "+Prefix+"/ping", public(ping))
	mux.Handle("GET "+Prefix+"/account/details", private(h.accountDetails))

	mux.Handle("GET "+Prefix+"/organizations", private(h.listOrgs))
	mux.Handle("GET "+Prefix+"/organizations/{org}", private(h.showOrg))

	mux.Handle("GET "+Prefix+"/organizations/{org}/oauth-clients", private(h.listClients))
	mux.Handle("POST "+Prefix+"/organizations/{org}/oauth-clients", private(h.createClient))
	mux.Handle("GET "+Prefix+"/oauth-clients/{id}", private(h.showClient))
	mux.Handle("PATCH "+Prefix+"/oauth-clients/{id}", private(h.updateClient))
	mux.Handle("DELETE "+Prefix+"/oauth-clients/{id}", private(h.deleteClient))
	mux.Handle("POST "+Prefix+"/oauth-clients/{id}/relationships/projects", private(h.attachProjects))
	mux.Handle("DELETE "+Prefix+"/oauth-clients/{id}/relationships/projects", private(h.detachProjects))

	mux.Handle("GET "+Prefix+"/oauth-clients/{id}/oauth-tokens", private(h.clientTokens))
	mux.Handle("GET "+Prefix+"/organizations/{org}/oauth-tokens", private(h.orgTokens))
	mux.Handle("GET "+Prefix+"/oauth-tokens/{id}", private(h.showToken))
	mux.Handle("PATCH "+Prefix+"/oauth-tokens/{id}", private(h.updateToken))
	mux.Handle("DELETE "+Prefix+"/oauth-tokens/{id}", private(h.deleteToken))

	mux.Handle("GET "+Prefix+"/organizations/{org}/projects", private(h.listProjects))
	mux.Handle("POST "+Prefix+"/organizations/{org}/projects", private(h.createProject))
	mux.Handle("GET "+Prefix+"/projects/{id}", private(h.showProject))
	mux.Handle("PATCH "+Prefix+"/projects/{id}", private(h.updateProject))
	mux.Handle("DELETE "+Prefix+"/projects/{id}", private(h.deleteProject))

	// The rest of the dialect's own subtrees answers in JSON:API too: 405 with Allow
	// for a known path and another method, 404 for an unknown path. Only these
	// subtrees: /api/v2 is shared with the Coder dialect.
	unknown := public(func(w http.ResponseWriter, r *http.Request) { notRouted(mux, w, r) })
	for _, p := range []string{"/ping", "/account/", "/organizations", "/organizations/", "/oauth-clients/", "/oauth-tokens/", "/projects/"} {
		mux.Handle(Prefix+p, unknown)
	}
}

type handlers struct {
	e   *connect.Engine
	id  *identity.Service
	log *slog.Logger
}

// authenticated answers 401 (in JSON:API) for a request without a principal, and
// records the caller's address for the audit trail.
func (h *handlers) authenticated(f func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
	return httpx.Authenticated(f, func(w http.ResponseWriter, r *http.Request, err error) {
		switch {
		case err == nil, errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrOTPRequired):
			writeErrors(w, http.StatusUnauthorized, apiError{Status: http.StatusUnauthorized, Title: "unauthorized",
				Detail: "a valid token is required: Authorization: Bearer <token>"})
		case errors.Is(err, core.ErrThrottled):
			w.Header().Set("Retry-After", "60")
			writeErrors(w, http.StatusTooManyRequests, apiError{Status: http.StatusTooManyRequests, Title: "too many requests",
				Detail: "too many failed sign-ins; try again later"})
		default:
			h.log.ErrorContext(r.Context(), "tfe: authentication failed", "err", err)
			writeErrors(w, http.StatusInternalServerError, apiError{Status: http.StatusInternalServerError, Title: "internal server error"})
		}
	})
}

// ping is go-tfe's first call: 204 with the version headers (set by common).
func ping(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}

// notRouted answers a request in one of the dialect's subtrees that no route took.
func notRouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	_, self := mux.Handler(r)
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != self {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeErrors(w, http.StatusMethodNotAllowed, apiError{Status: http.StatusMethodNotAllowed, Title: "method not allowed",
			Detail: r.Method + " is not allowed here"})
		return
	}
	writeErrors(w, http.StatusNotFound, notFound)
}
