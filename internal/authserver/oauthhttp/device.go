package oauthhttp

import (
	"errors"
	"net/http"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/web"
)

// deviceGET is the verification page (RFC 8628 §3.3): a form for the user code, or,
// with ?user_code= (verification_uri_complete), the consent page for that code,
// which shows the code so the person can check it against the device (§5.4).
func (h *Handler) deviceGET(w http.ResponseWriter, r *http.Request) {
	p, ok := h.site.RequireSession(w, r)
	if !ok {
		return
	}
	code := r.URL.Query().Get("user_code")
	if code == "" {
		h.site.Render(w, r, http.StatusOK, "device", web.DeviceEntryPage{})
		return
	}
	h.deviceConsent(w, r, p, code)
}

// devicePOST takes the entry form (user_code) and the consent form (user_code and
// decision). Pages has checked the CSRF token.
func (h *Handler) devicePOST(w http.ResponseWriter, r *http.Request) {
	p, ok := web.Session(r)
	if !ok {
		web.SignInRedirect(w, r, authserver.PathDevice)
		return
	}
	code := r.PostForm.Get("user_code")
	switch decision := r.PostForm.Get("decision"); decision {
	case "":
		h.deviceConsent(w, r, p, code)
	case "approve", "deny":
		req, err := h.e.DecideDevice(r.Context(), p, code, decision == "approve")
		if err != nil {
			h.deviceError(w, r, code, err)
			return
		}
		h.site.Render(w, r, http.StatusOK, "device_done", web.DeviceDonePage{AppName: req.App.Name, Approved: decision == "approve"})
	default:
		h.site.Error(w, r, http.StatusBadRequest, "Choose to authorize or to deny.")
	}
}

func (h *Handler) deviceConsent(w http.ResponseWriter, r *http.Request, p core.Principal, code string) {
	req, err := h.e.LookupUserCode(r.Context(), p, code)
	if err != nil {
		h.deviceError(w, r, code, err)
		return
	}
	h.site.Render(w, r, http.StatusOK, "device_consent", web.DeviceConsentPage{
		AppName: req.App.Name, UserCode: req.UserCode, Scopes: web.DescribeScopes(req.Scopes)})
}

func (h *Handler) deviceError(w http.ResponseWriter, r *http.Request, code string, err error) {
	page := web.DeviceEntryPage{UserCode: code}
	switch {
	case errors.Is(err, authserver.ErrUserCode):
		page.Error = "That code is not valid. Check it, or start again on your device."
		h.site.Render(w, r, http.StatusBadRequest, "device", page)
	case errors.Is(err, core.ErrThrottled):
		page.Error = "Too many wrong codes. Wait a few minutes, then try again."
		h.site.Render(w, r, http.StatusTooManyRequests, "device", page)
	default:
		h.log.ErrorContext(r.Context(), "device verification failed", "err", err)
		h.site.Error(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
	}
}
