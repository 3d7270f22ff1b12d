package web

import (
	"errors"
	"net/http"
	"path"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

func (s *Site) home(w http.ResponseWriter, r *http.Request) {
	p, ok := s.RequireSession(w, r)
	if !ok {
		return
	}
	var page HomePage
	if s.up != nil {
		// A dashboard that hides a broken connection is worse than none: count them.
		if conns, err := s.up.UserConnections(r.Context(), p); err == nil {
			for _, c := range conns {
				if c.Health != core.HealthHealthy {
					page.Attention++
				}
			}
		}
	}
	s.Render(w, r, http.StatusOK, "home", page)
}

func (s *Site) loginForm(w http.ResponseWriter, r *http.Request) {
	next, ok := SafeNext(r.URL.Query().Get("next"))
	if _, signedIn := Session(r); signedIn {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if !ok {
		next = ""
	}
	s.Render(w, r, http.StatusOK, "login", LoginPage{Next: next})
}

// login is the form's POST: username and password, and otp on the second step for
// people with a second factor (the operating contract in DESIGN.md).
func (s *Site) login(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	page := LoginPage{Username: f.Get("username")}
	if n, ok := SafeNext(f.Get("next")); ok {
		page.Next = n
	}
	ctx := core.WithRemoteAddr(r.Context(), httpx.ClientIP(r))
	text, _, err := s.id.SignIn(ctx, f.Get("username"), f.Get("password"), f.Get("otp"))
	switch {
	case err == nil:
	case errors.Is(err, core.ErrOTPRequired):
		page.OTPStep, page.Password = true, f.Get("password")
		status := http.StatusOK
		if f.Get("otp") != "" {
			page.Error, status = "That code is not right. Try the current one.", http.StatusUnauthorized
		}
		s.Render(w, r, status, "login", page)
		return
	case errors.Is(err, core.ErrThrottled):
		page.Error = "Too many failed attempts. Wait a few minutes, then try again."
		s.Render(w, r, http.StatusTooManyRequests, "login", page)
		return
	case errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrNotFound):
		page.Error = "Wrong username or password."
		s.Render(w, r, http.StatusUnauthorized, "login", page)
		return
	default:
		s.log.ErrorContext(r.Context(), "sign-in failed", "err", err)
		s.Error(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
		return
	}
	// A new session replaces the old one, which must not outlive it unseen.
	if st := stateFrom(r); st.signedIn {
		if err := s.id.SignOut(r.Context(), st.session); err != nil {
			s.log.WarnContext(r.Context(), "ending the previous session failed", "err", err)
		}
	}
	http.SetCookie(w, s.cookie(s.sessionKey, text, int(s.maxAge.Seconds())))
	next := page.Next
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Site) logout(w http.ResponseWriter, r *http.Request) {
	if st := stateFrom(r); st.signedIn {
		if err := s.id.SignOut(r.Context(), st.session); err != nil {
			s.log.ErrorContext(r.Context(), "sign-out failed", "err", err)
			s.Error(w, r, http.StatusInternalServerError, "Signing out failed. Try again in a moment.")
			return
		}
	}
	http.SetCookie(w, s.cookie(s.sessionKey, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// serveStatic serves the embedded stylesheet (and whatever else static/ holds).
func (s *Site) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name != path.Base(name) || name == "." || name == "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, s.static, name)
}
