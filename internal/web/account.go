package web

import (
	"errors"
	"net/http"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// AccountPage is the person's account: second factor and password.
type AccountPage struct {
	Email         string
	SiteAdmin     bool
	HasTOTP       bool
	Created       string
	PasswordError string
}

// TOTPPage enrolls a second factor (Secret and URI of a fresh seed, a code to
// confirm) or, when one is enrolled, removes it (with the password).
type TOTPPage struct {
	Enrolled bool
	Secret   string
	URI      string
	Error    string
}

// totpIssuer names vcsauth in authenticator apps.
const totpIssuer = "vcsauth"

func (s *Site) accountPage(r *http.Request) AccountPage {
	u := principal(r).User
	return AccountPage{Email: u.Email, SiteAdmin: u.SiteAdmin, HasTOTP: u.HasTOTP(), Created: formatTime(u.CreatedAt)}
}

func (s *Site) account(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "account", s.accountPage(r))
}

// changePassword checks the current password and sets the new one. Every session
// of the person, this one included, ends with it: they sign in again.
func (s *Site) changePassword(w http.ResponseWriter, r *http.Request) {
	p, f := principal(r), r.PostForm
	page := s.accountPage(r)
	if f.Get("new_password") != f.Get("confirm_password") {
		page.PasswordError = "The new password and its confirmation differ."
		s.Render(w, r, http.StatusUnprocessableEntity, "account", page)
		return
	}
	err := s.acc.ChangePassword(actorContext(r), p, p.User.ID, f.Get("current_password"), f.Get("new_password"))
	if msg, status, ok := formError(err); ok {
		page.PasswordError = msg
		s.Render(w, r, status, "account", page)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, s.cookie(s.sessionKey, "", -1))
	done(w, r, "/login", "password")
}

func (s *Site) totpForm(w http.ResponseWriter, r *http.Request) {
	u := principal(r).User
	if u.HasTOTP() {
		s.Render(w, r, http.StatusOK, "totp", TOTPPage{Enrolled: true})
		return
	}
	b32, err := secret.NewTOTPSecret(s.rand)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "totp", TOTPPage{Secret: b32, URI: secret.TOTPURI(totpIssuer, u.Username, b32)})
}

// enrollTOTP confirms the seed the form carries with a code made from it. The seed
// travels in the form (the page is never cached); a wrong code shows the same seed
// again, since the person may have added it to their app already.
func (s *Site) enrollTOTP(w http.ResponseWriter, r *http.Request) {
	p, f := principal(r), r.PostForm
	if p.User.HasTOTP() {
		s.Render(w, r, http.StatusConflict, "totp", TOTPPage{Enrolled: true, Error: "Two-factor authentication is on already."})
		return
	}
	b32 := f.Get("totp_secret")
	err := s.acc.EnrollTOTP(actorContext(r), p, b32, f.Get("otp"))
	if v, ok := core.AsValidation(err); ok {
		page := TOTPPage{Error: sentence(v)}
		if v.Field == "otp" {
			page.Error = "That code does not match. Check the time on your device and enter the current code."
		}
		if _, perr := secret.ParseTOTPSecret(b32); perr == nil {
			page.Secret, page.URI = b32, secret.TOTPURI(totpIssuer, p.User.Username, b32)
		} else {
			s.totpForm(w, r)
			return
		}
		s.Render(w, r, http.StatusUnprocessableEntity, "totp", page)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/account", "totp-enrolled")
}

func (s *Site) removeTOTP(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	err := s.acc.RemoveTOTP(actorContext(r), p, r.PostForm.Get("password"))
	if _, ok := core.AsValidation(err); ok || errors.Is(err, core.ErrUnauthenticated) {
		s.Render(w, r, http.StatusUnprocessableEntity, "totp", TOTPPage{Enrolled: true, Error: "The password is not right."})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/account", "totp-removed")
}
