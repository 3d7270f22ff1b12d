package main

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/vcsauth/vcsauth/internal/httpx"
)

// provider is a minimal self-managed GitLab on loopback: the token endpoint (code
// exchange, and refresh after a fixed latency, rotating the refresh token as GitLab
// does), the user lookup, and revocation. vcsauth's forge code is the real one; only
// the far side is fake. It counts refreshes, which the refresh storm must make one of.
//
// forgetest has richer fakes of every provider, but it needs a testing.TB; this
// harness is a program, and needs only this much.
type provider struct {
	srv       *http.Server
	url       string // http://127.0.0.1:PORT, the OAuth client's http-url
	latency   time.Duration
	refreshes atomic.Int64
	exchanges atomic.Int64
}

func startProvider(refreshLatency time.Duration) (*provider, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &provider{url: "http://" + ln.Addr().String(), latency: refreshLatency}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", p.token)
	mux.HandleFunc("GET /api/v4/user", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": 4242, "username": "loaduser", "name": "Load User",
			"avatar_url": p.url + "/avatar.png", "web_url": p.url + "/loaduser"})
	})
	mux.HandleFunc("POST /oauth/revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = httpx.WriteJSON(w, http.StatusOK, map[string]any{})
	})
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		_ = httpx.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		p.exchanges.Add(1)
	case "refresh_token":
		if r.PostForm.Get("refresh_token") == "" {
			_ = httpx.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
			return
		}
		p.refreshes.Add(1)
		select {
		case <-time.After(p.latency):
		case <-r.Context().Done():
			return
		}
	default:
		_ = httpx.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type"})
		return
	}
	_ = httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": "glpat-" + rand.Text(), "refresh_token": "glrt-" + rand.Text(),
		"token_type": "Bearer", "expires_in": 7200, "scope": "read_user write_repository",
		"created_at": time.Now().Unix(),
	})
}

func (p *provider) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}
