package httpx

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
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
	return accessLog(func(ctx context.Context, e *accessEntry) {
		// The request's context may be cancelled by now; the line must still go out.
		logger.LogAttrs(context.WithoutCancel(ctx), e.level(), accessMsg, e.attrs()...)
	})
}

// AccessLogText is AccessLog writing each line to w itself, in the format of
// slog.NewTextHandler (the same bytes, so the lines sit among the process's other
// log lines as if it had written them), without going through a handler: slog's
// generic formatting of nine attributes was a tenth of the server's CPU on a cheap
// request. Every line is written, whatever level a logger would filter at; each is
// one Write call.
func AccessLogText(w io.Writer) Middleware {
	return accessLog(func(_ context.Context, e *accessEntry) {
		bp := linePool.Get().(*[]byte)
		*bp = e.appendText((*bp)[:0], time.Now())
		_, _ = w.Write(*bp)
		if cap(*bp) <= 4<<10 {
			linePool.Put(bp)
		}
	})
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const accessMsg = "http request"

// accessEntry is one access-log line's fields.
type accessEntry struct {
	method, path, route string
	status              int
	bytes               int64
	duration            time.Duration
	requestID, remote   string
	user                string // "" when the caller is unknown
}

func (e *accessEntry) level() slog.Level {
	if e.status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (e *accessEntry) attrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.String("method", e.method),
		slog.String("path", e.path),
		slog.String("route", e.route),
		slog.Int("status", e.status),
		slog.Int64("bytes", e.bytes),
		slog.Duration("duration", e.duration),
		slog.String("request_id", e.requestID),
		slog.String("remote_addr", e.remote),
	}
	if e.user != "" {
		attrs = append(attrs, slog.String("user", e.user))
	}
	return attrs
}

// appendText appends the line slog.NewTextHandler writes for the same record.
func (e *accessEntry) appendText(b []byte, now time.Time) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, now)
	b = append(b, " level="...)
	b = append(b, e.level().String()...)
	b = append(b, ` msg="`+accessMsg+`" method=`...)
	b = appendTextString(b, e.method)
	b = append(b, " path="...)
	b = appendTextString(b, e.path)
	b = append(b, " route="...)
	b = appendTextString(b, e.route)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, " duration="...)
	b = append(b, e.duration.String()...)
	b = append(b, " request_id="...)
	b = appendTextString(b, e.requestID)
	b = append(b, " remote_addr="...)
	b = appendTextString(b, e.remote)
	if e.user != "" {
		b = append(b, " user="...)
		b = appendTextString(b, e.user)
	}
	return append(b, '\n')
}

// appendRFC3339Millis is slog's time format: RFC 3339 with milliseconds, truncated.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	return t.Truncate(time.Millisecond).AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}

// appendTextString quotes s as slog's text handler does: when it is empty or holds
// a space, '=', '"', an ASCII control character, a non-ASCII space or non-printing
// character, or invalid UTF-8.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (c <= ' ' || c == '=' || c == '"') {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// accessLog is the request handling both access logs share; emit writes the line.
func accessLog(emit func(context.Context, *accessEntry)) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rw := wrap(w)
			st, r := stateOf(r)
			done := false
			defer func() {
				status := rw.Status()
				if !done && !rw.wroteHeader {
					status = http.StatusInternalServerError
				}
				_, user := st.get()
				e := accessEntry{method: r.Method, path: truncate(r.URL.Path, maxLoggedPath),
					route: routeOf(st, r), status: status, bytes: rw.bytes, duration: time.Since(start),
					requestID: st.requestID, remote: ClientIP(r), user: user}
				emit(r.Context(), &e)
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
