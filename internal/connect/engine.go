package connect

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Defaults of Options.
const (
	DefaultRefreshMargin      = 5 * time.Minute
	DefaultProviderTimeout    = 20 * time.Second
	DefaultFlowLifetime       = 10 * time.Minute
	DefaultRefreshEvery       = time.Minute
	DefaultRefreshConcurrency = 4
	DefaultRefreshJitter      = 2 * time.Second
	DefaultBackoffBase        = 30 * time.Second
	DefaultBackoffMax         = 30 * time.Minute
)

// Options configure an Engine. Zero values take the defaults above.
type Options struct {
	// ExternalURL is vcsauth's address as browsers and providers reach it
	// ("https://vcsauth.example.com"); callback and link URLs are built on it.
	ExternalURL string

	Now  func() time.Time
	Rand io.Reader
	Log  *slog.Logger
	// HTTPClient returns the client for one call to a provider; nil means
	// http.DefaultClient. Every call is also bounded by ProviderTimeout.
	HTTPClient func() *http.Client

	// RefreshMargin: a token this close to its expiry is refreshed before use, and
	// the background refresher renews it.
	RefreshMargin time.Duration
	// ProviderTimeout bounds each call to a provider (exchange, refresh, lookup …).
	ProviderTimeout time.Duration
	// FlowLifetime is how long a browser flow's state lives.
	FlowLifetime time.Duration
	// ReplicaID names this process in refresh leases, so a replica recognises its own
	// and operators can tell whose lease is stuck. Default: host name, process id
	// and a random suffix.
	ReplicaID string

	// The background refresher (RunRefresher): how often it looks for tokens that
	// are due, how many it refreshes at once, how much random delay spreads the
	// calls of one pass (negative: none), and the exponential backoff after
	// transient failures.
	RefreshEvery       time.Duration
	RefreshConcurrency int
	RefreshJitter      time.Duration
	BackoffBase        time.Duration
	BackoffMax         time.Duration
}

// Engine is the upstream engine. It is safe for concurrent use; everything that
// must hold across replicas (flow states, refresh leases, tokens) is in the store.
type Engine struct {
	st       store.Upstream
	keys     *secret.Keyring
	id       *identity.Service
	external string

	now       func() time.Time
	rand      io.Reader
	randMu    sync.Mutex
	log       *slog.Logger
	newClient func() *http.Client

	margin          time.Duration
	providerTimeout time.Duration
	leaseTTL        time.Duration
	flowTTL         time.Duration
	replica         string

	refreshEvery  time.Duration
	concurrency   int
	jitter        time.Duration
	backoffBase   time.Duration
	backoffMax    time.Duration
	backoffMu     sync.Mutex
	backoff       map[string]backoffState
	refreshFlight singleflight.Group

	forges sync.Map // forgeKey → forge.Forge
	links  notifier

	// afterRefreshAnswer, when set (tests only, see export_test.go), runs after the
	// provider answered a refresh and before the answer is saved. An error from it
	// stands for the process dying there: nothing is saved and the lease is left.
	afterRefreshAnswer func(connID string) error
}

// New returns an Engine over the store's Upstream group, sealing secrets with keys and
// asking id for roles, projects and audit records.
func New(st store.Upstream, keys *secret.Keyring, id *identity.Service, o Options) (*Engine, error) {
	if st == nil || keys == nil || id == nil {
		return nil, errors.New("connect: a store, a keyring and an identity service are required")
	}
	ext := strings.TrimRight(o.ExternalURL, "/")
	u, err := url.Parse(ext)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("connect: external URL %q must be an absolute http or https URL without query or fragment", o.ExternalURL)
	}
	e := &Engine{st: st, keys: keys, id: id, external: ext,
		now: o.Now, rand: o.Rand, log: o.Log, newClient: o.HTTPClient,
		margin:          orDefault(o.RefreshMargin, DefaultRefreshMargin),
		providerTimeout: orDefault(o.ProviderTimeout, DefaultProviderTimeout),
		flowTTL:         orDefault(o.FlowLifetime, DefaultFlowLifetime),
		replica:         o.ReplicaID,
		refreshEvery:    orDefault(o.RefreshEvery, DefaultRefreshEvery),
		concurrency:     o.RefreshConcurrency,
		jitter:          o.RefreshJitter,
		backoffBase:     orDefault(o.BackoffBase, DefaultBackoffBase),
		backoffMax:      orDefault(o.BackoffMax, DefaultBackoffMax),
		backoff:         map[string]backoffState{},
	}
	// A lease outlives the one provider call it covers plus the save of its answer,
	// so it only expires when its holder stopped.
	e.leaseTTL = 2*e.providerTimeout + 10*time.Second
	if e.now == nil {
		e.now = time.Now
	}
	if e.rand == nil {
		e.rand = rand.Reader
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.concurrency <= 0 {
		e.concurrency = DefaultRefreshConcurrency
	}
	if e.jitter < 0 {
		e.jitter = 0
	} else if e.jitter == 0 {
		e.jitter = DefaultRefreshJitter
	}
	if e.replica == "" {
		host, _ := os.Hostname()
		suffix, err := secret.NewID("r", e.rand)
		if err != nil {
			return nil, err
		}
		e.replica = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), suffix[2:8])
	}
	return e, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// nowUTC is the clock truncated to what the store keeps, so that what we compare
// after a round trip is what we wrote.
func (e *Engine) nowUTC() time.Time { return e.now().UTC().Truncate(time.Microsecond) }

func (e *Engine) httpClient() *http.Client {
	if e.newClient == nil {
		return nil // forge: nil means http.DefaultClient
	}
	return e.newClient()
}

// providerCtx bounds one call to a provider.
func (e *Engine) providerCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.providerTimeout)
}

func (e *Engine) newID(prefix string) (string, error) {
	id, err := secret.NewID(prefix, e.rand)
	if err != nil {
		return "", fmt.Errorf("connect: new id: %w", err)
	}
	return id, nil
}

// randDuration returns a uniformly random duration in [0, d).
func (e *Engine) randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	var b [8]byte
	e.randMu.Lock()
	_, err := io.ReadFull(e.rand, b[:])
	e.randMu.Unlock()
	if err != nil {
		return d / 2
	}
	return time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(d))
}

// CallbackURL is the one redirect URI of every flow through oc, the address the
// admin registers at the provider.
func (e *Engine) CallbackURL(oc core.OAuthClient) string {
	return e.external + "/auth/" + url.PathEscape(oc.ID) + "/callback"
}

// ConnectPath is where an org admin's browser goes to connect oc for the
// organization (the Terraform dialect's connect-path).
func (e *Engine) ConnectPath(oc core.OAuthClient) string {
	return "/auth/" + url.PathEscape(oc.ID) + "?organization_id=" + url.QueryEscape(oc.OrgID)
}

// ProviderID is how the Coder dialect names oc: its slug, or its id.
func ProviderID(oc core.OAuthClient) string {
	if oc.Slug != "" {
		return oc.Slug
	}
	return oc.ID
}

// LinkURL is the page where a person links (or re-links) their account through the
// client named providerID.
func (e *Engine) LinkURL(providerID string) string {
	return e.external + "/external-auth/" + url.PathEscape(providerID)
}

// forgeKey names a forge in the cache.
type forgeKey struct {
	kind         core.ProviderKind
	httpURL, api string
}

// forgeOf returns the forge at the client's addresses. Forges are immutable data,
// so they are built once per address and shared: the credential path builds none.
func (e *Engine) forgeOf(kind core.ProviderKind, httpURL, apiURL string) (forge.Forge, error) {
	k := forgeKey{kind, httpURL, apiURL}
	if f, ok := e.forges.Load(k); ok {
		return f.(forge.Forge), nil
	}
	f, err := forge.New(kind, httpURL, apiURL)
	if err != nil {
		return nil, err
	}
	e.forges.Store(k, f)
	return f, nil
}

func (e *Engine) clientForge(oc core.OAuthClient) (forge.Forge, error) {
	f, err := e.forgeOf(oc.Kind, oc.HTTPURL, oc.APIURL)
	if err != nil {
		return nil, fmt.Errorf("connect: oauth client %s: %w", oc.ID, err)
	}
	return f, nil
}

// forgeClient is oc's registration as the forge code takes it, secret opened.
func (e *Engine) forgeClient(oc core.OAuthClient) (forge.Client, error) {
	c := forge.Client{ID: oc.Key, RedirectURL: e.CallbackURL(oc)}
	if len(oc.Scopes) > 0 {
		c.Scopes = append([]string(nil), oc.Scopes...)
	}
	if oc.Secret != "" {
		s, err := e.keys.OpenString(oc.Secret)
		if err != nil {
			return forge.Client{}, fmt.Errorf("connect: oauth client %s: secret: %w", oc.ID, err)
		}
		c.Secret = s
	}
	return c, nil
}

// tokenExpiry is when tok expires by our clock: x/oauth2 computes Expiry with the
// wall clock, so expires_in is preferred.
func (e *Engine) tokenExpiry(tok *oauth2.Token, now time.Time) time.Time {
	switch {
	case tok.ExpiresIn > 0:
		return now.Add(time.Duration(tok.ExpiresIn) * time.Second).Truncate(time.Microsecond)
	case !tok.Expiry.IsZero():
		return tok.Expiry.UTC().Truncate(time.Microsecond)
	}
	return time.Time{}
}

// tokenScopes reads the scopes a token answer granted, if it says.
func tokenScopes(tok *oauth2.Token, fallback []string) []string {
	s, _ := tok.Extra("scope").(string)
	if s == "" {
		return append([]string{}, fallback...)
	}
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}

// notifier wakes in-process waiters when a link is made. Waiters take the channel
// before they look at the database, so a link made in between is not missed.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) watch() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// audit records an event in the actor's name.
func (e *Engine) audit(ctx context.Context, p core.Principal, action, targetType, targetID, orgID, detail string) {
	e.id.Audit(ctx, &p, action, targetType, targetID, orgID, detail)
}
