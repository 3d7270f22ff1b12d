// Package native is vcsauth's own small HTTP API and the upstream flow endpoints
// every dialect shares:
//
//	GET  /auth/{oc_id}                    start a browser flow for the signed-in person
//	POST /auth/{oc_id}                    the same, confirmed by a form (cross-site starts)
//	GET  /auth/{oc_id}/callback           the OAuth client's one callback URL
//	GET  /external-auth/{id}/callback     its alias (id: slug or oc- id), as Coder registers it
//	POST /api/v1/git/credential           git credentials for workloads
//
// It translates and nothing more: every rule is connect's.
package native

import (
	"log/slog"
	"net/http"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/web"
)

// Paths.
const (
	PathCredential = "/api/v1/git/credential"
)

// Options configure the routes.
type Options struct {
	// Site renders the flow pages and knows who is signed in (the session cookie).
	// Without it the browser routes are not registered.
	Site *web.Site
	Log  *slog.Logger
}

// Register adds the routes to mux. auth resolves the callers of the API routes
// (tokens in any dialect's header, Basic username and password): the wiring passes
// httpx.Authenticate(identity), which is applied here rather than globally so that
// Basic credentials reach the password check only where an API takes them. The
// browser routes use the web session instead (Options.Site).
func Register(mux *http.ServeMux, e *connect.Engine, auth httpx.Middleware, o Options) {
	h := &handlers{e: e, site: o.Site, log: o.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux.Handle("POST "+PathCredential, httpx.Chain(http.HandlerFunc(h.credential), auth))
	if o.Site == nil {
		return
	}
	mux.Handle("GET /auth/{oc_id}", o.Site.Pages(http.HandlerFunc(h.start)))
	mux.Handle("POST /auth/{oc_id}", o.Site.Pages(http.HandlerFunc(h.start)))
	mux.Handle("GET /auth/{oc_id}/callback", o.Site.Pages(http.HandlerFunc(h.callback)))
	mux.Handle("GET /external-auth/{id}/callback", o.Site.Pages(http.HandlerFunc(h.callback)))
}

type handlers struct {
	e    *connect.Engine
	site *web.Site
	log  *slog.Logger
}
