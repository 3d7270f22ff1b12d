package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// Recover turns a panic in next into a 500 written by render (RenderJSON when nil) and
// logs it with its stack, the request id, the method and the path: no header and no
// query string. The server keeps running.
//
// http.ErrAbortHandler is panicked again, as net/http expects: it means "abort the
// response", not "something broke". When the handler had already started its response,
// a 500 can no longer be sent, so Recover logs the panic and then aborts the response
// the same way, letting the client see a broken response rather than a truncated one
// that looks whole.
//
// The server wraps the whole mux in a Recover with the default renderer and each
// dialect's handler in a Recover with that dialect's renderer; the inner one answers.
func Recover(logger *slog.Logger, render ErrorRenderer) Middleware {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if render == nil {
		render = RenderJSON
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := wrap(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelError, "panic serving request",
					slog.String("panic", fmt.Sprint(v)),
					slog.String("request_id", RequestID(r.Context())),
					slog.String("method", r.Method),
					slog.String("path", truncate(r.URL.Path, maxLoggedPath)),
					slog.String("stack", string(debug.Stack())),
				)
				if rw.wroteHeader {
					panic(http.ErrAbortHandler)
				}
				// What the handler set for its own answer does not describe the error.
				for _, k := range droppedOnError {
					rw.Header().Del(k)
				}
				render(rw, r, http.StatusInternalServerError, ErrInternal)
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// droppedOnError are the headers that describe a handler's own answer; the headers of
// outer layers (request id, security headers) stay.
var droppedOnError = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Content-Disposition",
	"Etag", "Last-Modified", "Location", "Set-Cookie",
}
