package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1 // 1 … 100 ms
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100 is the 50th", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100 is the 99th", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the maximum", ms(hundred...), 100, 100 * time.Millisecond},
		{"p0 is the minimum", ms(hundred...), 0, 1 * time.Millisecond},
		// Nearest rank: the smallest value with at least p% at or below it.
		{"p50 of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p51 of four is the third", ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{"p99 of ten is the tenth", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSorts(t *testing.T) {
	t.Parallel()
	lat := []time.Duration{5, 1, 4, 2, 3}
	s := summarize(lat)
	if s.n != 5 || s.p50 != 3 || s.p99 != 5 || s.max != 5 {
		t.Errorf("summarize = %+v", s)
	}
	if z := summarize(nil); z != (summary{}) {
		t.Errorf("summarize(nil) = %+v", z)
	}
}

func TestRateAndRatio(t *testing.T) {
	t.Parallel()
	if got := rate(5000, 2*time.Second); got != 2500 {
		t.Errorf("rate = %v", got)
	}
	if got := rate(5, 0); got != 0 {
		t.Errorf("rate over no time = %v", got)
	}
	if got := ratio(600, 1000); got != 0.6 {
		t.Errorf("ratio = %v", got)
	}
	if got := ratio(600, 0); got != 0 {
		t.Errorf("ratio without a baseline = %v", got)
	}
	// Targets compare with >=: exactly 0.6 of the baseline meets "≥ 0.6".
	if r := ratio(3000, 5000); !(r >= 0.6) {
		t.Errorf("3000/5000 = %v does not meet 0.6", r)
	}
}

func TestNotWorseBy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got, ref float64
		want     bool
	}{
		{800, 1000, true},   // exactly 20% fewer
		{799, 1000, false},  // more than 20% fewer
		{1500, 1000, true},  // faster is never a failure
		{1000, 0, false},    // nothing to compare with
		{1000, 1000, true},  // the same
		{0, 1000, false},    // nothing at all
		{950, 1000, true},   // within
		{100, 1000, false},  // far off
		{1200, 1000, true},  // better
		{801, 1000.5, true}, // rounding does not matter here
	}
	for _, tt := range tests {
		if got := notWorseBy(tt.got, tt.ref, 20); got != tt.want {
			t.Errorf("notWorseBy(%v, %v, 20) = %v, want %v", tt.got, tt.ref, got, tt.want)
		}
	}
}

func TestDurJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(struct {
		D Dur `json:"d"`
	}{Dur(1234567 * time.Nanosecond)})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"d":1.235}` {
		t.Errorf("got %s, want milliseconds with microsecond precision", b)
	}
}

func TestLoadResultAdd(t *testing.T) {
	t.Parallel()
	var r loadResult
	r.add(loadResult{requests: 10, elapsed: time.Second, lat: []time.Duration{1, 2}})
	r.add(loadResult{requests: 30, errors: 1, elapsed: time.Second, lat: []time.Duration{3}, firstErr: "x", exhausted: true})
	if r.requests != 40 || r.errors != 1 || r.elapsed != 2*time.Second || len(r.lat) != 3 || r.firstErr != "x" || !r.exhausted {
		t.Errorf("add: %+v", r)
	}
	if got := rate(r.requests, r.elapsed); got != 20 {
		t.Errorf("rate over slices = %v, want 20", got)
	}
}

func TestEncodeRequest(t *testing.T) {
	t.Parallel()
	got := string(encodeRequest("h:1", "POST", "/p", []header{{"A", "b"}}, []byte("xy")))
	want := "POST /p HTTP/1.1\r\nHost: h:1\r\nUser-Agent: vcsauth-load\r\nA: b\r\nContent-Length: 2\r\n\r\nxy"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := string(encodeRequest("h", "GET", "/", nil, nil)); got != "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: vcsauth-load\r\n\r\n" {
		t.Errorf("GET: %q", got)
	}
}

// The generator against a real server: every answer counted, statuses checked, and
// the probe telling an unwired route (net/http's text 404) from an API's JSON 404.
func TestRunAndProbe(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"active":true}`)) })
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"404 Not Found"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	get := func(path string) load {
		req := encodeRequest(addr, http.MethodGet, path, nil, nil)
		return load{name: path, want: http.StatusOK, next: func(int) ([]byte, bool) { return req, true }}
	}
	ctx := t.Context()

	r := run(ctx, addr, 4, 20*time.Millisecond, 200*time.Millisecond, get("/ok"))
	if r.requests == 0 || r.errors != 0 || len(r.lat) != r.requests || r.elapsed <= 0 || r.elapsed > 200*time.Millisecond {
		t.Errorf("run /ok: %d requests, %d errors, %d latencies, %v", r.requests, r.errors, len(r.lat), r.elapsed)
	}
	r = run(ctx, addr, 2, 0, 100*time.Millisecond, get("/api/nothing"))
	if r.requests != 0 || r.errors == 0 || !strings.Contains(r.firstErr, "status 404") {
		t.Errorf("run of a failing route: %d requests, %d errors, %q", r.requests, r.errors, r.firstErr)
	}

	// Input that runs out ends the run early and says so.
	var left atomic.Int64
	left.Store(25)
	okReq := encodeRequest(addr, http.MethodGet, "/ok", nil, nil)
	r = run(ctx, addr, 3, 0, 5*time.Second, load{want: http.StatusOK, next: func(int) ([]byte, bool) {
		return okReq, left.Add(-1) >= 0
	}})
	if r.requests != 25 || !r.exhausted || r.elapsed >= 5*time.Second {
		t.Errorf("exhaustible run: %d requests, exhausted %v, %v", r.requests, r.exhausted, r.elapsed)
	}

	if err := probe(ctx, addr, get("/ok")); err != nil {
		t.Errorf("probe /ok: %v", err)
	}
	if err := probe(ctx, addr, get("/nowhere")); !errors.Is(err, errSkip) {
		t.Errorf("probe of an unwired route: %v, want errSkip", err)
	}
	if err := probe(ctx, addr, get("/api/x")); err == nil || errors.Is(err, errSkip) {
		t.Errorf("probe of an API 404: %v, want a failure", err)
	}
}
