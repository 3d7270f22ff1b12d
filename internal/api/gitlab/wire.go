package gitlab

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/store"
)

// applicationJSON is GitLab's Application. Secret is set only by create and
// renew-secret.
type applicationJSON struct {
	ID              int64    `json:"id"`
	ApplicationID   string   `json:"application_id"`
	ApplicationName string   `json:"application_name"`
	Secret          string   `json:"secret,omitempty"`
	CallbackURL     string   `json:"callback_url"`
	Confidential    bool     `json:"confidential"`
	Scopes          []string `json:"scopes"`
}

func application(a core.Application, secret string) applicationJSON {
	scopes := a.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return applicationJSON{ID: a.ID, ApplicationID: a.ClientID, ApplicationName: a.Name, Secret: secret,
		CallbackURL: strings.Join(a.RedirectURIs, "\n"), Confidential: a.Confidential, Scopes: scopes}
}

// userJSON is the part of GitLab's User we can fill: our ids are not integers.
type userJSON struct {
	Username         string `json:"username"`
	Name             string `json:"name"`
	State            string `json:"state"`
	Email            string `json:"email"`
	IsAdmin          bool   `json:"is_admin"`
	TwoFactorEnabled bool   `json:"two_factor_enabled"`
	CreatedAt        string `json:"created_at"`
}

func user(u core.User) userJSON {
	return userJSON{Username: u.Username, Name: u.Username, State: "active", Email: u.Email,
		IsAdmin: u.SiteAdmin, TwoFactorEnabled: u.HasTOTP(), CreatedAt: timestamp(u.CreatedAt)}
}

// timestamp is GitLab's form: UTC with milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// ---- request bodies ----

// words is a list given either as one string of white-space separated words or as a
// JSON array of strings. bad records a value of another type, which decoding turns
// into a validation error of the field instead of failing the whole body.
type words struct {
	list []string
	bad  bool
}

func (w *words) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		w.list = strings.Fields(s)
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err == nil {
		for _, s := range l {
			w.list = append(w.list, strings.Fields(s)...)
		}
		return nil
	}
	w.bad = !bytes.Equal(bytes.TrimSpace(b), []byte("null"))
	return nil
}

// flag is a boolean given as a JSON boolean or as a string ("true", "1", …).
type flag struct {
	set, value, bad bool
}

func (f *flag) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		f.bad = true
		return nil
	}
	switch v := v.(type) {
	case nil:
	case bool:
		f.set, f.value = true, v
	case string:
		f.parse(v)
	default:
		f.bad = true
	}
	return nil
}

func (f *flag) parse(s string) {
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	f.set, f.value, f.bad = err == nil, v, err != nil
}

type applicationRequest struct {
	Name         string `json:"name"`
	RedirectURI  words  `json:"redirect_uri"`
	Scopes       words  `json:"scopes"`
	Confidential flag   `json:"confidential"`
}

// decodeApplication reads the body of POST /applications, JSON or a form.
func decodeApplication(r *http.Request) (authserver.NewApplication, error) {
	var in applicationRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		if err := httpx.DecodeJSON(r, &in); err != nil {
			return authserver.NewApplication{}, err
		}
	} else {
		var err error
		if mt == "multipart/form-data" {
			err = r.ParseMultipartForm(MaxBodyBytes)
		} else {
			err = r.ParseForm()
		}
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return authserver.NewApplication{}, httpx.ErrBodyTooLarge
		case err != nil:
			return authserver.NewApplication{}, &core.ValidationError{Code: "invalid", Message: "the request body could not be read"}
		}
		in.Name = r.Form.Get("name")
		in.RedirectURI.list = strings.Fields(strings.Join(r.Form["redirect_uri"], "\n"))
		in.Scopes.list = strings.Fields(strings.Join(r.Form["scopes"], " "))
		if vs, ok := r.Form["confidential"]; ok && len(vs) > 0 {
			in.Confidential.parse(vs[0])
		}
	}
	// A value of the wrong type is Grape's {"error":"… is invalid"}, as a body that
	// cannot be read is.
	switch {
	case in.RedirectURI.bad:
		return authserver.NewApplication{}, &core.ValidationError{Code: "invalid", Message: "redirect_uri is invalid"}
	case in.Scopes.bad:
		return authserver.NewApplication{}, &core.ValidationError{Code: "invalid", Message: "scopes is invalid"}
	case in.Confidential.bad:
		return authserver.NewApplication{}, &core.ValidationError{Code: "invalid", Message: "confidential is invalid"}
	}
	confidential := true // GitLab's default
	if in.Confidential.set {
		confidential = in.Confidential.value
	}
	return authserver.NewApplication{Name: in.Name, RedirectURIs: in.RedirectURI.list, Scopes: in.Scopes.list,
		Confidential: confidential}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	_ = httpx.WriteJSON(w, status, v)
}

// ---- pagination ----

// defaultPerPage is the page size when a list request names none.
const defaultPerPage = 20

func parsePage(r *http.Request) store.Page { return httpx.PageParams(r, defaultPerPage) }

// setPagination sets GitLab's offset pagination headers for a page of a list at base
// that holds total items.
func setPagination(w http.ResponseWriter, r *http.Request, base string, p store.Page, total int) {
	pages := max(1, (total+p.Size-1)/p.Size)
	next, prev := "", ""
	if p.Number < pages {
		next = strconv.Itoa(p.Number + 1)
	}
	if p.Number > 1 {
		prev = strconv.Itoa(min(p.Number-1, pages))
	}
	h := w.Header()
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Page", strconv.Itoa(p.Number))
	h.Set("X-Per-Page", strconv.Itoa(p.Size))
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)

	q := r.URL.Query()
	q.Set("per_page", strconv.Itoa(p.Size))
	link := func(page, rel string) string {
		q.Set("page", page)
		return "<" + base + "?" + q.Encode() + `>; rel="` + rel + `"`
	}
	var links []string
	if prev != "" {
		links = append(links, link(prev, "prev"))
	}
	if next != "" {
		links = append(links, link(next, "next"))
	}
	links = append(links, link("1", "first"), link(strconv.Itoa(pages), "last"))
	h.Set("Link", strings.Join(links, ", "))
}

// ---- errors ----

const (
	msgUnauthorized = "401 Unauthorized"
	msgForbidden    = "403 Forbidden"
	msgThrottled    = "403 Forbidden - too many failed sign-in attempts; try again later"
	msgAppNotFound  = "404 Application Not Found"
	msgNotFound     = "404 Not Found"
	msgTooLarge     = "413 Request Entity Too Large"
	msgConflict     = "409 Conflict"
	msgInternal     = "500 Internal Server Error"
)

// errorBody is one of GitLab's error shapes: {"message":"…"},
// {"message":{"field":["…"]}} or {"error":"…"}.
type errorBody struct {
	Message any    `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Message: msg})
}

// Render is the dialect's httpx.ErrorRenderer, for panics: GitLab's "<code> <text>"
// message, never the error's text.
func Render(w http.ResponseWriter, _ *http.Request, status int, _ error) {
	writeMessage(w, status, strconv.Itoa(status)+" "+http.StatusText(status))
}

// authFailed answers a request whose credentials did not verify.
func (h *handlers) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, core.ErrThrottled):
		writeMessage(w, http.StatusForbidden, msgThrottled)
	case errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrOTPRequired):
		writeMessage(w, http.StatusUnauthorized, msgUnauthorized)
	default:
		h.log.ErrorContext(r.Context(), "gitlab api: authentication failed", "path", r.URL.Path, "err", err)
		writeMessage(w, http.StatusInternalServerError, msgInternal)
	}
}

// fail answers an error of the engine (or of decoding) in GitLab's words; notFound
// is the 404 message of the endpoint.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error, notFound string) {
	if errors.Is(err, httpx.ErrBodyTooLarge) {
		writeMessage(w, http.StatusRequestEntityTooLarge, msgTooLarge)
		return
	}
	if v, ok := core.AsValidation(err); ok {
		switch {
		case v.Field == "":
			writeJSON(w, http.StatusBadRequest, errorBody{Error: v.Message})
		case v.Code == "missing":
			writeJSON(w, http.StatusBadRequest, errorBody{Error: v.Field + " is missing"})
		default:
			writeJSON(w, http.StatusBadRequest, errorBody{Message: map[string][]string{v.Field: {v.Message}}})
		}
		return
	}
	switch {
	case errors.Is(err, core.ErrNotFound):
		if notFound == "" {
			notFound = msgNotFound
		}
		writeMessage(w, http.StatusNotFound, notFound)
	case errors.Is(err, core.ErrForbidden):
		writeMessage(w, http.StatusForbidden, msgForbidden)
	case errors.Is(err, core.ErrUnauthenticated):
		writeMessage(w, http.StatusUnauthorized, msgUnauthorized)
	case errors.Is(err, core.ErrConflict):
		writeMessage(w, http.StatusConflict, msgConflict)
	default:
		h.log.ErrorContext(r.Context(), "gitlab api: request failed", "path", r.URL.Path, "err", err)
		writeMessage(w, http.StatusInternalServerError, msgInternal)
	}
}
