package gitlab_test

import (
	"bytes"
	"context"
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

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vcsauth/vcsauth/internal/api/gitlab"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/server"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

type fixture struct {
	st  *sqlstore.Store
	id  *identity.Service
	eng *authserver.Engine
	srv *httptest.Server

	admin, alice         core.User
	adminToken, aliceTok string
	// narrowAdmin is a site admin's token without the admin scope.
	narrowAdmin string
}

// newFixture serves the GitLab dialect through the same chain as `vcsauth serve`:
// server.Handler around a mux, with the dialect's routes wrapped in the API
// credentials middleware.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.ParseKeys("k1:"+strings.Repeat("A", 43)+"=", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, id: identity.New(st, keys, identity.Options{})}
	var root atomic.Value
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		root.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	if f.eng, err = authserver.New(authserver.Options{Store: st, Identity: f.id, Issuer: f.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.EnsureBuiltIn(ctx); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gitlab.Register(mux, f.eng, httpx.Authenticate(f.id), gitlab.Options{})
	root.Store(server.Handler(mux, server.HandlerOptions{}))

	mk := func(name string, admin bool) (core.User, string) {
		u, err := f.id.CreateUser(ctx, identity.System(), identity.NewUser{Username: name, Password: "correct horse " + name, Email: name + "@example.com", SiteAdmin: admin})
		if err != nil {
			t.Fatal(err)
		}
		return u, f.token(t, u, core.ScopeAPI)
	}
	f.admin, f.adminToken = mk("root", true)
	f.alice, f.aliceTok = mk("alice", false)
	f.narrowAdmin = f.token(t, f.admin, core.ScopeReadAPI)
	return f
}

func (f *fixture) token(t *testing.T, u core.User, scopes ...string) string {
	t.Helper()
	text, _, err := f.id.CreatePersonalToken(context.Background(), identity.System(), u.ID, identity.NewToken{Note: "test", Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// client is gitlab client-go with token, recording every exchange.
func (f *fixture) client(t *testing.T, token string) (*gl.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	c, err := gl.NewClient(token, gl.WithBaseURL(f.srv.URL+"/api/v4"), gl.WithHTTPClient(&http.Client{Transport: rec}), gl.WithoutRetries())
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// apps lists the applications in the store, for checking that nothing was stored.
func (f *fixture) apps(t *testing.T) []core.Application {
	t.Helper()
	as, _, err := f.eng.ListApplications(context.Background(), identity.System(), store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return as
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
	// header is added to every request (credentials of a raw client).
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

// raw sends a request with header set and records it.
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

func privateToken(tok string) http.Header { return http.Header{"Private-Token": {tok}} }

// ---- golden files ----

// goldenHeaders are the response headers a client reads; they are part of the shape.
var goldenHeaders = []string{"Content-Type", "Link", "X-Next-Page", "X-Page", "X-Per-Page", "X-Prev-Page", "X-Total", "X-Total-Pages"}

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
	secretRE   = regexp.MustCompile(`^vcas_[0-9A-Za-z]{38}$`)
	timeRE     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
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
		case key == "application_id" && clientIDRE.MatchString(v):
			return "<client_id>"
		case key == "secret" && secretRE.MatchString(v):
			return "<secret>"
		case strings.HasSuffix(key, "_at") && timeRE.MatchString(v):
			return "<time>"
		}
		return strings.ReplaceAll(v, f.srv.URL, "{base}")
	}
	return v
}
