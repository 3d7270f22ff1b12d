package httpx

import (
	"context"
	"crypto/rand"
	"net/http"
	"sync/atomic"
)

// RequestIDHeader carries the request id in both directions. It is in canonical
// form, so it may index an http.Header directly.
const RequestIDHeader = "X-Request-Id"

const maxRequestIDLen = 64

// AssignRequestID gives every request an id: the client's X-Request-Id when it is sane
// (at most 64 characters of [A-Za-z0-9._-]), otherwise a new one from gen (NewRequestID
// when gen is nil). The id is set on the response and put in the context (RequestID).
// A client's id is accepted so a caller can follow one call through its logs and ours;
// anything else is replaced, so a log line never carries what a client smuggled in.
func AssignRequestID(gen func() string) Middleware {
	if gen == nil {
		gen = NewRequestID
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !ValidRequestID(id) {
				id = gen()
			}
			w.Header()[RequestIDHeader] = []string{id}
			st, r := stateOf(r)
			st.requestID = id
			next.ServeHTTP(w, r)
		})
	}
}

// RequestID returns the request id AssignRequestID put in ctx, or "".
func RequestID(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.requestID
	}
	return ""
}

// NewRequestID returns a new id: 26 characters of base32, a prefix drawn at random
// when the process starts (80 bits) and a counter. Ids are unique across processes
// and restarts without a random draw per request; they need not be unpredictable,
// as nothing trusts them.
func NewRequestID() string {
	var b [26]byte
	copy(b[:16], requestIDPrefix)
	n := requestIDCounter.Add(1)
	for i := 25; i >= 16; i-- {
		b[i] = base32Alphabet[n&31]
		n >>= 5
	}
	return string(b[:])
}

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

var (
	requestIDPrefix  = rand.Text()[:16]
	requestIDCounter atomic.Uint64
)

// ValidRequestID reports whether id is an acceptable request id: 1 to 64 characters of
// [A-Za-z0-9._-].
func ValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
