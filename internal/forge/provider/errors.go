package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Sentinel errors. Every error a provider call returns is checkable with errors.Is or
// errors.As against these and the types below; the refresh engine decides on them.
var (
	// ErrInvalidGrant: the authorization code or refresh token is dead (expired, used,
	// revoked). Nothing but a new authorization helps.
	ErrInvalidGrant = errors.New("forge: grant refused by the provider; authorize again")
	// ErrTokenInvalid: the API refused the access token (401).
	ErrTokenInvalid = errors.New("forge: access token refused by the provider")
	// ErrInvalidClient: the OAuth client's id or secret is wrong, or the app is gone.
	// It is the admin's to fix, not the user's.
	ErrInvalidClient = errors.New("forge: client credentials refused by the provider")
	// Device flow (RFC 8628 §3.5). Each is the answer of one poll.
	ErrAuthorizationPending = errors.New("forge: authorization_pending")
	ErrSlowDown             = errors.New("forge: slow_down")
	ErrExpiredToken         = errors.New("forge: expired_token")
	ErrAccessDenied         = errors.New("forge: access_denied")
	// ErrMalformed: the provider answered something we cannot read (HTML, truncated
	// JSON, a token response without a token). Always inside a *TransientError.
	ErrMalformed = errors.New("forge: malformed answer from the provider")
	// ErrUnsupported: the provider (or this installation of it) does not offer this.
	ErrUnsupported = errors.New("forge: not supported by this provider")
)

// OAuthError is an error answer of an OAuth endpoint (RFC 6749 §5.2, RFC 8628 §3.5).
// It matches (errors.Is) the sentinel its code means, if any, and unwraps to the
// *oauth2.RetrieveError describing the answer.
type OAuthError struct {
	Op          string
	Provider    core.ProviderKind
	Status      int
	Code        string // as the provider sent it
	Description string
	// Interval is the polling interval a slow_down answer carried, or 0.
	Interval time.Duration
	kind     error
	Err      *oauth2.RetrieveError
}

func (e *OAuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "forge: %s: %s: ", e.Provider, e.Op)
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		fmt.Fprintf(&b, "status %d", e.Status)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

// Is reports whether the error's code means target.
func (e *OAuthError) Is(target error) bool { return e.kind != nil && target == e.kind }

// Unwrap returns the x/oauth2 view of the answer.
func (e *OAuthError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// APIError is a non-success answer of the provider's REST API that is neither a rate
// limit nor transient. A 401 matches ErrTokenInvalid.
type APIError struct {
	Op       string
	Provider core.ProviderKind
	Status   int
	Message  string // the provider's message, shortened
	kind     error
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("forge: %s: %s: status %d", e.Provider, e.Op, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether the answer means target.
func (e *APIError) Is(target error) bool { return e.kind != nil && target == e.kind }

// RateLimitError: the provider throttled us (429, or 403 with its rate-limit headers).
type RateLimitError struct {
	Op       string
	Provider core.ProviderKind
	Status   int
	// RetryAfter is how long to wait before trying again, from Retry-After or the
	// provider's reset header; 0 when the provider did not say.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	s := fmt.Sprintf("forge: %s: %s: rate limited (status %d)", e.Provider, e.Op, e.Status)
	if e.RetryAfter > 0 {
		s += "; retry after " + e.RetryAfter.String()
	}
	return s
}

// TransientError: the call may well succeed if tried again later — network failure,
// timeout, a 5xx, an answer we could not read. It unwraps to the cause, so
// errors.Is(err, context.DeadlineExceeded) and errors.Is(err, ErrMalformed) work.
type TransientError struct {
	Op       string
	Provider core.ProviderKind
	Status   int // 0 when no answer arrived
	Err      error
}

func (e *TransientError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("forge: %s: %s: status %d: %v", e.Provider, e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("forge: %s: %s: %v", e.Provider, e.Op, e.Err)
}

func (e *TransientError) Unwrap() error { return e.Err }

// IsTransient reports whether err is worth retrying later: a *TransientError or a
// *RateLimitError.
func IsTransient(err error) bool {
	var t *TransientError
	var r *RateLimitError
	return errors.As(err, &t) || errors.As(err, &r)
}

var (
	defaultInvalidGrant  = []string{"invalid_grant"}
	defaultInvalidClient = []string{"invalid_client", "unauthorized_client"}
	// Codes some providers use for the RFC 8628 ones, whatever the provider.
	commonAliases = map[string]string{
		"authorization_declined": "access_denied", // Microsoft Entra ID
	}
	deviceKinds = map[string]error{
		"authorization_pending": ErrAuthorizationPending,
		"slow_down":             ErrSlowDown,
		"expired_token":         ErrExpiredToken,
		"access_denied":         ErrAccessDenied,
	}
)

// transportError wraps an error of the HTTP round trip, without the query of the
// URL it quotes (redactURL): every path to a provider passes here, x/oauth2's
// token calls included.
func (s *Spec) transportError(op string, err error) error {
	return &TransientError{Op: op, Provider: s.ProviderKind, Err: redactURL(err)}
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// describeBody says what a body we could not read looked like, without its content
// (it may hold secrets, or be a page of HTML).
func describeBody(h http.Header, body []byte) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "no content type"
	}
	return fmt.Sprintf("%s, %d bytes", ct, len(body))
}

// classifyToken turns the error of a token-endpoint call (made by x/oauth2 or by us)
// into one of the classified errors.
func (s *Spec) classifyToken(op string, err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		if isTransport(err) {
			return s.transportError(op, err)
		}
		// x/oauth2 could not parse a 2xx answer: HTML, truncated JSON, no token.
		return &TransientError{Op: op, Provider: s.ProviderKind, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	status := 0
	var h http.Header
	if re.Response != nil {
		status = re.Response.StatusCode
		h = re.Response.Header
	}
	code := re.ErrorCode
	if a, ok := s.ErrorAliases[code]; ok {
		code = a
	} else if a, ok := commonAliases[code]; ok {
		code = a
	}
	oe := &OAuthError{Op: op, Provider: s.ProviderKind, Status: status, Code: re.ErrorCode,
		Description: shorten(re.ErrorDescription), Err: re}
	if k, ok := deviceKinds[code]; ok {
		oe.kind = k
		if k == ErrSlowDown {
			oe.Interval = intervalFrom(h, re.Body)
		}
		return oe
	}
	if rl := s.rateLimited(op, status, h); rl != nil {
		return rl
	}
	switch {
	case code == "":
		switch {
		case status >= 500:
			return &TransientError{Op: op, Provider: s.ProviderKind, Status: status,
				Err: fmt.Errorf("the provider answered %s (%s)", http.StatusText(status), describeBody(h, re.Body))}
		case status == http.StatusUnauthorized:
			oe.kind = ErrInvalidClient
		}
		if oe.Description == "" {
			oe.Description = "no OAuth error in the answer (" + describeBody(h, re.Body) + ")"
		}
	case slices.Contains(defaultInvalidGrant, code) || slices.Contains(s.InvalidGrantCodes, code):
		oe.kind = ErrInvalidGrant
	case slices.Contains(defaultInvalidClient, code) || slices.Contains(s.InvalidClientCodes, code):
		oe.kind = ErrInvalidClient
	case code == "server_error" || code == "temporarily_unavailable":
		return &TransientError{Op: op, Provider: s.ProviderKind, Status: status, Err: oe}
	}
	return oe
}

// classifyAPI turns a non-2xx REST answer into a classified error.
func (s *Spec) classifyAPI(op string, resp *http.Response, body []byte) error {
	status := resp.StatusCode
	if rl := s.rateLimited(op, status, resp.Header); rl != nil {
		return rl
	}
	if status >= 500 {
		return &TransientError{Op: op, Provider: s.ProviderKind, Status: status,
			Err: fmt.Errorf("the provider answered %s (%s)", http.StatusText(status), describeBody(resp.Header, body))}
	}
	e := &APIError{Op: op, Provider: s.ProviderKind, Status: status, Message: apiMessage(body)}
	if status == http.StatusUnauthorized {
		e.kind = ErrTokenInvalid
	}
	return e
}

// rateLimited returns a *RateLimitError when the answer is a rate limit: 429, or a
// 403 that carries Retry-After or a spent budget (GitHub answers 403 for both its
// primary and secondary limits).
// https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
func (s *Spec) rateLimited(op string, status int, h http.Header) error {
	if h == nil {
		h = http.Header{}
	}
	switch status {
	case http.StatusTooManyRequests:
	case http.StatusForbidden:
		spent := s.RateLimit.Remaining != "" && strings.TrimSpace(h.Get(s.RateLimit.Remaining)) == "0"
		if !spent && h.Get("Retry-After") == "" {
			return nil
		}
	default:
		return nil
	}
	return &RateLimitError{Op: op, Provider: s.ProviderKind, Status: status, RetryAfter: s.retryAfter(h)}
}

func (s *Spec) retryAfter(h http.Header) time.Duration {
	now := s.now()
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(min(n, 86400)) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if s.RateLimit.Reset != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(h.Get(s.RateLimit.Reset)), 10, 64); err == nil && n > 0 {
			d := time.Unix(n, 0).Sub(now)
			return min(max(d, 0), 24*time.Hour)
		}
	}
	return 0
}

// intervalFrom reads the "interval" a slow_down answer may carry (GitHub does).
func intervalFrom(h http.Header, body []byte) time.Duration {
	var raw string
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" || ct == "text/plain" {
		if v, err := url.ParseQuery(string(body)); err == nil {
			raw = v.Get("interval")
		}
	} else {
		var v struct {
			Interval json.Number `json:"interval"`
		}
		if json.Unmarshal(body, &v) == nil {
			raw = v.Interval.String()
		}
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 || n > 3600 {
		return 0
	}
	return time.Duration(n) * time.Second
}

func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// apiMessage extracts a provider's error message from a JSON body, if it has one:
// GitHub, GitLab, Gitea and Gitee use "message"; Bitbucket Cloud
// {"error":{"message"}}; Bitbucket Data Center {"errors":[{"message"}]}.
func apiMessage(body []byte) string {
	var v struct {
		Message any `json:"message"`
		Error   any `json:"error"`
		Errors  []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	switch m := v.Message.(type) {
	case string:
		return shorten(m)
	case map[string]any: // GitLab validation errors
		b, _ := json.Marshal(m)
		return shorten(string(b))
	}
	switch e := v.Error.(type) {
	case string:
		return shorten(e)
	case map[string]any:
		if m, ok := e["message"].(string); ok {
			return shorten(m)
		}
	}
	if len(v.Errors) > 0 {
		return shorten(v.Errors[0].Message)
	}
	return ""
}

// shorten keeps a provider's text printable and short enough for a log line.
func shorten(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// ClassifyAPI classifies a non-2xx REST answer of a provider package's own call.
func (s *Spec) ClassifyAPI(op string, resp *http.Response, body []byte) error {
	return s.classifyAPI(op, resp, body)
}

// Refused is an *APIError that matches sentinel (ErrTokenInvalid, ErrInvalidClient, …).
func (s *Spec) Refused(op string, status int, sentinel error, message string) error {
	return &APIError{Op: op, Provider: s.ProviderKind, Status: status, Message: message, kind: sentinel}
}

// Malformed is a *TransientError wrapping ErrMalformed: the provider's answer did not
// have the shape we need.
func (s *Spec) Malformed(op string, status int, format string, args ...any) error {
	return &TransientError{Op: op, Provider: s.ProviderKind, Status: status, Err: malformed(format, args...)}
}
