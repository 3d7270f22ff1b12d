// Package oauthhttp serves the standard OAuth 2.0 endpoints of the authorization
// server (package authserver) over HTTP: /oauth/authorize with its consent page,
// /oauth/token, /oauth/device/code and the /device page, /oauth/revoke,
// /oauth/introspect and /.well-known/oauth-authorization-server.
//
// It is a package of its own so that the engine stays free of HTTP and of the web
// pages: web (and a later console) can import authserver without a cycle, while these
// handlers use web for the pages, sessions and CSRF checks.
package oauthhttp

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strings"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/web"
)

// Options configure a Handler.
type Options struct {
	Engine *authserver.Engine
	Site   *web.Site
	Log    *slog.Logger
}

// Handler serves the endpoints.
type Handler struct {
	e    *authserver.Engine
	site *web.Site
	log  *slog.Logger
}

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Engine == nil || o.Site == nil {
		return nil, errors.New("oauthhttp: an engine and a site are required")
	}
	h := &Handler{e: o.Engine, site: o.Site, log: o.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// Register adds every endpoint to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET "+authserver.PathAuthorize, h.site.Pages(http.HandlerFunc(h.authorizeGET)))
	mux.Handle("POST "+authserver.PathAuthorize, h.site.Pages(http.HandlerFunc(h.authorizePOST)))
	mux.HandleFunc("POST "+authserver.PathToken, h.token)
	mux.HandleFunc("POST "+authserver.PathDeviceCode, h.deviceCode)
	mux.Handle("GET "+authserver.PathDevice, h.site.Pages(http.HandlerFunc(h.deviceGET)))
	mux.Handle("POST "+authserver.PathDevice, h.site.Pages(http.HandlerFunc(h.devicePOST)))
	mux.HandleFunc("POST "+authserver.PathRevoke, h.revoke)
	mux.HandleFunc("POST "+authserver.PathIntrospect, h.introspect)
	mux.HandleFunc("GET "+authserver.PathMetadata, h.metadata)
}

// maxFormBytes bounds the body of a token, revocation or introspection request.
const maxFormBytes = 64 << 10

// readForm reads an application/x-www-form-urlencoded body (RFC 6749 §3.2) and
// refuses repeated parameters (§3.1). The query string is ignored: credentials and
// codes belong in the body.
func readForm(w http.ResponseWriter, r *http.Request) (map[string][]string, *authserver.Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &authserver.Error{Code: authserver.ErrInvalidRequest, Description: "the body must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &authserver.Error{Code: authserver.ErrInvalidRequest, Description: "the body could not be read"}
	}
	if rep := repeated(r.PostForm, nil); len(rep) > 0 {
		return nil, &authserver.Error{Code: authserver.ErrInvalidRequest, Description: "parameters must not be repeated"}
	}
	return r.PostForm, nil
}

// repeated lists the parameters given more than once, sorted, skipping those in skip.
func repeated(v map[string][]string, skip map[string]bool) []string {
	var out []string
	for k, vs := range v {
		if len(vs) > 1 && !skip[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func get(v map[string][]string, k string) string {
	if vs := v[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// writeJSON answers with a JSON body that no cache may keep (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeError answers an error of the token, device, revocation or introspection
// endpoint (RFC 6749 §5.2). basic says the client sent Basic credentials: a failed
// client authentication then also gets WWW-Authenticate. Errors that are not
// *authserver.Error are internal: logged, and answered server_error without detail.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error, basic bool) {
	var oe *authserver.Error
	if !errors.As(err, &oe) {
		h.log.ErrorContext(r.Context(), "oauth endpoint failed", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: authserver.ErrServerError})
		return
	}
	if oe.Code == authserver.ErrInvalidClient && basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="vcsauth", charset="UTF-8"`)
	}
	writeJSON(w, oe.Status(), errorBody{Error: oe.Code, Description: oe.Description})
}

// client reads the form and authenticates the client; on failure it has answered.
func (h *Handler) client(w http.ResponseWriter, r *http.Request) (map[string][]string, coreApp, bool) {
	form, oe := readForm(w, r)
	if oe != nil {
		h.writeError(w, r, oe, false)
		return nil, coreApp{}, false
	}
	creds, err := parseClientAuth(r.Header.Values("Authorization"), form)
	if err != nil {
		h.writeError(w, r, err, creds.Basic)
		return nil, coreApp{}, false
	}
	app, err := h.e.AuthenticateClient(r.Context(), creds)
	if err != nil {
		h.writeError(w, r, err, creds.Basic)
		return nil, coreApp{}, false
	}
	return form, coreApp{app, creds.Basic}, true
}

// coreApp is the authenticated application and how it authenticated.
type coreApp struct {
	core.Application
	basic bool
}

// redirect sends the browser to target with 303 See Other and no body: the target
// may carry a code, which has no business in an HTML body.
func redirect(w http.ResponseWriter, target string) {
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// describe turns an engine error description into a sentence for a page.
func describe(oe *authserver.Error) string {
	d := oe.Description
	if d == "" {
		d = strings.ReplaceAll(oe.Code, "_", " ")
	}
	return strings.ToUpper(d[:1]) + d[1:] + "."
}
