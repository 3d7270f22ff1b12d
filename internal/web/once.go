package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// A secret we create (a personal token, an application's client secret) is shown
// exactly once. The form's POST creates it and redirects (303) to a page that shows
// it — so reloading that page does not post the form again and create another —
// and the value travels to that page in a cookie:
//
//   - sealed with the keyring (AES-GCM), so the browser holds only ciphertext;
//   - bound to the session (the CSRF token derived from it), so another session
//     cannot open it;
//   - HttpOnly, limited to the one path that shows it, and short-lived;
//   - deleted by the response that shows it, so a reload finds nothing.
//
// Nothing is kept on the server, so any replica can show it.
const (
	onceCookie = "vcsauth_once"
	onceMaxAge = 5 * time.Minute
)

// onceValue is what the cookie carries.
type onceValue struct {
	Kind    string            `json:"k"`
	Session string            `json:"s"`
	Expires int64             `json:"e"`
	Fields  map[string]string `json:"f"`
}

// showOnce stores fields for the page at path (which must read them with takeOnce
// and kind) and redirects there.
func (s *Site) showOnce(w http.ResponseWriter, r *http.Request, path, kind string, fields map[string]string) {
	v := onceValue{Kind: kind, Session: stateFrom(r).csrf, Expires: s.now().Add(onceMaxAge).Unix(), Fields: fields}
	raw, err := json.Marshal(v)
	if err == nil {
		var sealed core.Sealed
		if sealed, err = s.acc.Keys().Seal(raw); err == nil {
			c := s.cookie(s.onceName(), string(sealed), int(onceMaxAge.Seconds()))
			c.Path = path
			c.SameSite = http.SameSiteStrictMode
			http.SetCookie(w, c)
			http.Redirect(w, r, path, http.StatusSeeOther)
			return
		}
	}
	// The secret was created but cannot be shown: say so rather than pretend.
	s.log.ErrorContext(r.Context(), "sealing a secret for its one display failed", "err", err)
	s.Error(w, r, http.StatusInternalServerError, "The secret was created but could not be shown. Revoke it and create another.")
}

// takeOnce returns the fields stored for this page and deletes the cookie, so the
// secret cannot be shown again. ok is false when there is none (already shown,
// expired, another session's, or never made).
func (s *Site) takeOnce(w http.ResponseWriter, r *http.Request, kind string) (map[string]string, bool) {
	c, err := r.Cookie(s.onceName())
	if err != nil || c.Value == "" {
		return nil, false
	}
	del := s.cookie(s.onceName(), "", -1)
	del.Path = r.URL.Path
	http.SetCookie(w, del)
	raw, err := s.acc.Keys().Open(core.Sealed(c.Value))
	if err != nil {
		return nil, false
	}
	var v onceValue
	if json.Unmarshal(raw, &v) != nil || v.Kind != kind || !checkCSRF(stateFrom(r).csrf, v.Session) || s.now().Unix() > v.Expires {
		return nil, false
	}
	return v.Fields, true
}

func (s *Site) onceName() string {
	if s.secure {
		return "__Secure-" + onceCookie // __Host- requires Path=/
	}
	return onceCookie
}
