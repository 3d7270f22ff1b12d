package httpx

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

// fakeAuth accepts the token "vcp_good" (user alice) and the password "hunter2" of
// user bob, who needs the OTP "123456" when otpRequired is set. It records its calls.
type fakeAuth struct {
	otpRequired bool
	tokenErr    error // returned instead of checking, when set
	passwordErr error

	mu    sync.Mutex
	calls []string
}

func (f *fakeAuth) AuthenticateToken(_ context.Context, token string) (core.Principal, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "token "+token)
	f.mu.Unlock()
	if f.tokenErr != nil {
		return core.Principal{}, f.tokenErr
	}
	if token != "vcp_good" {
		return core.Principal{}, fmt.Errorf("token: %w", core.ErrUnauthenticated)
	}
	return core.Principal{User: core.User{Username: "alice"}, Scopes: []string{core.ScopeAPI}}, nil
}

func (f *fakeAuth) AuthenticatePassword(_ context.Context, username, password, otp, remoteAddr string) (core.Principal, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("password %s %s %s %s", username, password, otp, remoteAddr))
	f.mu.Unlock()
	if f.passwordErr != nil {
		return core.Principal{}, f.passwordErr
	}
	if username != "bob" || password != "hunter2" {
		return core.Principal{}, fmt.Errorf("password: %w", core.ErrUnauthenticated)
	}
	if f.otpRequired && otp != "123456" {
		return core.Principal{}, fmt.Errorf("otp: %w", core.ErrOTPRequired)
	}
	return core.Principal{User: core.User{Username: "bob"}, Scopes: []string{core.ScopeAPI}}, nil
}

func (f *fakeAuth) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// outcome is what an inner handler saw of the authentication.
type outcome struct {
	user   string
	method core.AuthMethod
	ok     bool
	err    error
}

func authOutcome(t *testing.T, mw Middleware, req *http.Request) outcome {
	t.Helper()
	var got outcome
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		got = outcome{user: p.User.Username, method: p.Method, ok: ok, err: AuthError(r.Context())}
	}))
	h.ServeHTTP(httptest.NewRecorder(), req)
	return got
}

func TestAuthenticateHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		header      http.Header
		otpRequired bool
		wantUser    string
		wantMethod  core.AuthMethod
		wantErr     error // nil: no error
		wantCall    string
	}{
		{name: "no credentials", header: http.Header{}},
		{name: "bearer", header: http.Header{"Authorization": {"Bearer vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken, wantCall: "token vcp_good"},
		{name: "bearer lower case scheme", header: http.Header{"Authorization": {"bearer vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "bearer upper case scheme and extra space", header: http.Header{"Authorization": {"BEARER   vcp_good "}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "token scheme", header: http.Header{"Authorization": {"token vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "Token scheme", header: http.Header{"Authorization": {"Token vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "bearer bad token", header: http.Header{"Authorization": {"Bearer vcp_bad"}}, wantErr: core.ErrUnauthenticated, wantCall: "token vcp_bad"},
		{name: "bearer without token", header: http.Header{"Authorization": {"Bearer"}}, wantErr: core.ErrUnauthenticated},
		{name: "bearer with two words", header: http.Header{"Authorization": {"Bearer a b"}}, wantErr: core.ErrUnauthenticated},
		{name: "basic", header: http.Header{"Authorization": {basic("bob", "hunter2")}}, wantUser: "bob", wantMethod: core.AuthPassword, wantCall: "password bob hunter2  192.0.2.1"},
		{name: "basic wrong password", header: http.Header{"Authorization": {basic("bob", "nope")}}, wantErr: core.ErrUnauthenticated},
		{name: "basic otp required and missing", header: http.Header{"Authorization": {basic("bob", "hunter2")}}, otpRequired: true, wantErr: core.ErrOTPRequired},
		{name: "basic with otp", header: http.Header{"Authorization": {basic("bob", "hunter2")}, "X-Github-Otp": {"123456"}}, otpRequired: true, wantUser: "bob", wantMethod: core.AuthPassword, wantCall: "password bob hunter2 123456 192.0.2.1"},
		{name: "basic with wrong otp", header: http.Header{"Authorization": {basic("bob", "hunter2")}, "X-Github-Otp": {"000000"}}, otpRequired: true, wantErr: core.ErrOTPRequired},
		{name: "basic password with colon", header: http.Header{"Authorization": {basic("bob", "a:b")}}, wantErr: core.ErrUnauthenticated, wantCall: "password bob a:b  192.0.2.1"},
		{name: "basic not base64", header: http.Header{"Authorization": {"Basic !!!"}}, wantErr: core.ErrUnauthenticated},
		{name: "basic without colon", header: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("bob"))}}, wantErr: core.ErrUnauthenticated},
		{name: "basic empty username", header: http.Header{"Authorization": {basic("", "hunter2")}}, wantErr: core.ErrUnauthenticated},
		{name: "otp alone is nothing", header: http.Header{"X-Github-Otp": {"123456"}}},
		{name: "PRIVATE-TOKEN", header: http.Header{"Private-Token": {"vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken, wantCall: "token vcp_good"},
		{name: "private-token lower case name", header: http.Header{"private-token": {"vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "PRIVATE-TOKEN upper case name", header: http.Header{"PRIVATE-TOKEN": {"vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "Coder-Session-Token", header: http.Header{"Coder-Session-Token": {"vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "X-Auth-Token", header: http.Header{"X-Auth-Token": {"vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "X-Auth-Token bad", header: http.Header{"X-Auth-Token": {"vcp_bad"}}, wantErr: core.ErrUnauthenticated},
		{name: "empty token header is absent", header: http.Header{"Private-Token": {""}}},
		{name: "token with control character", header: http.Header{"Private-Token": {"vcp\x01good"}}, wantErr: core.ErrUnauthenticated},
		{name: "same token twice", header: http.Header{"Authorization": {"Bearer vcp_good"}, "Private-Token": {"vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
		{name: "different tokens", header: http.Header{"Authorization": {"Bearer vcp_good"}, "Private-Token": {"vcp_other"}}, wantErr: core.ErrUnauthenticated},
		{name: "different tokens in one header", header: http.Header{"X-Auth-Token": {"vcp_good", "vcp_other"}}, wantErr: core.ErrUnauthenticated},
		{name: "token and basic", header: http.Header{"Authorization": {basic("bob", "hunter2")}, "Coder-Session-Token": {"vcp_good"}}, wantErr: core.ErrUnauthenticated},
		{name: "good and malformed", header: http.Header{"Authorization": {"Bearer vcp_good"}, "X-Auth-Token": {"a b"}}, wantErr: core.ErrUnauthenticated},
		{name: "foreign scheme ignored", header: http.Header{"Authorization": {"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00"}}},
		{name: "foreign scheme beside a token", header: http.Header{"Authorization": {"Digest x", "Bearer vcp_good"}}, wantUser: "alice", wantMethod: core.AuthToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fa := &fakeAuth{otpRequired: tt.otpRequired}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header = tt.header
			got := authOutcome(t, Authenticate(fa), req)
			if got.user != tt.wantUser || got.ok != (tt.wantUser != "") || got.method != tt.wantMethod {
				t.Errorf("principal = %+v, want user %q method %q", got, tt.wantUser, tt.wantMethod)
			}
			switch {
			case tt.wantErr == nil && got.err != nil:
				t.Errorf("AuthError = %v, want nil", got.err)
			case tt.wantErr != nil && !errors.Is(got.err, tt.wantErr):
				t.Errorf("AuthError = %v, want %v", got.err, tt.wantErr)
			}
			if tt.wantCall != "" {
				calls := fa.Calls()
				if len(calls) != 1 || calls[0] != tt.wantCall {
					t.Errorf("authenticator calls = %q, want [%q]", calls, tt.wantCall)
				}
			}
		})
	}
}

func TestAuthenticatePassesThroughFailures(t *testing.T) {
	t.Parallel()
	internal := errors.New("database is down")
	tests := []struct {
		name string
		fa   *fakeAuth
		hdr  http.Header
		want error
	}{
		{"throttled", &fakeAuth{passwordErr: fmt.Errorf("login: %w", core.ErrThrottled)}, http.Header{"Authorization": {basic("bob", "hunter2")}}, core.ErrThrottled},
		{"otp", &fakeAuth{passwordErr: fmt.Errorf("login: %w", core.ErrOTPRequired)}, http.Header{"Authorization": {basic("bob", "hunter2")}}, core.ErrOTPRequired},
		{"internal", &fakeAuth{tokenErr: internal}, http.Header{"Private-Token": {"vcp_good"}}, internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header = tt.hdr
			got := authOutcome(t, Authenticate(tt.fa), req)
			if got.ok || !errors.Is(got.err, tt.want) {
				t.Errorf("outcome = %+v, want error %v", got, tt.want)
			}
		})
	}
}

// The Basic-auth throttle must see the address TrustProxies worked out.
func TestAuthenticatePasswordGetsClientIP(t *testing.T) {
	t.Parallel()
	fa := &fakeAuth{}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.0.0.5:4242"
	req.Header.Set("Authorization", basic("bob", "hunter2"))
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	mw := func(h http.Handler) http.Handler {
		return Chain(h, TrustProxies(mustPrefixes(t, "10.0.0.0/8")), Authenticate(fa))
	}
	if got := authOutcome(t, mw, req); got.user != "bob" {
		t.Fatalf("outcome = %+v", got)
	}
	if calls := fa.Calls(); len(calls) != 1 || !strings.HasSuffix(calls[0], " 203.0.113.9") {
		t.Errorf("calls = %q, want the forwarded client address", calls)
	}
}

func TestResolveOrder(t *testing.T) {
	t.Parallel()
	signature := func(r *http.Request) (core.Principal, bool, error) {
		v := r.Header.Get("Authorization")
		if !strings.HasPrefix(v, "SDK-HMAC-SHA256 ") {
			return core.Principal{}, false, nil
		}
		if strings.Contains(v, "Signature=good") {
			return core.Principal{User: core.User{Username: "carol"}, Method: core.AuthAccessKey}, true, nil
		}
		return core.Principal{}, false, fmt.Errorf("signature: %w", core.ErrUnauthenticated)
	}
	tests := []struct {
		name     string
		auth     string
		preset   bool
		wantUser string
		wantErr  bool
	}{
		{name: "signature resolver answers first", auth: "SDK-HMAC-SHA256 Access=AK, Signature=good", wantUser: "carol"},
		{name: "signature failure stops the chain", auth: "SDK-HMAC-SHA256 Access=AK, Signature=bad", wantErr: true},
		{name: "falls through to the token", auth: "Bearer vcp_good", wantUser: "alice"},
		{name: "nothing at all", auth: ""},
		{name: "a principal already set wins", auth: "Bearer vcp_bad", preset: true, wantUser: "dave"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fa := &fakeAuth{}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.preset {
				req = req.WithContext(WithPrincipal(req.Context(), core.Principal{User: core.User{Username: "dave"}}))
			}
			got := authOutcome(t, Resolve(signature, Credentials(fa)), req)
			if got.user != tt.wantUser || (got.err != nil) != tt.wantErr {
				t.Errorf("outcome = %+v, want user %q, error %v", got, tt.wantUser, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(got.err, core.ErrUnauthenticated) {
				t.Errorf("AuthError = %v", got.err)
			}
			if tt.preset && len(fa.Calls()) != 0 {
				t.Errorf("authenticator called: %q", fa.Calls())
			}
		})
	}
}

// Over the wire, header names arrive in whatever case the client wrote them.
func TestAuthenticateHeaderCaseOverTheWire(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Authenticate(&fakeAuth{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		fmt.Fprint(w, p.User.Username)
	})))
	t.Cleanup(srv.Close)
	for _, name := range []string{"PRIVATE-TOKEN", "private-token", "Private-Token", "pRiVaTe-ToKeN", "coder-session-token", "x-auth-token", "AUTHORIZATION"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			value := "vcp_good"
			if strings.EqualFold(name, "Authorization") {
				value = "Bearer vcp_good"
			}
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n%s: %s\r\nConnection: close\r\n\r\n", name, value)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body strings.Builder
			if _, err := bufio.NewReader(resp.Body).WriteTo(&body); err != nil {
				t.Fatal(err)
			}
			if body.String() != "alice" {
				t.Errorf("body = %q, want alice", body.String())
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    credential
		ok, err bool
	}{
		{in: "", ok: false},
		{in: "   ", ok: false},
		{in: "Bearer abc", want: credential{kind: credToken, token: "abc"}, ok: true},
		{in: "Bearer\tabc", want: credential{kind: credToken, token: "abc"}, ok: true},
		{in: " token abc ", want: credential{kind: credToken, token: "abc"}, ok: true},
		{in: "Bearer", err: true},
		{in: "Bearer ", err: true},
		{in: "Bearer a b", err: true},
		{in: "Bearer abc\x7f", err: true},
		{in: "Bearer " + strings.Repeat("a", maxCredentialLen+1), err: true},
		{in: "Bearerabc", ok: false},
		{in: "Negotiate abc", ok: false},
		{in: basic("u", "p"), want: credential{kind: credBasic, username: "u", password: "p"}, ok: true},
		{in: basic("u", ""), want: credential{kind: credBasic, username: "u"}, ok: true},
		{in: "basic " + base64.RawStdEncoding.EncodeToString([]byte("u:pw")), want: credential{kind: credBasic, username: "u", password: "pw"}, ok: true},
		{in: basic("u\n", "p"), err: true},
		{in: "Basic", err: true},
		{in: "Basic ===", err: true},
	}
	for _, tt := range tests {
		got, ok, err := parseAuthorization(tt.in)
		if got != tt.want || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("parseAuthorization(%q) = %+v, %v, %v; want %+v, %v, error %v", tt.in, got, ok, err, tt.want, tt.ok, tt.err)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"Bearer vcp_good", "token abc", "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:hunter2")),
		"Basic Ym9i", "bearer", "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00", "\t", "Basic \x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, ok, err := parseAuthorization(in)
		if err != nil {
			if !errors.Is(err, core.ErrUnauthenticated) {
				t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
			}
			if ok || c != (credential{}) {
				t.Fatalf("error with a credential: %+v", c)
			}
			return
		}
		if !ok {
			if c != (credential{}) {
				t.Fatalf("not ok with a credential: %+v", c)
			}
			return
		}
		switch c.kind {
		case credToken:
			if !validToken(c.token) || !strings.Contains(in, c.token) {
				t.Fatalf("token %q from %q", c.token, in)
			}
		case credBasic:
			if c.username == "" || strings.Contains(c.username, ":") || hasCTL(c.username) || hasCTL(c.password) {
				t.Fatalf("basic credential %+v from %q", c, in)
			}
			// The credential must round-trip through the encoding a client uses.
			re, ok2, err2 := parseAuthorization("Basic " + base64.StdEncoding.EncodeToString([]byte(c.username+":"+c.password)))
			if err2 != nil || !ok2 || re != c {
				t.Fatalf("round trip of %+v gave %+v, %v, %v", c, re, ok2, err2)
			}
		default:
			t.Fatalf("ok with kind %v", c.kind)
		}
	})
}

// A second Resolve leaves a settled request alone: the Authenticator is asked once.
func TestResolveSettledOnce(t *testing.T) {
	t.Parallel()
	fa := &fakeAuth{}
	extra := 0
	other := func(*http.Request) (core.Principal, bool, error) { extra++; return core.Principal{}, false, nil }
	for _, hdr := range []string{basic("bob", "wrong"), "Bearer vcp_good", ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		mw := func(h http.Handler) http.Handler { return Chain(h, Authenticate(fa), Resolve(other, Credentials(fa))) }
		authOutcome(t, mw, req)
	}
	if calls := fa.Calls(); len(calls) != 2 {
		t.Errorf("authenticator calls = %q, want one per settled request", calls)
	}
	if extra != 1 {
		t.Errorf("the inner resolver ran %d times, want once (the request without credentials)", extra)
	}
}

func TestDrainingWithoutServer(t *testing.T) {
	t.Parallel()
	if Draining(context.Background()) != nil {
		t.Error("Draining without a server is not nil")
	}
	ch := make(chan struct{})
	if Draining(WithDraining(context.Background(), ch)) != (<-chan struct{})(ch) {
		t.Error("Draining lost the channel")
	}
}

// Whatever the headers, extraction picks one credential that some header carried, or
// refuses; two different tokens are never both accepted.
func FuzzExtractCredentials(f *testing.F) {
	f.Add("Bearer a", "a", "", "")
	f.Add("Bearer a", "b", "", "")
	f.Add(basic("u", "p"), "", "", "123")
	f.Add("", "", "tok", "")
	f.Fuzz(func(t *testing.T, authz, private, coder, otp string) {
		h := http.Header{}
		for k, v := range map[string]string{"Authorization": authz, "Private-Token": private, "Coder-Session-Token": coder, "X-Github-Otp": otp} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		c, ok, err := extractCredentials(h)
		if err != nil {
			if ok || !errors.Is(err, core.ErrUnauthenticated) {
				t.Fatalf("ok %v with error %v", ok, err)
			}
			return
		}
		if !ok {
			return
		}
		switch c.kind {
		case credToken:
			for _, v := range []string{private, coder} {
				if tv := trimOWS(v); tv != "" && tv != c.token {
					t.Fatalf("token %q accepted beside %q", c.token, tv)
				}
			}
			if !strings.Contains(authz+private+coder, c.token) {
				t.Fatalf("token %q from nowhere", c.token)
			}
		case credBasic:
			if trimOWS(private) != "" || trimOWS(coder) != "" || c.otp != trimOWS(otp) {
				t.Fatalf("basic %+v beside tokens %q %q", c, private, coder)
			}
		default:
			t.Fatalf("ok with kind %v", c.kind)
		}
	})
}

// Authenticated hands the principal to fn, and anything else to denied with why.
func TestAuthenticated(t *testing.T) {
	t.Parallel()
	h := Authenticated(func(w http.ResponseWriter, _ *http.Request, p core.Principal) {
		_, _ = w.Write([]byte("hello " + p.User.Username))
	}, func(w http.ResponseWriter, _ *http.Request, err error) {
		w.WriteHeader(http.StatusUnauthorized)
		if err != nil {
			_, _ = w.Write([]byte(err.Error()))
		}
	})
	run := Authenticate(&fakeAuth{})
	for _, tc := range []struct {
		header, want string
		status       int
	}{
		{"Bearer vcp_good", "hello alice", http.StatusOK},
		{"", "", http.StatusUnauthorized},
		{"Bearer vcp_bad", "unauthenticated", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		rec := httptest.NewRecorder()
		run(h).ServeHTTP(rec, req)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%q: %d %q", tc.header, rec.Code, rec.Body.String())
		}
	}
}
