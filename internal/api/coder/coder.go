// Package coder serves Coder's external-auth API (api/coder.md), for codersdk,
// agentsdk and Coder's web UI: a person's links to Git providers, the device flow,
// and git credentials for workloads.
//
//	GET    /api/v2/external-auth                      providers the caller may use, and their links
//	GET    /api/v2/external-auth/{id}                 one provider, the link validated with it
//	DELETE /api/v2/external-auth/{id}                 unlink (and revoke at the provider where it can)
//	GET    /api/v2/external-auth/{id}/device          start the provider's device flow
//	POST   /api/v2/external-auth/{id}/device          poll it once: 204 when linked
//	GET    /api/v2/workspaceagents/me/external-auth   git credentials (?id= or ?match=, &listen=true)
//	GET    /api/v2/users/me                           the caller (codersdk.User), how the coder CLI checks a token
//
// A provider is an OAuth client the caller may use; {id} is its slug, or its oc- id
// when it has none. The link page /external-auth/{id} is the web console's and the
// callback /external-auth/{id}/callback is api/native's.
//
// The package translates and nothing more: who may use which client, link health,
// device polling, refresh and waiting for a link are connect's rules.
//
// Wire decisions worth knowing:
//
//   - A user's id is a UUID in codersdk and a "user-…" string here: users/me shows
//     a name-based UUID of it (UserUUID), stable with nothing stored.
//   - Every error is codersdk.Response JSON: {"message","detail","validations"}.
//     Anything unknown, or not the caller's, is 404 "Resource not found or you do
//     not have access to this resource", so nobody learns what exists elsewhere.
//     A token whose scopes do not cover the call (read_api or connections to read,
//     connections to change, credentials for workload credentials) is 403.
//   - The list is answered from the stored state: no provider call, so it is as
//     cheap as any authenticated read; a link's authenticated / validate_error say
//     what its last use, refresh or validation found. GET {id} asks the provider.
//   - A device poll that did not link is 400 with the RFC 8628 code as both message
//     and detail (Coder's UI reads the detail); slow_down also sends Retry-After with
//     the interval to keep, in seconds. A provider that fails is 502.
//   - Workload credentials: an empty id= is absent (agentsdk always sends it); url=
//     is match='s legacy name. The username and password follow the provider's git
//     convention (forge GitCredential): GitLab "oauth2" and the token, Bitbucket
//     "x-token-auth" and the token, GitHub the token and "x-oauth-basic", and so on.
//     With listen=true the request waits up to Options.ListenWait for a link,
//     ending early when the server drains; without a link by then it is an error
//     (408, or 503 while draining) whose detail is the link URL, never a 200, because
//     Coder's gitaskpass reads any 200 of its listen loop as success. A token
//     that expired and cannot be refreshed for now is 503 with Retry-After.
package coder

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

// Paths.
const (
	PathExternalAuth = "/api/v2/external-auth"
	PathAgentAuth    = "/api/v2/workspaceagents/me/external-auth"
	// PathMe is the caller, as codersdk's Client.User(ctx, codersdk.Me) names it.
	PathMe = "/api/v2/users/me"
	// pathUsers is PathMe's subtree, where nothing else is served.
	pathUsers = "/api/v2/users/"
)

// MaxBodyBytes bounds a request body: the only one is a device code.
const MaxBodyBytes = 16 << 10

// DefaultListenWait is how long listen=true waits for a link by default.
const DefaultListenWait = connect.MaxWait

// Options configure the routes.
type Options struct {
	Log *slog.Logger
	// ListenWait bounds a workload credential request with listen=true (at most
	// connect.MaxWait; DefaultListenWait when zero or less).
	ListenWait time.Duration
}

// Register adds the routes to mux. auth resolves the caller (Coder-Session-Token,
// Bearer and the other token headers): the wiring passes
// httpx.Authenticate(identity), applied here rather than globally so that Basic
// credentials reach the password check only where an API takes them.
func Register(mux *http.ServeMux, e *connect.Engine, auth httpx.Middleware, o Options) {
	h := &handlers{e: e, log: o.Log, listenWait: o.ListenWait}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.listenWait <= 0 || h.listenWait > connect.MaxWait {
		h.listenWait = DefaultListenWait
	}
	wrap := func(fn func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
		return httpx.Chain(h.authenticated(fn), httpx.Recover(h.log, Render), httpx.LimitBody(MaxBodyBytes), auth)
	}
	mux.Handle("GET "+PathExternalAuth, wrap(h.list))
	mux.Handle("GET "+PathExternalAuth+"/{id}", wrap(h.get))
	mux.Handle("DELETE "+PathExternalAuth+"/{id}", wrap(h.unlink))
	mux.Handle("GET "+PathExternalAuth+"/{id}/device", wrap(h.deviceStart))
	mux.Handle("POST "+PathExternalAuth+"/{id}/device", wrap(h.deviceExchange))
	mux.Handle("GET "+PathAgentAuth, wrap(h.workloadCredential))
	mux.Handle("GET "+PathMe, wrap(h.me))
	// Other methods and paths of the dialect: Coder's JSON rather than net/http's
	// text. The patterns are less specific than the ones above, so they only catch
	// what those do not.
	fallback := httpx.Recover(h.log, Render)(http.HandlerFunc(h.fallback))
	mux.Handle(PathExternalAuth, fallback)
	mux.Handle(PathExternalAuth+"/", fallback)
	mux.Handle(PathAgentAuth, fallback)
	mux.Handle(PathMe, fallback)
	mux.Handle(pathUsers, fallback)
}

type handlers struct {
	e          *connect.Engine
	log        *slog.Logger
	listenWait time.Duration
}

// authenticated answers 401 (or 429, or 500 when the credential check itself
// failed) unless the request proved who sent it.
func (h *handlers) authenticated(fn func(http.ResponseWriter, *http.Request, core.Principal)) http.Handler {
	next := httpx.Authenticated(fn, func(w http.ResponseWriter, r *http.Request, err error) {
		switch {
		case err == nil:
			writeError(w, http.StatusUnauthorized, Response{Message: "You must be signed in to use this endpoint.",
				Detail: "Send a vcsauth token in the Coder-Session-Token header, or as Authorization: Bearer <token>."})
		case errors.Is(err, core.ErrThrottled):
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, Response{Message: "Too many failed sign-in attempts; try again later."})
		case errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrOTPRequired):
			writeError(w, http.StatusUnauthorized, Response{Message: "Invalid or expired token.",
				Detail: "The token was not accepted. Create a new one and try again."})
		default:
			h.log.ErrorContext(r.Context(), "authentication failed", "err", err)
			writeError(w, http.StatusInternalServerError, Response{Message: "Internal error."})
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// list is GET /api/v2/external-auth.
func (h *handlers) list(w http.ResponseWriter, r *http.Request, p core.Principal) {
	all, err := h.e.ListExternalAuths(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := ListResponse{Providers: make([]LinkProvider, 0, len(all.Providers)), Links: make([]Link, 0, len(all.Links))}
	for _, pv := range all.Providers {
		out.Providers = append(out.Providers, linkProvider(pv))
	}
	for _, l := range all.Links {
		out.Links = append(out.Links, link(l))
	}
	writeJSON(w, http.StatusOK, out)
}

func linkProvider(pv connect.Provider) LinkProvider {
	methods := []string{}
	if pv.Info.PKCE {
		methods = append(methods, "S256")
	}
	icon := ""
	if pv.Info.Icon != "" {
		// Coder's convention for its built-in icons.
		icon = "/icon/" + pv.Info.Icon + ".svg"
	}
	return LinkProvider{ID: pv.Info.ProviderID, Type: ProviderType(pv.Client.Kind), Device: pv.Info.Device,
		DisplayName: displayName(pv), DisplayIcon: icon, AllowRefresh: pv.Info.Refresh,
		AllowValidate: pv.Info.Validate, SupportsRevocation: pv.Info.Revoke, CodeChallengeMethodsSupported: methods}
}

// displayName is the client's name when the admin gave it one, else the provider's.
func displayName(pv connect.Provider) string {
	if n := strings.TrimSpace(pv.Client.Name); n != "" {
		return n
	}
	return pv.Info.DisplayName
}

func link(l connect.PersonLink) Link {
	c := l.Connection
	out := Link{ProviderID: l.ProviderID, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
		HasRefreshToken: c.RefreshToken != "", Authenticated: l.Status.Authenticated, ValidateError: l.Status.Problem}
	if !c.ExpiresAt.IsZero() {
		out.Expires = c.ExpiresAt.UTC()
	}
	return out
}

// get is GET /api/v2/external-auth/{id}.
func (h *handlers) get(w http.ResponseWriter, r *http.Request, p core.Principal) {
	lc, err := h.e.CheckLink(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := ExternalAuth{Authenticated: lc.Link != nil && lc.Status.Authenticated, Device: lc.Info.Device,
		DisplayName: displayName(lc.Provider), SupportsRevocation: lc.Info.Revoke, AppInstallable: lc.AppInstallable,
		Installations: make([]AppInstallation, 0, len(lc.Installations)), AppInstallURL: lc.AppInstallURL}
	if c := lc.Link; c != nil {
		out.User = &User{ID: connect.NumericUpstreamID(*c), Login: c.UpstreamLogin, AvatarURL: c.AvatarURL,
			ProfileURL: c.ProfileURL, Name: c.UpstreamName}
	}
	for _, in := range lc.Installations {
		out.Installations = append(out.Installations, AppInstallation{ID: in.ID, ConfigureURL: in.ConfigureURL,
			Account: User{ID: in.Account.ID, Login: in.Account.Login, AvatarURL: in.Account.AvatarURL,
				ProfileURL: in.Account.ProfileURL, Name: in.Account.Name}})
	}
	writeJSON(w, http.StatusOK, out)
}

// unlink is DELETE /api/v2/external-auth/{id}.
func (h *handlers) unlink(w http.ResponseWriter, r *http.Request, p core.Principal) {
	res, err := h.e.UnlinkProvider(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, DeleteResponse{TokenRevoked: res.Revoked, TokenRevocationError: res.RevocationError})
}

// deviceStart is GET /api/v2/external-auth/{id}/device.
func (h *handlers) deviceStart(w http.ResponseWriter, r *http.Request, p core.Principal) {
	d, err := h.e.DeviceStartFor(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Device{DeviceCode: d.DeviceCode, UserCode: d.UserCode, VerificationURI: d.VerificationURI,
		ExpiresIn: seconds(d.ExpiresIn), Interval: seconds(d.Interval)})
}

// seconds rounds up, so a client never polls early.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// deviceExchange is POST /api/v2/external-auth/{id}/device.
func (h *handlers) deviceExchange(w http.ResponseWriter, r *http.Request, p core.Principal) {
	var req DeviceExchange
	if err := httpx.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	_, err := h.e.DevicePollFor(r.Context(), p, r.PathValue("id"), req.DeviceCode)
	var de *connect.DeviceError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.As(err, &de):
		if errors.Is(err, connect.ErrSlowDown) && de.Interval > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(seconds(de.Interval)))
		}
		writeError(w, http.StatusBadRequest, Response{Message: de.Code, Detail: de.Code})
	default:
		h.fail(w, r, err)
	}
}

// workloadCredential is GET /api/v2/workspaceagents/me/external-auth.
func (h *handlers) workloadCredential(w http.ResponseWriter, r *http.Request, p core.Principal) {
	q := r.URL.Query()
	id, match := q.Get("id"), q.Get("match")
	if match == "" {
		match = q.Get("url") // older agents
	}
	switch {
	case id == "" && match == "":
		writeError(w, http.StatusBadRequest, Response{Message: "Either 'id' or 'match' must be provided.",
			Validations: []ValidationError{{Field: "match", Detail: "a git remote URL, or id= a provider id"}}})
		return
	case id != "" && match != "":
		writeError(w, http.StatusBadRequest, Response{Message: "'id' and 'match' cannot be provided together.",
			Validations: []ValidationError{{Field: "id", Detail: "give either id or match"}}})
		return
	}
	var wait time.Duration
	if q.Has("listen") {
		// Coder listens whenever the parameter is there; an explicit false is honoured.
		if v, err := strconv.ParseBool(q.Get("listen")); err != nil || v {
			wait = h.listenWait
		}
	}
	cred, err := h.e.CredentialWait(r.Context(), p, id, match, wait, httpx.Draining(r.Context()))
	var (
		nl *connect.NotLinkedError
		re *connect.RefreshError
	)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, Credential{AccessToken: cred.AccessToken, TokenExtra: map[string]any{},
			Type: ProviderType(cred.Kind), Username: cred.Username, Password: cred.Password})
	case errors.As(err, &nl) && wait == 0:
		writeJSON(w, http.StatusOK, LinkNeeded{URL: nl.LinkURL})
	case errors.As(err, &nl):
		// A listen that ends without a link must not answer 200: Coder's gitaskpass
		// takes any 200 of its listen loop as success and would hand git an empty
		// username. An error makes the agent listen again; the link URL rides along.
		status, msg := http.StatusRequestTimeout, "Timed out waiting for the account to be linked; open the URL to link it, then retry."
		select {
		case <-httpx.Draining(r.Context()):
			status, msg = http.StatusServiceUnavailable, "The server is restarting; retry to keep waiting for the account to be linked."
			w.Header().Set("Retry-After", "1")
		default:
		}
		writeError(w, status, Response{Message: msg, Detail: nl.LinkURL})
	case errors.As(err, &re):
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, Response{Message: "The token could not be refreshed; try again later.", Detail: re.Reason})
	case isField(err, "url"):
		// The engine names the remote "url"; this dialect calls it match.
		v, _ := core.AsValidation(err)
		writeError(w, http.StatusBadRequest, Response{Message: "Validation failed.",
			Validations: []ValidationError{{Field: "match", Detail: v.Message}}})
	case errors.Is(err, core.ErrNotFound) && id == "":
		writeError(w, http.StatusNotFound, Response{Message: notFound, Detail: "No provider you may use serves this URL."})
	default:
		h.fail(w, r, err)
	}
}

func isField(err error, field string) bool {
	v, ok := core.AsValidation(err)
	return ok && v.Field == field
}

// fallback answers what no route took: 405 on a path of the dialect, 404 elsewhere.
func (h *handlers) fallback(w http.ResponseWriter, r *http.Request) {
	if allow := allowed(r.URL.Path); allow != "" {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, Response{Message: "Method not allowed.", Detail: "Allowed: " + allow + "."})
		return
	}
	writeError(w, http.StatusNotFound, Response{Message: notFound})
}

// allowed lists the methods of a path the routes serve ("" when none do).
func allowed(path string) string {
	if path == PathExternalAuth || path == PathAgentAuth || path == PathMe {
		return "GET, HEAD"
	}
	rest, ok := strings.CutPrefix(path, PathExternalAuth+"/")
	if !ok || rest == "" {
		return ""
	}
	id, tail, _ := strings.Cut(rest, "/")
	switch {
	case id == "":
		return ""
	case !strings.Contains(rest, "/"):
		return "GET, HEAD, DELETE"
	case tail == "device":
		return "GET, HEAD, POST"
	}
	return ""
}
