package github_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gh "github.com/google/go-github/v29/github"
	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// TestCrossDialect: the GitLab and GitHub dialects are two views of one set of
// applications, grants and tokens, which the OAuth endpoints serve too.
func TestCrossDialect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	// A site admin registers an application through the GitLab dialect.
	glc, err := gl.NewClient(f.token(t, f.root, core.ScopeAPI), gl.WithBaseURL(f.srv.URL+"/api/v4"), gl.WithoutRetries())
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := glc.Applications.CreateApplication(&gl.CreateApplicationOptions{Name: gl.Ptr("Deploy bot"),
		RedirectURI: gl.Ptr("https://deploy.example/cb"), Scopes: gl.Ptr("read_api credentials")})
	if err != nil {
		t.Fatal(err)
	}

	// Alice authorizes it through the GitHub dialect with its client credentials.
	c, _ := f.basic(t, f.alice, "")
	a, _, err := c.Authorizations.Create(ctx, &gh.AuthorizationRequest{ClientID: gh.String(app.ApplicationID),
		ClientSecret: gh.String(app.Secret), Scopes: scopes("read_api", "credentials"), Note: gh.String("deploy")})
	if err != nil {
		t.Fatal(err)
	}
	token := a.GetToken()
	grants, _, err := c.Authorizations.ListGrants(ctx, nil)
	if err != nil || len(grants) != 1 || grants[0].GetApp().GetClientID() != app.ApplicationID || grants[0].GetApp().GetName() != "Deploy bot" ||
		!slices.Equal(grants[0].Scopes, []string{"credentials", "read_api"}) {
		t.Fatalf("grants: %+v %v", grants, err)
	}

	// The token is the application's: introspection says so, and it works in the
	// other dialect's header.
	if got := f.introspect(t, app.ApplicationID, app.Secret, token); got["active"] != true || got["username"] != "alice" ||
		got["client_id"] != app.ApplicationID || got["scope"] != "credentials read_api" {
		t.Fatalf("introspection: %v", got)
	}
	alice, err := gl.NewClient(token, gl.WithBaseURL(f.srv.URL+"/api/v4"), gl.WithoutRetries())
	if err != nil {
		t.Fatal(err)
	}
	if u, _, err := alice.Users.CurrentUser(); err != nil || u.Username != "alice" {
		t.Fatalf("the token at GitLab's /user: %+v %v", u, err)
	}

	// Deleting the application through GitLab takes the grant and the token along.
	if resp, err := glc.Applications.DeleteApplication(app.ID); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", resp, err)
	}
	if grants, _, err := c.Authorizations.ListGrants(ctx, nil); err != nil || len(grants) != 0 {
		t.Fatalf("grants after the application was deleted: %+v %v", grants, err)
	}
	var er *gh.ErrorResponse
	if _, _, err := c.Authorizations.Get(ctx, a.GetID()); !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound {
		t.Fatalf("the authorization after the application was deleted: %v", err)
	}
	if ex := f.raw(t, http.Header{"Authorization": {"Bearer " + token}}, http.MethodGet, "/api/v3/authorizations", "", ""); ex.Status != http.StatusUnauthorized {
		t.Fatalf("the token after the application was deleted: %d %s", ex.Status, ex.Body)
	}
	if _, _, err := f.st.LookupToken(ctx, secret.HashToken(token)); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the token is still stored: %v", err)
	}
	// The deleted application cannot ask any more; another one learns nothing.
	if ex := f.introspectRaw(t, app.ApplicationID, app.Secret, token); ex.Status != http.StatusUnauthorized {
		t.Fatalf("introspection by the deleted application: %d %s", ex.Status, ex.Body)
	}
	other, osec := f.app(t, "Other", "api")
	if got := f.introspect(t, other.ClientID, osec, token); got["active"] != false || len(got) != 1 {
		t.Fatalf("introspection by another application: %v", got)
	}
}

func (f *fixture) introspectRaw(t *testing.T, clientID, clientSecret, token string) exchange {
	t.Helper()
	h := http.Header{}
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	h.Set("Authorization", r.Header.Get("Authorization"))
	return f.raw(t, h, http.MethodPost, "/oauth/introspect", "application/x-www-form-urlencoded", url.Values{"token": {token}}.Encode())
}

func (f *fixture) introspect(t *testing.T, clientID, clientSecret, token string) map[string]any {
	t.Helper()
	ex := f.introspectRaw(t, clientID, clientSecret, token)
	var out map[string]any
	if ex.Status != http.StatusOK || json.Unmarshal(ex.Body, &out) != nil {
		t.Fatalf("introspection: %d %s", ex.Status, strings.TrimSpace(string(ex.Body)))
	}
	return out
}
