package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

type doc struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	Count  int      `json:"count"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name     string
		body     string
		limit    int64 // 0: no LimitBody middleware
		want     doc
		wantCode string // "" for success
		tooLarge bool
	}{
		{name: "valid", body: `{"name":"a","scopes":["api"],"count":2}`, want: doc{Name: "a", Scopes: []string{"api"}, Count: 2}},
		{name: "unknown fields are fine", body: `{"name":"a","extra":{"x":1}}`, want: doc{Name: "a"}},
		{name: "trailing white space", body: "{\"name\":\"a\"}\n\t ", want: doc{Name: "a"}},
		{name: "empty", body: "", wantCode: "missing"},
		{name: "only space", body: "  \n", wantCode: "missing"},
		{name: "malformed", body: `{"name":`, wantCode: "invalid"},
		{name: "syntax error", body: `{"name" "a"}`, wantCode: "invalid"},
		{name: "trailing garbage", body: `{"name":"a"}garbage`, wantCode: "invalid"},
		{name: "trailing brace", body: `{"name":"a"}}`, wantCode: "invalid"},
		{name: "two documents", body: `{"name":"a"} {"name":"b"}`, wantCode: "invalid"},
		{name: "wrong type", body: `{"name":5}`, wantCode: "invalid"},
		{name: "wrong nested type", body: `{"scopes":"api"}`, wantCode: "invalid"},
		{name: "too large without middleware", body: big, wantCode: "too_large", tooLarge: true},
		{name: "too large with middleware", body: `{"name":"` + strings.Repeat("x", 100) + `"}`, limit: 50, wantCode: "too_large", tooLarge: true},
		{name: "trailing data past the limit", body: `{"name":"a"}` + strings.Repeat(" ", 100) + "x", limit: 50, wantCode: "too_large", tooLarge: true},
		{name: "at the limit", body: `{"name":"abc"}`, limit: 14, want: doc{Name: "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				got doc
				err error
			)
			h := http.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { err = DecodeJSON(r, &got) }))
			if tt.limit > 0 {
				h = LimitBody(tt.limit)(h)
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body)))
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				if got.Name != tt.want.Name || got.Count != tt.want.Count || strings.Join(got.Scopes, ",") != strings.Join(tt.want.Scopes, ",") {
					t.Errorf("decoded %+v, want %+v", got, tt.want)
				}
				return
			}
			v, ok := core.AsValidation(err)
			if !ok || v.Code != tt.wantCode || v.Message == "" {
				t.Fatalf("err = %#v, want a ValidationError with code %q", err, tt.wantCode)
			}
			if errors.Is(err, ErrBodyTooLarge) != tt.tooLarge {
				t.Errorf("errors.Is(err, ErrBodyTooLarge) = %v", !tt.tooLarge)
			}
			if strings.Contains(err.Error(), "xxxxxxxx") {
				t.Errorf("the error quotes the body: %.80s", err)
			}
		})
	}
}

func TestDecodeJSONProgrammerError(t *testing.T) {
	t.Parallel()
	var d doc
	err := DecodeJSON(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`)), d)
	if _, ok := core.AsValidation(err); ok || err == nil {
		t.Errorf("non-pointer target: %v, want a plain error", err)
	}
}

// LimitBody also stops handlers that read the body by themselves.
func TestLimitBody(t *testing.T) {
	t.Parallel()
	var readErr error
	h := LimitBody(10)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 100)
		for readErr == nil {
			_, readErr = r.Body.Read(buf)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("a", 11))))
	var mbe *http.MaxBytesError
	if !errors.As(readErr, &mbe) || mbe.Limit != 10 {
		t.Errorf("read error = %v", readErr)
	}
}
