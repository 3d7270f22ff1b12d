package oauthhttp_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/authserver/oauthhttp"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/web"
)

// clock follows real time (x/oauth2 and net/http use it) plus an offset that tests
// move forward to expire codes and tokens.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type fixture struct {
	st    store.Store
	id    *identity.Service
	eng   *authserver.Engine
	site  *web.Site
	srv   *httptest.Server
	clock *clock
	cli   core.Application // the built-in CLI application
	alice core.User        // a person with a password
}

const password = "correct horse battery"

// backends are the stores the end-to-end tests run against: SQLite always,
// PostgreSQL when VCSAUTH_TEST_POSTGRES_URL is set (CI sets it).
func backends(t *testing.T) map[string]func(testing.TB) store.Store {
	b := map[string]func(testing.TB) store.Store{"sqlite": openSQLite}
	if os.Getenv("VCSAUTH_TEST_POSTGRES_URL") != "" {
		b["postgres"] = openPostgres
	} else {
		t.Log("PostgreSQL skipped: VCSAUTH_TEST_POSTGRES_URL is not set (CI sets it)")
	}
	return b
}

func openSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openPostgres opens a fresh schema of its own, dropped afterwards.
func openPostgres(t testing.TB) store.Store {
	t.Helper()
	base := os.Getenv("VCSAUTH_TEST_POSTGRES_URL")
	var b [6]byte
	rand.Read(b[:])
	schema := "vt_oauth_" + hex.EncodeToString(b[:])
	admin, err := sqlstore.Open(context.Background(), base, sqlstore.Options{SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DB().Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.DB().Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := sqlstore.Open(context.Background(), u.String(), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type fixtureOption func(*authserver.Options)

func newFixture(t testing.TB, open func(testing.TB) store.Store, opts ...fixtureOption) *fixture {
	t.Helper()
	st := open(t)
	keys, err := secret.ParseKeys("k1:"+strings.Repeat("A", 43)+"=", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, clock: &clock{}}
	f.id = identity.New(st, keys, identity.Options{Now: f.clock.now})

	var root atomic.Value
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		root.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)

	o := authserver.Options{Store: st, Identity: f.id, Issuer: f.srv.URL, Now: f.clock.now, DeviceInterval: time.Second}
	for _, fn := range opts {
		fn(&o)
	}
	if f.eng, err = authserver.New(o); err != nil {
		t.Fatal(err)
	}
	if f.site, err = web.New(web.Options{Identity: f.id, ExternalURL: f.srv.URL}); err != nil {
		t.Fatal(err)
	}
	h, err := oauthhttp.New(oauthhttp.Options{Engine: f.eng, Site: f.site})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.site.Register(mux)
	h.Register(mux)
	// A protected API endpoint, as every dialect's: any token we issue authenticates
	// through the shared middleware, limited by its scopes.
	mux.Handle("GET /api/whoami", httpx.Authenticate(f.id)(http.HandlerFunc(whoami)))
	root.Store(httpx.Chain(mux, httpx.SecurityHeaders))

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
		Kinds: []core.TokenKind{core.TokenAccess, core.TokenRefresh, core.TokenPersonal}, LiveAt: f.clock.now()}, store.Page{})
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

// browser is a person's browser: a cookie jar, and no automatic redirects, so each
// step can be checked.
type browser struct {
	t    testing.TB
	f    *fixture
	c    *http.Client
	last string // body of the last page
}

func (f *fixture) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: f.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, f: f, c: c}
}

func (b *browser) do(req *http.Request) *http.Response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.last = string(body)
	return resp
}

func (b *browser) get(target string) *http.Response {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.f.srv.URL + target
	}
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hidden returns the hidden fields of the last page's form that posts to action.
func (b *browser) hidden(action string) url.Values {
	b.t.Helper()
	i := strings.Index(b.last, `action="`+action+`"`)
	if i < 0 {
		b.t.Fatalf("no form posting to %s in page:\n%s", action, b.last)
	}
	form := b.last[i:]
	form = form[:strings.Index(form, "</form>")]
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(form, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// signIn signs in through the login page.
func (b *browser) signIn(username string) {
	b.t.Helper()
	if resp := b.get("/login"); resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /login: %d", resp.StatusCode)
	}
	form := b.hidden("/login")
	form.Set("username", username)
	form.Set("password", password)
	if resp := b.post("/login", form); resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST /login: %d\n%s", resp.StatusCode, b.last)
	}
}

// authorize runs an authorization request in the browser, approving consent when
// asked, and returns where the server finally sent the browser.
func (b *browser) authorize(authURL string) *url.URL {
	b.t.Helper()
	resp := b.get(authURL)
	if resp.StatusCode == http.StatusOK {
		form := b.hidden(authserver.PathAuthorize)
		form.Set("decision", "approve")
		resp = b.post(authserver.PathAuthorize, form)
	}
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("authorize: status %d\n%s", resp.StatusCode, b.last)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

func errCode(err error) string {
	if re, ok := err.(*oauth2.RetrieveError); ok {
		return re.ErrorCode
	}
	return ""
}
