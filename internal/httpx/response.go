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

// state is what the shared middleware learns about a request, held in one context
// value so that the layers share it instead of each copying the request
// (r.WithContext copies the whole *http.Request): the client's address
// (TrustProxies), the request id (AssignRequestID), the body limit (LimitBody), and
// what the layers outside the router learn only from inside it: the route pattern
// the mux matched and who the caller turned out to be. The first layer creates it
// (stateOf). The first three are written by their layers before they call the next
// one, in the request's goroutine (a nested LimitBody narrows the limit); the route
// and the user are written by inner layers and read by outer ones, under mu.
type state struct {
	clientIP  string
	requestID string
	bodyLimit int64 // 0: none

	mu    sync.Mutex
	route string
	user  string
}

type stateKey struct{}

// stateOf returns the request's state, creating it (and a request that carries it)
// when no outer layer did.
func stateOf(r *http.Request) (*state, *http.Request) {
	if st, ok := r.Context().Value(stateKey{}).(*state); ok {
		return st, r
	}
	st := &state{}
	return st, r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

func (st *state) setRoute(route string) {
	st.mu.Lock()
	st.route = route
	st.mu.Unlock()
}

func (st *state) setUser(user string) {
	st.mu.Lock()
	st.user = user
	st.mu.Unlock()
}

func (st *state) get() (route, user string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.route, st.user
}

// unmatchedRoute labels requests no pattern matched (404, 405, redirects), so that
// random paths cannot grow the metrics without bound.
const unmatchedRoute = "unmatched"

// routeOf returns the pattern recorded by CaptureRoute, or the one the mux left on r
// when no layer copied the request, or unmatchedRoute.
func routeOf(st *state, r *http.Request) string {
	route, _ := st.get()
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
			if st := stateFrom(r.Context()); st != nil && r.Pattern != "" {
				st.setRoute(r.Pattern)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
