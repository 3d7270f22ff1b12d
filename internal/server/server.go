// Package server runs vcsauth's HTTP server: it listens, serves a handler with
// timeouts fit for long polls, and drains in-flight requests when its context ends. It
// also wraps the route table in the shared middleware (Handler) and answers the health
// checks (Health). The route table itself is built by the binary's wiring.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vcsauth/vcsauth/internal/httpx"
)

// Defaults of Options.
const (
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout and DefaultWriteTimeout outlast the longest long poll (about a
	// minute). Both matter: WriteTimeout ends a response that takes longer, and an
	// expired read deadline cancels the request's context while the handler waits.
	DefaultReadTimeout  = 90 * time.Second
	DefaultWriteTimeout = 90 * time.Second
	DefaultIdleTimeout  = 120 * time.Second
	// DefaultMaxHeaderBytes is plenty for a token, a session cookie and a signature.
	DefaultMaxHeaderBytes = 64 << 10
)

// Options configure a Server. Zero values take the defaults above.
type Options struct {
	// Addr is the TCP address to listen on; "127.0.0.1:0" picks a free port.
	Addr string
	// Listener, when set, is used instead of listening on Addr (tests, socket
	// activation). The server closes it.
	Listener net.Listener
	Handler  http.Handler
	Logger   *slog.Logger

	// ShutdownTimeout bounds the drain of in-flight requests once the context ends.
	ShutdownTimeout   time.Duration
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int

	// OnListen, when set, is called by Run with the server's URL
	// ("http://127.0.0.1:41234") once it accepts connections.
	OnListen func(url string)
}

// Server is an HTTP server bound to its address.
type Server struct {
	ln       net.Listener
	http     *http.Server
	logger   *slog.Logger
	shutdown time.Duration
	draining chan struct{} // closed when the drain starts; see httpx.Draining
}

// Listen binds the address, so that Addr and URL are known before Serve. Connections
// that arrive before Serve wait in the kernel's backlog.
func Listen(opts Options) (*Server, error) {
	if opts.Handler == nil {
		return nil, errors.New("server: no handler")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln := opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", opts.Addr); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	draining := make(chan struct{})
	return &Server{
		ln:       ln,
		logger:   logger,
		shutdown: orDefault(opts.ShutdownTimeout, DefaultShutdownTimeout),
		draining: draining,
		http: &http.Server{
			BaseContext: func(net.Listener) context.Context {
				return httpx.WithDraining(context.Background(), draining)
			},
			Handler:           opts.Handler,
			ReadHeaderTimeout: orDefault(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
			ReadTimeout:       orDefault(opts.ReadTimeout, DefaultReadTimeout),
			WriteTimeout:      orDefault(opts.WriteTimeout, DefaultWriteTimeout),
			IdleTimeout:       orDefault(opts.IdleTimeout, DefaultIdleTimeout),
			MaxHeaderBytes:    orDefault(opts.MaxHeaderBytes, DefaultMaxHeaderBytes),
			// net/http's own complaints (bad TLS handshakes, panics that escaped every
			// Recover) go to the structured log too.
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}, nil
}

func orDefault[T time.Duration | int](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Addr is the address the server listens on, with the real port when Addr asked for 0.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is "http://HOST:PORT" of Addr.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Serve answers requests until ctx ends, then stops accepting connections and drains
// the requests in flight for up to the shutdown timeout; long polls learn of it from
// httpx.Draining and should answer early. It returns nil after a clean drain. When
// the drain runs out of time it closes the remaining connections (their requests'
// contexts end) and returns an error wrapping context.DeadlineExceeded. An error of
// the listener ends it at once. Call Serve once.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}

	s.logger.Info("draining in-flight requests", slog.Duration("timeout", s.shutdown))
	close(s.draining)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdown)
	defer cancel()
	err := s.http.Shutdown(dctx)
	if err != nil {
		s.logger.Warn("drain timed out; closing connections", slog.Any("error", err))
		_ = s.http.Close()
		err = fmt.Errorf("server: drain: %w", err)
	}
	// Serve has returned http.ErrServerClosed since Shutdown closed the listener.
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("server: %w", serr)
	}
	return err
}

// Run listens on opts.Addr, calls opts.OnListen with the URL, and serves until ctx
// ends (see Serve). The caller ends ctx on SIGTERM and SIGINT:
//
//	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	err := server.Run(ctx, server.Options{
//		Addr:     cfg.Listen,
//		Handler:  h,
//		OnListen: func(u string) { fmt.Fprintf(os.Stderr, "listening on %s\n", u) },
//	})
func Run(ctx context.Context, opts Options) error {
	s, err := Listen(opts)
	if err != nil {
		return err
	}
	if opts.OnListen != nil {
		opts.OnListen(s.URL())
	}
	return s.Serve(ctx)
}
