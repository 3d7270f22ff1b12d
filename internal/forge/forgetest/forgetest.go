// Package forgetest is a fake Git provider for tests: an httptest.Server that speaks
// one provider kind's wire dialect closely enough that the real forge code — same
// paths, same encodings, same error conventions — works against it.
//
// What it imitates, per kind (see wire.go): the authorize endpoint (auto-approves
// the configured User and redirects to the exact registered redirect URI with code
// and state; S256 PKCE where the kind takes it), the token endpoint
// (authorization_code with PKCE verification, refresh_token with single-use
// rotating refresh tokens, device_code with authorization_pending / slow_down /
// expired_token / access_denied and RFC 8628 interval enforcement), the device
// authorization endpoint, the user API in the provider's JSON shape, revocation,
// 401 for revoked and expired tokens, the kind's client authentication (Basic,
// form, Azure DevOps' client_assertion) and answer encoding (GitHub: form-encoded
// unless Accept: application/json, errors with status 200).
//
// The fake has its own clock, which tests move with Advance: device intervals,
// device code and token lifetimes are judged by it, so tests need no sleeps.
// Controls inject faults (FailNext, RateLimitNext, GarbageNext, HangNext,
// SetLatency) into every endpoint but the browser authorize endpoint. Counters are
// atomic and count requests the emulation answered (not those consumed by a fault).
// Everything is safe for concurrent use.
package forgetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

// User is the account the fake authorizes and describes.
type User struct {
	ID        string // numeric for the kinds whose ids are numbers
	Login     string
	Name      string
	Email     string
	AvatarURL string
	// Password is accepted with Login in HTTP Basic auth where the kind takes user
	// names and passwords (PasswordAuth). Empty: no password works.
	Password string
}

// DefaultUser is the user of a fake made without WithUser.
var DefaultUser = User{ID: "1001", Login: "octo", Name: "Octo Cat", Email: "octo@example.com",
	AvatarURL: "https://avatars.example.com/u/1001", Password: "app-password"}

// Default client registration.
const (
	DefaultClientID     = "client-id"
	DefaultClientSecret = "client-secret"
	DefaultRedirectURI  = "https://vcsauth.test/auth/oc-test/callback"
)

type config struct {
	user          User
	clientID      string
	clientSecret  string
	redirectURI   string
	accessTTL     *time.Duration
	githubApp     bool
	interval      time.Duration
	deviceTTL     time.Duration
	keepRefresh   bool
	entraTenant   string
	refreshTTL    time.Duration
	rateLimitWait time.Duration
}

// Option configures a fake.
type Option func(*config)

// WithUser sets the account the fake authorizes.
func WithUser(u User) Option { return func(c *config) { c.user = u } }

// WithClient sets the OAuth app registered at the fake.
func WithClient(id, secret, redirectURI string) Option {
	return func(c *config) { c.clientID, c.clientSecret, c.redirectURI = id, secret, redirectURI }
}

// AccessTokenLifetime overrides the kind's access-token lifetime; 0 or less: tokens
// never expire.
func AccessTokenLifetime(d time.Duration) Option { return func(c *config) { c.accessTTL = &d } }

// GitHubApp makes a GitHub fake issue what a GitHub App with expiring user tokens
// does: 8-hour access tokens and 6-month single-use refresh tokens. Without it, a
// GitHub fake is an OAuth app: tokens that never expire, no refresh tokens.
func GitHubApp() Option { return func(c *config) { c.githubApp = true } }

// DeviceInterval sets the device flow's polling interval (whole seconds on the wire;
// the fake's clock judges it). Default 5 s.
func DeviceInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// DeviceCodeLifetime sets how long device codes live (default: the kind's).
func DeviceCodeLifetime(d time.Duration) Option { return func(c *config) { c.deviceTTL = d } }

// KeepRefreshTokens makes a refresh answer the same refresh token, which stays
// valid: a provider that does not rotate.
func KeepRefreshTokens() Option { return func(c *config) { c.keepRefresh = true } }

// RefreshTokenLifetime makes refresh tokens expire (default: they do not).
func RefreshTokenLifetime(d time.Duration) Option { return func(c *config) { c.refreshTTL = d } }

// AzureEntra makes an ado_services fake speak Microsoft Entra ID OAuth for tenant
// instead of Azure DevOps' own vssps OAuth.
func AzureEntra(tenant string) Option { return func(c *config) { c.entraTenant = tenant } }

// RateLimitWait sets how long rate-limit answers tell clients to wait (default 60 s).
func RateLimitWait(d time.Duration) Option { return func(c *config) { c.rateLimitWait = d } }

// Tokens are what the fake issued.
type Tokens struct {
	AccessToken  string
	RefreshToken string    // empty when the kind (or option) issues none
	Expiry       time.Time // zero: never; by the fake's clock
}

type token struct {
	login    string
	clientID string
	scope    string
	expires  time.Time // zero: never
	revoked  bool
	refresh  bool
	pair     string // access ↔ refresh
}

type authCode struct {
	clientID, redirectURI, challenge, scope string
	expires                                 time.Time
	used                                    bool
}

type deviceStatus int

const (
	devicePending deviceStatus = iota
	deviceApproved
	deviceDenied
	deviceUsed
)

type device struct {
	code, userCode, clientID, scope string
	expires, last                   time.Time
	interval                        time.Duration
	status                          deviceStatus
}

type faultKind int

const (
	faultFail faultKind = iota
	faultRateLimit
	faultGarbage
	faultHang
)

type fault struct {
	kind   faultKind
	status int
}

// Server is a fake provider of one kind.
type Server struct {
	Kind core.ProviderKind
	// URL is the server's base URL (http://127.0.0.1:port).
	URL string
	// The registered OAuth app.
	ClientID, ClientSecret, RedirectURI string

	cfg     config
	wire    wire
	user    User
	srv     *httptest.Server
	closing chan struct{}

	mu       sync.Mutex
	offset   time.Duration
	latency  time.Duration
	faults   []fault
	garbageN int
	tokens   map[string]*token
	codes    map[string]*authCode
	devices  map[string]*device // by device code

	requests     atomic.Int64
	tokenReqs    sync.Map // grant type → *atomic.Int64
	refreshes    atomic.Int64
	userLookups  atomic.Int64
	revocations  atomic.Int64
	deviceStarts atomic.Int64
	faultsServed atomic.Int64
}

// New starts a fake provider of kind; it stops when the test ends.
func New(t testing.TB, kind core.ProviderKind, opts ...Option) *Server {
	t.Helper()
	cfg := config{user: DefaultUser, clientID: DefaultClientID, clientSecret: DefaultClientSecret,
		redirectURI: DefaultRedirectURI, interval: 5 * time.Second, rateLimitWait: 60 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	w, ok := wireFor(kind, cfg.entraTenant)
	if !ok {
		t.Fatalf("forgetest: unknown provider kind %q", kind)
	}
	if kind == core.ProviderGitHub || kind == core.ProviderGitHubEnterprise {
		if cfg.githubApp {
			w.accessTTL, w.refreshTokens, w.tokenPrefix = 8*time.Hour, true, "ghu_"
			if cfg.refreshTTL == 0 {
				cfg.refreshTTL = 15897600 * time.Second // the refresh_token_expires_in GitHub sends
			}
		}
	}
	if cfg.accessTTL != nil {
		w.accessTTL = max(*cfg.accessTTL, 0)
	}
	if cfg.deviceTTL > 0 {
		w.deviceTTL = cfg.deviceTTL
	}
	if cfg.interval <= 0 {
		cfg.interval = 5 * time.Second
	}
	s := &Server{
		Kind: kind, ClientID: cfg.clientID, ClientSecret: cfg.clientSecret, RedirectURI: cfg.redirectURI,
		cfg: cfg, wire: w, user: cfg.user, closing: make(chan struct{}),
		tokens: map[string]*token{}, codes: map[string]*authCode{}, devices: map[string]*device{},
	}
	s.srv = httptest.NewServer(s.routes())
	s.URL = s.srv.URL
	t.Cleanup(func() {
		close(s.closing)
		s.srv.Close()
	})
	return s
}

// HTTPURL is what an admin would configure as http_url for this fake.
func (s *Server) HTTPURL() string { return s.URL + s.wire.httpPrefix }

// APIURL is what an admin would configure as api_url: the API base (GitHub's
// /api/v3, GitLab's /api/v4, …), the vssps base for Azure DevOps Services, the
// tenant authority for Entra ID.
func (s *Server) APIURL() string { return s.URL + s.wire.apiPrefix }

// ProfileURL is the vssps base serving the Azure DevOps profile API (Entra mode).
func (s *Server) ProfileURL() string { return s.URL + s.wire.profilePrefix }

// User is the configured account.
func (s *Server) User() User { return s.user }

// OAuthClient is the registered app as the forge code takes it.
func (s *Server) OAuthClient() provider.Client {
	return provider.Client{ID: s.ClientID, Secret: s.ClientSecret, RedirectURL: s.RedirectURI}
}

// Now is the fake's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return time.Now().Add(s.offset) }

// Advance moves the fake's clock forward.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// SetLatency delays every answer (but the browser authorize endpoint) by d, or until
// the request is cancelled.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

func (s *Server) addFaults(n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// FailNext answers the next n requests with status (a 5xx) and an HTML error page.
func (s *Server) FailNext(n, status int) { s.addFaults(n, fault{kind: faultFail, status: status}) }

// RateLimitNext answers the next n requests with the kind's rate-limit answer.
func (s *Server) RateLimitNext(n int) { s.addFaults(n, fault{kind: faultRateLimit}) }

// GarbageNext answers the next n requests with 200 and a body that is not what the
// client expects: alternately an HTML page and truncated JSON.
func (s *Server) GarbageNext(n int) { s.addFaults(n, fault{kind: faultGarbage}) }

// HangNext makes the next n requests hang until the client gives up (or the test
// ends).
func (s *Server) HangNext(n int) { s.addFaults(n, fault{kind: faultHang}) }

// RevokeToken kills an access or refresh token, as a user revoking the app would.
func (s *Server) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[tok]; t != nil {
		t.revoked = true
	}
}

// ExpireToken makes a token expired by the fake's clock.
func (s *Server) ExpireToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[tok]; t != nil {
		t.expires = s.nowLocked().Add(-time.Second)
	}
}

// TokenLive reports whether the fake would accept tok (access or refresh) now.
func (s *Server) TokenLive(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	return t != nil && s.liveLocked(t)
}

// IssueToken mints tokens for the configured user directly — for Azure DevOps
// Server it is a personal access token.
func (s *Server) IssueToken() Tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(s.ClientID, "")
}

// ApproveDevice approves the pending device authorization with userCode, as the
// user would at the verification page.
func (s *Server) ApproveDevice(userCode string) error {
	return s.decideDevice(userCode, deviceApproved)
}

// DenyDevice denies it.
func (s *Server) DenyDevice(userCode string) error { return s.decideDevice(userCode, deviceDenied) }

func (s *Server) decideDevice(userCode string, st deviceStatus) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := normUserCode(userCode)
	for _, d := range s.devices {
		if normUserCode(d.userCode) != want {
			continue
		}
		if !s.nowLocked().Before(d.expires) {
			return fmt.Errorf("forgetest: user code %s expired", userCode)
		}
		if d.status != devicePending {
			return fmt.Errorf("forgetest: user code %s already decided", userCode)
		}
		d.status = st
		return nil
	}
	return fmt.Errorf("forgetest: no device authorization with user code %s", userCode)
}

func normUserCode(c string) string { return strings.ToUpper(strings.ReplaceAll(c, "-", "")) }

// Authorize does what the browser authorize endpoint does for the configured user,
// without a browser: it checks the client, the redirect URI (exact match) and the
// PKCE challenge (S256; empty for none) and returns the URL the provider would
// redirect to, with code and state.
func (s *Server) Authorize(clientID, redirectURI, state, challenge string) (string, error) {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI}, "state": {state},
		"response_type": {s.wire.responseType}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	loc, status, msg := s.authorize(q)
	if status != http.StatusFound {
		return "", fmt.Errorf("forgetest: authorize: %d %s", status, msg)
	}
	return loc, nil
}

// Counters is a snapshot of what the fake answered.
type Counters struct {
	Requests      int64            // every request, faults included
	TokenRequests map[string]int64 // by grant type: authorization_code, refresh_token, device_code
	Refreshes     int64            // successful refreshes
	UserLookups   int64
	Revocations   int64
	DeviceStarts  int64
	Faults        int64 // requests answered by an injected fault
}

// Counts returns the counters.
func (s *Server) Counts() Counters {
	c := Counters{Requests: s.requests.Load(), TokenRequests: map[string]int64{}, Refreshes: s.refreshes.Load(),
		UserLookups: s.userLookups.Load(), Revocations: s.revocations.Load(), DeviceStarts: s.deviceStarts.Load(),
		Faults: s.faultsServed.Load()}
	s.tokenReqs.Range(func(k, v any) bool {
		c.TokenRequests[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return c
}

// TokenRequests is the number of token-endpoint requests of a grant type
// ("authorization_code", "refresh_token", "device_code").
func (s *Server) TokenRequests(grant string) int64 {
	if v, ok := s.tokenReqs.Load(grant); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Refreshes is the number of successful refreshes.
func (s *Server) Refreshes() int64 { return s.refreshes.Load() }

// UserLookups is the number of user API requests.
func (s *Server) UserLookups() int64 { return s.userLookups.Load() }

// Revocations is the number of revocation requests.
func (s *Server) Revocations() int64 { return s.revocations.Load() }

func (s *Server) countGrant(grant string) {
	v, _ := s.tokenReqs.LoadOrStore(grant, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// --- state, under s.mu ---

func randomString(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (s *Server) liveLocked(t *token) bool {
	return !t.revoked && (t.expires.IsZero() || s.nowLocked().Before(t.expires))
}

func (s *Server) issueLocked(clientID, scope string) Tokens {
	now := s.nowLocked()
	at := randomString(s.wire.tokenPrefix, 20)
	out := Tokens{AccessToken: at}
	t := &token{login: s.user.Login, clientID: clientID, scope: scope}
	if s.wire.accessTTL > 0 {
		t.expires = now.Add(s.wire.accessTTL)
		out.Expiry = t.expires
	}
	s.tokens[at] = t
	if s.wire.refreshTokens {
		prefix := "r-"
		if s.cfg.githubApp {
			prefix = "ghr_"
		}
		rt := randomString(prefix, 24)
		r := &token{login: s.user.Login, clientID: clientID, scope: scope, refresh: true, pair: at}
		if s.cfg.refreshTTL > 0 {
			r.expires = now.Add(s.cfg.refreshTTL)
		}
		s.tokens[rt] = r
		t.pair = rt
		out.RefreshToken = rt
	}
	return out
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
