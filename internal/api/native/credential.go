package native

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

// CredentialRequest is the body of POST /api/v1/git/credential: git's credential
// fields (protocol, host, path) or a url, and how long to wait for a link.
type CredentialRequest struct {
	Protocol string `json:"protocol,omitempty"`
	Host     string `json:"host,omitempty"`
	Path     string `json:"path,omitempty"`
	URL      string `json:"url,omitempty"`
	// Wait is how many seconds to wait for the person to link an account when none
	// is linked (at most 60); the query parameter wait= does the same.
	Wait int `json:"wait,omitempty"`
}

// CredentialResponse is the 200 answer, in git's credential field names.
type CredentialResponse struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// PasswordExpiryUTC is when the token expires, in Unix seconds (0: omitted).
	PasswordExpiryUTC int64 `json:"password_expiry_utc,omitempty"`
}

// ErrorResponse is every error answer; LinkURL is set on a 404 when the person can
// link an account there.
type ErrorResponse struct {
	Message string `json:"message"`
	LinkURL string `json:"link_url,omitempty"`
}

func writeErr(w http.ResponseWriter, status int, msg, link string) {
	_ = httpx.WriteJSON(w, status, ErrorResponse{Message: msg, LinkURL: link})
}

// Remote builds the remote URL git described with its fields.
func (c CredentialRequest) Remote() (string, error) {
	if c.URL != "" {
		return c.URL, nil
	}
	proto := strings.ToLower(c.Protocol)
	if proto == "" {
		proto = "https"
	}
	if proto != "https" && proto != "http" {
		return "", core.Invalid("protocol", "only http and https remotes take credentials")
	}
	if c.Host == "" || strings.ContainsAny(c.Host, "/@?#\\ ") {
		return "", core.Invalid("host", "a host[:port] is required")
	}
	u := url.URL{Scheme: proto, Host: c.Host, Path: "/" + strings.TrimPrefix(c.Path, "/")}
	return u.String(), nil
}

// credential answers git credential requests of workloads.
func (h *handlers) credential(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p, ok := httpx.PrincipalFrom(r.Context())
	if !ok {
		if err := httpx.AuthError(r.Context()); err != nil && !errors.Is(err, core.ErrUnauthenticated) &&
			!errors.Is(err, core.ErrOTPRequired) && !errors.Is(err, core.ErrThrottled) {
			h.log.ErrorContext(r.Context(), "authentication failed", "err", err)
			writeErr(w, http.StatusInternalServerError, "internal server error", "")
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="vcsauth"`)
		writeErr(w, http.StatusUnauthorized, "a vcsauth token with scope credentials is required", "")
		return
	}
	var req CredentialRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		if v, ok := core.AsValidation(err); ok {
			status := http.StatusBadRequest
			if errors.Is(err, httpx.ErrBodyTooLarge) {
				status = http.StatusRequestEntityTooLarge
			}
			writeErr(w, status, v.Error(), "")
			return
		}
		writeErr(w, http.StatusBadRequest, "unreadable request body", "")
		return
	}
	if s := r.URL.Query().Get("wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeErr(w, http.StatusBadRequest, "wait: must be a number of seconds", "")
			return
		}
		req.Wait = n
	}
	wait := min(time.Duration(max(req.Wait, 0))*time.Second, connect.MaxWait)
	remote, err := req.Remote()
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	// A long poll when asked for, which ends early when the server starts
	// draining: then the answer is the one we had.
	cred, err := h.e.CredentialWait(r.Context(), p, "", remote, wait, httpx.Draining(r.Context()))
	if err != nil {
		h.credentialError(w, r, err)
		return
	}
	resp := CredentialResponse{Username: cred.Username, Password: cred.Password}
	if !cred.ExpiresAt.IsZero() {
		resp.PasswordExpiryUTC = cred.ExpiresAt.Unix()
	}
	_ = httpx.WriteJSON(w, http.StatusOK, resp)
}

func (h *handlers) credentialError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		nl   *connect.NotLinkedError
		re   *connect.RefreshError
		prov *connect.ProviderError
	)
	switch v, isValidation := core.AsValidation(err); {
	case errors.As(err, &nl):
		msg := "no linked account for this remote; link one at " + nl.LinkURL
		if nl.Reason != "" {
			msg = "the linked account must be authorized again (" + nl.Reason + "); do it at " + nl.LinkURL
		}
		writeErr(w, http.StatusNotFound, msg, nl.LinkURL)
	case errors.Is(err, core.ErrNotFound):
		writeErr(w, http.StatusNotFound, "no OAuth client you may use serves this remote", "")
	case errors.Is(err, core.ErrForbidden):
		writeErr(w, http.StatusForbidden, "the token lacks scope credentials", "")
	case isValidation:
		writeErr(w, http.StatusBadRequest, v.Error(), "")
	case errors.As(err, &re):
		w.Header().Set("Retry-After", "30")
		writeErr(w, http.StatusServiceUnavailable, "the token could not be refreshed: "+re.Reason, "")
	case errors.As(err, &prov):
		writeErr(w, http.StatusBadGateway, "the provider failed; try again", "")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeErr(w, http.StatusServiceUnavailable, "the request ended before an answer was ready", "")
	default:
		h.log.ErrorContext(r.Context(), "git credential lookup failed", "err", err)
		writeErr(w, http.StatusInternalServerError, "internal server error", "")
	}
}
