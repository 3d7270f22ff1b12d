package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAssignRequestID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64)
	tests := []struct {
		name, in, want string
	}{
		{"none", "", "generated"},
		{"sane", "abc-DEF_1.2", "abc-DEF_1.2"},
		{"64 characters", long, long},
		{"65 characters", long + "a", "generated"},
		{"space", "a b", "generated"},
		{"newline", "a\nb", "generated"},
		{"slash", "a/b", "generated"},
		{"quote", `a"b`, "generated"},
		{"non-ascii", "é", "generated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.in != "" {
				req.Header.Set(RequestIDHeader, tt.in)
			}
			var inCtx string
			h := AssignRequestID(func() string { return "generated" })(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				inCtx = RequestID(r.Context())
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if inCtx != tt.want || rec.Header().Get(RequestIDHeader) != tt.want {
				t.Errorf("context %q, header %q; want %q", inCtx, rec.Header().Get(RequestIDHeader), tt.want)
			}
		})
	}
}

func TestNewRequestID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100000 {
		id := NewRequestID()
		if !ValidRequestID(id) || len(id) != 26 || seen[id] {
			t.Fatalf("NewRequestID gave %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
	if RequestID(httptest.NewRequest(http.MethodGet, "/", nil).Context()) != "" {
		t.Error("RequestID without the middleware is not empty")
	}
}
