package credhelper_test

import (
	"bytes"
	"context"
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

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/authserver/oauthhttp"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/credhelper"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/web"
)

type server struct {
	srv   *httptest.Server
	id    *identity.Service
	eng   *authserver.Engine
	alice core.Principal
	// refreshes counts refresh_token grants the server answered.
	refreshes atomic.Int64
}

func newServer(t *testing.T) *server {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, _ := secret.ParseKeys("k1:"+strings.Repeat("A", 43)+"=", nil)
	s := &server{id: identity.New(st, keys, identity.Options{})}
	var root atomic.Value
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == authserver.PathToken && strings.Contains(r.Header.Get("Content-Type"), "form") {
			r.ParseForm()
			if r.PostForm.Get("grant_type") == "refresh_token" {
				s.refreshes.Add(1)
			}
		}
		root.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	if s.eng, err = authserver.New(authserver.Options{Store: st, Identity: s.id, Issuer: s.srv.URL, DeviceInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	site, err := web.New(web.Options{Identity: s.id, ExternalURL: s.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := oauthhttp.New(oauthhttp.Options{Engine: s.eng, Site: site})
	mux := http.NewServeMux()
	site.Register(mux)
	h.Register(mux)
	root.Store(mux)
	if _, err := s.eng.EnsureBuiltIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, err := s.id.CreateUser(context.Background(), identity.System(), identity.NewUser{Username: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	s.alice = core.Principal{User: u}
	return s
}

// screen is the terminal Login writes to; it tells when a user code appeared.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

var userCodeRE = regexp.MustCompile(`enter the code  ([B-Z]{4}-[B-Z]{4})`)

// userCode waits until Login printed the code.
func (s *screen) userCode(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		m := userCodeRE.FindStringSubmatch(s.buf.String())
		s.mu.Unlock()
		if m != nil {
			return m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("Login printed no user code")
	return ""
}

type result struct {
	c   credhelper.Credentials
	err error
}

func (s *server) login(t *testing.T, path, serverURL string, approve bool) (credhelper.Credentials, string, error) {
	t.Helper()
	out := &screen{}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		c, err := credhelper.Login(ctx, credhelper.LoginOptions{Server: serverURL, Out: out, Path: path, HTTPClient: s.srv.Client()})
		done <- result{c, err}
	}()
	code := out.userCode(t)
	if _, err := s.eng.DecideDevice(context.Background(), s.alice, code, approve); err != nil {
		t.Fatal(err)
	}
	r := <-done
	return r.c, out.buf.String(), r.err
}

func TestLogin(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	path := filepath.Join(t.TempDir(), "cfg", "vcsauth", "credentials.json")
	c, out, err := s.login(t, path, s.srv.URL+"/", true)
	if err != nil {
		t.Fatalf("Login: %v\n%s", err, out)
	}
	if !strings.Contains(out, s.srv.URL+"/device") || !strings.Contains(out, "Logged in") {
		t.Errorf("instructions:\n%s", out)
	}
	if c.Server != s.srv.URL || !strings.HasPrefix(c.AccessToken, "vco_") || !strings.HasPrefix(c.RefreshToken, "vcr_") ||
		c.Expiry.Before(time.Now().Add(50*time.Minute)) || strings.Join(c.Scopes, " ") != "credentials" || c.ClientID != authserver.CLIClientID {
		t.Fatalf("credentials = %+v", c)
	}
	p, err := s.id.AuthenticateToken(context.Background(), c.AccessToken)
	if err != nil || p.User.Username != "alice" || !p.Allows(core.ScopeCredentials) || p.Allows(core.ScopeReadAPI) {
		t.Fatalf("the saved token: %+v %v", p, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory mode %v", di.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".credentials-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	f, err := credhelper.LoadCredentials(path)
	if err != nil || f.Default != s.srv.URL {
		t.Fatalf("file: %+v %v", f, err)
	}
	if got, ok := f.Lookup(""); !ok || got.AccessToken != c.AccessToken {
		t.Fatalf("Lookup default = %+v", got)
	}

	// Fresh: nothing to do.
	fresh, err := credhelper.FreshCredentials(context.Background(), path, s.srv.URL, s.srv.Client())
	if err != nil || fresh.AccessToken != c.AccessToken || s.refreshes.Load() != 0 {
		t.Fatalf("FreshCredentials of a valid token: %v", err)
	}

	// Expired: two processes at once refresh once, and agree on the result.
	c.Expiry = time.Now().Add(-time.Minute)
	f.Servers[c.Server] = c
	if err := credhelper.SaveCredentials(path, f); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]credhelper.Credentials, 2)
	errs := make([]error, 2)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = credhelper.FreshCredentials(context.Background(), path, "", s.srv.Client())
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].AccessToken == c.AccessToken || got[i].RefreshToken == c.RefreshToken || got[i].AccessToken != got[0].AccessToken {
			t.Fatalf("refresh %d: %+v %v", i, got[i], errs[i])
		}
	}
	if n := s.refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	if _, err := s.id.AuthenticateToken(context.Background(), got[0].AccessToken); err != nil {
		t.Fatalf("refreshed token: %v", err)
	}
	saved, _ := credhelper.LoadCredentials(path)
	if saved.Servers[s.srv.URL].RefreshToken != got[0].RefreshToken {
		t.Fatal("the rotated refresh token was not saved")
	}
}

func TestLoginDenied(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	path := filepath.Join(t.TempDir(), "credentials.json")
	_, _, err := s.login(t, path, s.srv.URL, false)
	if err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("Login denied: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a credentials file after a denied login: %v", err)
	}
}

func TestLoginWrongAddress(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	other := strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1)
	_, err := credhelper.Login(context.Background(), credhelper.LoginOptions{Server: other, Path: filepath.Join(t.TempDir(), "c.json"), HTTPClient: s.srv.Client()})
	if err == nil || !strings.Contains(err.Error(), s.srv.URL) {
		t.Fatalf("Login at another address of the server: %v", err)
	}
	if _, err := credhelper.FreshCredentials(context.Background(), filepath.Join(t.TempDir(), "none.json"), "", nil); err == nil || !strings.Contains(err.Error(), "vcsauth login") {
		t.Fatalf("FreshCredentials without a login: %v", err)
	}
}

func TestDefaultCredentialsPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/vcsauth/credentials.json"},
		{map[string]string{"XDG_CONFIG_HOME": "relative", "HOME": "/h"}, "/h/.config/vcsauth/credentials.json"},
		{map[string]string{"HOME": "/h"}, "/h/.config/vcsauth/credentials.json"},
	} {
		got, err := credhelper.DefaultCredentialsPath(func(k string) string { return tc.env[k] })
		if err != nil || got != tc.want {
			t.Errorf("%v: %q %v, want %q", tc.env, got, err, tc.want)
		}
	}
}

func TestNormalizeServer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://VCSAUTH.example/":        "https://vcsauth.example",
		"http://127.0.0.1:8080":           "http://127.0.0.1:8080",
		"https://x.example/base/":         "https://x.example/base",
		"vcsauth.example":                 "",
		"ftp://x":                         "",
		"https://u:hunter2@x.example":     "",
		"https://x.example/?q=1":          "",
		"https://u:hunter2@x.example/?q=": "",
	} {
		got, err := credhelper.NormalizeServer(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("NormalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NormalizeServer(%q): the error shows the password: %v", in, err)
		}
	}
}
