// Package app wires every part of vcsauth into one HTTP handler and its background
// jobs. It is the production wiring: `vcsauth serve` runs it, and the tests run it
// on httptest (apptest), so a dialect cannot pass its tests while the binary wires
// it differently.
//
// The parts are built with plain constructors in New, so every dependency is
// visible in one place; there is no registry to look parts up in.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vcsauth/vcsauth/internal/akskauth"
	"github.com/vcsauth/vcsauth/internal/api/coder"
	"github.com/vcsauth/vcsauth/internal/api/github"
	"github.com/vcsauth/vcsauth/internal/api/gitlab"
	"github.com/vcsauth/vcsauth/internal/api/native"
	"github.com/vcsauth/vcsauth/internal/api/servicestage"
	"github.com/vcsauth/vcsauth/internal/api/tfe"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/authserver/oauthhttp"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/server"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/web"
)

var _ httpx.Authenticator = (*identity.Service)(nil)

// Deps are what the application is built from. Store, Keys, Identity and
// ExternalURL are required.
type Deps struct {
	Store    store.Store
	Keys     *secret.Keyring
	Identity *identity.Service
	// ExternalURL is vcsauth's address as browsers, clients and providers reach it
	// (config.ParseExternalURL's form): the issuer, and the base of callback URLs.
	ExternalURL string
	// Version is sent by the TFE dialect as X-TFE-Version.
	Version string
	Log     *slog.Logger // discarded when nil
	// AccessLog, when set, takes the access log's lines in Log's text format
	// directly (server.HandlerOptions.AccessLog); otherwise they go to Log.
	AccessLog io.Writer

	// Now and Rand are the clock and the random source of the engines (time.Now
	// and crypto/rand when nil). Identity has its own, given to identity.New.
	Now  func() time.Time
	Rand io.Reader
	// HTTPClient returns the client for one call to a Git provider
	// (http.DefaultClient when nil).
	HTTPClient func() *http.Client

	// Tuning of single parts. New fills in the dependencies above (store,
	// identity, external URL, logger; the clock, random source and client when
	// the part's own is nil); the other fields are passed on as given, zero
	// meaning each part's default.
	Auth         authserver.Options
	Connect      connect.Options
	Coder        coder.Options
	ServiceStage servicestage.Options // ReturnURL
	Signatures   akskauth.Options     // MaxSkew, MaxBody, Replay
}

// App is a built vcsauth: its parts, its handler and its background jobs.
type App struct {
	Store    store.Store
	Identity *identity.Service
	Auth     *authserver.Engine
	Connect  *connect.Engine
	Site     *web.Site
	OAuth    *oauthhttp.Handler
	// Verifier checks the ServiceStage SDK's AK/SK signatures.
	Verifier *akskauth.Verifier
	Metrics  *prometheus.Registry

	handler http.Handler
	log     *slog.Logger
}

// New builds every part and the route table. It registers the built-in CLI
// application in the store when it is missing.
func New(ctx context.Context, d Deps) (*App, error) {
	if d.Store == nil || d.Keys == nil || d.Identity == nil || d.ExternalURL == "" {
		return nil, errors.New("app: Store, Keys, Identity and ExternalURL are required")
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{Store: d.Store, Identity: d.Identity, log: log}

	a.Metrics = prometheus.NewRegistry()
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := httpx.NewMetrics(a.Metrics)
	if err != nil {
		return nil, err
	}

	ao := d.Auth
	ao.Store, ao.Identity, ao.Issuer, ao.Log = d.Store, d.Identity, d.ExternalURL, log
	if ao.Now == nil {
		ao.Now = d.Now
	}
	if ao.Rand == nil {
		ao.Rand = d.Rand
	}
	if a.Auth, err = authserver.New(ao); err != nil {
		return nil, err
	}
	if _, err := a.Auth.EnsureBuiltIn(ctx); err != nil {
		return nil, fmt.Errorf("built-in CLI application: %w", err)
	}
	co := d.Connect
	co.ExternalURL, co.Log = d.ExternalURL, log
	if co.Now == nil {
		co.Now = d.Now
	}
	if co.Rand == nil {
		co.Rand = d.Rand
	}
	if co.HTTPClient == nil {
		co.HTTPClient = d.HTTPClient
	}
	if a.Connect, err = connect.New(d.Store, d.Keys, d.Identity, co); err != nil {
		return nil, err
	}
	if a.Site, err = web.New(web.Options{Identity: d.Identity, Accounts: d.Identity, Apps: a.Auth, Upstream: a.Connect,
		ExternalURL: d.ExternalURL, Log: log, Rand: d.Rand}); err != nil {
		return nil, err
	}
	if a.OAuth, err = oauthhttp.New(oauthhttp.Options{Engine: a.Auth, Site: a.Site, Log: log}); err != nil {
		return nil, err
	}
	// ServiceStage's SDK signs requests with an access-key pair; that resolver runs
	// in front of the token headers, for this dialect only.
	so := d.Signatures
	so.Keys, so.Keyring, so.Users, so.Log = d.Store, d.Keys, d.Identity, log
	if so.Now == nil {
		so.Now = d.Now
	}
	if a.Verifier, err = akskauth.New(so); err != nil {
		return nil, err
	}

	// API credentials (tokens in any dialect's header, Basic username + password)
	// are resolved per API subtree with apiAuth, not for every request: Basic auth
	// on /oauth/token is an application's client authentication, not a person's
	// password, and must never reach the password check or its throttle.
	apiAuth := APIAuth(d.Identity)
	mux := http.NewServeMux()
	(&server.Health{Ready: d.Store.Ping, Logger: log}).Register(mux)
	mux.Handle("GET /metrics", httpx.MetricsHandler(a.Metrics))
	a.Site.Register(mux)
	a.OAuth.Register(mux)
	native.Register(mux, a.Connect, apiAuth, native.Options{Site: a.Site, Log: log})
	cdo := d.Coder
	cdo.Log = log
	coder.Register(mux, a.Connect, apiAuth, cdo)
	tfe.Register(mux, a.Connect, d.Identity, apiAuth, tfe.Options{Log: log, Version: d.Version})
	sso := d.ServiceStage
	sso.Signatures, sso.Log = a.Verifier.Resolver(), log
	servicestage.Register(mux, a.Connect, apiAuth, sso)
	gitlab.Register(mux, a.Auth, apiAuth, gitlab.Options{Log: log})
	github.Register(mux, a.Auth, apiAuth, github.Options{Log: log})
	a.handler = server.Handler(mux, server.HandlerOptions{Logger: log, AccessLog: d.AccessLog, Metrics: metrics})
	return a, nil
}

// APIAuth resolves the credentials of API requests: tokens in any dialect's
// header, and Basic username + password (+ OTP).
func APIAuth(id *identity.Service) httpx.Middleware { return httpx.Authenticate(id) }

// Handler serves every route behind the shared middleware.
func (a *App) Handler() http.Handler { return a.handler }

// RunBackground runs the jobs every replica runs until ctx ends: the upstream
// engine's refresher (leases in the database keep two replicas from refreshing one
// connection at once) and the sweeper.
func (a *App) RunBackground(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Connect.RunRefresher(ctx)
	}()
	a.sweep(ctx)
	<-done
}

// SweepEvery is how often expired codes, device authorizations, dead tokens and
// old failed sign-ins are removed (expired flow states go with the connect engine's refresher).
const SweepEvery = 10 * time.Minute

// sweep removes what has expired, now and then, until ctx ends. Every replica may
// run it: the deletes are idempotent.
func (a *App) sweep(ctx context.Context) {
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.Sweep(ctx)
	}
}

// Sweep removes, once, what has expired. Used codes stay an hour past expiry so a
// late replay is still recognised; dead tokens a week, so people can see what was
// revoked.
func (a *App) Sweep(ctx context.Context) {
	now := a.Identity.Now()
	if _, err := a.Auth.DeleteExpired(ctx, time.Hour); err != nil {
		a.log.Warn("sweep: codes and device authorizations", "err", err)
	}
	if _, err := a.Store.DeleteDeadTokens(ctx, now.Add(-7*24*time.Hour)); err != nil {
		a.log.Warn("sweep: dead tokens", "err", err)
	}
	if _, err := a.Identity.SweepLoginFailures(ctx); err != nil {
		a.log.Warn("sweep: login failures", "err", err)
	}
}
