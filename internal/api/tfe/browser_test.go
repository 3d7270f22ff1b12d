package tfe_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gotfe "github.com/hashicorp/go-tfe"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// browser is a person's browser: a cookie jar, following redirects (to the fake
// provider and back).
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn signs in through the sign-in page, to come back to next.
func signIn(t *testing.T, v *env, c *http.Client, username, password, next string) (*http.Response, string) {
	t.Helper()
	_, page := get(t, c, v.URL+"/login")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the sign-in page has no CSRF token: %.500s", page)
	}
	resp, err := c.PostForm(v.URL+"/login", url.Values{"csrf_token": {m[1]}, "username": {username}, "password": {password}, "next": {next}})
	if err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestConnectPath: an org admin signed in to the web pages who opens a client's
// connect-path is sent to the provider and comes back with a new oauth-token in
// the client's list. A plain member is refused.
func TestConnectPath(t *testing.T) {
	t.Parallel()
	v := newEnv(t, "sqlite")
	ctx := t.Context()
	const password = "correct horse battery staple"
	sys := identity.System()
	if _, err := v.id.CreateUser(ctx, sys, identity.NewUser{Username: "carol", Password: password}); err != nil {
		t.Fatal(err)
	}
	if err := v.id.AddMember(ctx, sys, "acme", "carol", core.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	f := fake(t, core.ProviderBitbucketDataCenter)
	c := v.client(t, v.adminTok)
	// go-tfe creates Bitbucket Data Center clients without a token.
	oc, err := c.OAuthClients.Create(ctx, "acme", gotfe.OAuthClientCreateOptions{
		ServiceProvider: ptr(gotfe.ServiceProviderBitbucketDataCenter), Name: ptr("Bitbucket"),
		HTTPURL: ptr(f.HTTPURL()), APIURL: ptr(f.APIURL()), Key: ptr(f.ClientID), Secret: ptr(f.ClientSecret),
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if len(oc.OAuthTokens) != 0 {
		t.Fatalf("a new client without a token has tokens: %v", oc.OAuthTokens)
	}
	// callback-url is what the admin registers at the provider.
	f.RedirectURI = oc.CallbackURL

	// A member may not connect the client for the organization.
	bob := browser(t)
	v.sessionCookie(t, bob, v.member)
	if resp, _ := get(t, bob, v.URL+oc.ConnectPath); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a member opening connect-path: %d at %s", resp.StatusCode, resp.Request.URL)
	}

	// The admin signs in on the way, and is sent to the provider and back.
	carol := browser(t)
	resp, page := signIn(t, v, carol, "carol", password, oc.ConnectPath)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), oc.CallbackURL+"?") || !strings.Contains(page, "octo") {
		t.Fatalf("after the flow: %d at %s: %.500s", resp.StatusCode, resp.Request.URL, page)
	}
	// The redirects went through connect-path and the provider's authorize page.
	var hops []string
	for r := resp.Request; r != nil; r = redirectedFrom(r) {
		hops = append(hops, r.URL.String())
	}
	if !containsPrefix(hops, v.URL+oc.ConnectPath) || !containsPrefix(hops, f.URL+"/rest/oauth2/latest/authorize?") {
		t.Errorf("the browser went %v", hops)
	}
	got, err := c.OAuthClients.Read(ctx, oc.ID)
	if err != nil || len(got.OAuthTokens) != 1 {
		t.Fatalf("the client's tokens after the flow: %+v, %v", got, err)
	}
	ot, err := c.OAuthTokens.Read(ctx, got.OAuthTokens[0].ID)
	if err != nil || ot.ServiceProviderUser != f.User().Login || ot.OAuthClient.ID != oc.ID {
		t.Fatalf("the new oauth-token: %+v, %v", ot, err)
	}
	if f.TokenRequests("authorization_code") != 1 {
		t.Errorf("code exchanges at the provider: %d", f.TokenRequests("authorization_code"))
	}
	// Opened again, the flow renews the organization's token of the same account.
	if resp, _ := get(t, carol, v.URL+oc.ConnectPath); resp.StatusCode != http.StatusOK {
		t.Fatalf("the second flow: %d", resp.StatusCode)
	}
	if l, err := c.OAuthTokens.List(ctx, "acme", nil); err != nil || len(l.Items) != 1 || l.Items[0].ID != ot.ID {
		t.Fatalf("after the second flow: %+v, %v", l, err)
	}
	access, _ := v.connectionTokens(t, ot.ID)
	v.noSecrets(t, access, f.ClientSecret)
}

func redirectedFrom(r *http.Request) *http.Request {
	if r.Response == nil {
		return nil
	}
	return r.Response.Request
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// sessionCookie signs p in to the web pages without a password.
func (v *env) sessionCookie(t *testing.T, c *http.Client, p core.Principal) {
	t.Helper()
	text, _, err := v.id.Mint(context.Background(), core.Token{Kind: core.TokenSession, UserID: p.User.ID,
		ExpiresAt: time.Now().Add(identity.SessionLifetime)})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(v.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "vcsauth_session", Value: text, Path: "/"}})
}
