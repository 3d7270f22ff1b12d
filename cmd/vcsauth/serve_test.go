package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles vcsauth once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vcsauth")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// The README's first command, as a newcomer runs it: serve --dev prints the admin's
// password and token once, listens, answers health checks, lets admin commands run
// beside it, and drains and exits 0 on SIGTERM.
func TestServeDev(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--debug-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "VCSAUTH_DATA_DIR="+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var url, log strings.Builder
	var pprofURL string
	for lines.Scan() {
		l := lines.Text()
		log.WriteString(l + "\n")
		if _, u, ok := strings.Cut(l, `msg="profiler listening" url=`); ok {
			pprofURL = u
		}
		if u, ok := strings.CutPrefix(l, "listening on "); ok {
			url.WriteString(u)
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if url.Len() == 0 {
		t.Fatalf("no listening line; stderr:\n%s", log.String())
	}
	for _, want := range []string{"password: ", "token:    vcp_", `organization "demo"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("dev output lacks %q:\n%s", want, log.String())
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/nope": 404,
		"/login": 200, "/.well-known/oauth-authorization-server": 200,
		"/api/v4/applications": 401, "/api/v3/authorizations": 401,
		"/api/v2/ping": 204, "/api/v2/organizations": 401, "/api/v2/external-auth": 401,
		"/v1/prj-x/git/auths": 401} {
		resp, err := http.Get(url.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	// The profiler answers on its own listener only.
	if pprofURL == "" {
		t.Fatalf("no profiler line; stderr:\n%s", log.String())
	}
	for u, want := range map[string]int{pprofURL + "cmdline": 200, url.String() + "/debug/pprof/cmdline": 404} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}
	// Admin commands work while serve runs.
	out, err := exec.Command(bin, "admin", "token", "create", "--username", "admin", "--data-dir", dir).CombinedOutput()
	if err != nil || !tokenRE.Match(out) {
		t.Fatalf("admin token create beside serve: %v %q", err, out)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
}
