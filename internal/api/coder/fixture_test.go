package coder_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vcsauth/vcsauth/internal/api/apitest"
	"github.com/vcsauth/vcsauth/internal/api/coder"
	"github.com/vcsauth/vcsauth/internal/api/coder/codertest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

// env is one vcsauth with the Coder dialect, and what its answers are normalised
// with: literal values (addresses, ids, tokens) that change from run to run.
type env struct {
	*codertest.Server
	mu      sync.Mutex
	literal []string // old, new, old, new …
}

type envOpts struct {
	clock *forgetest.Server // the engine's clock is this fake's (device flows)
	coder coder.Options
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	so := codertest.Options{Coder: o.coder}
	if o.clock != nil {
		so.Now = o.clock.Now
	}
	v := &env{Server: codertest.Start(t, so)}
	v.normalise(v.URL, "{vcsauth}")
	return v
}

// normalise makes the golden files show placeholder wherever old appears.
func (v *env) normalise(old, placeholder string) {
	if old == "" {
		return
	}
	v.mu.Lock()
	v.literal = append(v.literal, old, placeholder)
	v.mu.Unlock()
}

// client registers fake's OAuth app for acme with slug ("" for none) and changes
// from mod; its addresses and id are normalised as {name} and <oc:name>.
func (v *env) client(t *testing.T, fake *forgetest.Server, name, slug string, mod func(*connect.ClientInput)) core.OAuthClient {
	t.Helper()
	oc := v.Client(t, fake, func(in *connect.ClientInput) {
		in.Name = &name
		if slug != "" {
			in.Slug = &slug
		}
		if mod != nil {
			mod(in)
		}
	})
	v.normalise(fake.URL, "{"+name+"}")
	v.normalise(oc.ID, "<oc:"+name+">")
	return oc
}

// link makes p's link through oc with the browser flow; its tokens are normalised.
func (v *env) link(t *testing.T, fake *forgetest.Server, p core.Principal, oc core.OAuthClient) core.Connection {
	t.Helper()
	c := v.Link(t, fake, p, oc)
	v.secrets(t, c.ID)
	return c
}

// secrets normalises the connection's current tokens.
func (v *env) secrets(t *testing.T, connID string) (access, refresh string) {
	t.Helper()
	access, refresh = v.Tokens(t, connID)
	v.normalise(access, "<access_token>")
	v.normalise(refresh, "<refresh_token>")
	return access, refresh
}

// token issues p a personal access token with scopes (api when none).
func (v *env) token(t *testing.T, p core.Principal, scopes ...string) string {
	t.Helper()
	return v.Token(t, p, scopes...)
}

// exchange is one request's answer.
type exchange = apitest.Exchange

// do sends a request with the token in Coder-Session-Token ("" for none).
func (v *env) do(t *testing.T, token, method, path, body string) exchange {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Coder-Session-Token", token)
	}
	return v.doHeader(t, h, method, path, body)
}

func (v *env) doHeader(t *testing.T, h http.Header, method, path, body string) exchange {
	t.Helper()
	return v.doCtx(t, t.Context(), h, method, path, body)
}

func (v *env) doCtx(t *testing.T, ctx context.Context, h http.Header, method, path, body string) exchange {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exchange{Method: method, Path: req.URL.Path, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// want checks the status, and that every error answer is Coder's JSON.
func want(t *testing.T, what string, ex exchange, status int) {
	t.Helper()
	if ex.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, ex.Status, status, ex.Body)
	}
	if status >= 400 {
		if ct := ex.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: Content-Type %q, want application/json", what, ct)
		}
		var r struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(ex.Body, &r); err != nil || r.Message == "" {
			t.Fatalf("%s: error body without a message: %s", what, ex.Body)
		}
	}
}

func decode[T any](t *testing.T, ex exchange) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(ex.Body, &v); err != nil {
		t.Fatalf("decoding %s: %v", ex.Body, err)
	}
	return v
}

// golden compares the answer's status, headers and body, volatile values
// normalised, with testdata/name.golden.json (rewritten with -update).
func (v *env) golden(t *testing.T, name string, ex exchange) {
	t.Helper()
	apitest.Shape{
		Headers: []string{"Allow", "Cache-Control", "Content-Type", "Retry-After"},
		Text:    v.literals,
		Value:   normalised,
	}.Golden(t, name, ex)
}

var (
	timeRE       = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
	deviceCodeRE = regexp.MustCompile(`^vcst_[0-9A-Za-z]+$`)
	userCodeRE   = regexp.MustCompile(`^[0-9A-F]{4}-[0-9A-F]{4}$`)
)

// literals replaces the literal values registered with normalise.
func (v *env) literals(s string) string {
	v.mu.Lock()
	r := strings.NewReplacer(v.literal...)
	v.mu.Unlock()
	return r.Replace(s)
}

// normalised replaces a value that changes from run to run with a placeholder,
// only when it has the expected form, so that a change of format shows in the diff.
func normalised(key string, x any) any {
	if x, ok := x.(string); ok {
		switch {
		case (strings.HasSuffix(key, "_at") || key == "expires") && timeRE.MatchString(x) && !strings.HasPrefix(x, "0001-"):
			return "<time>"
		case key == "device_code" && deviceCodeRE.MatchString(x):
			return "<device_code>"
		case key == "user_code" && userCodeRE.MatchString(x):
			return "<user_code>"
		}
	}
	return x
}

// installationsProxy fronts a GitHub fake and adds what it does not serve: the
// installations a GitHub App's user token can see.
func installationsProxy(t *testing.T, fake *forgetest.Server, answer string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/user/installations", func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !fake.TokenLive(tok) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"Bad credentials"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	})
	mux.Handle("/", rp)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func sorted(ss []string) []string {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	return ss
}
