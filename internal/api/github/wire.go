package github

import (
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/store"
)

// personalClientID is the client_id GitHub shows as the "app" of a personal token.
const personalClientID = "00000000000000000000"

// appJSON is GitHub's AuthorizationApp.
type appJSON struct {
	URL      string `json:"url"`
	Name     string `json:"name"`
	ClientID string `json:"client_id"`
}

// userJSON is the part of GitHub's User we can fill: our ids are not integers.
type userJSON struct {
	Login     string `json:"login"`
	NodeID    string `json:"node_id"`
	Type      string `json:"type"`
	SiteAdmin bool   `json:"site_admin"`
}

// currentUserJSON is GitHub's User as GET /user shows the caller: the simple user
// above and the profile fields. name is null (vcsauth keeps no display name).
// email and two_factor_authentication are the private part, which GitHub shows
// only to a token allowed to read the profile (its "user" scope): without it email
// is null and two_factor_authentication absent.
type currentUserJSON struct {
	userJSON
	Name                    *string `json:"name"`
	Email                   *string `json:"email"`
	TwoFactorAuthentication *bool   `json:"two_factor_authentication,omitempty"`
	CreatedAt               string  `json:"created_at"`
	UpdatedAt               string  `json:"updated_at"`
}

type grantJSON struct {
	ID        int64    `json:"id"`
	URL       string   `json:"url"`
	App       appJSON  `json:"app"`
	CreatedAt string   `json:"created_at"`
	UpdatedAt string   `json:"updated_at"`
	Scopes    []string `json:"scopes"`
}

type authorizationJSON struct {
	ID             int64    `json:"id"`
	URL            string   `json:"url"`
	Scopes         []string `json:"scopes"`
	Token          string   `json:"token"`
	HashedToken    string   `json:"hashed_token"`
	TokenLastEight string   `json:"token_last_eight"`
	App            appJSON  `json:"app"`
	Note           *string  `json:"note"`
	NoteURL        *string  `json:"note_url"`
	Fingerprint    *string  `json:"fingerprint"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
	ExpiresAt      *string  `json:"expires_at"`
	User           userJSON `json:"user"`
}

// authorizationRequest is the body of create and get-or-create.
type authorizationRequest struct {
	Scopes       []string `json:"scopes"`
	Note         string   `json:"note"`
	NoteURL      string   `json:"note_url"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Fingerprint  string   `json:"fingerprint"`
}

func (in authorizationRequest) new() authserver.NewAuthorization {
	return authserver.NewAuthorization{ClientID: in.ClientID, ClientSecret: in.ClientSecret, Scopes: in.Scopes,
		Note: in.Note, NoteURL: in.NoteURL, Fingerprint: in.Fingerprint}
}

// updateRequest is the body of PATCH: an absent (or null) field is left as it is.
type updateRequest struct {
	Scopes       []string `json:"scopes"`
	AddScopes    []string `json:"add_scopes"`
	RemoveScopes []string `json:"remove_scopes"`
	Note         *string  `json:"note"`
	NoteURL      *string  `json:"note_url"`
	Fingerprint  *string  `json:"fingerprint"`
}

func (h *handlers) grant(g authserver.GrantInfo) grantJSON {
	return grantJSON{ID: g.ID, URL: h.base + "/applications/grants/" + strconv.FormatInt(g.ID, 10),
		App: h.app(g.Application), CreatedAt: timestamp(g.CreatedAt), UpdatedAt: timestamp(g.UpdatedAt),
		Scopes: nonNil(g.Scopes)}
}

// authorization shows a; text is the token's value, given only when it was just made.
func (h *handlers) authorization(a authserver.AuthorizationInfo, u core.User, text string) authorizationJSON {
	out := authorizationJSON{ID: a.ID, URL: h.base + "/authorizations/" + strconv.FormatInt(a.ID, 10),
		Scopes: nonNil(a.Scopes), Token: text, HashedToken: hex.EncodeToString(a.Hash), TokenLastEight: a.LastEight,
		Note: nullable(a.Note), NoteURL: nullable(a.NoteURL), Fingerprint: nullable(a.Fingerprint),
		CreatedAt: timestamp(a.CreatedAt), UpdatedAt: timestamp(a.UpdatedAt),
		User: simpleUser(u)}
	if !a.ExpiresAt.IsZero() {
		s := timestamp(a.ExpiresAt)
		out.ExpiresAt = &s
	}
	if a.ApplicationID == 0 {
		out.App = appJSON{URL: docsURL, Name: a.Note, ClientID: personalClientID}
	} else {
		out.App = h.app(a.Application)
	}
	return out
}

func simpleUser(u core.User) userJSON {
	return userJSON{Login: u.Username, NodeID: u.ID, Type: "User", SiteAdmin: u.SiteAdmin}
}

// profile shows u as GET /user does; private adds the profile's private fields.
func profile(u core.User, private bool) currentUserJSON {
	out := currentUserJSON{userJSON: simpleUser(u), CreatedAt: timestamp(u.CreatedAt), UpdatedAt: timestamp(u.UpdatedAt)}
	if private {
		twoFactor := u.HasTOTP()
		out.Email, out.TwoFactorAuthentication = nullable(u.Email), &twoFactor
	}
	return out
}

func (h *handlers) app(a core.Application) appJSON {
	return appJSON{URL: h.appURL(a), Name: a.Name, ClientID: a.ClientID}
}

// appURL is the application's home as far as we know: the origin of its first web
// redirect URI, or else vcsauth's own address.
func (h *handlers) appURL(a core.Application) string {
	for _, raw := range a.RedirectURIs {
		if u, err := url.Parse(raw); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
	}
	return strings.TrimSuffix(h.base, Prefix)
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// decode reads a JSON body into v; an empty body is an empty object.
func decode(r *http.Request, v any) error {
	err := httpx.DecodeJSON(r, v)
	if ve, ok := core.AsValidation(err); ok && ve.Field == "" && ve.Code == "missing" {
		return nil
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = httpx.WriteJSON(w, status, v)
}

// ---- pagination ----

// defaultPerPage is the page size when a list request names none.
const defaultPerPage = 30

func parsePage(r *http.Request) store.Page { return httpx.PageParams(r, defaultPerPage) }

// setLink sets the Link header of a page of a list at base that holds total items:
// next and last while there are more, first and prev after the first page.
func setLink(w http.ResponseWriter, r *http.Request, base string, p store.Page, total int) {
	last := max(1, (total+p.Size-1)/p.Size)
	q := r.URL.Query()
	link := func(page int, rel string) string {
		q.Set("page", strconv.Itoa(page))
		return "<" + base + "?" + q.Encode() + `>; rel="` + rel + `"`
	}
	var links []string
	if p.Number < last {
		links = append(links, link(p.Number+1, "next"), link(last, "last"))
	}
	if p.Number > 1 {
		links = append(links, link(1, "first"), link(min(p.Number-1, last), "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
}

// ---- errors ----

const (
	docsURL = "https://developer.github.com/v3/oauth_authorizations/"

	msgRequiresAuth     = "Requires authentication"
	msgBadCredentials   = "Bad credentials"
	msgOTPRequired      = "Must specify two-factor authentication OTP code."
	msgThrottled        = "Maximum number of login attempts exceeded. Please try again later."
	msgBasicAuthOnly    = "This API can only be accessed with username and password Basic Auth; a token may only list and read authorizations and grants."
	msgForbidden        = "Forbidden: the token's scopes do not allow this."
	msgValidation       = "Validation Failed"
	msgBadJSON          = "Problems parsing JSON"
	msgTooLarge         = "Request body too large"
	msgNotFound         = "Not Found"
	resourceOauthAccess = "OauthAccess"
)

type errorBody struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url,omitempty"`
}

type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Message: msg, DocumentationURL: docsURL})
}

// writeNotFound is GitHub's 404, which says nothing more.
func writeNotFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, errorBody{Message: msgNotFound})
}

// Render is the dialect's httpx.ErrorRenderer, for panics: the status text, never
// the error's.
func Render(w http.ResponseWriter, _ *http.Request, status int, _ error) {
	if status == http.StatusNotFound {
		writeNotFound(w)
		return
	}
	writeError(w, status, http.StatusText(status))
}

// authFailed answers a request whose credentials did not verify.
func (h *handlers) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, core.ErrOTPRequired):
		// go-github reads this header on a 401 as *TwoFactorAuthError.
		w.Header().Set("X-GitHub-OTP", "required; app")
		writeError(w, http.StatusUnauthorized, msgOTPRequired)
	case errors.Is(err, core.ErrThrottled):
		writeError(w, http.StatusForbidden, msgThrottled)
	case errors.Is(err, core.ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, msgBadCredentials)
	default:
		h.log.ErrorContext(r.Context(), "github api: authentication failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError))
	}
}

// fail answers an error of the engine (or of decoding) in GitHub's words.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, httpx.ErrBodyTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, msgTooLarge)
		return
	}
	if v, ok := core.AsValidation(err); ok {
		if v.Field == "" {
			writeError(w, http.StatusBadRequest, msgBadJSON)
			return
		}
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Message: msgValidation, DocumentationURL: docsURL,
			Errors: []fieldError{{Resource: resourceOauthAccess, Field: v.Field, Code: errorCode(v.Code), Message: v.Message}}})
		return
	}
	switch {
	case errors.Is(err, core.ErrNotFound):
		writeNotFound(w)
	case errors.Is(err, authserver.ErrPasswordRequired):
		writeError(w, http.StatusForbidden, msgBasicAuthOnly)
	case errors.Is(err, core.ErrForbidden):
		writeError(w, http.StatusForbidden, msgForbidden)
	case errors.Is(err, core.ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, msgBadCredentials)
	default:
		h.log.ErrorContext(r.Context(), "github api: request failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError))
	}
}

// errorCode translates the core's validation codes to GitHub's: missing_field,
// invalid, already_exists; anything else is "custom", whose message says more.
func errorCode(code string) string {
	switch code {
	case "missing":
		return "missing_field"
	case "invalid", "unknown":
		return "invalid"
	case "already_exists", "taken":
		return "already_exists"
	}
	return "custom"
}
