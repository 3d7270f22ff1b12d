package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	secretErr := errors.New("dial postgres://vcsauth:pa55word@db:5432: connection refused")
	errPending := errors.New("migrations pending")
	tests := []struct {
		name       string
		path       string
		health     Health
		wantStatus int
		wantBody   string
	}{
		{name: "healthz", path: "/healthz", health: Health{Ready: func(context.Context) error { return secretErr }}, wantStatus: 200, wantBody: `{"status":"ok"}`},
		{name: "ready without a check", path: "/readyz", wantStatus: 200, wantBody: `{"status":"ok"}`},
		{name: "ready", path: "/readyz", health: Health{Ready: func(context.Context) error { return nil }}, wantStatus: 200, wantBody: `{"status":"ok"}`},
		{name: "not ready", path: "/readyz", health: Health{Ready: func(context.Context) error { return secretErr }}, wantStatus: 503, wantBody: `{"status":"unavailable","reason":"unavailable"}`},
		{
			name: "check that hangs", path: "/readyz",
			health: Health{Timeout: 1, Ready: func(ctx context.Context) error {
				<-ctx.Done() // the timeout ends the probe
				return ctx.Err()
			}},
			wantStatus: 503, wantBody: `{"status":"unavailable","reason":"timeout"}`,
		},
		{
			name: "reason mapping", path: "/readyz",
			health: Health{
				Ready: func(context.Context) error { return errPending },
				Reason: func(err error) string {
					if errors.Is(err, errPending) {
						return "migrations pending"
					}
					return ""
				},
			},
			wantStatus: 503, wantBody: `{"status":"unavailable","reason":"migrations pending"}`,
		},
		{name: "POST is not allowed", path: "/readyz", wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs strings.Builder
			tt.health.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			mux := http.NewServeMux()
			tt.health.Register(mux)
			method := http.MethodGet
			if tt.wantStatus == 405 {
				method = http.MethodPost
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantBody != "" {
				if got := strings.TrimSpace(rec.Body.String()); got != tt.wantBody {
					t.Errorf("body = %s, want %s", got, tt.wantBody)
				}
				if rec.Header().Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type = %q", rec.Header().Get("Content-Type"))
				}
			}
			if strings.Contains(rec.Body.String(), "pa55word") {
				t.Error("the reason leaks the error")
			}
			if tt.wantStatus == 503 && !strings.Contains(logs.String(), "not ready") {
				t.Errorf("failure not logged: %s", logs.String())
			}
		})
	}
}
