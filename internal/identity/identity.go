// Package identity is the core's service for people and tenants: users, organizations,
// memberships, projects, the personal tokens we issue, authentication of every kind of
// credential a request can carry, sign-in throttling, and the audit trail. The tenancy
// rules it applies are core's (core.CanAdminOrg …); it adds the lookups they need.
//
// It lives outside core because it needs the store, and the store imports core.
package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Options tune a Service. Zero values take the defaults.
type Options struct {
	Now  func() time.Time
	Rand io.Reader
	Log  *slog.Logger
	// MaxLoginFailures within LoginWindow throttle further password sign-ins for
	// that username until the oldest failure leaves the window.
	MaxLoginFailures int
	LoginWindow      time.Duration
}

// Service is the identity service. It is safe for concurrent use.
type Service struct {
	st   store.Identity
	keys *secret.Keyring
	now  func() time.Time
	rand io.Reader
	log  *slog.Logger

	maxFailures int
	window      time.Duration
	// verifies bounds concurrent argon2id checks: each takes ~19 MiB and tens of
	// milliseconds, so a flood of Basic-auth requests must queue, not exhaust memory.
	verifies chan struct{}
}

// New returns a Service over st, sealing secrets with keys.
func New(st store.Identity, keys *secret.Keyring, o Options) *Service {
	s := &Service{st: st, keys: keys, now: o.Now, rand: o.Rand, log: o.Log,
		maxFailures: o.MaxLoginFailures, window: o.LoginWindow}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxFailures <= 0 {
		s.maxFailures = 10
	}
	if s.window <= 0 {
		s.window = 15 * time.Minute
	}
	s.verifies = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	return s
}

// Now returns the service's clock reading, truncated to what the store keeps.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Keys returns the keyring, for engines that share it.
func (s *Service) Keys() *secret.Keyring { return s.keys }

var (
	usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,38}$`)
	orgNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$`)
)

// NormalizeUsername lower-cases a username; usernames are case-insensitive.
func NormalizeUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

func validateUsername(u string) error {
	if u == "" {
		return core.Missing("username")
	}
	if !usernameRE.MatchString(u) {
		return core.Invalid("username", "must be 1 to 39 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

func validatePassword(p string) error {
	if p == "" {
		return core.Missing("password")
	}
	if len(p) < 8 {
		return core.Invalid("password", "must be at least 8 characters")
	}
	if len(p) > 1024 {
		return core.Invalid("password", "must be at most 1024 bytes")
	}
	return nil
}

// Audit records an event; a failure to record is logged, not returned, because the
// action it describes has already happened.
func (s *Service) Audit(ctx context.Context, actor *core.Principal, action, targetType, targetID, orgID, detail string) {
	e := core.AuditEvent{Time: s.Now(), Action: action, TargetType: targetType, TargetID: targetID,
		OrgID: orgID, RemoteAddr: core.RemoteAddr(ctx), Detail: detail}
	if actor != nil {
		e.ActorID, e.ActorName = actor.User.ID, actor.User.Username
	}
	if err := s.st.AppendAudit(context.WithoutCancel(ctx), &e); err != nil {
		s.log.ErrorContext(ctx, "audit event not recorded", "action", action, "target", targetType+":"+targetID, "err", err)
	}
}

// ListAudit returns audit events, newest first. Site admins see all; an org admin sees
// the events of their organization.
func (s *Service) ListAudit(ctx context.Context, p core.Principal, f store.AuditFilter, page store.Page) ([]core.AuditEvent, int, error) {
	if !core.CanAdminSite(p) {
		if f.OrgID == "" {
			return nil, 0, core.ErrForbidden
		}
		role, err := s.Role(ctx, f.OrgID, p.User.ID)
		if err != nil {
			return nil, 0, err
		}
		if !core.CanAdminOrg(p, role) {
			return nil, 0, core.ErrNotFound
		}
	}
	return s.st.ListAudit(ctx, f, page)
}

// system is the principal of the operator's CLI: it may do anything.
var system = core.Principal{User: core.User{Username: "system", SiteAdmin: true}, Method: core.AuthPassword, Scopes: []string{core.ScopeAPI}}

// System returns the principal that `vcsauth admin` acts as.
func System() core.Principal { return system }

func (s *Service) newID(prefix string) (string, error) {
	id, err := secret.NewID(prefix, s.rand)
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id, nil
}

// unknownRef turns ErrNotFound of a referenced object into a validation error on
// field: an unknown username in a request is bad input, not a missing resource.
func unknownRef(err error, field, what, name string) error {
	if errors.Is(err, core.ErrNotFound) {
		return &core.ValidationError{Field: field, Code: "invalid", Message: fmt.Sprintf("no %s named %q", what, name)}
	}
	return err
}
