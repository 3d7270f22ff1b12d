package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	var inFlight string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "probe" {
			inFlight = scrape(t, reg)
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	// AssignRequestID and Authenticate copy the request, as the server's chain does, so
	// the route reaches the metrics only through CaptureRoute.
	h := Chain(mux, AssignRequestID(nil), m.Instrument, Recover(nil, nil), Authenticate(&fakeAuth{}), CaptureRoute)
	for _, req := range []struct{ method, path string }{
		{"GET", "/items/1"}, {"GET", "/items/2"}, {"GET", "/items/probe"}, {"POST", "/items"},
		{"GET", "/nowhere/1"}, {"GET", "/nowhere/2"}, {"DELETE", "/items"}, {"BREW", "/items/1"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	out := scrape(t, reg)
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="GET /items/{id}"} 3`,
		`http_requests_total{code="201",method="POST",route="POST /items"} 1`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 2`,
		`http_requests_total{code="405",method="DELETE",route="unmatched"} 1`,
		`http_requests_total{code="405",method="other",route="unmatched"} 1`,
		`http_request_duration_seconds_count{method="GET",route="GET /items/{id}"} 3`,
		`http_request_duration_seconds_bucket{method="POST",route="POST /items",le="60"} 1`,
		"http_requests_in_flight 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "/items/1") || strings.Contains(out, "/nowhere") {
		t.Errorf("a raw path became a label:\n%s", out)
	}
	if !strings.Contains(inFlight, "http_requests_in_flight 1") {
		t.Errorf("in flight during a request:\n%s", inFlight)
	}
}

func TestMetricsPanicCounts500(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := Chain(mux, m.Instrument, Recover(nil, nil), CaptureRoute)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/boom", nil))
	if out := scrape(t, reg); !strings.Contains(out, `http_requests_total{code="500",method="GET",route="GET /boom"} 1`) {
		t.Errorf("metrics:\n%s", out)
	}
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	var trail []string
	mark := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				trail = append(trail, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { trail = append(trail, "handler") }),
		mark("a"), nil, mark("b"), mark("c"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got := strings.Join(trail, ","); got != "a,b,c,handler" {
		t.Errorf("order = %s", got)
	}
}

// Flush and ResponseController reach the real writer through the wrappers.
func TestWrappedWriterFlushes(t *testing.T) {
	t.Parallel()
	var flushErr error
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		flushErr = http.NewResponseController(w).Flush()
	}), AccessLog(nil), Recover(nil, nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if flushErr != nil || !rec.Flushed {
		t.Errorf("flush: %v, flushed %v", flushErr, rec.Flushed)
	}
}
