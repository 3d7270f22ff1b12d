package oauthhttp

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/web"
)

// authorizeParams are the parameters of an authorization request, in the order the
// consent form repeats them.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// formOnly are the consent form's own fields, not part of the request.
var formOnly = map[string]bool{web.CSRFField: true, "decision": true}

func authorizeRequest(v map[string][]string) authserver.AuthorizeRequest {
	return authserver.AuthorizeRequest{
		ResponseType:        get(v, "response_type"),
		ClientID:            get(v, "client_id"),
		RedirectURI:         get(v, "redirect_uri"),
		Scope:               get(v, "scope"),
		State:               get(v, "state"),
		CodeChallenge:       get(v, "code_challenge"),
		CodeChallengeMethod: get(v, "code_challenge_method"),
		Repeated:            repeated(v, formOnly),
	}
}

// params returns the request's parameters, for the consent form and for the URL the
// sign-in page comes back to.
func params(req authserver.AuthorizeRequest) url.Values {
	all := []string{req.ResponseType, req.ClientID, req.RedirectURI, req.Scope, req.State, req.CodeChallenge, req.CodeChallengeMethod}
	v := url.Values{}
	for i, name := range authorizeParams {
		if all[i] != "" {
			v.Set(name, all[i])
		}
	}
	return v
}

// authorizeGET is the authorization request (RFC 6749 §4.1.1): it validates, sends a
// person who is not signed in to the sign-in page, skips consent for scopes already
// granted, and otherwise shows the consent page.
func (h *Handler) authorizeGET(w http.ResponseWriter, r *http.Request) {
	h.authorize(w, r, authorizeRequest(r.URL.Query()), "", r.URL.RequestURI())
}

// authorizePOST is the consent form's answer. Pages has checked its CSRF token, and
// the request is validated again from scratch: the hidden fields are the client's
// input like any other.
func (h *Handler) authorizePOST(w http.ResponseWriter, r *http.Request) {
	req := authorizeRequest(r.PostForm)
	decision := r.PostForm.Get("decision")
	if decision != "approve" && decision != "deny" {
		h.site.Error(w, r, http.StatusBadRequest, "Choose to authorize or to deny.")
		return
	}
	h.authorize(w, r, req, decision, authserver.PathAuthorize+"?"+params(req).Encode())
}

func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, req authserver.AuthorizeRequest, decision, self string) {
	ctx := r.Context()
	az, err := h.e.ValidateAuthorize(ctx, req)
	if err != nil {
		h.authorizeError(w, r, az, err)
		return
	}
	p, ok := web.Session(r)
	if !ok {
		web.SignInRedirect(w, r, self)
		return
	}
	if decision == "" {
		need, err := h.e.NeedsConsent(ctx, p.User.ID, az)
		if err != nil {
			h.authorizeError(w, r, az, err)
			return
		}
		if need {
			h.consent(w, r, az)
			return
		}
		decision = "approve"
	}
	if decision == "deny" {
		redirect(w, h.e.DenyURL(az))
		return
	}
	target, err := h.e.IssueCode(ctx, p, az)
	if err != nil {
		h.authorizeError(w, r, az, err)
		return
	}
	redirect(w, target)
}

func (h *Handler) consent(w http.ResponseWriter, r *http.Request, az authserver.Authorization) {
	page := web.ConsentPage{AppName: az.App.Name, Scopes: web.DescribeScopes(az.Scopes),
		RedirectTo: az.RedirectURI, Action: authserver.PathAuthorize}
	v := params(az.Request)
	for _, name := range authorizeParams {
		if val := v.Get(name); val != "" {
			page.Fields = append(page.Fields, web.HiddenField{Name: name, Value: val})
		}
	}
	if src := web.CSPSource(az.RedirectURI); src != "" {
		page.Sources = []string{src}
	}
	h.site.Render(w, r, http.StatusOK, "consent", page)
}

// authorizeError answers a failed authorization request: to the client's redirect
// URI when it can be trusted, else on a page, never redirecting (RFC 6749 §4.1.2.1,
// RFC 9700 §4.1: an unverified redirect URI is an open redirector).
func (h *Handler) authorizeError(w http.ResponseWriter, r *http.Request, az authserver.Authorization, err error) {
	var oe *authserver.Error
	if !errors.As(err, &oe) {
		h.log.ErrorContext(r.Context(), "authorization request failed", "err", err)
		h.site.Error(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
		return
	}
	if az.Redirectable() {
		redirect(w, h.e.ErrorURL(az, oe))
		return
	}
	h.site.Error(w, r, http.StatusBadRequest, "This authorization request cannot be used. "+describe(oe)+
		" Tell the people who run the application that sent you here.")
}
