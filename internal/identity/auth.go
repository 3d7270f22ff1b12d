package identity

import (
	"context"
	"errors"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// AuthenticatePassword checks a username and password (and the TOTP code when the
// user has a second factor). Failures are counted per username in the database, so
// the limit holds across replicas; past MaxLoginFailures within LoginWindow the
// username is refused without checking the password, which stops guessing at speed.
// Unknown usernames cost the same argon2id work as known ones.
func (s *Service) AuthenticatePassword(ctx context.Context, username, password, otp, remoteAddr string) (core.Principal, error) {
	if remoteAddr != "" && core.RemoteAddr(ctx) == "" {
		ctx = core.WithRemoteAddr(ctx, remoteAddr)
	}
	name := NormalizeUsername(username)
	key := "user:" + name
	now := s.now()
	n, err := s.st.LoginFailures(ctx, key, now, s.window)
	if err != nil {
		return core.Principal{}, err
	}
	if n >= s.maxFailures {
		return core.Principal{}, core.ErrThrottled
	}
	u, err := s.st.UserByUsername(ctx, name)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return core.Principal{}, err
	}
	select {
	case s.verifies <- struct{}{}:
		defer func() { <-s.verifies }()
	case <-ctx.Done():
		return core.Principal{}, ctx.Err()
	}
	if err != nil || u.PasswordHash == "" {
		secret.DummyVerify(password)
		return core.Principal{}, s.failed(ctx, key, now, "", name, "unknown user")
	}
	ok, err := secret.VerifyPassword(u.PasswordHash, password)
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash unreadable", "user", u.ID, "err", err)
	}
	if !ok {
		return core.Principal{}, s.failed(ctx, key, now, u.ID, name, "wrong password")
	}
	if u.HasTOTP() {
		if otp == "" {
			// The right password without a code is the first half of a normal
			// sign-in, not a failure: the client asks for the code and retries.
			return core.Principal{}, core.ErrOTPRequired
		}
		if !s.checkTOTP(ctx, u, otp, now) {
			if err := s.failed(ctx, key, now, u.ID, name, "wrong second-factor code"); errors.Is(err, core.ErrThrottled) {
				return core.Principal{}, err
			}
			return core.Principal{}, core.ErrOTPRequired
		}
	}
	if n > 0 {
		_ = s.st.ClearLoginFailures(ctx, key)
	}
	return core.Principal{User: u, Method: core.AuthPassword, Scopes: []string{core.ScopeAPI}}, nil
}

func (s *Service) checkTOTP(ctx context.Context, u core.User, code string, now time.Time) bool {
	b32, err := s.keys.OpenString(u.TOTPSecret)
	if err != nil {
		s.log.ErrorContext(ctx, "TOTP secret cannot be opened", "user", u.ID, "err", err)
		return false
	}
	seed, err := secret.ParseTOTPSecret(b32)
	if err != nil {
		return false
	}
	step, ok := secret.VerifyTOTP(seed, code, now)
	if !ok {
		return false
	}
	// Accept each time step once, under the row lock, so a code seen by someone
	// looking over a shoulder (or replayed from a log) is already spent.
	_, err = s.st.UpdateUser(ctx, u.ID, func(cur core.User) (core.User, error) {
		if step <= cur.TOTPLastStep {
			return cur, errTOTPReplay
		}
		cur.TOTPLastStep = step
		return cur, nil
	})
	return err == nil
}

var errTOTPReplay = errors.New("TOTP code already used")

// failed counts a failure, audits it, and returns ErrUnauthenticated — or
// ErrThrottled when this failure reached the limit.
func (s *Service) failed(ctx context.Context, key string, now time.Time, userID, name, why string) error {
	n, err := s.st.RecordLoginFailure(ctx, key, now, s.window)
	if err != nil {
		return err
	}
	// What was typed as a username is recorded only when it could be one: a
	// password typed into the wrong field must not land in the audit trail.
	shown := name
	if validateUsername(name) != nil {
		shown = "(not a username)"
	}
	s.Audit(ctx, nil, "session.sign_in_failed", "user", userID, "", "username="+shown+" reason="+why)
	if n >= s.maxFailures {
		return core.ErrThrottled
	}
	return core.ErrUnauthenticated
}

// SessionLifetime is how long a web console session lasts.
const SessionLifetime = 12 * time.Hour

// SignIn checks the credentials and opens a web console session; it returns the
// session cookie's value.
func (s *Service) SignIn(ctx context.Context, username, password, otp string) (string, core.Principal, error) {
	p, err := s.AuthenticatePassword(ctx, username, password, otp, "")
	if err != nil {
		return "", core.Principal{}, err
	}
	text, t, err := s.Mint(ctx, core.Token{Kind: core.TokenSession, UserID: p.User.ID, ExpiresAt: s.Now().Add(SessionLifetime)})
	if err != nil {
		return "", core.Principal{}, err
	}
	p.Method, p.Token = core.AuthSession, t
	s.Audit(ctx, &p, "session.sign_in", "user", p.User.ID, "", "")
	return text, p, nil
}

// SignOut ends the session whose cookie value is text.
func (s *Service) SignOut(ctx context.Context, text string) error {
	p, err := s.AuthenticateSession(ctx, text)
	if err != nil {
		return nil // already gone
	}
	return s.RevokeToken(ctx, p, p.Token.ID)
}

// RotateKeys re-encrypts every stored secret under the keyring's first key and
// returns how many values changed.
func (s *Service) RotateKeys(ctx context.Context, st interface {
	ReencryptSecrets(context.Context, func(core.Sealed) (core.Sealed, error)) (int, error)
}) (int, error) {
	n, err := st.ReencryptSecrets(ctx, func(v core.Sealed) (core.Sealed, error) {
		out, _, err := s.keys.Reseal(v)
		return out, err
	})
	if err != nil {
		return 0, err
	}
	sys := System()
	s.Audit(ctx, &sys, "secrets.rotate", "keyring", s.keys.PrimaryID(), "", "")
	return n, nil
}

// SweepLoginFailures forgets failed sign-ins older than the throttling window: they
// no longer count, and those of names nobody tries again (a password spray over
// made-up usernames) would otherwise stay in the store forever.
func (s *Service) SweepLoginFailures(ctx context.Context) (int, error) {
	return s.st.DeleteLoginFailures(ctx, s.Now().Add(-s.window))
}
