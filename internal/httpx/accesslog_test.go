package httpx

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink that the server's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLines parses the JSON lines written to buf.
func logLines(t *testing.T, buf *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// A secret sent in any credential header or in the query string never reaches the
// log, neither through the access log nor through the panic log.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	const secret = "vcp_S3cr3tT0k3nValue"
	tests := []struct {
		name  string
		path  string // may carry a query
		set   func(h http.Header)
		panic bool
	}{
		{name: "Authorization Bearer", path: "/x", set: func(h http.Header) { h.Set("Authorization", "Bearer "+secret) }},
		{name: "Authorization token", path: "/x", set: func(h http.Header) { h.Set("Authorization", "token "+secret) }},
		{name: "Authorization Basic", path: "/x", set: func(h http.Header) { h.Set("Authorization", basic("bob", secret)) }},
		{name: "PRIVATE-TOKEN", path: "/x", set: func(h http.Header) { h.Set("PRIVATE-TOKEN", secret) }},
		{name: "Coder-Session-Token", path: "/x", set: func(h http.Header) { h.Set("Coder-Session-Token", secret) }},
		{name: "X-Auth-Token", path: "/x", set: func(h http.Header) { h.Set("X-Auth-Token", secret) }},
		{name: "X-GitHub-OTP", path: "/x", set: func(h http.Header) {
			h.Set("Authorization", basic("bob", "hunter2"))
			h.Set("X-GitHub-OTP", secret)
		}},
		{name: "Cookie", path: "/x", set: func(h http.Header) { h.Set("Cookie", "vcsauth_session="+secret) }},
		{name: "query", path: "/auth/oc-1/callback?code=" + secret + "&state=" + secret, set: func(http.Header) {}},
		{name: "query access_token", path: "/x?access_token=" + secret, set: func(http.Header) {}},
		{name: "panic with Bearer", path: "/x?code=" + secret, set: func(h http.Header) { h.Set("Authorization", "Bearer "+secret) }, panic: true},
		{name: "panic with cookie", path: "/x", set: func(h http.Header) { h.Set("Cookie", "s="+secret) }, panic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.panic {
					panic("boom")
				}
				io.WriteString(w, "ok")
			})
			srv := httptest.NewServer(Chain(app,
				AssignRequestID(nil), AccessLog(logger), Recover(logger, nil), Authenticate(&fakeAuth{})))
			t.Cleanup(srv.Close)

			req, err := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.set(req.Header)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			srv.Close() // every handler has returned, so every line is written

			out := buf.String()
			for _, s := range []string{secret, base64.StdEncoding.EncodeToString([]byte("bob:" + secret)), "hunter2"} {
				if strings.Contains(out, s) {
					t.Errorf("log contains %q:\n%s", s, out)
				}
			}
			lines := logLines(t, &buf)
			if len(lines) == 0 {
				t.Fatal("nothing logged")
			}
			access := lines[len(lines)-1]
			if access["msg"] != "http request" || access["path"] != strings.SplitN(tt.path, "?", 2)[0] {
				t.Errorf("access line = %v", access)
			}
			if tt.panic {
				if access["status"] != float64(500) {
					t.Errorf("status = %v, want 500", access["status"])
				}
				if p := lines[0]; p["msg"] != "panic serving request" || !strings.Contains(p["stack"].(string), "TestLogsCarryNoSecrets") {
					t.Errorf("panic line = %v", p)
				}
			}
		})
	}
}

func TestAccessLogFields(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "hello")
	})
	h := Chain(mux, AssignRequestID(nil), AccessLog(logger), Authenticate(&fakeAuth{}), CaptureRoute)
	req := httptest.NewRequest(http.MethodPost, "/items/42?secret=x", nil)
	req.Header.Set(RequestIDHeader, "req-1")
	req.Header.Set("Authorization", "Bearer vcp_good")
	h.ServeHTTP(httptest.NewRecorder(), req)

	lines := logLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("lines = %v", lines)
	}
	got := lines[0]
	want := map[string]any{
		"level": "INFO", "method": "POST", "path": "/items/42", "route": "POST /items/{id}", "status": float64(201),
		"bytes": float64(5), "request_id": "req-1", "remote_addr": "192.0.2.1", "user": "alice",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["duration"]; !ok {
		t.Error("no duration")
	}
}

func TestAccessLogLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		level  string
	}{{200, "INFO"}, {302, "INFO"}, {404, "INFO"}, {503, "ERROR"}}
	for _, tt := range tests {
		var buf syncBuffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		h := AccessLog(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		if lines := logLines(t, &buf); len(lines) != 1 || lines[0]["level"] != tt.level || lines[0]["user"] != nil || lines[0]["route"] != "unmatched" {
			t.Errorf("status %d: %v", tt.status, lines)
		}
	}
}

// AccessLogText writes the very bytes slog's text handler writes for the same line.
func TestAccessLogTextIsSlogText(t *testing.T) {
	t.Parallel()
	strs := []string{"", "GET", "/api/v4/user", "GET /api/v4/user/{id}", "a b", "a=b", `say "hi"`, `back\slash`,
		"tab\there", "nl\n", "del\x7f", "ünïcödé", "nbsp\u00a0x", "zero\u200bwidth", "bad\xffutf8", "emoji😀", "x"}
	var entries []accessEntry
	for i, s := range strs {
		entries = append(entries, accessEntry{method: s, path: strs[(i+1)%len(strs)], route: strs[(i+2)%len(strs)],
			status: []int{200, 404, 500, 503}[i%4], bytes: int64(i * 1000), duration: time.Duration(i) * 1234567 * time.Nanosecond,
			requestID: strs[(i+3)%len(strs)], remote: "127.0.0.1", user: strs[(i+4)%len(strs)]})
	}
	zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+30*60), time.FixedZone("y", -7*3600)}
	for i, e := range entries {
		at := time.Date(2026, 11, 21, 13, 22, 52, i*123456789%1e9, zones[i%len(zones)])
		var want bytes.Buffer
		rec := slog.NewRecord(at, e.level(), accessMsg, 0)
		rec.AddAttrs(e.attrs()...)
		if err := slog.NewTextHandler(&want, nil).Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if got := string(e.appendText(nil, at)); got != want.String() {
			t.Errorf("entry %d:\n got %q\nwant %q", i, got, want.String())
		}
	}
}
