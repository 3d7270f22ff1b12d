package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
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
	"github.com/vcsauth/vcsauth/internal/config"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/server"
	"github.com/vcsauth/vcsauth/internal/web"
)

var _ httpx.Authenticator = (*identity.Service)(nil)

func cmdServe(ctx context.Context, args []string, e env) error {
	var c config.Serve
	fs := flag.NewFlagSet("vcsauth serve", flag.ContinueOnError)
	c.Register(fs)
	if err := config.Parse(fs, args, e.getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			config.Usage(e.stdout, fs, "vcsauth serve [flags]")
			return err
		}
		return usageError{err}
	}
	if err := c.Validate(); err != nil {
		return usageError{err}
	}
	log := newLogger(e.stderr)
	d, err := openDeps(ctx, c.Store, e, log)
	if err != nil {
		return err
	}
	defer d.Close()

	// Listen before anything else is built: with port 0 the external URL depends on
	// the port we got.
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	external := c.ExternalURL
	if external == "" {
		external = "http://" + ln.Addr().String()
	}
	external, err = config.ParseExternalURL(external)
	if err != nil {
		ln.Close()
		return err
	}

	if c.Dev {
		if err := seedDev(ctx, d, e); err != nil {
			ln.Close()
			return fmt.Errorf("dev: %w", err)
		}
	}

	h, parts, err := buildHandler(ctx, d, log, external)
	if err != nil {
		ln.Close()
		return err
	}
	go sweep(ctx, d, parts, log)
	// Every replica refreshes in the background; leases in the database keep two
	// from refreshing one connection at once.
	go parts.connect.RunRefresher(ctx)
	err = server.Run(ctx, server.Options{
		Listener: ln,
		Handler:  h,
		Logger:   log,
		OnListen: func(url string) { fmt.Fprintf(e.stderr, "listening on %s\n", url) },
	})
	if errors.Is(err, context.DeadlineExceeded) {
		// The drain ran out of time and cut the last connections: that is still an
		// orderly stop, asked for by SIGTERM.
		log.Warn("drain timed out; remaining connections were closed")
		return nil
	}
	return err
}

// parts are what buildHandler made that the rest of serve needs.
type parts struct {
	auth    *authserver.Engine
	connect *connect.Engine
}

// buildHandler wires every part into one handler. Parts are built with plain
// constructors here, so every dependency is visible in one place.
func buildHandler(ctx context.Context, d *deps, log *slog.Logger, external string) (http.Handler, parts, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := httpx.NewMetrics(reg)
	if err != nil {
		return nil, parts{}, err
	}
	auth, err := authserver.New(authserver.Options{Store: d.store, Identity: d.identity, Issuer: external, Log: log})
	if err != nil {
		return nil, parts{}, err
	}
	if _, err := auth.EnsureBuiltIn(ctx); err != nil {
		return nil, parts{}, fmt.Errorf("built-in CLI application: %w", err)
	}
	upstream, err := connect.New(d.store, d.keys, d.identity, connect.Options{ExternalURL: external, Log: log})
	if err != nil {
		return nil, parts{}, err
	}
	site, err := web.New(web.Options{Identity: d.identity, Accounts: d.identity, Apps: auth, Upstream: upstream,
		ExternalURL: external, Log: log})
	if err != nil {
		return nil, parts{}, err
	}
	oauth, err := oauthhttp.New(oauthhttp.Options{Engine: auth, Site: site, Log: log})
	if err != nil {
		return nil, parts{}, err
	}

	mux := http.NewServeMux()
	(&server.Health{Ready: d.store.Ping, Logger: log}).Register(mux)
	mux.Handle("GET /metrics", httpx.MetricsHandler(reg))
	site.Register(mux)
	oauth.Register(mux)
	native.Register(mux, upstream, apiAuth(d), native.Options{Site: site, Log: log})
	coder.Register(mux, upstream, apiAuth(d), coder.Options{Log: log})
	tfe.Register(mux, upstream, d.identity, apiAuth(d), tfe.Options{Log: log, Version: version})
	// ServiceStage's SDK signs requests with an access-key pair; that resolver runs
	// in front of the token headers, for this dialect only.
	sig, err := akskauth.New(akskauth.Options{Keys: d.store, Keyring: d.keys, Users: d.identity, Log: log})
	if err != nil {
		return nil, parts{}, err
	}
	servicestage.Register(mux, upstream, apiAuth(d), servicestage.Options{Signatures: sig.Resolver(), Log: log})
	gitlab.Register(mux, auth, apiAuth(d), gitlab.Options{Log: log})
	github.Register(mux, auth, apiAuth(d), github.Options{Log: log})
	// API credentials (tokens in any dialect's header, Basic username + password)
	// are resolved per API subtree with apiAuth, not for every request: Basic auth
	// on /oauth/token is an application's client authentication, not a person's
	// password, and must never reach the password check or its throttle.
	return server.Handler(mux, server.HandlerOptions{Logger: log, Metrics: metrics}), parts{auth: auth, connect: upstream}, nil
}

// apiAuth resolves the credentials of API requests: tokens in any dialect's header,
// and Basic username + password (+ OTP).
func apiAuth(d *deps) httpx.Middleware { return httpx.Authenticate(d.identity) }

// sweepEvery is how often expired codes, device authorizations and dead tokens
// are removed (expired flow states go with the connect engine's refresher).
const sweepEvery = 10 * time.Minute

// sweep removes what has expired, now and then, until ctx ends. Every replica may
// run it: the deletes are idempotent.
func sweep(ctx context.Context, d *deps, p parts, log *slog.Logger) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.identity.Now()
		// Used codes stay an hour past expiry so a late replay is still recognised;
		// dead tokens a week, so people can see what was revoked.
		if _, err := p.auth.DeleteExpired(ctx, time.Hour); err != nil {
			log.Warn("sweep: codes and device authorizations", "err", err)
		}
		if _, err := d.store.DeleteDeadTokens(ctx, now.Add(-7*24*time.Hour)); err != nil {
			log.Warn("sweep: dead tokens", "err", err)
		}
	}
}

// seedDev makes the --dev demo: a site admin "admin" whose password and token are
// printed once, and a demo organization and project. On later starts it finds them
// and says so.
func seedDev(ctx context.Context, d *deps, e env) error {
	if _, err := d.identity.UserByUsername(ctx, "admin"); err == nil {
		fmt.Fprintln(e.stderr, "dev: site admin \"admin\" exists already; its password and token were printed when it was created")
		return nil
	} else if !errors.Is(err, core.ErrNotFound) {
		return err
	}
	password, err := randomPassword()
	if err != nil {
		return err
	}
	sys := identity.System()
	u, err := d.identity.CreateUser(ctx, sys, identity.NewUser{Username: "admin", Password: password, SiteAdmin: true})
	if err != nil {
		return err
	}
	token, _, err := d.identity.CreatePersonalToken(ctx, sys, u.ID, identity.NewToken{Note: "dev", Scopes: []string{core.ScopeAPI}})
	if err != nil {
		return err
	}
	if _, err := d.identity.CreateOrg(ctx, sys, "demo", "admin"); err != nil {
		return err
	}
	admin := core.Principal{User: u, Method: core.AuthPassword, Scopes: []string{core.ScopeAPI}}
	if _, err := d.identity.CreateProject(ctx, admin, "demo", "demo", "a project to try things with"); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "dev: created site admin \"admin\" (shown once)\n  password: %s\n  token:    %s\ndev: created organization \"demo\" with project \"demo\"\n", password, token)
	return nil
}
