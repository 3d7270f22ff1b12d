package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
)

// NewUser is the input of CreateUser.
type NewUser struct {
	Username  string
	Password  string
	Email     string
	SiteAdmin bool
	// TOTPSecret, base32, enrolls a second factor at once (operators provisioning
	// accounts); empty for none.
	TOTPSecret string
}

// CreateUser creates a user. Only site admins (and the operator's CLI) may.
func (s *Service) CreateUser(ctx context.Context, actor core.Principal, in NewUser) (core.User, error) {
	if !core.CanAdminSite(actor) {
		return core.User{}, core.ErrForbidden
	}
	username := NormalizeUsername(in.Username)
	if err := validateUsername(username); err != nil {
		return core.User{}, err
	}
	if err := validatePassword(in.Password); err != nil {
		return core.User{}, err
	}
	if len(in.Email) > 254 || (in.Email != "" && !looksLikeEmail(in.Email)) {
		return core.User{}, core.Invalid("email", "is not an email address")
	}
	hash, err := secret.HashPassword(in.Password, s.rand)
	if err != nil {
		return core.User{}, fmt.Errorf("hash password: %w", err)
	}
	var totp core.Sealed
	if in.TOTPSecret != "" {
		seed, err := secret.ParseTOTPSecret(in.TOTPSecret)
		if err != nil || len(seed) < 10 {
			return core.User{}, core.Invalid("totp_secret", "must be base32 and at least 80 bits")
		}
		if totp, err = s.keys.SealString(in.TOTPSecret); err != nil {
			return core.User{}, err
		}
	}
	id, err := s.newID("user")
	if err != nil {
		return core.User{}, err
	}
	now := s.Now()
	u := core.User{ID: id, Username: username, Email: in.Email, PasswordHash: hash, TOTPSecret: totp,
		SiteAdmin: in.SiteAdmin, PasswordChangedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := s.st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, core.ErrConflict) {
			return core.User{}, &core.ValidationError{Field: "username", Code: "taken", Message: fmt.Sprintf("username %q is taken", username)}
		}
		return core.User{}, err
	}
	s.Audit(ctx, &actor, "user.create", "user", u.ID, "", "username="+username)
	return u, nil
}

func looksLikeEmail(e string) bool {
	at := -1
	for i := 0; i < len(e); i++ {
		switch c := e[i]; {
		case c == '@':
			if at >= 0 {
				return false
			}
			at = i
		case c <= ' ' || c == 0x7f:
			return false
		}
	}
	return at > 0 && at < len(e)-1
}

// UserByUsername looks a user up by name.
func (s *Service) UserByUsername(ctx context.Context, username string) (core.User, error) {
	return s.st.UserByUsername(ctx, NormalizeUsername(username))
}

// User looks a user up by id.
func (s *Service) User(ctx context.Context, id string) (core.User, error) { return s.st.User(ctx, id) }

// ListUsers lists users; site admins only.
func (s *Service) ListUsers(ctx context.Context, actor core.Principal, p store.Page) ([]core.User, int, error) {
	if !core.CanAdminSite(actor) {
		return nil, 0, core.ErrForbidden
	}
	return s.st.ListUsers(ctx, p)
}

// ChangePassword sets a new password after checking the current one (people changing
// their own) — or without it for site admins resetting someone else's. Every web
// session of the user created before the change stops working.
func (s *Service) ChangePassword(ctx context.Context, actor core.Principal, userID, current, next string) error {
	self := actor.User.ID == userID
	if !self && !core.CanAdminSite(actor) {
		return core.ErrNotFound
	}
	if err := validatePassword(next); err != nil {
		return err
	}
	u, err := s.st.User(ctx, userID)
	if err != nil {
		return err
	}
	if self {
		ok, err := secret.VerifyPassword(u.PasswordHash, current)
		if err != nil || !ok {
			return core.Invalid("current_password", "is not right")
		}
	}
	hash, err := secret.HashPassword(next, s.rand)
	if err != nil {
		return err
	}
	now := s.Now()
	if _, err := s.st.UpdateUser(ctx, userID, func(u core.User) (core.User, error) {
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
		return u, nil
	}); err != nil {
		return err
	}
	if _, err := s.st.RevokeTokens(ctx, store.TokenFilter{UserID: userID, Kinds: []core.TokenKind{core.TokenSession}}, now); err != nil {
		return err
	}
	s.Audit(ctx, &actor, "user.password_change", "user", userID, "", "")
	return nil
}

// EnrollTOTP sets the user's second factor, after checking a code made from it so a
// mistyped secret cannot lock the person out.
func (s *Service) EnrollTOTP(ctx context.Context, actor core.Principal, b32, code string) error {
	seed, err := secret.ParseTOTPSecret(b32)
	if err != nil || len(seed) < 10 {
		return core.Invalid("totp_secret", "must be base32 and at least 80 bits")
	}
	step, ok := secret.VerifyTOTP(seed, code, s.now())
	if !ok {
		return core.Invalid("otp", "the code does not match; check the authenticator's clock")
	}
	sealed, err := s.keys.SealString(b32)
	if err != nil {
		return err
	}
	if _, err := s.st.UpdateUser(ctx, actor.User.ID, func(u core.User) (core.User, error) {
		// The code that proved the enrolment is spent: it must not also sign in.
		u.TOTPSecret, u.TOTPLastStep, u.UpdatedAt = sealed, step, s.Now()
		return u, nil
	}); err != nil {
		return err
	}
	s.Audit(ctx, &actor, "user.totp_enroll", "user", actor.User.ID, "", "")
	return nil
}

// RemoveTOTP removes the user's second factor; it takes the password again.
func (s *Service) RemoveTOTP(ctx context.Context, actor core.Principal, password string) error {
	u, err := s.st.User(ctx, actor.User.ID)
	if err != nil {
		return err
	}
	if ok, err := secret.VerifyPassword(u.PasswordHash, password); err != nil || !ok {
		return core.Invalid("password", "is not right")
	}
	if _, err := s.st.UpdateUser(ctx, u.ID, func(u core.User) (core.User, error) {
		u.TOTPSecret, u.UpdatedAt = "", s.Now()
		return u, nil
	}); err != nil {
		return err
	}
	s.Audit(ctx, &actor, "user.totp_remove", "user", u.ID, "", "")
	return nil
}
