package httpx

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the HTTP metrics of one server:
//
//	http_requests_total{route,method,code}          counter
//	http_request_duration_seconds{route,method}     histogram
//	http_requests_in_flight                         gauge
//
// route is the ServeMux pattern that matched ("GET /api/v4/applications/{id}"), or
// "unmatched"; never the raw path, whose values are unbounded. method is one of the
// standard methods or "other", for the same reason.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	// The children of the vectors by label values, so that a request does not hash
	// its labels again: counterKey → prometheus.Counter, [2]string{route, method} →
	// prometheus.Observer. Bounded like the labels themselves.
	counters  sync.Map
	observers sync.Map
}

type counterKey struct {
	route, method string
	code          int
}

// durationBuckets reach past the one-minute long polls.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// NewMetrics creates the metrics and registers them on reg; never on the global
// default registry, so that tests and several servers in one process do not collide.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and method.",
			Buckets: durationBuckets,
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being answered now.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Instrument is the middleware that counts and times requests. The route label needs
// CaptureRoute around the mux when layers between here and the mux copy the request.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		rw := wrap(w)
		st, r := stateOf(r)
		done := false
		defer func() {
			m.inFlight.Dec()
			status := rw.Status()
			if !done && !rw.wroteHeader {
				status = http.StatusInternalServerError
			}
			route, method := routeOf(st, r), methodLabel(r.Method)
			m.counter(route, method, status).Inc()
			m.observer(route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rw, r)
		done = true
	})
}

func (m *Metrics) counter(route, method string, code int) prometheus.Counter {
	k := counterKey{route, method, code}
	if c, ok := m.counters.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.counters.LoadOrStore(k, m.requests.WithLabelValues(route, method, strconv.Itoa(code)))
	return c.(prometheus.Counter)
}

func (m *Metrics) observer(route, method string) prometheus.Observer {
	k := [2]string{route, method}
	if o, ok := m.observers.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o, _ := m.observers.LoadOrStore(k, m.duration.WithLabelValues(route, method))
	return o.(prometheus.Observer)
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// MetricsHandler serves what g gathers in the Prometheus text format (GET /metrics).
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
