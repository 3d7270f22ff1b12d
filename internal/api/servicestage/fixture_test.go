package servicestage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/akskauth"
	"github.com/vcsauth/vcsauth/internal/api/apitest"
	"github.com/vcsauth/vcsauth/internal/api/servicestage/servicestagetest"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

// env is a running vcsauth with fake GitHub, GitLab, Bitbucket and Gitea providers
// registered as OAuth clients of the organization (Gitee has none), and a second
// project in the organization.
type env struct {
	*servicestagetest.Server
	github, gitlab, bitbucket, gitea *forgetest.Server
	clients                          map[string]core.OAuthClient // by repo type
	second                           core.Project
}

func newEnv(t *testing.T, o servicestagetest.Options) *env {
	t.Helper()
	e := &env{Server: servicestagetest.Start(t, o), clients: map[string]core.OAuthClient{}}
	e.github = forgetest.New(t, core.ProviderGitHub)
	e.gitlab = forgetest.New(t, core.ProviderGitLabHosted)
	e.bitbucket = forgetest.New(t, core.ProviderBitbucketHosted)
	e.gitea = forgetest.New(t, core.ProviderGitea)
	for rt, f := range map[string]*forgetest.Server{"github": e.github, "gitlab": e.gitlab, "bitbucket": e.bitbucket, "gitea": e.gitea} {
		e.clients[rt] = e.Client(t, f, nil)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	e.second = core.Project{ID: "prj-api", OrgID: e.Org.ID, Name: "api", CreatedAt: now, UpdatedAt: now}
	if err := e.Store.CreateProject(context.Background(), e.second); err != nil {
		t.Fatal(err)
	}
	return e
}

// authn puts credentials on a request whose body is body.
type authn func(t *testing.T, r *http.Request, body []byte)

func tokenAuth(token string) authn {
	return func(_ *testing.T, r *http.Request, _ []byte) { r.Header.Set("X-Auth-Token", token) }
}

func bearerAuth(token string) authn {
	return func(_ *testing.T, r *http.Request, _ []byte) { r.Header.Set("Authorization", "Bearer "+token) }
}

// signedAuth signs as the SDK does, now.
func signedAuth(ak, sk string) authn {
	return func(t *testing.T, r *http.Request, body []byte) {
		t.Helper()
		r.Header.Set("User-Agent", "huaweicloud-usdk-go/3.0")
		if err := akskauth.Sign(r, body, ak, sk, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; body is JSON-encoded unless it is a string or nil.
func (e *env) do(t *testing.T, a authn, method, path string, body any) response {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a != nil {
		a(t, req, raw)
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
	return response{resp.StatusCode, resp.Header, b}
}

// expect checks the status, and for an error the code.
func expect(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if code == "" {
		return
	}
	var e struct {
		Code string `json:"error_code"`
		Msg  string `json:"error_msg"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Code != code || e.Msg == "" {
		t.Fatalf("error body %s, want error_code %s", r.body, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

var (
	timeRE      = regexp.MustCompile(`"(create_time|update_time)":\d+`)
	stateRE     = regexp.MustCompile(`state=[^&"\\]+`)
	challengeRE = regexp.MustCompile(`code_challenge=[^&"\\]+`)
)

// normalize replaces what changes from run to run: addresses, ids, times, state.
func (e *env) normalize(b []byte) []byte {
	s := string(b)
	for _, f := range []*forgetest.Server{e.github, e.gitlab, e.bitbucket, e.gitea} {
		s = strings.ReplaceAll(s, f.URL, "http://"+string(f.Kind)+".test")
	}
	s = strings.ReplaceAll(s, e.URL, "http://vcsauth.test")
	s = strings.ReplaceAll(s, url.QueryEscape(e.URL), url.QueryEscape("http://vcsauth.test"))
	for rt, oc := range e.clients {
		s = strings.ReplaceAll(s, oc.ID, "oc-"+rt)
	}
	s = timeRE.ReplaceAllString(s, `"$1":1700000000000`)
	s = stateRE.ReplaceAllString(s, "state=STATE")
	s = challengeRE.ReplaceAllString(s, "code_challenge=CHALLENGE")
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace([]byte(s)), "", "  "); err != nil {
		return []byte(s)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// golden compares a response body, normalized, with testdata/name.golden.json.
func (e *env) golden(t *testing.T, name string, body []byte) {
	t.Helper()
	apitest.Golden(t, name, e.normalize(body))
}

func connNames(cs []core.Connection) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
