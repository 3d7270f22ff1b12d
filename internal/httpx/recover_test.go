package httpx

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// teapotRenderer stands for a dialect's renderer.
func teapotRenderer(w http.ResponseWriter, _ *http.Request, status int, err error) {
	w.Header().Set("Content-Type", "application/vnd.api+json")
	w.WriteHeader(status)
	io.WriteString(w, `{"errors":[{"status":"`+http.StatusText(status)+`","title":"`+err.Error()+`"}]}`)
}

func TestRecover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		render     ErrorRenderer
		wantPanic  any
		wantStatus int
		wantBody   string
		wantCT     string
	}{
		{
			name:       "panic becomes the dialect's 500",
			handler:    func(w http.ResponseWriter, r *http.Request) { panic("boom") },
			render:     teapotRenderer,
			wantStatus: 500,
			wantBody:   `{"errors":[{"status":"Internal Server Error","title":"internal server error"}]}`,
			wantCT:     "application/vnd.api+json",
		},
		{
			name: "default renderer drops the handler's content type",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Location", "/elsewhere")
				panic(errors.New("secret internals"))
			},
			wantStatus: 500,
			wantBody:   `{"message":"Internal Server Error"}` + "\n",
			wantCT:     "application/json",
		},
		{
			name:      "abort handler passes through",
			handler:   func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) },
			wantPanic: http.ErrAbortHandler,
		},
		{
			name: "panic after the response started aborts it",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "partial")
				panic("late")
			},
			wantPanic: http.ErrAbortHandler,
		},
		{
			name:       "no panic",
			handler:    func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) },
			wantStatus: 202,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			h := Recover(slog.New(slog.NewJSONHandler(&buf, nil)), tt.render)(tt.handler)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/p?q=1", nil)
			req.Header.Set("Authorization", "Bearer vcp_hidden")
			var got any
			func() {
				defer func() { got = recover() }()
				h.ServeHTTP(rec, req)
			}()
			if got != tt.wantPanic {
				t.Fatalf("panic = %v, want %v", got, tt.wantPanic)
			}
			if tt.wantPanic != nil {
				return
			}
			if rec.Code != tt.wantStatus || rec.Body.String() != tt.wantBody && tt.wantBody != "" {
				t.Errorf("response = %d %q, want %d %q", rec.Code, rec.Body.String(), tt.wantStatus, tt.wantBody)
			}
			if tt.wantCT != "" && rec.Header().Get("Content-Type") != tt.wantCT {
				t.Errorf("Content-Type = %q, want %q", rec.Header().Get("Content-Type"), tt.wantCT)
			}
			if rec.Header().Get("Location") != "" {
				t.Error("Location kept on the error")
			}
			if strings.Contains(buf.String(), "vcp_hidden") || strings.Contains(rec.Body.String(), "secret internals") {
				t.Errorf("leak: log %s body %s", buf.String(), rec.Body.String())
			}
		})
	}
}

// The server survives a panic, and the next request on the same server works.
func TestRecoverKeepsServing(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	srv := httptest.NewServer(Recover(slog.New(slog.DiscardHandler), nil)(mux))
	t.Cleanup(srv.Close)
	for _, p := range []string{"/panic", "/ok", "/panic", "/ok"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := 200
		if p == "/panic" {
			want = 500
		}
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", p, resp.StatusCode, want)
		}
	}
}

// The inner, per-dialect Recover answers; the outer one sees nothing.
func TestRecoverNested(t *testing.T) {
	t.Parallel()
	inner := Recover(nil, teapotRenderer)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	h := Recover(nil, nil)(inner)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 500 || !strings.HasPrefix(rec.Body.String(), `{"errors"`) {
		t.Errorf("response = %d %s", rec.Code, rec.Body.String())
	}
}
