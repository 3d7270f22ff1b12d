package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// CSRFField is the name of the hidden form field that carries the CSRF token.
const CSRFField = "csrf_token"

// maxFormBytes bounds the body of a page's form; ours are a few hundred bytes.
const maxFormBytes = 64 << 10

// pageState is what Pages learned about the request.
type pageState struct {
	p        core.Principal
	signedIn bool
	session  string // the session cookie's value, when signedIn
	csrf     string // the token every form of this request must carry
}

type stateKey struct{}

func stateFrom(r *http.Request) pageState {
	st, _ := r.Context().Value(stateKey{}).(pageState)
	return st
}

// Session returns the signed-in person of a request that went through Pages.
func Session(r *http.Request) (core.Principal, bool) {
	st := stateFrom(r)
	return st.p, st.signedIn
}

// CSRFToken returns the token a form rendered for r must carry in CSRFField. Render
// puts it in every page's data (.CSRF), so templates rarely need this.
func CSRFToken(r *http.Request) string { return stateFrom(r).csrf }

// The CSRF token is derived from a cookie the browser holds and no other site can
// read: from the session cookie once the person is signed in, else from a random
// pre-session cookie. No server-side key and no table are needed, so every replica
// checks every token, and the token changes with each sign-in (no fixation). The
// derivation is one-way and domain-separated, so a token seen in a page gives
// nothing towards the session itself.
func csrfFor(kind, cookie string) string {
	h := sha256.New()
	io.WriteString(h, "vcsauth csrf v1\x00"+kind+"\x00")
	io.WriteString(h, cookie)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// checkCSRF compares in constant time; an empty expectation never matches.
func checkCSRF(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// Pages wraps every HTML page handler. It sets the page security headers, resolves
// the session cookie (Session), and refuses any unsafe request (POST, …) whose form
// lacks a valid CSRF token with a 403 page, before the handler runs.
func (s *Site) Pages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w.Header(), nil)
		st, err := s.resolve(w, r)
		if err != nil {
			s.log.ErrorContext(r.Context(), "session lookup failed", "err", err)
			s.Error(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		if !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				s.Error(w, r, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !checkCSRF(st.csrf, r.PostForm.Get(CSRFField)) || len(r.PostForm[CSRFField]) != 1 {
				s.Error(w, r, http.StatusForbidden, "This form has expired or did not come from this site. Go back, reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// resolve finds the session, and the CSRF token that goes with it; for a person who
// is not signed in it makes sure a pre-session cookie exists (on safe requests: an
// unsafe one without it fails the CSRF check, as it should).
func (s *Site) resolve(w http.ResponseWriter, r *http.Request) (pageState, error) {
	var st pageState
	if c, err := r.Cookie(s.sessionKey); err == nil && c.Value != "" {
		p, ok, err := s.session(r, c.Value)
		if err != nil {
			return st, err
		}
		if ok {
			return pageState{p: p, signedIn: true, session: c.Value, csrf: csrfFor("session", c.Value)}, nil
		}
	}
	if c, err := r.Cookie(s.csrfKey); err == nil && validPreSession(c.Value) {
		st.csrf = csrfFor("pre", c.Value)
		return st, nil
	}
	if safeMethod(r.Method) {
		v, err := s.newPreSession()
		if err != nil {
			return st, err
		}
		http.SetCookie(w, s.cookie(s.csrfKey, v, 0))
		st.csrf = csrfFor("pre", v)
	}
	return st, nil
}

// session checks a session cookie's value. A principal that the server's resolvers
// already found from this very cookie is reused, which saves a database read.
func (s *Site) session(r *http.Request, value string) (core.Principal, bool, error) {
	if p, ok := httpx.PrincipalFrom(r.Context()); ok && p.Method == core.AuthSession {
		var h [32]byte
		secret.HashTokenInto(&h, value)
		if secret.Equal(h[:], p.Token.Hash) {
			return p, true, nil
		}
	}
	p, err := s.id.AuthenticateSession(r.Context(), value)
	switch {
	case err == nil:
		return p, true, nil
	case errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrNotFound):
		return core.Principal{}, false, nil
	}
	return core.Principal{}, false, err
}

const preSessionLen = 43 // base64url of 32 bytes

func (s *Site) newPreSession() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func validPreSession(v string) bool {
	if len(v) != preSessionLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

// cookie builds one of our cookies: HttpOnly, SameSite=Lax (sent on the top-level
// navigation that brings a person back from an application, withheld from
// cross-site posts), Secure when the site is https. maxAge 0 means a browser-session
// cookie; a negative maxAge deletes it.
func (s *Site) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
}

// RequireSession returns the signed-in person, or sends the browser to the sign-in
// page (which comes back to this URL for a GET, to next otherwise) and returns false.
func (s *Site) RequireSession(w http.ResponseWriter, r *http.Request) (core.Principal, bool) {
	if p, ok := Session(r); ok {
		return p, true
	}
	next := "/"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		next = r.URL.RequestURI()
	}
	SignInRedirect(w, r, next)
	return core.Principal{}, false
}

// SignInRedirect sends the browser to the sign-in page, to come back to next.
func SignInRedirect(w http.ResponseWriter, r *http.Request, next string) {
	http.Redirect(w, r, LoginURL(next), http.StatusSeeOther)
}

// LoginURL is the sign-in page's URL that returns to next (when next is safe).
func LoginURL(next string) string {
	if n, ok := SafeNext(next); ok && n != "/" {
		return "/login?" + url.Values{"next": {n}}.Encode()
	}
	return "/login"
}

// maxNextLen bounds the ?next= of the sign-in page: an authorization request with
// a long state still fits.
const maxNextLen = 4096

// SafeNext checks a ?next= value: only a path on this site ("/…", not "//…" nor
// "/\…", no scheme, host or user information, no control characters or backslash)
// is followed, so the sign-in page cannot be turned into an open redirector. It
// returns next as given, or "/" and false.
func SafeNext(next string) (string, bool) {
	if next == "" || len(next) > maxNextLen || next[0] != '/' {
		return "/", false
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/", false
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "/", false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/", false
	}
	return next, true
}
