// Package httpx holds the HTTP middleware and helpers every dialect shares: request
// ids, the access log, panic recovery, body limits and JSON decoding, principal
// resolution, security headers, metrics and the client address.
//
// Nothing here answers 401 or 403: authentication middleware only records who called
// (PrincipalFrom) or why the credentials failed (AuthError), because each dialect
// words its refusals differently and some endpoints are public. Errors are written by
// an ErrorRenderer in the caller's dialect.
//
// Secrets never reach a log line: the access log records the path without its query
// string and no header values at all.
package httpx

import "net/http"

// Middleware wraps a handler in another.
type Middleware func(http.Handler) http.Handler

// Chain wraps h in mw so that mw[0] is the outermost layer: a request passes through
// mw[0], then mw[1], …, then h.
func Chain(h http.Handler, mw ...Middleware) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			h = mw[i](h)
		}
	}
	return h
}
