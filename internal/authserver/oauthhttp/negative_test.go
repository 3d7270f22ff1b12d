package oauthhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
)

// code runs an authorization request through the engine for u and returns the code.
func (f *fixture) code(t testing.TB, u core.User, app core.Application, redirectURI, verifier, scope string) string {
	t.Helper()
	req := authserver.AuthorizeRequest{ResponseType: "code", ClientID: app.ClientID, RedirectURI: redirectURI, Scope: scope, State: "s"}
	if verifier != "" {
		req.CodeChallenge, req.CodeChallengeMethod = oauth2.S256ChallengeFromVerifier(verifier), "S256"
	}
	az, err := f.eng.ValidateAuthorize(context.Background(), req)
	if err != nil {
		t.Fatalf("ValidateAuthorize: %v", err)
	}
	target, err := f.eng.IssueCode(context.Background(), core.Principal{User: u}, az)
	if err != nil {
		t.Fatal(err)
	}
	u2, _ := url.Parse(target)
	return u2.Query().Get("code")
}

// exchange posts an authorization_code token request.
func (f *fixture) exchange(t testing.TB, app core.Application, secret, code, redirectURI, verifier string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}}
	if redirectURI != "" {
		form.Set("redirect_uri", redirectURI)
	}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	id := ""
	if secret == "" {
		form.Set("client_id", app.ClientID)
	} else {
		id = app.ClientID
	}
	status, body, _ := f.postForm(t, authserver.PathToken, form, id, secret)
	return status, body
}

// TestAuthorizeErrors: errors about the client or its redirect URI are shown on a
// page and never redirected (every open-redirect attempt lands here); all others go
// back to the registered redirect URI with error, state and iss.
func TestAuthorizeErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, onSQLite)
	const reg = "https://app.example/cb?x=1"
	pub, _ := f.app(t, false, []string{reg}, core.ScopeReadAPI)
	multi, _ := f.app(t, true, []string{"https://a.example/cb", "https://b.example/cb"})
	loop, _ := f.app(t, false, []string{"http://127.0.0.1/cb"})
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	base := func(app core.Application, redirectURI string) url.Values {
		v := url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "state": {"xyz"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		if redirectURI != "" {
			v.Set("redirect_uri", redirectURI)
		}
		return v
	}
	with := func(v url.Values, kv ...string) url.Values {
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "-" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	raw := func(v url.Values, extra string) string { return v.Encode() + extra }

	pages := []struct {
		name  string
		query string
	}{
		{"unknown client", raw(with(base(pub, reg), "client_id", "nope"), "")},
		{"missing client_id", raw(with(base(pub, reg), "client_id", "-"), "")},
		{"repeated client_id", raw(base(pub, reg), "&client_id="+pub.ClientID)},
		{"client without redirect URIs", raw(base(f.cli, ""), "")},
		{"redirect path differs", raw(base(pub, "https://app.example/cb2?x=1"), "")},
		{"redirect path traversal", raw(base(pub, "https://app.example/cb/../evil?x=1"), "")},
		{"redirect trailing slash", raw(base(pub, "https://app.example/cb/?x=1"), "")},
		{"redirect percent-encoded path", raw(base(pub, "https://app.example/%63b?x=1"), "")},
		{"redirect host differs", raw(base(pub, "https://evil.example/cb?x=1"), "")},
		{"redirect suffix host", raw(base(pub, "https://app.example.evil.example/cb?x=1"), "")},
		{"redirect host case", raw(base(pub, "https://APP.example/cb?x=1"), "")},
		{"redirect port added", raw(base(pub, "https://app.example:8443/cb?x=1"), "")},
		{"redirect scheme differs", raw(base(pub, "http://app.example/cb?x=1"), "")},
		{"redirect query differs", raw(base(pub, "https://app.example/cb?x=2"), "")},
		{"redirect query added", raw(base(pub, "https://app.example/cb?x=1&next=https://evil.example"), "")},
		{"redirect userinfo", raw(base(pub, "https://app.example@evil.example/cb?x=1"), "")},
		{"redirect userinfo backslash", raw(base(pub, `https://evil.example\@app.example/cb?x=1`), "")},
		{"redirect fragment", raw(base(pub, "https://app.example/cb?x=1#frag"), "")},
		{"redirect javascript", raw(base(pub, "javascript:alert(1)//https://app.example/cb?x=1"), "")},
		{"repeated redirect_uri", raw(base(pub, reg), "&redirect_uri="+url.QueryEscape(reg))},
		{"missing redirect_uri with several registered", raw(base(multi, ""), "")},
		{"loopback other address", raw(base(loop, "http://127.0.0.2:4000/cb"), "")},
		{"loopback other name", raw(base(loop, "http://localhost:4000/cb"), "")},
		{"loopback userinfo", raw(base(loop, "http://127.0.0.1:4000@evil.example/cb"), "")},
		{"loopback path differs", raw(base(loop, "http://127.0.0.1:4000/cb/x"), "")},
		{"loopback https", raw(base(loop, "https://127.0.0.1:4000/cb"), "")},
		{"loopback bad port", raw(base(loop, "http://127.0.0.1:99999/cb"), "")},
	}
	redirects := []struct {
		name, query, to, code string
	}{
		{"response_type token", raw(with(base(pub, reg), "response_type", "token"), ""), reg, "unsupported_response_type"},
		{"response_type missing", raw(with(base(pub, reg), "response_type", "-"), ""), reg, "invalid_request"},
		{"PKCE missing for a public client", raw(with(base(pub, reg), "code_challenge", "-", "code_challenge_method", "-"), ""), reg, "invalid_request"},
		{"PKCE plain", raw(with(base(pub, reg), "code_challenge", verifier, "code_challenge_method", "plain"), ""), reg, "invalid_request"},
		{"PKCE method missing (means plain)", raw(with(base(pub, reg), "code_challenge_method", "-"), ""), reg, "invalid_request"},
		{"PKCE method unknown", raw(with(base(pub, reg), "code_challenge_method", "S512"), ""), reg, "invalid_request"},
		{"PKCE challenge malformed", raw(with(base(pub, reg), "code_challenge", "short"), ""), reg, "invalid_request"},
		{"PKCE method without challenge", raw(with(base(multi, "https://b.example/cb"), "code_challenge", "-"), ""), "https://b.example/cb", "invalid_request"},
		{"unknown scope", raw(with(base(pub, reg), "scope", "read_api sudo"), ""), reg, "invalid_scope"},
		{"scope beyond the application's", raw(with(base(pub, reg), "scope", "admin"), ""), reg, "invalid_scope"},
		{"repeated state", raw(base(pub, reg), "&state=other"), reg, "invalid_request"},
		{"redirect_uri omitted, single registered", raw(with(base(pub, ""), "response_type", "token"), ""), reg, "unsupported_response_type"},
	}

	b := f.browser(t)
	b.signIn("alice")
	for _, tc := range pages {
		t.Run("page/"+tc.name, func(t *testing.T) {
			resp := b.Get(authserver.PathAuthorize + "?" + tc.query)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q; want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(b.Last, "cannot be used") {
				t.Errorf("page does not explain:\n%s", b.Last)
			}
		})
	}
	for _, tc := range redirects {
		t.Run("redirect/"+tc.name, func(t *testing.T) {
			resp := b.Get(authserver.PathAuthorize + "?" + tc.query)
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, tc.to) {
				t.Fatalf("status %d, Location %q; want 303 to %s", resp.StatusCode, loc, tc.to)
			}
			u, _ := url.Parse(loc)
			q := u.Query()
			if q.Get("error") != tc.code || q.Get("state") != "xyz" || q.Get("iss") != f.srv.URL || q.Has("code") {
				t.Fatalf("error response %v, want error=%s with state and iss", q, tc.code)
			}
		})
	}
	t.Run("loopback any port", func(t *testing.T) {
		v := url.Values{"response_type": {"code"}, "client_id": {loop.ClientID}, "redirect_uri": {"http://127.0.0.1:54321/cb"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		back := b.authorize(authserver.PathAuthorize + "?" + v.Encode())
		if back.Host != "127.0.0.1:54321" || back.Query().Get("code") == "" {
			t.Fatalf("redirect = %s", back)
		}
	})
	if n := f.liveTokens(t, f.alice.ID); n != 0 {
		t.Fatalf("%d tokens issued", n)
	}
}

// TestTokenErrors is the token endpoint's negative table: each case must fail with
// the exact error code and issue nothing.
func TestTokenErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, onSQLite)
	const cb = "https://app.example/cb"
	pub, _ := f.app(t, false, []string{cb}, core.ScopeReadAPI, core.ScopeCredentials)
	conf, sec := f.app(t, true, []string{cb, "https://app.example/other"}, core.ScopeReadAPI)
	conf2, sec2 := f.app(t, true, []string{cb}, core.ScopeReadAPI)

	type req struct {
		form           url.Values
		basic, basicPw string
		contentType    string
	}
	cases := []struct {
		name   string
		setup  func(t *testing.T, u core.User) req
		status int
		code   string
		// dead: every token of the user must be revoked afterwards (a replay).
		dead bool
	}{
		{"wrong verifier", func(t *testing.T, u core.User) req {
			c := f.code(t, u, pub, cb, oauth2.GenerateVerifier(), "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ClientID}, "code": {c}, "redirect_uri": {cb}, "code_verifier": {oauth2.GenerateVerifier()}}}
		}, 400, "invalid_grant", false},
		{"missing verifier", func(t *testing.T, u core.User) req {
			c := f.code(t, u, pub, cb, oauth2.GenerateVerifier(), "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ClientID}, "code": {c}, "redirect_uri": {cb}}}
		}, 400, "invalid_grant", false},
		{"malformed verifier", func(t *testing.T, u core.User) req {
			c := f.code(t, u, pub, cb, oauth2.GenerateVerifier(), "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ClientID}, "code": {c}, "redirect_uri": {cb}, "code_verifier": {"short"}}}
		}, 400, "invalid_grant", false},
		{"verifier without challenge (downgrade)", func(t *testing.T, u core.User) req {
			c := f.code(t, u, conf, cb, "", "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {cb}, "code_verifier": {oauth2.GenerateVerifier()}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_grant", false},
		{"code of another client", func(t *testing.T, u core.User) req {
			c := f.code(t, u, conf2, cb, "", "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {cb}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_grant", false},
		{"redirect_uri differs from the request's", func(t *testing.T, u core.User) req {
			c := f.code(t, u, conf, cb, "", "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {"https://app.example/other"}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_grant", false},
		{"redirect_uri omitted though the request had it", func(t *testing.T, u core.User) req {
			c := f.code(t, u, conf, cb, "", "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {c}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_grant", false},
		{"unknown code", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {"vcac_00000000000000000000000000000000zzzzzz"}, "redirect_uri": {cb}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_grant", false},
		{"missing code", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {cb}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_request", false},
		{"wrong client secret (Basic)", func(t *testing.T, u core.User) req {
			c := f.code(t, u, conf, cb, "", "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {cb}}, basic: conf.ClientID, basicPw: sec2}
		}, 401, "invalid_client", false},
		{"wrong client secret (body)", func(t *testing.T, u core.User) req {
			c := f.code(t, u, conf, cb, "", "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {cb}, "client_id": {conf.ClientID}, "client_secret": {"vcas_wrong"}}}
		}, 401, "invalid_client", false},
		{"confidential client without secret", func(t *testing.T, u core.User) req {
			c := f.code(t, u, conf, cb, "", "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {cb}, "client_id": {conf.ClientID}}}
		}, 401, "invalid_client", false},
		{"no client authentication", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}}
		}, 401, "invalid_client", false},
		{"unknown client", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, basic: "nope", basicPw: "nope"}
		}, 401, "invalid_client", false},
		{"two client authentication methods", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_secret": {sec}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_request", false},
		{"grant_type password", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "unsupported_grant_type", false},
		{"grant_type client_credentials", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"client_credentials"}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "unsupported_grant_type", false},
		{"grant_type missing", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"code": {"x"}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_request", false},
		{"repeated parameter", func(t *testing.T, u core.User) req {
			c := f.code(t, u, conf, cb, "", "")
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {c, c}, "redirect_uri": {cb}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_request", false},
		{"JSON body", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"authorization_code"}}, basic: conf.ClientID, basicPw: sec, contentType: "application/json"}
		}, 400, "invalid_request", false},
		{"authorization_code for an application without redirect URIs", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {f.cli.ClientID}}}
		}, 400, "unauthorized_client", false},
		{"code reuse revokes the first exchange's tokens", func(t *testing.T, u core.User) req {
			v := oauth2.GenerateVerifier()
			c := f.code(t, u, pub, cb, v, "")
			status, body := f.exchange(t, pub, "", c, cb, v)
			if status != 200 {
				t.Fatalf("first exchange: %d %v", status, body)
			}
			if s, _ := f.whoami(t, body["access_token"].(string)); s != 200 {
				t.Fatalf("first token: %d", s)
			}
			return req{form: url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ClientID}, "code": {c}, "redirect_uri": {cb}, "code_verifier": {v}}}
		}, 400, "invalid_grant", true},
		{"refresh token reuse revokes the family", func(t *testing.T, u core.User) req {
			v := oauth2.GenerateVerifier()
			_, body := f.exchange(t, pub, "", f.code(t, u, pub, cb, v, ""), cb, v)
			rt := body["refresh_token"].(string)
			status, rotated, _ := f.postForm(t, authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {pub.ClientID}}, "", "")
			if status != 200 || rotated["refresh_token"] == rt {
				t.Fatalf("rotation: %d %v", status, rotated)
			}
			return req{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {pub.ClientID}}}
		}, 400, "invalid_grant", true},
		{"refresh widening scope", func(t *testing.T, u core.User) req {
			v := oauth2.GenerateVerifier()
			_, body := f.exchange(t, pub, "", f.code(t, u, pub, cb, v, "credentials"), cb, v)
			return req{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}, "client_id": {pub.ClientID}, "scope": {"credentials read_api"}}}
		}, 400, "invalid_scope", false},
		{"refresh unknown scope", func(t *testing.T, u core.User) req {
			v := oauth2.GenerateVerifier()
			_, body := f.exchange(t, pub, "", f.code(t, u, pub, cb, v, ""), cb, v)
			return req{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}, "client_id": {pub.ClientID}, "scope": {"superuser"}}}
		}, 400, "invalid_scope", false},
		{"refresh token of another client", func(t *testing.T, u core.User) req {
			_, body := f.exchange(t, conf2, sec2, f.code(t, u, conf2, cb, "", ""), cb, "")
			return req{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_grant", false},
		{"access token as refresh token", func(t *testing.T, u core.User) req {
			_, body := f.exchange(t, conf, sec, f.code(t, u, conf, cb, "", ""), cb, "")
			return req{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["access_token"].(string)}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_grant", false},
		{"missing refresh_token", func(t *testing.T, u core.User) req {
			return req{form: url.Values{"grant_type": {"refresh_token"}}, basic: conf.ClientID, basicPw: sec}
		}, 400, "invalid_request", false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := f.user(t, fmt.Sprintf("user%d", i))
			r := tc.setup(t, u)
			before := f.liveTokens(t, u.ID)
			httpReq, _ := http.NewRequest(http.MethodPost, f.srv.URL+authserver.PathToken, strings.NewReader(r.form.Encode()))
			httpReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if r.contentType != "" {
				httpReq.Header.Set("Content-Type", r.contentType)
			}
			if r.basic != "" {
				httpReq.SetBasicAuth(r.basic, r.basicPw)
			}
			resp, err := f.srv.Client().Do(httpReq)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			decodeJSON(t, resp, &body)
			if resp.StatusCode != tc.status || body["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if body["access_token"] != nil || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("response %v %v", body, resp.Header)
			}
			if wantAuth := tc.code == "invalid_client" && r.basic != ""; (resp.Header.Get("WWW-Authenticate") != "") != wantAuth {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			switch n := f.liveTokens(t, u.ID); {
			case tc.dead && n != 0:
				t.Errorf("%d live tokens after a replay, want none", n)
			case n > before:
				t.Errorf("a failed request issued tokens: %d live, %d before", n, before)
			}
		})
	}
}

// TestExpiry: codes and refresh tokens expire by the injected clock.
func TestExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, onSQLite)
	const cb = "https://app.example/cb"
	app, sec := f.app(t, true, []string{cb})
	code := f.code(t, f.alice, app, cb, "", "")
	_, body := f.exchange(t, app, sec, f.code(t, f.alice, app, cb, "", ""), cb, "")
	at := body["access_token"].(string)

	f.clock.Advance(10*time.Minute + time.Second)
	if status, body := f.exchange(t, app, sec, code, cb, ""); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("expired code: %d %v", status, body)
	}
	f.clock.Advance(time.Hour)
	if status, _ := f.whoami(t, at); status != http.StatusUnauthorized {
		t.Fatalf("expired access token: whoami %d", status)
	}
	f.clock.Advance(30 * 24 * time.Hour)
	status, body, _ := f.postForm(t, authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}, app.ClientID, sec)
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("expired refresh token: %d %v", status, body)
	}
	if n := f.liveTokens(t, f.alice.ID); n != 0 {
		t.Fatalf("%d live tokens", n)
	}
}

// TestCSRF: a form posted without the page's token changes nothing.
func TestCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t, onSQLite)
	const cb = "https://app.example/cb"
	app, _ := f.app(t, false, []string{cb})
	verifier := oauth2.GenerateVerifier()
	b := f.browser(t)
	b.signIn("alice")
	authURL := f.config(app, "", cb).AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))
	if resp := b.Get(authURL); resp.StatusCode != http.StatusOK {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	form := b.Hidden(authserver.PathAuthorize)
	form.Set("decision", "approve")

	mallory := f.browser(t)
	mallory.signIn(f.user(t, "mallory").Username)
	mallory.Get("/")
	foreign := mallory.Hidden("/logout").Get("csrf_token")

	// The right token with its first character changed (to another one: a token
	// that happens to start with "x" must not stay right).
	real := form.Get("csrf_token")
	wrong := "x" + real[1:]
	if real[0] == 'x' {
		wrong = "y" + real[1:]
	}
	for name, token := range map[string]string{"missing": "-", "empty": "", "wrong": wrong, "another session's": foreign} {
		t.Run(name, func(t *testing.T) {
			v := url.Values{}
			for k, vs := range form {
				v[k] = vs
			}
			if token == "-" {
				v.Del("csrf_token")
			} else {
				v.Set("csrf_token", token)
			}
			resp := b.PostForm(authserver.PathAuthorize, v)
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
				t.Fatalf("consent without a valid CSRF token: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	if _, err := f.st.FindGrant(context.Background(), f.alice.ID, app.ID, time.Now()); err == nil {
		t.Fatal("a grant exists after forged consent")
	}
	// A rejected consent did not ask again on its own: the page still asks.
	if resp := b.Get(authURL); resp.StatusCode != http.StatusOK {
		t.Fatalf("after forged posts, authorize = %d, want the consent page", resp.StatusCode)
	}
	// The real form works.
	if resp := b.PostForm(authserver.PathAuthorize, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("genuine consent: %d", resp.StatusCode)
	}
	// Sign-in and sign-out forms are protected too.
	anon := f.browser(t)
	if resp := anon.PostForm("/login", url.Values{"username": {"alice"}, "password": {password}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without CSRF token: %d", resp.StatusCode)
	}
	if resp := b.PostForm("/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF token: %d", resp.StatusCode)
	}
}

// TestDeviceErrors covers polling too fast, denial, expiry, replay, and wrong user
// codes at the verification page.
func TestDeviceErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, onSQLite)
	start := func() map[string]any {
		status, body, _ := f.postForm(t, authserver.PathDeviceCode, url.Values{"client_id": {f.cli.ClientID}, "scope": {"credentials"}}, "", "")
		if status != 200 {
			t.Fatalf("device code: %d %v", status, body)
		}
		return body
	}
	poll := func(dc string) (int, map[string]any) {
		status, body, _ := f.postForm(t, authserver.PathToken, url.Values{"grant_type": {authserver.GrantDeviceCode}, "device_code": {dc}, "client_id": {f.cli.ClientID}}, "", "")
		return status, body
	}
	wantErr := func(what string, status int, body map[string]any, code string) {
		t.Helper()
		if status != 400 || body["error"] != code || body["access_token"] != nil {
			t.Fatalf("%s: %d %v, want %s", what, status, body, code)
		}
	}
	alice := core.Principal{User: f.alice}

	// Polling: pending, then too fast; the interval grows by 5 s for good.
	d := start()
	dc := d["device_code"].(string)
	status, body := poll(dc)
	wantErr("first poll", status, body, "authorization_pending")
	status, body = poll(dc)
	wantErr("immediate second poll", status, body, "slow_down")
	f.clock.Advance(3 * time.Second) // past the original 1 s, not the new 6 s
	status, body = poll(dc)
	wantErr("poll after 3 s", status, body, "slow_down")
	f.clock.Advance(12 * time.Second) // the interval is now 11 s
	status, body = poll(dc)
	wantErr("poll after 12 s", status, body, "authorization_pending")

	// Denied.
	if _, err := f.eng.DecideDevice(context.Background(), alice, d["user_code"].(string), false); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	status, body = poll(dc)
	wantErr("denied", status, body, "access_denied")

	// Expired.
	d = start()
	f.clock.Advance(10*time.Minute + time.Second)
	status, body = poll(d["device_code"].(string))
	wantErr("expired", status, body, "expired_token")
	if _, err := f.eng.DecideDevice(context.Background(), alice, d["user_code"].(string), true); err == nil {
		t.Fatal("approving an expired code succeeded")
	}

	// Used twice: the second poll revokes the tokens of the first.
	d = start()
	if _, err := f.eng.DecideDevice(context.Background(), alice, d["user_code"].(string), true); err != nil {
		t.Fatal(err)
	}
	status, body = poll(d["device_code"].(string))
	if status != 200 {
		t.Fatalf("approved poll: %d %v", status, body)
	}
	at := body["access_token"].(string)
	f.clock.Advance(time.Minute)
	status, body = poll(d["device_code"].(string))
	wantErr("replayed device code", status, body, "invalid_grant")
	if s, _ := f.whoami(t, at); s != http.StatusUnauthorized {
		t.Fatalf("tokens of a replayed device code still work: %d", s)
	}

	// Another client's device code; a made-up one.
	d = start()
	conf, sec := f.app(t, true, []string{"https://app.example/cb"})
	s2, body, _ := f.postForm(t, authserver.PathToken, url.Values{"grant_type": {authserver.GrantDeviceCode}, "device_code": {d["device_code"].(string)}}, conf.ClientID, sec)
	wantErr("another client's device code", s2, body, "invalid_grant")
	status, body = poll("vcdc_madeup")
	wantErr("unknown device code", status, body, "invalid_grant")

	// The verification page refuses wrong codes, then throttles.
	b := f.browser(t)
	b.signIn(f.user(t, "bob").Username)
	for i := 0; i < 10; i++ {
		if resp := b.Get("/device?user_code=BCDF-GHJK"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("wrong code %d: %d", i, resp.StatusCode)
		}
	}
	if resp := b.Get("/device?user_code=" + url.QueryEscape(d["user_code"].(string))); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 10 wrong codes: %d", resp.StatusCode)
	}
	if n := f.liveTokens(t, f.alice.ID); n != 0 {
		t.Fatalf("%d live tokens", n)
	}
}

func decodeJSON(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
