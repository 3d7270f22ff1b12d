package httpx

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Authenticator checks the credentials a request carries. Both methods return a
// wrapped core.ErrUnauthenticated for credentials that do not verify;
// AuthenticatePassword may also return core.ErrOTPRequired (the password was right,
// the second factor is missing or wrong) and core.ErrThrottled. remoteAddr is the
// client's address (ClientIP), for throttling.
type Authenticator interface {
	AuthenticateToken(ctx context.Context, token string) (core.Principal, error)
	AuthenticatePassword(ctx context.Context, username, password, otp, remoteAddr string) (core.Principal, error)
}

// A Resolver works out who sent a request by one scheme (a ServiceStage AK/SK
// signature, a web session cookie, the token and Basic headers). It answers
//
//	(p, true, nil)  the request carries this scheme's credentials and they verify;
//	(_, false, nil) the request carries none of this scheme's credentials;
//	(_, _, err)     it carries them and they fail: err wraps core.ErrUnauthenticated,
//	                core.ErrOTPRequired or core.ErrThrottled, or is an internal error.
//
// A Resolver that reads the body (to check a signature) must put back one that reads
// the same bytes.
type Resolver func(r *http.Request) (core.Principal, bool, error)

// Authenticate resolves the caller from the token and Basic headers with a; it is
// Resolve(Credentials(a)).
func Authenticate(a Authenticator) Middleware { return Resolve(Credentials(a)) }

// Resolve runs resolvers in order until one finds credentials of its kind, and records
// the outcome in the context: the principal (PrincipalFrom) or the failure (AuthError).
// It rejects nothing: each dialect answers 401 in its own words, and some endpoints
// are public.
//
// A request an earlier layer already settled (a principal, from WithPrincipal or an
// outer Resolve, or a failure) is left alone, so an Authenticator is never asked twice
// (a second failed password would count twice against the throttle). A request with
// no credentials at all is not settled: a dialect may wrap its own handler in a
// Resolve with a scheme only it speaks.
func Resolve(resolvers ...Resolver) Middleware {
	resolvers = append([]Resolver(nil), resolvers...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, settled := r.Context().Value(authKey{}).(authResult); settled {
				next.ServeHTTP(w, r)
				return
			}
			for _, resolve := range resolvers {
				p, ok, err := resolve(r)
				if err != nil {
					r = r.WithContext(context.WithValue(r.Context(), authKey{}, authResult{err: err}))
					break
				}
				if ok {
					r = r.WithContext(WithPrincipal(r.Context(), p))
					break
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

type authKey struct{}

type authResult struct {
	p   core.Principal
	ok  bool
	err error
}

// WithPrincipal returns a context in which p is the caller. Resolvers' outcomes get
// there through it, tests use it directly, and so can a handler that signs someone in;
// the access log then shows p's username.
func WithPrincipal(ctx context.Context, p core.Principal) context.Context {
	if st := stateFrom(ctx); st != nil {
		st.setUser(p.User.Username)
	}
	return context.WithValue(ctx, authKey{}, authResult{p: p, ok: true})
}

// PrincipalFrom returns the caller, when the request proved who it is.
func PrincipalFrom(ctx context.Context) (core.Principal, bool) {
	res, _ := ctx.Value(authKey{}).(authResult)
	return res.p, res.ok
}

// Authenticated calls fn with the request's principal. A request without one goes
// to denied with AuthError's answer: nil when it sent no credentials, else why they
// failed. Each dialect passes the denied that answers in its own words.
func Authenticated(fn func(http.ResponseWriter, *http.Request, core.Principal), denied func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := PrincipalFrom(r.Context()); ok {
			fn(w, r, p)
			return
		}
		denied(w, r, AuthError(r.Context()))
	})
}

// AuthError returns why the request's credentials failed: nil when it sent none (or
// they verified), else an error wrapping core.ErrUnauthenticated (bad, malformed or
// conflicting credentials), core.ErrOTPRequired or core.ErrThrottled, or an internal
// error from the Authenticator (the store failing), which deserves a 500 and not a 401.
func AuthError(ctx context.Context) error {
	res, _ := ctx.Value(authKey{}).(authResult)
	return res.err
}

// Credentials returns the Resolver of the headers through which any of our tokens
// authenticates in any dialect, checked with a:
//
//	Authorization: Bearer <token> | token <token>   (scheme in any case)
//	Authorization: Basic <username:password>        with X-GitHub-OTP as the second factor
//	PRIVATE-TOKEN: <token>                          (header names in any case)
//	Coder-Session-Token: <token>
//	X-Auth-Token: <token>
//
// Other Authorization schemes (ServiceStage's SDK-HMAC-SHA256) are left to other
// resolvers. Headers with empty values count as absent. Malformed credentials, or
// credentials that disagree (two different tokens, a token and a password), are
// refused with core.ErrUnauthenticated rather than one of them being picked: a request
// is one caller.
func Credentials(a Authenticator) Resolver {
	return func(r *http.Request) (core.Principal, bool, error) {
		c, ok, err := extractCredentials(r.Header)
		if err != nil || !ok {
			return core.Principal{}, false, err
		}
		var p core.Principal
		switch c.kind {
		case credToken:
			p, err = a.AuthenticateToken(r.Context(), c.token)
			if err == nil && p.Method == "" {
				p.Method = core.AuthToken
			}
		case credBasic:
			p, err = a.AuthenticatePassword(r.Context(), c.username, c.password, c.otp, ClientIP(r))
			if err == nil && p.Method == "" {
				p.Method = core.AuthPassword
			}
		}
		if err != nil {
			return core.Principal{}, false, err
		}
		return p, true, nil
	}
}

// credentialHeaders are the request headers that carry credentials (X-GitHub-OTP
// only completes Basic). Nothing logs any header; SecurityHeaders marks responses to
// requests that carry one of these as not cacheable.
var credentialHeaders = []string{"Authorization", "Private-Token", "Coder-Session-Token", "X-Auth-Token", "Cookie"}

type credKind int

const (
	credNone credKind = iota
	credToken
	credBasic
)

type credential struct {
	kind     credKind
	token    string
	username string
	password string
	otp      string
}

// maxCredentialLen bounds a token or a Basic credential; ours are far shorter, and
// nothing longer is worth hashing or looking up.
const maxCredentialLen = 4096

var (
	errMalformed   = fmt.Errorf("%w: malformed credentials", core.ErrUnauthenticated)
	errConflicting = fmt.Errorf("%w: conflicting credentials", core.ErrUnauthenticated)
)

// extractCredentials reads every credential header (whatever the case of its name,
// and every value of a repeated one) and returns the one credential they agree on.
// Because disagreement is refused, the order of the headers does not matter.
func extractCredentials(h http.Header) (credential, bool, error) {
	var (
		found                  credential
		otp                    string
		malformed, conflicting bool
	)
	add := func(c credential) {
		if found.kind == credNone {
			found = c
		} else if found != c {
			conflicting = true
		}
	}
	for name, values := range h {
		switch {
		case strings.EqualFold(name, "Authorization"):
			for _, v := range values {
				c, ok, err := parseAuthorization(v)
				switch {
				case err != nil:
					malformed = true
				case ok:
					add(c)
				}
			}
		case strings.EqualFold(name, "Private-Token"),
			strings.EqualFold(name, "Coder-Session-Token"),
			strings.EqualFold(name, "X-Auth-Token"):
			for _, v := range values {
				switch v = trimOWS(v); {
				case v == "":
				case !validToken(v):
					malformed = true
				default:
					add(credential{kind: credToken, token: v})
				}
			}
		case strings.EqualFold(name, "X-Github-Otp"):
			if len(values) > 0 && otp == "" {
				otp = trimOWS(values[0])
			}
		}
	}
	switch {
	case malformed:
		return credential{}, false, errMalformed
	case conflicting:
		return credential{}, false, errConflicting
	case found.kind == credNone:
		return credential{}, false, nil
	case found.kind == credBasic:
		found.otp = otp
	}
	return found, true, nil
}

// parseAuthorization reads one Authorization header value. It returns ok false and no
// error for an empty value or a scheme that is not Bearer, token or Basic, and
// errMalformed for one of those schemes with missing or unusable credentials.
func parseAuthorization(v string) (credential, bool, error) {
	v = trimOWS(v)
	if v == "" {
		return credential{}, false, nil
	}
	scheme, rest := v, ""
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		scheme, rest = v[:i], trimOWS(v[i+1:])
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"), strings.EqualFold(scheme, "token"):
		if !validToken(rest) {
			return credential{}, false, errMalformed
		}
		return credential{kind: credToken, token: rest}, true, nil
	case strings.EqualFold(scheme, "Basic"):
		if rest == "" || len(rest) > 2*maxCredentialLen {
			return credential{}, false, errMalformed
		}
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			if raw, err = base64.RawStdEncoding.DecodeString(rest); err != nil {
				return credential{}, false, errMalformed
			}
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok || user == "" || len(raw) > maxCredentialLen || hasCTL(user) || hasCTL(pass) {
			return credential{}, false, errMalformed
		}
		return credential{kind: credBasic, username: user, password: pass}, true, nil
	}
	return credential{}, false, nil
}

// validToken: 1 to maxCredentialLen visible ASCII characters, so no space, control
// character or non-ASCII byte reaches a lookup.
func validToken(t string) bool {
	if t == "" || len(t) > maxCredentialLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// trimOWS trims HTTP's optional white space (spaces and tabs).
func trimOWS(s string) string { return strings.Trim(s, " \t") }
