package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// maxLoggedPath bounds what one request can add to a log line.
const maxLoggedPath = 512

// AccessLog logs one line per request on logger when the response is done: method,
// path, route, status, bytes, duration, request id, client address and, when known,
// the caller's username.
//
// It logs the path without its query string, because queries carry OAuth codes,
// states and tokens, and it logs no header at all, so Authorization, PRIVATE-TOKEN,
// Coder-Session-Token, X-Auth-Token, X-GitHub-OTP and Cookie never reach it. Server
// errors are logged at level Error, the rest at Info (a 401 or 404 is routine). A panic
// that passes through (none should: Recover sits inside) is logged as a 500 and
// continues on its way.
func AccessLog(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rw := wrap(w)
			rec, r := observe(r)
			done := false
			defer func() {
				status := rw.Status()
				if !done && !rw.wroteHeader {
					status = http.StatusInternalServerError
				}
				_, user := rec.get()
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelError
				}
				attrs := []slog.Attr{
					slog.String("method", r.Method),
					slog.String("path", truncate(r.URL.Path, maxLoggedPath)),
					slog.String("route", routeOf(rec, r)),
					slog.Int("status", status),
					slog.Int64("bytes", rw.bytes),
					slog.Duration("duration", time.Since(start)),
					slog.String("request_id", RequestID(r.Context())),
					slog.String("remote_addr", ClientIP(r)),
				}
				if user != "" {
					attrs = append(attrs, slog.String("user", user))
				}
				// The request's context may be cancelled by now; the line must still go out.
				logger.LogAttrs(context.WithoutCancel(r.Context()), level, "http request", attrs...)
			}()
			next.ServeHTTP(rw, r)
			done = true
		})
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
