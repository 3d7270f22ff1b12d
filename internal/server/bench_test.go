package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/server"
)

type benchAuth struct{}

func (benchAuth) AuthenticateToken(context.Context, string) (core.Principal, error) {
	return core.Principal{User: core.User{ID: "u1", Username: "alice"}, Scopes: []string{core.ScopeAPI}}, nil
}

func (benchAuth) AuthenticatePassword(context.Context, string, string, string, string) (core.Principal, error) {
	return core.Principal{}, core.ErrUnauthenticated
}

// BenchmarkHandler measures what the shared middleware costs per request, with the
// access log (to io.Discard) and metrics as serve runs them, around a route
// that writes a small body; the second case carries a token.
func BenchmarkHandler(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /thing/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	m, err := httpx.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	h := server.Handler(mux, server.HandlerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AccessLog: io.Discard, Metrics: m, Authenticator: benchAuth{}})
	for _, tc := range []struct {
		name  string
		token string
	}{{"no token", ""}, {"token", "vcp_x"}} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/thing/42", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
