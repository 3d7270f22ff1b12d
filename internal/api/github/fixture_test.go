package github_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gh "github.com/google/go-github/v29/github"

	"github.com/vcsauth/vcsauth/internal/api/github"
	"github.com/vcsauth/vcsauth/internal/api/gitlab"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/authserver/oauthhttp"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/server"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/web"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// clock is real time plus an offset that tests move forward, to get a fresh TOTP
// time step (each is accepted once).
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type fixture struct {
	st    *sqlstore.Store
	id    *identity.Service
	eng   *authserver.Engine
	srv   *httptest.Server
	clock *clock

	root, alice, bob, carol core.User // root is a site admin; carol has a second factor
	carolSeed               []byte
}

func password(name string) string { return "correct horse " + name }

type fixtureOptions struct{ maxLoginFailures int }

// newFixture serves the GitHub and GitLab dialects and the OAuth endpoints through
// the same chain as `vcsauth serve`: server.Handler around one mux, each dialect's
// routes wrapped in the API credentials middleware.
func newFixture(t *testing.T, opts ...fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	var o fixtureOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.ParseKeys("k1:"+strings.Repeat("A", 43)+"=", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, clock: &clock{}}
	f.id = identity.New(st, keys, identity.Options{Now: f.clock.now, MaxLoginFailures: o.maxLoginFailures})
	var root atomic.Value
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		root.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	if f.eng, err = authserver.New(authserver.Options{Store: st, Identity: f.id, Issuer: f.srv.URL, Now: f.clock.now}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.EnsureBuiltIn(ctx); err != nil {
		t.Fatal(err)
	}
	site, err := web.New(web.Options{Identity: f.id, ExternalURL: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	oauth, err := oauthhttp.New(oauthhttp.Options{Engine: f.eng, Site: site})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	site.Register(mux)
	oauth.Register(mux)
	apiAuth := httpx.Authenticate(f.id)
	github.Register(mux, f.eng, apiAuth, github.Options{})
	gitlab.Register(mux, f.eng, apiAuth, gitlab.Options{})
	root.Store(server.Handler(mux, server.HandlerOptions{}))

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
	f.clock.advance(30 * time.Second)
	return secret.TOTPCode(f.carolSeed, f.clock.now())
}

func (f *fixture) token(t *testing.T, u core.User, scopes ...string) string {
	t.Helper()
	text, _, err := f.id.CreatePersonalToken(context.Background(), identity.System(), u.ID, identity.NewToken{Note: "test token", Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return text
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
	rec := &recorder{}
	tr := &gh.BasicAuthTransport{Username: u.Username, Password: password(u.Username), OTP: otp, Transport: rec}
	return f.ghClient(t, tr.Client()), rec
}

// withToken is go-github sending "Authorization: token <token>".
func (f *fixture) withToken(t *testing.T, token string) (*gh.Client, *recorder) {
	t.Helper()
	rec := &recorder{header: http.Header{"Authorization": {"token " + token}}}
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
		Kinds: []core.TokenKind{core.TokenPersonal, core.TokenAccess}, LiveAt: f.clock.now()}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// exchange is one recorded request and response.
type exchange struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

// recorder is an http.RoundTripper that keeps every response's status, headers and
// raw body, so tests can assert on the wire as well as on what the client parsed.
type recorder struct {
	mu sync.Mutex
	ex []exchange
	// header is added to every request.
	header http.Header
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(r.header) > 0 {
		req = req.Clone(req.Context())
		for k, v := range r.header {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.ex = append(r.ex, exchange{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Header: resp.Header.Clone(), Body: body})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) last(t *testing.T) exchange {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ex) == 0 {
		t.Fatal("no exchange recorded")
	}
	return r.ex[len(r.ex)-1]
}

func (r *recorder) all() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.ex...)
}

// raw sends a request with header set and returns what came back.
func (f *fixture) raw(t *testing.T, header http.Header, method, path, contentType, body string) exchange {
	t.Helper()
	rec := &recorder{header: header}
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Transport: rec}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return rec.last(t)
}

func basicHeader(u core.User) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(u.Username, password(u.Username))
	return r.Header
}

// ---- golden files ----

// goldenHeaders are the response headers a client reads; they are part of the shape.
var goldenHeaders = []string{"Content-Type", "Link", "X-Github-Otp", "X-Ratelimit-Remaining"}

// golden compares the exchange's status, client-visible headers and body, with the
// volatile values normalised, to testdata/name.golden.json (rewritten with -update).
func (f *fixture) golden(t *testing.T, name string, ex exchange) {
	t.Helper()
	doc := map[string]any{"status": ex.Status}
	hs := map[string]string{}
	for _, k := range goldenHeaders {
		if v, ok := ex.Header[k]; ok {
			hs[k] = strings.ReplaceAll(strings.Join(v, ", "), f.srv.URL, "{base}")
		}
	}
	doc["headers"] = hs
	if len(bytes.TrimSpace(ex.Body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(ex.Body))
		dec.UseNumber()
		var body any
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("%s: the body is not JSON: %v\n%s", name, err, ex.Body)
		}
		doc["body"] = f.normalise("", body)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
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

// normalise replaces values that change from run to run with placeholders, but
// only when they have the expected form: a value of another type or format stays,
// so that a change of wire format shows in the diff.
func (f *fixture) normalise(key string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = f.normalise(k, x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = f.normalise(key, x)
		}
		return out
	case json.Number:
		if key == "id" {
			if _, err := v.Int64(); err == nil {
				return "<int>"
			}
		}
		return v
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
		return strings.ReplaceAll(v, f.srv.URL, "{base}")
	}
	return v
}
