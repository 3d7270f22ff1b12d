package github_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v29/github"

	"github.com/vcsauth/vcsauth/internal/api/apitest"
	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/app/apptest"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

type fixture struct {
	vcs   *apptest.Server
	st    *sqlstore.Store
	id    *identity.Service
	eng   *authserver.Engine
	srv   *httptest.Server
	clock *apptest.Clock // moved forward to get a fresh TOTP time step (each is accepted once)

	root, alice, bob, carol core.User // root is a site admin; carol has a second factor
	carolSeed               []byte
}

func password(name string) string { return "correct horse " + name }

type fixtureOptions struct{ maxLoginFailures int }

// newFixture serves the whole vcsauth as `vcsauth serve` wires it (apptest).
func newFixture(t *testing.T, opts ...fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	var o fixtureOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	clk := &apptest.Clock{}
	s := apptest.Start(t, apptest.Options{Identity: identity.Options{Now: clk.Now, MaxLoginFailures: o.maxLoginFailures},
		App: app.Deps{Now: clk.Now}})
	f := &fixture{vcs: s, st: s.Store, id: s.Identity, eng: s.Auth, srv: s.HTTP, clock: clk}

	b32, err := secret.NewTOTPSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if f.carolSeed, err = secret.ParseTOTPSecret(b32); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, admin bool, totp string) core.User {
		u, err := f.id.CreateUser(ctx, identity.System(), identity.NewUser{Username: name, Password: password(name), SiteAdmin: admin, TOTPSecret: totp})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.root, f.alice, f.bob, f.carol = mk("root", true, ""), mk("alice", false, ""), mk("bob", false, ""), mk("carol", false, b32)
	return f
}

// otp returns a second-factor code of a fresh time step for carol.
func (f *fixture) otp() string {
	f.clock.Advance(30 * time.Second)
	return secret.TOTPCode(f.carolSeed, f.clock.Now())
}

func (f *fixture) token(t *testing.T, u core.User, scopes ...string) string {
	t.Helper()
	return f.vcs.Token(t, u.ID, "test token", scopes...)
}

// app registers a confidential application with scopes, as a site admin would.
func (f *fixture) app(t *testing.T, name string, scopes ...string) (core.Application, string) {
	t.Helper()
	a, sec, err := f.eng.CreateApplication(context.Background(), identity.System(), authserver.NewApplication{Name: name,
		RedirectURIs: []string{"https://" + strings.ToLower(strings.ReplaceAll(name, " ", "-")) + ".example/cb"}, Scopes: scopes, Confidential: true})
	if err != nil {
		t.Fatal(err)
	}
	return a, sec
}

// basic is go-github with Basic auth as u (and otp), recording every exchange.
func (f *fixture) basic(t *testing.T, u core.User, otp string) (*gh.Client, *recorder) {
	t.Helper()
	rec := &apitest.Recorder{}
	tr := &gh.BasicAuthTransport{Username: u.Username, Password: password(u.Username), OTP: otp, Transport: rec}
	return f.ghClient(t, tr.Client()), rec
}

// withToken is go-github sending "Authorization: token <token>".
func (f *fixture) withToken(t *testing.T, token string) (*gh.Client, *recorder) {
	t.Helper()
	rec := &apitest.Recorder{Header: http.Header{"Authorization": {"token " + token}}}
	return f.ghClient(t, &http.Client{Transport: rec}), rec
}

func (f *fixture) ghClient(t *testing.T, hc *http.Client) *gh.Client {
	t.Helper()
	c, err := gh.NewEnterpriseClient(f.srv.URL, f.srv.URL, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// liveTokens counts u's live personal and access tokens in the store.
func (f *fixture) liveTokens(t *testing.T, u core.User) int {
	t.Helper()
	_, n, err := f.st.ListTokens(context.Background(), store.TokenFilter{UserID: u.ID,
		Kinds: []core.TokenKind{core.TokenPersonal, core.TokenAccess}, LiveAt: f.clock.Now()}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type (
	exchange = apitest.Exchange
	recorder = apitest.Recorder
)

// raw sends a request with header set and returns what came back.
func (f *fixture) raw(t *testing.T, header http.Header, method, path, contentType, body string) exchange {
	t.Helper()
	return apitest.Raw(t, f.srv.URL, header, method, path, contentType, body)
}

func basicHeader(u core.User) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(u.Username, password(u.Username))
	return r.Header
}

// ---- golden files ----

// golden compares the exchange's status, client-visible headers and body, with the
// volatile values normalised, to testdata/name.golden.json (rewritten with -update).
func (f *fixture) golden(t *testing.T, name string, ex exchange) {
	t.Helper()
	apitest.Shape{
		Headers: []string{"Content-Type", "Link", "X-Github-Otp", "X-Oauth-Scopes", "X-Ratelimit-Remaining"},
		Text:    func(v string) string { return strings.ReplaceAll(v, f.srv.URL, "{base}") },
		Value:   f.normalise,
	}.Golden(t, name, ex)
}

var (
	clientIDRE = regexp.MustCompile(`^[0-9a-z]{20}$`)
	tokenRE    = regexp.MustCompile(`^(vcp|vco)_[0-9A-Za-z]{38}$`)
	sha256RE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	last8RE    = regexp.MustCompile(`^[0-9A-Za-z]{8}$`)
	timeRE     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	userIDRE   = regexp.MustCompile(`^user-[0-9A-Za-z]+$`)
	idPathRE   = regexp.MustCompile(`/\d+$`)
)

// normalise replaces a value that changes from run to run with a placeholder, but
// only when it has the expected form: a value of another type or format stays,
// so that a change of wire format shows in the diff.
func (f *fixture) normalise(key string, v any) any {
	switch v := v.(type) {
	case json.Number:
		if key == "id" {
			if _, err := v.Int64(); err == nil {
				return "<int>"
			}
		}
	case string:
		switch {
		case key == "client_id" && clientIDRE.MatchString(v) && strings.Trim(v, "0") != "":
			return "<client_id>"
		case key == "token" && tokenRE.MatchString(v):
			return "<token " + v[:4] + ">"
		case key == "hashed_token" && sha256RE.MatchString(v):
			return "<sha256 hex>"
		case key == "token_last_eight" && last8RE.MatchString(v):
			return "<last eight>"
		case strings.HasSuffix(key, "_at") && timeRE.MatchString(v):
			return "<time>"
		case key == "node_id" && userIDRE.MatchString(v):
			return "<user id>"
		case key == "url" && strings.HasPrefix(v, f.srv.URL+"/api/v3/"):
			return idPathRE.ReplaceAllString(strings.Replace(v, f.srv.URL, "{base}", 1), "/<id>")
		}
	}
	return v
}
