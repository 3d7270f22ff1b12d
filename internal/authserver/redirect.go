package authserver

import (
	"net/url"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Limits on what an application may register.
const (
	maxRedirectURIs   = 16
	maxRedirectURILen = 2000
)

// loopbackHosts are the hosts an http redirect URI may name (RFC 8252 §7.3; "localhost"
// is allowed for the tools that insist on it, though §8.3 prefers the literals).
var loopbackHosts = []string{"127.0.0.1", "[::1]", "localhost"}

// ValidateRedirectURI checks one redirect URI an application registers: an absolute
// URI without a fragment, user information, white space or backslash; https, http
// for a loopback host only, or a private-use scheme in reverse domain-name form
// (RFC 8252 §7.1, "com.example.app:/callback"), which rules out javascript:, data:
// and their kind.
func ValidateRedirectURI(raw string) error {
	if raw == "" {
		return core.Missing("redirect_uri")
	}
	if len(raw) > maxRedirectURILen {
		return core.Invalid("redirect_uri", "must be at most %d characters", maxRedirectURILen)
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c <= ' ' || c >= 0x7f:
			return core.Invalid("redirect_uri", "must not contain white space, control or non-ASCII characters")
		case c == '\\':
			return core.Invalid("redirect_uri", "must not contain a backslash")
		case c == '#':
			return core.Invalid("redirect_uri", "must not contain a fragment")
		}
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return core.Invalid("redirect_uri", "must be an absolute URI.")
	}
	if !strings.HasPrefix(raw, u.Scheme+":") {
		return core.Invalid("redirect_uri", "must have a lower-case scheme")
	}
	if u.User != nil {
		return core.Invalid("redirect_uri", "must not contain user information")
	}
	switch u.Scheme {
	case "https":
		if u.Opaque != "" || u.Host == "" || !strings.HasPrefix(raw, "https://") {
			return core.Invalid("redirect_uri", "must name a host")
		}
	case "http":
		if u.Opaque != "" || !strings.HasPrefix(raw, "http://") {
			return core.Invalid("redirect_uri", "must name a host")
		}
		if _, _, ok := splitLoopback(raw); !ok {
			return core.Invalid("redirect_uri", "may use http only for a loopback address (127.0.0.1, [::1] or localhost); use https")
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return core.Invalid("redirect_uri", "must use https, http on a loopback address, or a private-use scheme such as com.example.app:")
		}
	}
	return nil
}

// ValidateRedirectURIs checks the redirect URIs of a registration and returns them
// without duplicates, in the order given.
func ValidateRedirectURIs(uris []string) ([]string, error) {
	out := make([]string, 0, len(uris))
	for _, u := range uris {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if err := ValidateRedirectURI(u); err != nil {
			return nil, err
		}
		dup := false
		for _, o := range out {
			dup = dup || o == u
		}
		if !dup {
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, core.Missing("redirect_uri")
	}
	if len(out) > maxRedirectURIs {
		return nil, core.Invalid("redirect_uri", "at most %d redirect URIs may be registered", maxRedirectURIs)
	}
	return out, nil
}

// MatchRedirectURI reports whether requested may receive the answer of an
// authorization request of an application that registered registered: it must equal
// one of them byte for byte, except that a registered loopback http URI matches the
// same URI with any port (RFC 8252 §7.3). Nothing is normalised: no case folding,
// no percent-decoding, no trailing-slash or default-port equivalence; a strict match
// is what keeps open redirectors out (RFC 9700 §4.1.3).
func MatchRedirectURI(registered []string, requested string) bool {
	if requested == "" {
		return false
	}
	for _, reg := range registered {
		if requested == reg {
			return true
		}
		if matchLoopback(reg, requested) {
			return true
		}
	}
	return false
}

// matchLoopback: reg is an http loopback URI, and req is the same string but for the
// port of its authority, which may be added, removed or changed.
func matchLoopback(reg, req string) bool {
	regHost, regRest, ok := splitLoopback(reg)
	if !ok {
		return false
	}
	reqHost, reqRest, ok := splitLoopback(req)
	if !ok || reqHost != regHost || reqRest != regRest {
		return false
	}
	// The rest must also be clean in req: no fragment, no white space, no backslash.
	return ValidateRedirectURI(req) == nil
}

// splitLoopback splits "http://HOST[:PORT]REST" where HOST is one of loopbackHosts,
// PORT is 1 to 5 digits (1-65535) and REST is empty or starts with "/" or "?". It
// works on the raw string, so no parser's leniency ("@", "\", percent-encoding in the
// authority) can make two different hosts look alike.
func splitLoopback(raw string) (host, rest string, ok bool) {
	s, found := strings.CutPrefix(raw, "http://")
	if !found {
		return "", "", false
	}
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	authority, rest := s[:end], s[end:]
	if strings.HasPrefix(rest, "#") {
		return "", "", false
	}
	for _, h := range loopbackHosts {
		p, found := strings.CutPrefix(authority, h)
		if !found {
			continue
		}
		if p == "" {
			return h, rest, true
		}
		port, found := strings.CutPrefix(p, ":")
		if !found || !validPort(port) {
			return "", "", false
		}
		return h, rest, true
	}
	return "", "", false
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n >= 1 && n <= 65535
}

// appendQuery adds params to uri, keeping its own query as it is (RFC 6749 §3.1.2).
// Registered URIs carry no fragment, so the query is the end of the string.
func appendQuery(uri string, params url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
		if strings.HasSuffix(uri, "?") || strings.HasSuffix(uri, "&") {
			sep = ""
		}
	}
	return uri + sep + params.Encode()
}
