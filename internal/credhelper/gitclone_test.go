package credhelper_test

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/api/native/nativetest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

// gitTool runs git with args in dir and fails the test on error.
func gitTool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// buildHelper builds testdata/helper, which is `vcsauth git-credential`.
func buildHelper(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vcsauth-helper")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/helper")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	return bin
}

// TestGitClone: a real `git clone` over HTTP, with our credential helper, from a
// git server that takes the connection's current token (as the fake provider
// issued it) as the Basic password. It works, keeps working across a refresh, and
// fails cleanly — no prompt, no hang — once the token is dead or the connection gone.
func TestGitClone(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed; CI has it")
	}
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skipf("git-http-backend not found at %s: %v", backend, err)
	}
	helper := buildHelper(t)

	// A repository with one commit.
	root, work := t.TempDir(), t.TempDir()
	gitTool(t, root, "init", "-q", "--bare", "group/repo.git")
	gitTool(t, work, "init", "-q", "-b", "main", ".")
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("hello from the forge\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitTool(t, work, "add", "README")
	gitTool(t, work, "commit", "-q", "-m", "first")
	gitTool(t, work, "push", "-q", filepath.Join(root, "group/repo.git"), "main:main")
	gitTool(t, filepath.Join(root, "group/repo.git"), "symbolic-ref", "HEAD", "refs/heads/main")

	// The forge: one address serving GitLab's OAuth and API (the fake, behind a
	// proxy) and git over HTTP (git http-backend), which takes a token only while
	// the fake says it is live, with GitLab's user name "oauth2".
	fake := forgetest.New(t, core.ProviderGitLabHosted)
	fakeURL, _ := url.Parse(fake.URL)
	proxy := httputil.NewSingleHostReverseProxy(fakeURL)
	backendHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "PATH=" + os.Getenv("PATH")}}
	var refused atomic.Int64
	forgeSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, ".git/") {
			proxy.ServeHTTP(w, r)
			return
		}
		if user, pass, ok := r.BasicAuth(); !ok || user != "oauth2" || !fake.TokenLive(pass) {
			if ok {
				refused.Add(1)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
			http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
			return
		}
		backendHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(forgeSrv.Close)

	s := nativetest.Start(t, nativetest.Options{Now: fake.Now})
	oc := s.Client(t, fake, func(in *connect.ClientInput) {
		h, a := forgeSrv.URL, forgeSrv.URL+"/api/v4"
		in.HTTPURL, in.APIURL = &h, &a
	})
	c := s.Link(t, fake, s.Alice, oc)
	token := s.Token(t, s.Alice, core.ScopeCredentials)
	remote := forgeSrv.URL + "/group/repo.git"

	home := t.TempDir()
	n := 0
	clone := func() (string, error) {
		n++
		dest := filepath.Join(home, "clone", strings.Repeat("x", n))
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "git", "-c", "credential.helper=", "-c", "credential.helper=!"+helper,
			"clone", "-q", remote, dest)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=", "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
			"VCSAUTH_SERVER=" + s.URL, "VCSAUTH_TOKEN=" + token}
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("git clone hung: %s", out)
		}
		if err == nil {
			b, rerr := os.ReadFile(filepath.Join(dest, "README"))
			if rerr != nil || string(b) != "hello from the forge\n" {
				t.Fatalf("the clone is not the repository: %v %q", rerr, b)
			}
		}
		return string(out), err
	}

	if out, err := clone(); err != nil {
		t.Fatalf("git clone with the helper: %v\n%s", err, out)
	}

	// The token expires: the helper's request refreshes it, and git goes on.
	fake.Advance(2*time.Hour + time.Second)
	if out, err := clone(); err != nil || fake.Refreshes() != 1 {
		t.Fatalf("git clone after expiry: %v (%d refreshes)\n%s", err, fake.Refreshes(), out)
	}

	// The person revokes the app at the provider. vcsauth does not know yet and
	// hands out the dead token: git is refused, and fails at once without prompting.
	at, rt := s.Tokens(t, c.ID)
	fake.RevokeToken(at)
	fake.RevokeToken(rt)
	out, err := clone()
	if err == nil || !strings.Contains(out, "Authentication failed") || refused.Load() == 0 {
		t.Fatalf("git clone with a revoked token: %v\n%s", err, out)
	}
	t.Logf("git with a token revoked at the provider:\n%s", out)
	// Once vcsauth knows (a validation, or the next refresh), the helper says where
	// to re-link instead of handing out the dead token.
	if vc, err := s.Engine.Validate(t.Context(), s.Alice, c.ID); err != nil || vc.Health != core.HealthNeedsReauth {
		t.Fatalf("validate: %+v %v", vc, err)
	}
	refusedBefore := refused.Load()
	out, err = clone()
	if err == nil || !strings.Contains(out, s.URL+"/external-auth/"+oc.ID) || refused.Load() != refusedBefore {
		t.Fatalf("git clone of a connection that needs re-linking: %v\n%s", err, out)
	}
	t.Logf("git when the connection needs re-linking:\n%s", out)

	// Re-linked, it works again; deleted, it fails the same clean way.
	s.Link(t, fake, s.Alice, oc)
	if out, err := clone(); err != nil {
		t.Fatalf("git clone after re-linking: %v\n%s", err, out)
	}
	if _, err := s.Engine.DeleteConnection(t.Context(), s.Alice, c.ID); err != nil {
		t.Fatal(err)
	}
	out, err = clone()
	if err == nil || !strings.Contains(out, "no usable linked account") || !strings.Contains(out, "could not read Username") {
		t.Fatalf("git clone after the connection was deleted: %v\n%s", err, out)
	}
	t.Logf("git when the connection was deleted:\n%s", out)
}
