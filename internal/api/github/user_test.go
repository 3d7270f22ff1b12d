package github_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	gh "github.com/google/go-github/v29/github"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

// TestCurrentUser: go-github's Users.Get(ctx, "") (GET /user, how clients check a
// token) reads the caller with any valid token; X-OAuth-Scopes carries the token's
// scopes; the private part of the profile needs read_user.
func TestCurrentUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	dana, err := f.id.CreateUser(ctx, identity.System(), identity.NewUser{Username: "dana", Password: password("dana"),
		Email: "dana@example.com", SiteAdmin: true})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		user    core.User
		scopes  []string
		header  string // X-OAuth-Scopes
		private bool
		golden  string
	}{
		{"every scope", dana, []string{core.ScopeAPI}, "api", true, "user"},
		{"profile and credentials", dana, []string{core.ScopeCredentials, core.ScopeReadUser}, "credentials, read_user", true, ""},
		{"read_api implies the profile", f.carol, []string{core.ScopeReadAPI}, "read_api", true, ""},
		// A workload's token may check itself too, and sees no private fields.
		{"credentials only", dana, []string{core.ScopeCredentials}, "credentials", false, "user_public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := f.withToken(t, f.token(t, tc.user, tc.scopes...))
			u, resp, err := c.Users.Get(ctx, "")
			if err != nil {
				t.Fatalf("Users.Get: %v", err)
			}
			if got := resp.Header.Get("X-OAuth-Scopes"); got != tc.header {
				t.Errorf("X-OAuth-Scopes %q, want %q", got, tc.header)
			}
			if u.GetLogin() != tc.user.Username || u.GetNodeID() != tc.user.ID || u.GetType() != "User" ||
				u.GetSiteAdmin() != tc.user.SiteAdmin || u.ID != nil || u.Name != nil ||
				!u.GetCreatedAt().Time.Equal(tc.user.CreatedAt.Truncate(time.Second)) {
				t.Errorf("user: %+v", u)
			}
			if tc.private {
				if u.GetEmail() != tc.user.Email || u.TwoFactorAuthentication == nil || *u.TwoFactorAuthentication != tc.user.HasTOTP() {
					t.Errorf("private part: email %v, two-factor %v", u.Email, u.TwoFactorAuthentication)
				}
			} else if u.Email != nil || u.TwoFactorAuthentication != nil {
				t.Errorf("private part shown to a token without read_user: email %v, two-factor %v", u.Email, u.TwoFactorAuthentication)
			}
			if tc.golden != "" {
				f.golden(t, tc.golden, rec.Last(t))
			}
			checkWire(t, rec)
		})
	}

	// Basic auth (with the second factor where the user has one) holds every scope;
	// X-OAuth-Scopes is for token requests only.
	c, rec := f.basic(t, f.carol, f.otp())
	u, resp, err := c.Users.Get(ctx, "")
	if err != nil {
		t.Fatalf("Users.Get with Basic auth: %v", err)
	}
	if u.GetLogin() != "carol" || !u.GetTwoFactorAuthentication() || u.Email != nil {
		t.Errorf("carol: %+v", u)
	}
	if _, ok := resp.Header["X-Oauth-Scopes"]; ok {
		t.Errorf("X-OAuth-Scopes on a Basic auth answer: %q", resp.Header.Get("X-OAuth-Scopes"))
	}
	checkWire(t, rec)
	// Without the code: go-github's *TwoFactorAuthError.
	c, _ = f.basic(t, f.carol, "")
	var tfa *gh.TwoFactorAuthError
	if _, _, err := c.Users.Get(ctx, ""); !errors.As(err, &tfa) {
		t.Errorf("Basic auth without the OTP: %v", err)
	}

	// Without valid credentials: GitHub's 401s.
	var er *gh.ErrorResponse
	for _, tc := range []struct {
		name, golden string
		header       http.Header
		message      string
	}{
		{"no credentials", "user_requires_authentication", nil, "Requires authentication"},
		{"unknown token", "user_bad_credentials", http.Header{"Authorization": {"token vcp_0000000000000000000000000000000000000"}}, "Bad credentials"},
		{"wrong password", "", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("dana:nope"))}}, "Bad credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := f.raw(t, tc.header, http.MethodGet, "/api/v3/user", "", "")
			if ex.Status != http.StatusUnauthorized || !bytes.Contains(ex.Body, []byte(`"message":"`+tc.message+`"`)) ||
				ex.Header.Get("X-OAuth-Scopes") != "" {
				t.Fatalf("%d %v %s", ex.Status, ex.Header, ex.Body)
			}
			if tc.golden != "" {
				f.golden(t, tc.golden, ex)
			}
		})
	}
	bad, _ := f.withToken(t, "vcp_0000000000000000000000000000000000000")
	if _, _, err := bad.Users.Get(ctx, ""); !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnauthorized || er.Message != "Bad credentials" {
		t.Errorf("go-github with a bad token: %v", err)
	}
	// A revoked token is refused at once.
	tok := f.token(t, dana)
	c, _ = f.withToken(t, tok)
	if _, _, err := c.Users.Get(ctx, ""); err != nil {
		t.Fatal(err)
	}
	p, err := f.id.AuthenticateToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.id.RevokeToken(ctx, p, p.Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Users.Get(ctx, ""); !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnauthorized {
		t.Errorf("go-github with a revoked token: %v", err)
	}
}
