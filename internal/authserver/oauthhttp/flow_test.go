package oauthhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
)

const redirect = "http://127.0.0.1:9/callback"

// TestCodeFlowPKCE runs the authorization code flow with PKCE as a public client
// would, with golang.org/x/oauth2, through sign-in and consent, uses the access
// token on a protected endpoint, and refreshes.
func TestCodeFlowPKCE(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			app, _ := f.app(t, false, []string{redirect}, core.ScopeReadAPI, core.ScopeCredentials)
			cfg := f.config(app, "", redirect, core.ScopeReadAPI)
			verifier := oauth2.GenerateVerifier()
			authURL := cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier))

			b := f.browser(t)
			// Not signed in: sent to the sign-in page, which comes back here.
			resp := b.Get(authURL)
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
				t.Fatalf("anonymous authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			next, _ := url.Parse(resp.Header.Get("Location"))
			if got := next.Query().Get("next"); !strings.HasPrefix(authURL, f.srv.URL+got) {
				t.Fatalf("next = %q, want the authorization request", got)
			}
			b.signIn("alice")

			// Consent page: names the application and the scopes, posts to us only
			// (and to the redirect URI's origin, for the redirect that follows).
			resp = b.Get(authURL)
			if resp.StatusCode != http.StatusOK || !strings.Contains(b.Last, "Test App") || !strings.Contains(b.Last, "read_api") {
				t.Fatalf("consent page: %d\n%s", resp.StatusCode, b.Last)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:9;") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("consent CSP = %q", csp)
			}
			if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("consent headers: %v", resp.Header)
			}
			back := b.authorize(authURL)
			q := back.Query()
			if back.Host != "127.0.0.1:9" || back.Path != "/callback" || q.Get("state") != "st-1" || q.Get("iss") != f.srv.URL || q.Get("code") == "" {
				t.Fatalf("redirect = %s", back)
			}

			tok, err := cfg.Exchange(f.ctx(), q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "read_api" || time.Until(tok.Expiry) < 50*time.Minute {
				t.Fatalf("token = %+v scope %v", tok, tok.Extra("scope"))
			}
			status, who := f.whoami(t, tok.AccessToken)
			if status != http.StatusOK || who["username"] != "alice" {
				t.Fatalf("whoami = %d %v", status, who)
			}
			// Every dialect's header carries it.
			for _, h := range []string{"PRIVATE-TOKEN", "Coder-Session-Token", "X-Auth-Token"} {
				req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/whoami", nil)
				req.Header.Set(h, tok.AccessToken)
				if resp, err := f.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %v %v", h, resp.Status, err)
				} else {
					resp.Body.Close()
				}
			}

			// The same scopes again: no consent page this time.
			resp = b.Get(cfg.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)))
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), redirect+"?") {
				t.Fatalf("second authorize should skip consent: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			// Wider scopes than granted: consent again.
			wider := f.config(app, "", redirect, core.ScopeReadAPI, core.ScopeCredentials)
			if resp = b.Get(wider.AuthCodeURL("st-3", oauth2.S256ChallengeOption(verifier))); resp.StatusCode != http.StatusOK {
				t.Fatalf("wider scopes should ask again: %d", resp.StatusCode)
			}

			// Refresh: a new pair; the old refresh token is dead.
			old := tok.RefreshToken
			tok.Expiry = time.Now().Add(-time.Minute)
			fresh, err := cfg.TokenSource(f.ctx(), tok).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == old || fresh.RefreshToken == "" {
				t.Fatalf("refresh did not rotate: %+v", fresh)
			}
			if status, _ := f.whoami(t, fresh.AccessToken); status != http.StatusOK {
				t.Fatalf("refreshed token: whoami %d", status)
			}
			status, body, _ := f.postForm(t, authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}, "client_id": {app.ClientID}}, "", "")
			if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("old refresh token: %d %v", status, body)
			}
			// Its replay revoked the family: the rotated tokens are dead too.
			if status, _ := f.whoami(t, fresh.AccessToken); status != http.StatusUnauthorized {
				t.Fatalf("after refresh replay, access token still works: %d", status)
			}
			if _, err := cfg.TokenSource(f.ctx(), &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); errCode(err) != "invalid_grant" {
				t.Fatalf("after refresh replay, the new refresh token: %v", err)
			}
		})
	}
}

// TestScopesLimitTokens: an access token authenticates any API call, but only with
// its scopes.
func TestScopesLimitTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t, onSQLite)
	app, sec := f.app(t, true, []string{redirect}, core.ScopeCredentials, core.ScopeReadUser)
	cfg := f.config(app, sec, redirect, core.ScopeCredentials)
	b := f.browser(t)
	b.signIn("alice")
	back := b.authorize(cfg.AuthCodeURL("s"))
	tok, err := cfg.Exchange(f.ctx(), back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := f.whoami(t, tok.AccessToken); status != http.StatusForbidden {
		t.Fatalf("credentials-only token on a read_user endpoint: %d", status)
	}
	// Refresh tokens are for the token endpoint only.
	if status, _ := f.whoami(t, tok.RefreshToken); status != http.StatusUnauthorized {
		t.Fatalf("refresh token as bearer: %d", status)
	}
	// Narrowing on refresh.
	narrow, err := f.config(app, sec, redirect, core.ScopeCredentials).TokenSource(f.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || narrow.Extra("scope") != core.ScopeCredentials {
		t.Fatalf("refresh with the same scope: %v %v", err, narrow)
	}
}

// TestDeviceFlow runs the device flow of the built-in CLI application with x/oauth2
// and approves it on the /device page.
func TestDeviceFlow(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			cfg := f.config(f.cli, "", "", core.ScopeCredentials, core.ScopeReadUser)
			da, err := cfg.DeviceAuth(f.ctx())
			if err != nil {
				t.Fatalf("DeviceAuth: %v", err)
			}
			if da.VerificationURI != f.srv.URL+"/device" || len(da.UserCode) != 9 || da.UserCode[4] != '-' || da.Interval != 1 ||
				!strings.HasPrefix(da.DeviceCode, "vcdc_") || da.VerificationURIComplete != da.VerificationURI+"?user_code="+da.UserCode {
				t.Fatalf("device authorization = %+v", da)
			}

			b := f.browser(t)
			// Not signed in: the page sends the person to sign in first.
			if resp := b.Get(da.VerificationURIComplete); resp.StatusCode != http.StatusSeeOther ||
				resp.Header.Get("Location") != "/login?next="+url.QueryEscape("/device?user_code="+da.UserCode) {
				t.Fatalf("anonymous /device: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			b.signIn("alice")
			// Type the code in lower case without the dash: it is normalised.
			if resp := b.Get("/device"); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /device: %d", resp.StatusCode)
			}
			form := b.Hidden("/device")
			form.Set("user_code", strings.ToLower(strings.ReplaceAll(da.UserCode, "-", "")))
			if resp := b.PostForm("/device", form); resp.StatusCode != http.StatusOK || !strings.Contains(b.Last, da.UserCode) || !strings.Contains(b.Last, "vcsauth CLI") {
				t.Fatalf("device consent: %d\n%s", resp.StatusCode, b.Last)
			}
			form = b.Hidden("/device")
			form.Set("decision", "approve")
			if resp := b.PostForm("/device", form); resp.StatusCode != http.StatusOK || !strings.Contains(b.Last, "Device connected") {
				t.Fatalf("approve: %d\n%s", resp.StatusCode, b.Last)
			}

			ctx, cancel := context.WithTimeout(f.ctx(), 30*time.Second)
			defer cancel()
			tok, err := cfg.DeviceAccessToken(ctx, da)
			if err != nil {
				t.Fatalf("DeviceAccessToken: %v", err)
			}
			if status, who := f.whoami(t, tok.AccessToken); status != http.StatusOK || who["username"] != "alice" {
				t.Fatalf("whoami = %d %v", status, who)
			}
			if tok.Extra("scope") != "credentials read_user" || tok.RefreshToken == "" {
				t.Fatalf("token = %+v", tok)
			}
		})
	}
}

// TestIntrospectionAndRevocation exercises RFC 7662 and RFC 7009 over plain HTTP.
func TestIntrospectionAndRevocation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, onSQLite)
	app, sec := f.app(t, true, []string{"https://app.example/cb"}, core.ScopeAPI)
	other, otherSec := f.app(t, true, []string{"https://other.example/cb"}, core.ScopeAPI)
	public, _ := f.app(t, false, []string{"https://public.example/cb"}, core.ScopeAPI)
	cfg := f.config(app, sec, "https://app.example/cb", core.ScopeReadAPI)
	b := f.browser(t)
	b.signIn("alice")
	tok, err := cfg.Exchange(f.ctx(), b.authorize(cfg.AuthCodeURL("s")).Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	introspect := func(token, id, secret string) (int, map[string]any) {
		status, body, _ := f.postForm(t, authserver.PathIntrospect, url.Values{"token": {token}}, id, secret)
		return status, body
	}

	status, got := introspect(tok.AccessToken, app.ClientID, sec)
	if status != http.StatusOK || got["active"] != true || got["scope"] != "read_api" || got["client_id"] != app.ClientID ||
		got["username"] != "alice" || got["token_type"] != "Bearer" || got["sub"] != f.alice.ID || got["aud"] != app.ClientID ||
		got["iss"] != f.srv.URL || got["exp"] == nil || got["iat"] == nil {
		t.Fatalf("introspect access token = %d %v", status, got)
	}
	if _, got = introspect(tok.RefreshToken, app.ClientID, sec); got["active"] != true || got["token_type"] != "refresh_token" {
		t.Fatalf("introspect refresh token = %v", got)
	}
	// Another application learns nothing about tokens that are not its own.
	if status, got = introspect(tok.AccessToken, other.ClientID, otherSec); status != http.StatusOK || len(got) != 1 || got["active"] != false {
		t.Fatalf("introspect by another client = %d %v", status, got)
	}
	// A public client cannot authenticate, so it may not introspect.
	status, body, _ := f.postForm(t, authserver.PathIntrospect, url.Values{"token": {tok.AccessToken}, "client_id": {public.ClientID}}, "", "")
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("introspect by a public client = %d %v", status, body)
	}
	if _, got = introspect("vco_not-a-token", app.ClientID, sec); got["active"] != false {
		t.Fatalf("introspect garbage = %v", got)
	}

	// Revocation: unknown tokens are fine; another client's are refused.
	if status, body, _ := f.postForm(t, authserver.PathRevoke, url.Values{"token": {"whatever"}}, app.ClientID, sec); status != http.StatusOK || body != nil {
		t.Fatalf("revoke unknown = %d %v", status, body)
	}
	if status, body, _ := f.postForm(t, authserver.PathRevoke, url.Values{"token": {tok.AccessToken}}, other.ClientID, otherSec); status != http.StatusBadRequest || body["error"] != "unauthorized_client" {
		t.Fatalf("revoke another client's token = %d %v", status, body)
	}
	if status, _ := f.whoami(t, tok.AccessToken); status != http.StatusOK {
		t.Fatal("a refused revocation revoked the token")
	}
	// Revoking the refresh token takes the access token of its family with it.
	if status, _, _ := f.postForm(t, authserver.PathRevoke, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}, app.ClientID, sec); status != http.StatusOK {
		t.Fatalf("revoke refresh token = %d", status)
	}
	if _, got = introspect(tok.AccessToken, app.ClientID, sec); got["active"] != false {
		t.Fatalf("after revoking the refresh token, the access token is %v", got)
	}
	if status, _ := f.whoami(t, tok.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("revoked family: whoami %d", status)
	}
	if n := f.liveTokens(t, f.alice.ID); n != 0 {
		t.Fatalf("%d live tokens after revocation", n)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t, onSQLite)
	resp, err := f.srv.Client().Get(f.srv.URL + authserver.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":                        f.srv.URL,
		"authorization_endpoint":        f.srv.URL + "/oauth/authorize",
		"token_endpoint":                f.srv.URL + "/oauth/token",
		"device_authorization_endpoint": f.srv.URL + "/oauth/device/code",
		"revocation_endpoint":           f.srv.URL + "/oauth/revoke",
		"introspection_endpoint":        f.srv.URL + "/oauth/introspect",
		"authorization_response_iss_parameter_supported": true,
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("%s = %v, want %v", k, md[k], v)
		}
	}
	list := func(k string) []string {
		var out []string
		for _, v := range md[k].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported = %v", got)
	}
	if got := list("grant_types_supported"); !slices.Equal(got, []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"}) {
		t.Errorf("grant_types_supported = %v", got)
	}
	if got := list("token_endpoint_auth_methods_supported"); !slices.Equal(got, []string{"client_secret_basic", "client_secret_post", "none"}) {
		t.Errorf("token_endpoint_auth_methods_supported = %v", got)
	}
	if got := list("scopes_supported"); !slices.Equal(got, core.Scopes) {
		t.Errorf("scopes_supported = %v", got)
	}
}
