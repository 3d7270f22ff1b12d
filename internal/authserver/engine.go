package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Paths of the standard endpoints, relative to the issuer. The metadata document and
// the device flow's verification URI are built from them.
const (
	PathAuthorize  = "/oauth/authorize"
	PathToken      = "/oauth/token"
	PathDeviceCode = "/oauth/device/code"
	PathDevice     = "/device"
	PathRevoke     = "/oauth/revoke"
	PathIntrospect = "/oauth/introspect"
	PathMetadata   = "/.well-known/oauth-authorization-server"
)

// Grant types of the token endpoint.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Default lifetimes (Options).
const (
	DefaultAccessTokenLifetime  = time.Hour
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
	DefaultCodeLifetime         = 10 * time.Minute
	DefaultDeviceCodeLifetime   = 10 * time.Minute
	DefaultDeviceInterval       = 5 * time.Second
	// slowDownStep is what RFC 8628 §3.5 adds to the interval on every slow_down.
	slowDownStep = 5 * time.Second
)

// Store is what the engine needs of the store: the Downstream group, and the token,
// user and throttling methods of the Identity group.
type Store interface {
	store.Downstream
	User(ctx context.Context, id string) (core.User, error)
	Token(ctx context.Context, id int64) (core.Token, error)
	LookupToken(ctx context.Context, hash []byte) (core.Token, core.User, error)
	ListTokens(ctx context.Context, f store.TokenFilter, p store.Page) ([]core.Token, int, error)
	UpdateToken(ctx context.Context, id int64, fn func(core.Token) (core.Token, error)) (core.Token, error)
	RevokeTokens(ctx context.Context, f store.TokenFilter, at time.Time) (int, error)
	RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	LoginFailures(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
}

// Options configure an Engine. Zero durations take the defaults above.
type Options struct {
	Store Store
	// Identity mints tokens (it stores only their hashes) and records audit events.
	Identity *identity.Service
	// Issuer is vcsauth's external URL, e.g. "https://vcsauth.example.com": the
	// issuer of RFC 8414 and the iss parameter of RFC 9207, and the base of every
	// endpoint URL. A trailing slash is dropped.
	Issuer string

	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	CodeLifetime         time.Duration
	DeviceCodeLifetime   time.Duration
	// DeviceInterval is the polling interval the device flow announces, in whole
	// seconds (at least one).
	DeviceInterval time.Duration

	Now  func() time.Time
	Rand io.Reader
	Log  *slog.Logger
}

// Engine is the authorization server. It is safe for concurrent use; everything that
// matters lives in the store, so any number of replicas can share one database.
type Engine struct {
	st     Store
	id     *identity.Service
	issuer string

	accessTTL, refreshTTL, codeTTL, deviceTTL, interval time.Duration

	now  func() time.Time
	rand io.Reader
	log  *slog.Logger
}

// New returns an Engine.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Identity == nil {
		return nil, errors.New("authserver: a store and an identity service are required")
	}
	issuer := strings.TrimRight(o.Issuer, "/")
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("authserver: issuer %q must be an absolute http or https URL without query or fragment", o.Issuer)
	}
	e := &Engine{st: o.Store, id: o.Identity, issuer: issuer,
		accessTTL:  orDefault(o.AccessTokenLifetime, DefaultAccessTokenLifetime),
		refreshTTL: orDefault(o.RefreshTokenLifetime, DefaultRefreshTokenLifetime),
		codeTTL:    orDefault(o.CodeLifetime, DefaultCodeLifetime),
		deviceTTL:  orDefault(o.DeviceCodeLifetime, DefaultDeviceCodeLifetime),
		interval:   orDefault(o.DeviceInterval, DefaultDeviceInterval).Round(time.Second),
		now:        o.Now, rand: o.Rand, log: o.Log}
	if e.interval < time.Second {
		e.interval = time.Second
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.rand == nil {
		e.rand = rand.Reader
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Issuer returns the issuer identifier.
func (e *Engine) Issuer() string { return e.issuer }

// nowUTC is the clock truncated to what the store keeps, so that what we compare
// after a round trip is what we wrote.
func (e *Engine) nowUTC() time.Time { return e.now().UTC().Truncate(time.Microsecond) }

// newFamilyID draws the family of the tokens one authorization code grant creates.
func (e *Engine) newFamilyID() (string, error) {
	id, err := secret.NewID("fam", e.rand)
	if err != nil {
		return "", fmt.Errorf("family id: %w", err)
	}
	return id, nil
}

// deviceFamilyID is the family of the tokens of a device authorization. The
// DeviceAuthorization row has no family column, so the id is derived from the
// (random, secret) device code's hash: a replayed device code finds its family again.
func deviceFamilyID(deviceCodeHash []byte) string {
	h := sha256.Sum256(append([]byte("vcsauth device family\x00"), deviceCodeHash...))
	return "famd-" + base64.RawURLEncoding.EncodeToString(h[:12])
}

// revokeFamily revokes every live token of a family. An empty family would make the
// filter match every token of the user and application, so it is refused.
func (e *Engine) revokeFamily(ctx context.Context, userID string, appID int64, family string) (int, error) {
	if family == "" || userID == "" || appID == 0 {
		return 0, nil
	}
	return e.st.RevokeTokens(context.WithoutCancel(ctx), store.TokenFilter{UserID: userID, ApplicationID: appID, FamilyID: family}, e.nowUTC())
}

// internal wraps an unexpected error (the store failing) for the caller, who answers
// 500 and logs it; it is never an *Error, so no detail reaches a client.
func internal(what string, err error) error { return fmt.Errorf("authserver: %s: %w", what, err) }
