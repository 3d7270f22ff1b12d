package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/httpx"
)

type result struct {
	status int
	body   string
	err    error
}

func get(client *http.Client, url string) result {
	resp, err := client.Get(url)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, body: string(b), err: err}
}

// A slow request in flight when the context ends completes; new connections are
// refused meanwhile; Serve then returns nil.
func TestServeDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	s, err := Listen(Options{Addr: "127.0.0.1:0", Handler: mux})
	if err != nil {
		t.Fatal(err)
	}
	draining := make(chan struct{})
	// Shutdown runs this after it has closed the listener.
	s.http.RegisterOnShutdown(func() { close(draining) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	slow := make(chan result, 1)
	go func() { slow <- get(client, s.URL()+"/slow") }()
	<-started

	cancel()
	<-draining
	if conn, err := net.Dial("tcp", s.Addr().String()); err == nil {
		conn.Close()
		t.Error("a new connection was accepted while draining")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v before the in-flight request finished", err)
	default:
	}

	close(release)
	if r := <-slow; r.err != nil || r.status != 200 || r.body != "done" {
		t.Errorf("in-flight request = %+v, want 200 done", r)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// A drain that outlasts its timeout closes the connections (the handler's context
// ends) and reports the timeout.
func TestServeDrainTimeout(t *testing.T) {
	t.Parallel()
	started, handlerDone := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stuck", func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		close(started)
		<-r.Context().Done()
	})
	s, err := Listen(Options{Addr: "127.0.0.1:0", Handler: mux, ShutdownTimeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	stuck := make(chan result, 1)
	go func() { stuck <- get(&http.Client{}, s.URL()+"/stuck") }()
	<-started
	cancel()

	if err := <-served; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want a deadline error", err)
	}
	<-handlerDone
	if r := <-stuck; r.err == nil {
		t.Errorf("stuck request = %+v, want a broken connection", r)
	}
	if conn, err := net.Dial("tcp", s.Addr().String()); err == nil {
		conn.Close()
		t.Error("still accepting connections")
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") })
	urls := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Addr: "127.0.0.1:0", Handler: mux, OnListen: func(u string) { urls <- u }})
	}()
	u := <-urls
	if !strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasSuffix(u, ":0") {
		t.Errorf("URL = %q", u)
	}
	if r := get(&http.Client{}, u+"/hello"); r.err != nil || r.body != "hi" {
		t.Errorf("GET /hello = %+v", r)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestListenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"no handler", Options{Addr: "127.0.0.1:0"}},
		{"bad address", Options{Addr: "127.0.0.1:notaport", Handler: http.NotFoundHandler()}},
		{"port out of range", Options{Addr: "127.0.0.1:99999", Handler: http.NotFoundHandler()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Listen(tt.opts); err == nil {
				t.Error("Listen succeeded")
			}
			if err := Run(context.Background(), tt.opts); err == nil {
				t.Error("Run succeeded")
			}
		})
	}
}

// failingListener breaks at once, as a listener whose socket went away.
type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) { return nil, errors.New("listener broke") }

func TestServeListenerFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := Listen(Options{Listener: failingListener{ln}, Handler: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "listener broke") {
		t.Errorf("Serve = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := Listen(Options{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	h := s.http
	if h.ReadHeaderTimeout != DefaultReadHeaderTimeout || h.ReadTimeout != DefaultReadTimeout ||
		h.WriteTimeout != DefaultWriteTimeout || h.IdleTimeout != DefaultIdleTimeout ||
		h.MaxHeaderBytes != DefaultMaxHeaderBytes || s.shutdown != DefaultShutdownTimeout {
		t.Errorf("server = %+v, shutdown %v", h, s.shutdown)
	}
	// A long poll of a minute must survive both deadlines.
	if h.ReadTimeout <= 60e9 || h.WriteTimeout <= 60e9 {
		t.Error("timeouts would cut a one-minute long poll")
	}
}

// A long poll answers early when the drain starts, so the drain ends cleanly.
func TestServeEndsLongPolls(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /poll", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-httpx.Draining(r.Context()):
			io.WriteString(w, "pending")
		case <-r.Context().Done():
		}
	})
	s, err := Listen(Options{Addr: "127.0.0.1:0", Handler: mux})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	poll := make(chan result, 1)
	go func() { poll <- get(&http.Client{}, s.URL()+"/poll") }()
	<-started
	cancel()
	if r := <-poll; r.err != nil || r.body != "pending" {
		t.Errorf("poll = %+v", r)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}
