package oauthhttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/app/apptest"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/web"
)

type fixture struct {
	st   store.Store
	id   *identity.Service
	eng  *authserver.Engine
	site *web.Site
	srv  *httptest.Server
	// clock follows real time (x/oauth2 and net/http use it) plus an offset that
	// tests move forward to expire codes and tokens.
	clock *apptest.Clock
	cli   core.Application // the built-in CLI application
	alice core.User        // a person with a password
}

const password = "correct horse battery"

// backend is the database a fixture runs on.
type backend string

const (
	onSQLite   backend = "sqlite"
	onPostgres backend = "postgres"
)

// backends are the stores the end-to-end tests run against: SQLite always,
// PostgreSQL when VCSAUTH_TEST_POSTGRES_URL is set (CI sets it).
func backends(t *testing.T) map[string]backend {
	b := map[string]backend{"sqlite": onSQLite}
	if os.Getenv("VCSAUTH_TEST_POSTGRES_URL") != "" {
		b["postgres"] = onPostgres
	} else {
		t.Log("PostgreSQL skipped: VCSAUTH_TEST_POSTGRES_URL is not set (CI sets it)")
	}
	return b
}

type fixtureOption func(*authserver.Options)

// newFixture runs the whole vcsauth as `vcsauth serve` wires it (apptest), with a
// protected API endpoint in front, /api/whoami, as every dialect's: any token we
// issue authenticates through the shared middleware, limited by its scopes.
func newFixture(t testing.TB, on backend, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{clock: &apptest.Clock{}}
	ao := authserver.Options{Now: f.clock.Now, DeviceInterval: time.Second}
	for _, fn := range opts {
		fn(&ao)
	}
	a := apptest.Start(t, apptest.Options{Dialect: string(on), Identity: identity.Options{Now: f.clock.Now}, App: app.Deps{Auth: ao},
		Handler: func(a *app.App) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("GET /api/whoami", app.APIAuth(a.Identity)(http.HandlerFunc(whoami)))
			mux.Handle("/", a.Handler())
			return mux
		}})
	f.st, f.id, f.eng, f.site, f.srv = a.Store, a.Identity, a.Auth, a.Site, a.HTTP
	var err error
	if f.cli, err = f.eng.EnsureBuiltIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.alice = f.user(t, "alice")
	return f
}

func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := httpx.PrincipalFrom(r.Context())
	if !ok {
		httpx.RenderJSON(w, r, http.StatusUnauthorized, nil)
		return
	}
	if !p.Allows(core.ScopeReadUser) {
		httpx.RenderJSON(w, r, http.StatusForbidden, nil)
		return
	}
	_ = httpx.WriteJSON(w, http.StatusOK, map[string]any{"username": p.User.Username, "scopes": p.Scopes})
}

func (f *fixture) user(t testing.TB, name string) core.User {
	t.Helper()
	u, err := f.id.CreateUser(context.Background(), identity.System(), identity.NewUser{Username: name, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// app registers an application and returns it with its secret ("" when public).
func (f *fixture) app(t testing.TB, confidential bool, redirects []string, scopes ...string) (core.Application, string) {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{core.ScopeAPI}
	}
	a, sec, err := f.eng.CreateApplication(context.Background(), identity.System(), authserver.NewApplication{
		Name: "Test App", RedirectURIs: redirects, Scopes: scopes, Confidential: confidential})
	if err != nil {
		t.Fatal(err)
	}
	return a, sec
}

func (f *fixture) config(a core.Application, secret, redirect string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: a.ClientID, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL: f.srv.URL + authserver.PathAuthorize, TokenURL: f.srv.URL + authserver.PathToken,
			DeviceAuthURL: f.srv.URL + authserver.PathDeviceCode, AuthStyle: style}}
}

func (f *fixture) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, f.srv.Client())
}

// liveTokens counts the user's live tokens of every kind but sessions.
func (f *fixture) liveTokens(t testing.TB, userID string) int {
	t.Helper()
	_, n, err := f.st.ListTokens(context.Background(), store.TokenFilter{UserID: userID,
		Kinds: []core.TokenKind{core.TokenAccess, core.TokenRefresh, core.TokenPersonal}, LiveAt: f.clock.Now()}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// whoami calls the protected endpoint with a bearer token and returns the status.
func (f *fixture) whoami(t testing.TB, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// postForm posts a form to path with optional Basic credentials and returns the
// status, the JSON body and the response headers.
func (f *fixture) postForm(t testing.TB, path string, form url.Values, basicID, basicSecret string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("POST %s: body is not JSON: %q", path, b)
		}
	}
	return resp.StatusCode, body, resp.Header
}

// browser is a person's browser (apptest.Browser).
type browser struct{ *apptest.Browser }

func (f *fixture) browser(t testing.TB) *browser { return &browser{apptest.NewBrowser(t, f.srv.URL)} }

// signIn signs in through the login page.
func (b *browser) signIn(username string) {
	b.T.Helper()
	if resp := b.Get("/login"); resp.StatusCode != http.StatusOK {
		b.T.Fatalf("GET /login: %d", resp.StatusCode)
	}
	form := b.Hidden("/login")
	form.Set("username", username)
	form.Set("password", password)
	if resp := b.PostForm("/login", form); resp.StatusCode != http.StatusSeeOther {
		b.T.Fatalf("POST /login: %d\n%s", resp.StatusCode, b.Last)
	}
}

// authorize runs an authorization request in the browser, approving consent when
// asked, and returns where the server finally sent the browser.
func (b *browser) authorize(authURL string) *url.URL {
	b.T.Helper()
	resp := b.Get(authURL)
	if resp.StatusCode == http.StatusOK {
		form := b.Hidden(authserver.PathAuthorize)
		form.Set("decision", "approve")
		resp = b.PostForm(authserver.PathAuthorize, form)
	}
	if resp.StatusCode != http.StatusSeeOther {
		b.T.Fatalf("authorize: status %d\n%s", resp.StatusCode, b.Last)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.T.Fatal(err)
	}
	return u
}

func errCode(err error) string {
	if re, ok := err.(*oauth2.RetrieveError); ok {
		return re.ErrorCode
	}
	return ""
}
