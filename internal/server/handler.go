package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/vcsauth/vcsauth/internal/httpx"
)

// HandlerOptions configure the middleware Handler puts around the route table.
type HandlerOptions struct {
	Logger *slog.Logger
	// AccessLog, when set, receives the access log's lines directly, in the
	// format of slog.NewTextHandler (httpx.AccessLogText: much cheaper per request);
	// otherwise they go to Logger. Point it where Logger's text handler writes.
	AccessLog io.Writer
	// Metrics, when set, counts and times every request (httpx.NewMetrics).
	Metrics *httpx.Metrics
	// Resolvers run first, in order (ServiceStage signatures, web session cookies);
	// then the token and Basic headers are checked with Authenticator. With neither,
	// no request has a principal.
	Resolvers     []httpx.Resolver
	Authenticator httpx.Authenticator
	// MaxBodyBytes caps request bodies; 0 means httpx.DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustedProxies may set the client address through X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// ErrorRenderer answers panics outside every dialect's own Recover;
	// httpx.RenderJSON when nil.
	ErrorRenderer httpx.ErrorRenderer
	// NewRequestID generates request ids; httpx.NewRequestID when nil.
	NewRequestID func() string
}

// Handler wraps routes (the mux of every dialect, the OAuth endpoints, health,
// metrics and pages) in the shared middleware. From the outside in:
//
//  1. TrustProxies: the client address, which the log, login throttling and audit
//     events (core.RemoteAddr) use.
//  2. AssignRequestID: before anything can log or answer, so every log line and
//     every response, even a refusal, carries the id.
//  3. SecurityHeaders: set before any layer writes, so error answers have them too.
//  4. AccessLog: outside metrics and recovery, so it records the status the client
//     really got (the 500 that Recover wrote) and the whole duration.
//  5. Metrics: same reason; the in-flight gauge covers everything below.
//  6. Recover: inside log and metrics, which must see its 500, and outside the body
//     limit and the resolvers, whose panics it also catches. It uses the default
//     renderer; wrap each dialect's handler in httpx.Recover with the dialect's
//     renderer so its panics answer in its format, since this layer cannot know
//     which dialect a path belongs to before routing.
//  7. LimitBody: before authentication, because a request signature (ServiceStage's
//     AK/SK) is checked over the body, and nothing may read an unbounded body.
//  8. Resolve (Resolvers, then Authenticator): last, so that it runs only for
//     requests that got this far, with the body limit and recovery in place. It
//     rejects nothing; each dialect answers 401 in its own words.
//  9. CaptureRoute, around routes: reports the pattern the mux matched to the log and
//     metrics, which see an earlier copy of the request.
func Handler(routes http.Handler, o HandlerOptions) http.Handler {
	resolvers := append([]httpx.Resolver(nil), o.Resolvers...)
	if o.Authenticator != nil {
		resolvers = append(resolvers, httpx.Credentials(o.Authenticator))
	}
	accessLog := httpx.AccessLog(o.Logger)
	if o.AccessLog != nil {
		accessLog = httpx.AccessLogText(o.AccessLog)
	}
	var metrics httpx.Middleware
	if o.Metrics != nil {
		metrics = o.Metrics.Instrument
	}
	var resolve httpx.Middleware // none: each dialect resolves its own callers
	if len(resolvers) > 0 {
		resolve = httpx.Resolve(resolvers...)
	}
	return httpx.Chain(routes,
		httpx.TrustProxies(o.TrustedProxies),
		httpx.AssignRequestID(o.NewRequestID),
		httpx.SecurityHeaders,
		accessLog,
		metrics,
		httpx.Recover(o.Logger, o.ErrorRenderer),
		httpx.LimitBody(o.MaxBodyBytes),
		resolve,
		httpx.CaptureRoute,
	)
}
