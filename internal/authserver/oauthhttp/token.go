package oauthhttp

import (
	"encoding/json"
	"net/http"

	"github.com/vcsauth/vcsauth/internal/authserver"
)

// token is the token endpoint (RFC 6749 §3.2, §4.1.3, §6; RFC 8628 §3.4).
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	form, app, ok := h.client(w, r)
	if !ok {
		return
	}
	var (
		resp *authserver.TokenResponse
		err  error
	)
	switch gt := get(form, "grant_type"); gt {
	case authserver.GrantAuthorizationCode:
		resp, err = h.e.ExchangeCode(r.Context(), app.Application, authserver.CodeExchange{
			Code: get(form, "code"), RedirectURI: get(form, "redirect_uri"), CodeVerifier: get(form, "code_verifier")})
	case authserver.GrantRefreshToken:
		resp, err = h.e.Refresh(r.Context(), app.Application, get(form, "refresh_token"), get(form, "scope"))
	case authserver.GrantDeviceCode:
		resp, err = h.e.PollDevice(r.Context(), app.Application, get(form, "device_code"))
	case "":
		err = &authserver.Error{Code: authserver.ErrInvalidRequest, Description: "grant_type is missing"}
	default:
		err = &authserver.Error{Code: authserver.ErrUnsupportedGrantType, Description: "supported grant types: authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code"}
	}
	if err != nil {
		h.writeError(w, r, err, app.basic)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// deviceCode is the device authorization endpoint (RFC 8628 §3.1-3.2).
func (h *Handler) deviceCode(w http.ResponseWriter, r *http.Request) {
	form, app, ok := h.client(w, r)
	if !ok {
		return
	}
	resp, err := h.e.StartDevice(r.Context(), app.Application, get(form, "scope"))
	if err != nil {
		h.writeError(w, r, err, app.basic)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// revoke is the revocation endpoint (RFC 7009). token_type_hint is not needed: the
// token's prefix says what it is.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	form, app, ok := h.client(w, r)
	if !ok {
		return
	}
	if err := h.e.Revoke(r.Context(), app.Application, get(form, "token")); err != nil {
		h.writeError(w, r, err, app.basic)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// introspect is the introspection endpoint (RFC 7662).
func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) {
	form, app, ok := h.client(w, r)
	if !ok {
		return
	}
	resp, err := h.e.Introspect(r.Context(), app.Application, get(form, "token"))
	if err != nil {
		h.writeError(w, r, err, app.basic)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// metadata is the authorization server metadata (RFC 8414 §3). It holds no secret
// and changes only with the configuration, so caches may keep it for a while.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	b, err := json.Marshal(h.e.Metadata())
	if err != nil {
		h.writeError(w, r, err, false)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(append(b, '\n'))
}
