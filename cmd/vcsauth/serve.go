package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"time"

	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/config"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/server"
)

func cmdServe(ctx context.Context, args []string, e env) error {
	var c config.Serve
	fs := flag.NewFlagSet("vcsauth serve", flag.ContinueOnError)
	c.Register(fs)
	if err := parseFlags(fs, args, e, "vcsauth serve [flags]"); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return usageError{err}
	}
	if e.getenv("GOGC") == "" {
		// The live heap is small (the data is in the database; the caches hold some
		// 20 MiB at most) and the hot paths allocate per request: collecting at 3x
		// the live heap instead of 2x costs less CPU per request, for memory the
		// -large target leaves room for. 5x (400) measured the same throughput
		// since the hot paths allocate less, and took the server past 200 MiB of
		// RSS with the caches full (BENCHMARKS.md). An operator's GOGC wins.
		debug.SetGCPercent(200)
	}
	logs := newLogBuffer(e.stderr, 100*time.Millisecond)
	defer logs.Close()
	log := newLogger(logs)
	d, err := openDeps(ctx, c.Store, e, log, c.CacheTTL)
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
		logs.Flush()
		if err := seedDev(ctx, d, e); err != nil {
			ln.Close()
			return fmt.Errorf("dev: %w", err)
		}
	}

	a, err := app.New(ctx, app.Deps{Store: d.store, Keys: d.keys, Identity: d.identity,
		ExternalURL: external, Version: version, Log: log, AccessLog: logs})
	if err != nil {
		ln.Close()
		return err
	}
	go a.RunBackground(ctx)
	if c.DebugListen != "" {
		stop, err := serveDebug(c.DebugListen, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	err = server.Run(ctx, server.Options{
		Listener: ln,
		Handler:  a.Handler(),
		Logger:   log,
		OnListen: func(url string) {
			logs.Flush() // keep what was logged before it above the line scripts wait for
			fmt.Fprintf(e.stderr, "listening on %s\n", url)
		},
	})
	if errors.Is(err, context.DeadlineExceeded) {
		// The drain ran out of time and cut the last connections: that is still an
		// orderly stop, asked for by SIGTERM.
		log.Warn("drain timed out; remaining connections were closed")
		return nil
	}
	return err
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

// serveDebug serves Go's profiler on a listener of its own (--debug-listen), so it
// is never reachable through the public address; it carries no authentication,
// which is why it should stay on loopback.
func serveDebug(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}
