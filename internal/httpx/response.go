package httpx

import (
	"context"
	"net/http"
	"sync"
)

// responseWriter remembers the status and the size of a response, for the access log,
// the metrics and Recover (which may only write a 500 when nothing was sent yet). One
// instance serves every layer of a request: wrap reuses it.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func wrap(w http.ResponseWriter) *responseWriter {
	if rw, ok := w.(*responseWriter); ok {
		return rw
	}
	return &responseWriter{ResponseWriter: w}
}

func (w *responseWriter) WriteHeader(code int) {
	// 1xx informational responses precede the real one (101 ends the exchange).
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if !w.wroteHeader {
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush keeps long polls and streams working through the wrapper.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (Hijack, deadlines).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status is what the client received; 200 when the handler wrote nothing, as net/http
// then sends.
func (w *responseWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// record collects, while a request runs, what the layers outside the router learn only
// from inside it: the route pattern the mux matched and who the caller turned out to
// be. Inner layers see a copy of the request (r.WithContext), so they write here.
type record struct {
	mu    sync.Mutex
	route string
	user  string
}

type recordKey struct{}

// observe returns the request's record, creating it (and a request that carries it)
// when no outer layer did.
func observe(r *http.Request) (*record, *http.Request) {
	if rec, ok := r.Context().Value(recordKey{}).(*record); ok {
		return rec, r
	}
	rec := &record{}
	return rec, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
}

func recordFrom(ctx context.Context) *record {
	rec, _ := ctx.Value(recordKey{}).(*record)
	return rec
}

func (rec *record) setRoute(route string) {
	rec.mu.Lock()
	rec.route = route
	rec.mu.Unlock()
}

func (rec *record) setUser(user string) {
	rec.mu.Lock()
	rec.user = user
	rec.mu.Unlock()
}

func (rec *record) get() (route, user string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.route, rec.user
}

// unmatchedRoute labels requests no pattern matched (404, 405, redirects), so that
// random paths cannot grow the metrics without bound.
const unmatchedRoute = "unmatched"

// routeOf returns the pattern recorded by CaptureRoute, or the one the mux left on r
// when no layer copied the request, or unmatchedRoute.
func routeOf(rec *record, r *http.Request) string {
	route, _ := rec.get()
	if route == "" {
		route = r.Pattern
	}
	if route == "" {
		return unmatchedRoute
	}
	return route
}

// CaptureRoute wraps the router (usually an *http.ServeMux) so that the pattern it
// matched (r.Pattern) reaches the access log and the metrics. They run outside the
// router and hold an earlier copy of the request, on which the mux set nothing. Put it
// directly around the mux; a nested mux that receives the same request overwrites the
// pattern with its own, more precise one.
func CaptureRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if rec := recordFrom(r.Context()); rec != nil && r.Pattern != "" {
				rec.setRoute(r.Pattern)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
