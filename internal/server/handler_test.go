package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

type tokenAuth struct{}

func (tokenAuth) AuthenticateToken(_ context.Context, token string) (core.Principal, error) {
	if token == "vcp_good" {
		return core.Principal{User: core.User{Username: "alice"}}, nil
	}
	return core.Principal{}, core.ErrUnauthenticated
}

func (tokenAuth) AuthenticatePassword(context.Context, string, string, string, string) (core.Principal, error) {
	return core.Principal{}, core.ErrUnauthenticated
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// dialectRenderer stands for one dialect's error format.
func dialectRenderer(w http.ResponseWriter, _ *http.Request, status int, _ error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error_code":"SVCSTG.REPO.%d","error_msg":"internal error"}`, status)
}

type seen struct {
	requestID, user, clientIP string
	authErr                   error
	decodeErr                 error
}

// The assembled chain: every layer does its part, in the documented order.
func TestHandler(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	metrics, err := httpx.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		last seen
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, _ := httpx.PrincipalFrom(r.Context())
		var v map[string]any
		s := seen{
			requestID: httpx.RequestID(r.Context()),
			user:      p.User.Username,
			clientIP:  httpx.ClientIP(r),
			authErr:   httpx.AuthError(r.Context()),
			decodeErr: httpx.DecodeJSON(r, &v),
		}
		mu.Lock()
		last = s
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.Handle("GET /v1/{project}/git/auths", httpx.Chain(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("dialect boom") }),
		httpx.Recover(logger, dialectRenderer)))
	mux.Handle("GET /metrics", httpx.MetricsHandler(reg))
	Health{}.Register(mux)

	signature := func(r *http.Request) (core.Principal, bool, error) {
		if strings.HasPrefix(r.Header.Get("Authorization"), "SDK-HMAC-SHA256 ") {
			// A signature covers the body: the limit must already apply.
			if _, err := io.ReadAll(r.Body); err != nil {
				return core.Principal{}, false, fmt.Errorf("signature: %w", err)
			}
			return core.Principal{User: core.User{Username: "signer"}, Method: core.AuthAccessKey}, true, nil
		}
		return core.Principal{}, false, nil
	}
	srv := httptest.NewServer(Handler(mux, HandlerOptions{
		Logger:         logger,
		Metrics:        metrics,
		Resolvers:      []httpx.Resolver{signature},
		Authenticator:  tokenAuth{},
		MaxBodyBytes:   64,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		NewRequestID:   func() string { return "gen-id" },
	}))
	t.Cleanup(srv.Close)

	do := func(method, path, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	tests := []struct {
		name       string
		method     string
		path, body string
		hdr        map[string]string
		wantStatus int
		check      func(t *testing.T, resp *http.Response, s seen)
	}{
		{
			name: "token, request id, forwarded address", method: "POST", path: "/api/things/7?code=q", body: `{"a":1}`,
			hdr:        map[string]string{"Authorization": "Bearer vcp_good", "X-Request-Id": "abc", "X-Forwarded-For": "203.0.113.9"},
			wantStatus: 204,
			check: func(t *testing.T, resp *http.Response, s seen) {
				if s != (seen{requestID: "abc", user: "alice", clientIP: "203.0.113.9"}) {
					t.Errorf("handler saw %+v", s)
				}
				if resp.Header.Get("X-Request-Id") != "abc" || resp.Header.Get("Cache-Control") != "no-store" ||
					resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("headers = %v", resp.Header)
				}
			},
		},
		{
			name: "bad token reaches the handler as an error", method: "POST", path: "/api/things/7", body: `{}`,
			hdr:        map[string]string{"Private-Token": "vcp_bad"},
			wantStatus: 204,
			check: func(t *testing.T, _ *http.Response, s seen) {
				if s.user != "" || !errors.Is(s.authErr, core.ErrUnauthenticated) || s.requestID != "gen-id" {
					t.Errorf("handler saw %+v", s)
				}
			},
		},
		{
			name: "body over the limit", method: "POST", path: "/api/things/7", body: `{"a":"` + strings.Repeat("x", 100) + `"}`,
			wantStatus: 204,
			check: func(t *testing.T, _ *http.Response, s seen) {
				if !errors.Is(s.decodeErr, httpx.ErrBodyTooLarge) {
					t.Errorf("decode error = %v", s.decodeErr)
				}
			},
		},
		{
			name: "signature resolver runs first, under the body limit", method: "POST", path: "/api/things/7", body: strings.Repeat("x", 100),
			hdr:        map[string]string{"Authorization": "SDK-HMAC-SHA256 Access=AK, Signature=00"},
			wantStatus: 204,
			check: func(t *testing.T, _ *http.Response, s seen) {
				var mbe *http.MaxBytesError
				if s.user != "" || !errors.As(s.authErr, &mbe) {
					t.Errorf("handler saw %+v", s)
				}
			},
		},
		{
			name: "panic outside any dialect", method: "GET", path: "/panic", wantStatus: 500,
			check: func(t *testing.T, resp *http.Response, _ seen) {
				b, _ := io.ReadAll(resp.Body)
				if strings.TrimSpace(string(b)) != `{"message":"Internal Server Error"}` || resp.Header.Get("X-Request-Id") != "gen-id" ||
					resp.Header.Get("Content-Security-Policy") != httpx.APIContentSecurityPolicy {
					t.Errorf("response = %v %s", resp.Header, b)
				}
			},
		},
		{
			name: "panic in a dialect answers in its format", method: "GET", path: "/v1/p1/git/auths", wantStatus: 500,
			check: func(t *testing.T, resp *http.Response, _ seen) {
				b, _ := io.ReadAll(resp.Body)
				if string(b) != `{"error_code":"SVCSTG.REPO.500","error_msg":"internal error"}` {
					t.Errorf("body = %s", b)
				}
			},
		},
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200},
	}
	for _, tt := range tests {
		// Sequential: the cases share the handler's last-seen record.
		t.Run(tt.name, func(t *testing.T) {
			resp := do(tt.method, tt.path, tt.body, tt.hdr)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.check != nil {
				mu.Lock()
				s := last
				mu.Unlock()
				tt.check(t, resp, s)
			}
		})
	}

	resp := do("GET", "/metrics", "", nil)
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`http_requests_total{code="204",method="POST",route="POST /api/things/{id}"} 4`,
		`http_requests_total{code="500",method="GET",route="GET /panic"} 1`,
		`http_requests_total{code="500",method="GET",route="GET /v1/{project}/git/auths"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	srv.Close()
	out := logs.String()
	for _, secret := range []string{"vcp_good", "vcp_bad", "code=q"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
	var users []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "http request" && m["user"] != nil {
			users = append(users, m["user"].(string))
		}
	}
	if strings.Join(users, ",") != "alice" {
		t.Errorf("logged users = %v", users)
	}
}

// With HandlerOptions.AccessLog the access lines go there, in slog's text format,
// and not through the logger; other log lines still use the logger.
func TestHandlerAccessLogWriter(t *testing.T) {
	t.Parallel()
	var access, other lockedBuffer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := Handler(mux, HandlerOptions{Logger: slog.New(slog.NewTextHandler(&other, nil)), AccessLog: &access,
		Authenticator: tokenAuth{}})
	for _, tc := range []struct{ path, token string }{{"/things/1?code=secret", "vcp_good"}, {"/panic", ""}} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	lines := strings.Split(strings.TrimSpace(access.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("access lines: %q", access.String())
	}
	for i, want := range []string{
		`level=INFO msg="http request" method=GET path=/things/1 route="GET /things/{id}" status=200 bytes=2 duration=`,
		`level=ERROR msg="http request" method=GET path=/panic route="GET /panic" status=500 `,
	} {
		if !strings.Contains(lines[i], want) || !strings.HasPrefix(lines[i], "time=") {
			t.Errorf("line %d = %q, want it to hold %q", i, lines[i], want)
		}
	}
	if !strings.HasSuffix(lines[0], " user=alice") || strings.Contains(access.String(), "secret") || strings.Contains(access.String(), "vcp_good") {
		t.Errorf("first line %q: want the user, and neither the query nor the token", lines[0])
	}
	if strings.Contains(other.String(), "http request") || !strings.Contains(other.String(), "boom") {
		t.Errorf("logger got %q: want the panic and no access line", other.String())
	}
}
