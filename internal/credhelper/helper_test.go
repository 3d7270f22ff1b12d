package credhelper_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/credhelper"
)

// stubServer answers the credential endpoint with a fixed status and body, and
// records what it was asked.
type stubServer struct {
	*httptest.Server
	calls atomic.Int64
	auth  atomic.Value // string
	body  atomic.Value // map[string]any
}

func newStub(t *testing.T, status int, answer string) *stubServer {
	t.Helper()
	s := &stubServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != credhelper.CredentialPath {
			http.NotFound(w, r)
			return
		}
		s.calls.Add(1)
		s.auth.Store(r.Header.Get("Authorization"))
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		s.body.Store(m)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(answer))
	}))
	t.Cleanup(s.Close)
	return s
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestGet(t *testing.T) {
	t.Parallel()
	in := credhelper.GitCredential{Protocol: "https", Host: "git.example.com", Path: "a/b.git"}
	for _, tc := range []struct {
		name   string
		status int
		answer string
		check  func(t *testing.T, out credhelper.GitCredential, err error)
	}{
		{"credentials", 200, `{"username":"oauth2","password":"tok","password_expiry_utc":1700000000}`, func(t *testing.T, out credhelper.GitCredential, err error) {
			if err != nil || out.Username != "oauth2" || out.Password != "tok" || out.PasswordExpiryUTC != "1700000000" {
				t.Errorf("%+v, %v", out, err)
			}
		}},
		{"not linked", 404, `{"message":"no linked account","link_url":"https://vcsauth.example/external-auth/gh"}`, func(t *testing.T, out credhelper.GitCredential, err error) {
			var nl *credhelper.NotLinkedError
			if !errors.As(err, &nl) || nl.LinkURL != "https://vcsauth.example/external-auth/gh" || !strings.Contains(err.Error(), "git.example.com") {
				t.Errorf("%+v, %v", out, err)
			}
		}},
		{"bad token", 401, `{"message":"no"}`, func(t *testing.T, _ credhelper.GitCredential, err error) {
			if err == nil || !strings.Contains(err.Error(), "vcsauth login") {
				t.Errorf("%v", err)
			}
		}},
		{"not a vcsauth server", 200, `<html>hello</html>`, func(t *testing.T, _ credhelper.GitCredential, err error) {
			if err == nil || !strings.Contains(err.Error(), "not a credential") {
				t.Errorf("%v", err)
			}
		}},
		{"server error", 503, `{"message":"the token could not be refreshed"}`, func(t *testing.T, _ credhelper.GitCredential, err error) {
			if err == nil || !strings.Contains(err.Error(), "could not be refreshed") {
				t.Errorf("%v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, tc.status, tc.answer)
			out, err := credhelper.Get(t.Context(), credhelper.HelperOptions{Server: s.URL, Wait: 5 * time.Second,
				Getenv: envOf(map[string]string{credhelper.EnvToken: "vcp_token"}), CredentialsPath: filepath.Join(t.TempDir(), "none.json")}, in)
			tc.check(t, out, err)
			body, _ := s.body.Load().(map[string]any)
			if s.auth.Load() != "Bearer vcp_token" || body["host"] != "git.example.com" || body["path"] != "a/b.git" || body["protocol"] != "https" || body["wait"] != 5.0 {
				t.Errorf("request: %v %v", s.auth.Load(), body)
			}
		})
	}
	// Not an http(s) remote: nothing to offer, nothing asked.
	s := newStub(t, 200, `{}`)
	out, err := credhelper.Get(t.Context(), credhelper.HelperOptions{Server: s.URL, Token: "t"}, credhelper.GitCredential{Protocol: "ssh", Host: "h"})
	if err != nil || out.Password != "" || s.calls.Load() != 0 {
		t.Errorf("ssh: %+v %v, %d calls", out, err, s.calls.Load())
	}
}

// TestResolve: the token and server come from flags, the environment, or the
// credentials file that `vcsauth login` writes.
func TestResolve(t *testing.T) {
	t.Parallel()
	s := newStub(t, 200, `{"username":"u","password":"p"}`)
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials.json")
	saved := credhelper.Credentials{Server: strings.ToLower(s.URL), ClientID: credhelper.CLIClientID, AccessToken: "vco_from_file",
		Expiry: time.Now().Add(time.Hour)}
	if err := credhelper.SaveCredentials(path, &credhelper.CredentialsFile{Default: saved.Server, Servers: map[string]credhelper.Credentials{saved.Server: saved}}); err != nil {
		t.Fatal(err)
	}
	in := credhelper.GitCredential{Protocol: "https", Host: "h"}
	for _, tc := range []struct {
		name     string
		o        credhelper.HelperOptions
		wantAuth string
		wantErr  string
	}{
		{"env token and server", credhelper.HelperOptions{CredentialsPath: path, Getenv: envOf(map[string]string{credhelper.EnvToken: "vcp_env", credhelper.EnvServer: s.URL})}, "Bearer vcp_env", ""},
		{"env token, the file's server", credhelper.HelperOptions{CredentialsPath: path, Getenv: envOf(map[string]string{credhelper.EnvToken: "vcp_env"})}, "Bearer vcp_env", ""},
		{"flag beats env", credhelper.HelperOptions{Server: s.URL, Token: "vcp_flag", CredentialsPath: path, Getenv: envOf(map[string]string{credhelper.EnvServer: "http://127.0.0.1:1"})}, "Bearer vcp_flag", ""},
		{"the login in the file", credhelper.HelperOptions{CredentialsPath: path, Getenv: envOf(nil)}, "Bearer vco_from_file", ""},
		{"no server anywhere", credhelper.HelperOptions{CredentialsPath: filepath.Join(dir, "none.json"), Getenv: envOf(map[string]string{credhelper.EnvToken: "t"})}, "", "no server"},
		{"not logged in", credhelper.HelperOptions{CredentialsPath: filepath.Join(dir, "none.json"), Getenv: envOf(nil)}, "", "not logged in"},
	} {
		_, err := credhelper.Get(t.Context(), tc.o, in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v", tc.name, err)
			}
		case err != nil || s.auth.Load() != tc.wantAuth:
			t.Errorf("%s: %v, auth %v", tc.name, err, s.auth.Load())
		}
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	s := newStub(t, 200, `{"username":"oauth2","password":"tok"}`)
	env := envOf(map[string]string{credhelper.EnvToken: "vcp_t"})
	run := func(args []string, stdin string) (string, error) {
		var out, errOut bytes.Buffer
		err := credhelper.Run(t.Context(), args, strings.NewReader(stdin), &out, &errOut, env)
		return out.String(), err
	}
	out, err := run([]string{"--server", s.URL, "get"}, "protocol=https\nhost=h\n\n")
	if err != nil || out != "username=oauth2\npassword=tok\n" {
		t.Errorf("get: %q %v", out, err)
	}
	calls := s.calls.Load()
	for _, op := range []string{"store", "erase", "capability"} {
		out, err := run([]string{"--server", s.URL, op}, "protocol=https\nhost=h\nusername=oauth2\npassword=tok\n\n")
		if err != nil || out != "" {
			t.Errorf("%s: %q %v", op, out, err)
		}
	}
	if s.calls.Load() != calls {
		t.Error("store or erase asked the server")
	}
	if _, err := run([]string{"get", "extra"}, ""); err == nil {
		t.Error("two operations accepted")
	}
	if _, err := run([]string{"--server", s.URL, "get"}, "protocol\n"); err == nil {
		t.Error("malformed input accepted")
	}
}
