package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		header    http.Header
		principal bool
		override  bool
		wantCache string
	}{
		{name: "anonymous", header: http.Header{}},
		{name: "bearer", header: http.Header{"Authorization": {"Bearer x"}}, wantCache: "no-store"},
		{name: "private token", header: http.Header{"Private-Token": {"x"}}, wantCache: "no-store"},
		{name: "coder", header: http.Header{"Coder-Session-Token": {"x"}}, wantCache: "no-store"},
		{name: "x-auth-token", header: http.Header{"X-Auth-Token": {"x"}}, wantCache: "no-store"},
		{name: "cookie", header: http.Header{"Cookie": {"s=x"}}, wantCache: "no-store"},
		{name: "principal set by another scheme", header: http.Header{}, principal: true, wantCache: "no-store"},
		{name: "a page sets its own policy", header: http.Header{}, override: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header = tt.header
			if tt.principal {
				req = req.WithContext(WithPrincipal(req.Context(), core.Principal{}))
			}
			rec := httptest.NewRecorder()
			SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.override {
					w.Header().Set("Content-Security-Policy", "default-src 'self'")
				}
			})).ServeHTTP(rec, req)
			h := rec.Header()
			wantCSP := APIContentSecurityPolicy
			if tt.override {
				wantCSP = "default-src 'self'"
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
				h.Get("Content-Security-Policy") != wantCSP || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("headers = %v", h)
			}
			if h.Get("Cache-Control") != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", h.Get("Cache-Control"), tt.wantCache)
			}
		})
	}
}
