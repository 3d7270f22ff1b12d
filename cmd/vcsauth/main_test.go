package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/server"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// vcs runs one command in-process and returns exit status, stdout and stderr.
func vcs(t *testing.T, environ map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{strings.NewReader(""), &out, &errb, func(k string) string { return environ[k] }})
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, environ map[string]string, args ...string) string {
	t.Helper()
	code, out, errs := vcs(t, environ, args...)
	if code != 0 {
		t.Fatalf("vcsauth %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

var tokenRE = regexp.MustCompile(`^vcp_[0-9A-Za-z]{38}\n$`)

func TestAdminCommands(t *testing.T) {
	t.Parallel()
	environ := map[string]string{"VCSAUTH_DATA_DIR": t.TempDir()}
	mustRun(t, environ, "admin", "user", "create", "--username", "alice", "--password", "correct horse", "--site-admin")
	mustRun(t, environ, "admin", "user", "create", "--username", "bob", "--password", "battery staple", "--email", "bob@example.com")
	mustRun(t, environ, "admin", "org", "create", "--name", "acme", "--owner", "alice")
	mustRun(t, environ, "admin", "org", "add-member", "--org", "acme", "--username", "bob", "--role", "admin")

	out := mustRun(t, environ, "admin", "token", "create", "--username", "bob", "--note", "ci", "--scopes", "read_api,credentials")
	if !tokenRE.MatchString(out) {
		t.Fatalf("token create printed %q, want only a token", out)
	}
	if kind, err := secret.ParseToken(strings.TrimSpace(out)); err != nil || kind != core.TokenPersonal {
		t.Fatalf("printed token does not parse: %v", err)
	}

	out = mustRun(t, environ, "admin", "access-key", "create", "--username", "bob")
	if !regexp.MustCompile(`^access_key=[0-9a-z]{20}\nsecret_key=vcsk_\w+\n$`).MatchString(out) {
		t.Fatalf("access-key create printed %q", out)
	}
	if out := mustRun(t, environ, "migrate"); !strings.HasPrefix(out, "schema at version ") {
		t.Fatalf("migrate printed %q", out)
	}
	if out := mustRun(t, environ, "version"); !strings.HasPrefix(out, "vcsauth ") {
		t.Fatalf("version printed %q", out)
	}
	// The key file was created, private.
	st, err := os.Stat(filepath.Join(environ["VCSAUTH_DATA_DIR"], keyFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
}

// Bad input: one clear line on stderr, a non-zero status, never a panic.
func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	environ := map[string]string{"VCSAUTH_DATA_DIR": dir}
	mustRun(t, environ, "admin", "user", "create", "--username", "alice", "--password", "correct horse")
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"no command", nil, environ, 2, "no command given"},
		{"unknown command", []string{"frobnicate"}, environ, 2, `unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "--colour"}, environ, 2, "flag provided but not defined: -colour"},
		{"unknown admin", []string{"admin", "user", "delete"}, environ, 2, "unknown admin command"},
		{"missing flag", []string{"admin", "user", "create", "--username", "x"}, environ, 2, "--password is required"},
		{"bad db URL", []string{"migrate", "--database", "mysql://x/y"}, environ, 2, "unsupported URL scheme"},
		{"unreachable PostgreSQL", []string{"migrate", "--database", "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2"}, environ, 1, "cannot reach PostgreSQL at postgres://u:xxxxx@127.0.0.1:1/x"},
		{"bad listen", []string{"serve", "--listen", "nonsense"}, environ, 2, "want HOST:PORT"},
		{"duplicate user", []string{"admin", "user", "create", "--username", "ALICE", "--password", "xxxxxxxxx"}, environ, 1, "is taken"},
		{"bad role", []string{"admin", "org", "add-member", "--org", "nope", "--username", "alice", "--role", "king"}, environ, 1, "role"},
		{"bad scopes", []string{"admin", "token", "create", "--username", "alice", "--scopes", "root"}, environ, 1, `unknown scope "root"`},
		{"bad secret keys", []string{"migrate"}, map[string]string{"VCSAUTH_DATA_DIR": dir, "VCSAUTH_SECRET_KEYS": "k1:tooshort"}, 1, "VCSAUTH_SECRET_KEYS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := vcs(t, tt.env, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errs)
			}
			last := lastLine(errs)
			if !strings.HasPrefix(last, "vcsauth: ") || !strings.Contains(last, tt.want) {
				t.Errorf("stderr last line %q, want it to contain %q", last, tt.want)
			}
			if strings.Contains(errs, "hunter2") || strings.Contains(out, "hunter2") || strings.Contains(errs, "panic") {
				t.Errorf("leaked or panicked: %q", errs)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// A secret sealed under a key that is no longer loaded is one clear error, and the
// failed rotation changes nothing.
func TestRotateKeysAndMissingKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, _ := secret.GenerateKeyLine(nil)
	k2, _ := secret.GenerateKeyLine(nil)
	kid1 := strings.SplitN(k1, ":", 2)[0]
	totp, _ := secret.NewTOTPSecret(nil)
	with := func(keys string) map[string]string {
		return map[string]string{"VCSAUTH_DATA_DIR": dir, "VCSAUTH_SECRET_KEYS": keys}
	}
	mustRun(t, with(k1), "admin", "user", "create", "--username", "alice", "--password", "correct horse", "--totp-secret", totp)
	mustRun(t, with(k1), "admin", "access-key", "create", "--username", "alice")
	before := sealedValues(t, dir)

	code, _, errs := vcs(t, with(k2), "admin", "rotate-keys")
	if code != 1 || !strings.Contains(lastLine(errs), fmt.Sprintf("key %q, which is not loaded", kid1)) {
		t.Fatalf("rotate without the old key: exit %d, %q", code, errs)
	}
	if !bytes.Equal(sealedValues(t, dir), before) {
		t.Fatal("a failed rotation changed stored secrets")
	}

	out := mustRun(t, with(k2+","+k1), "admin", "rotate-keys")
	if !strings.HasPrefix(out, "re-encrypted 2 secrets") {
		t.Fatalf("rotate printed %q", out)
	}
	// Now the old key is not needed; a second rotation has nothing to do.
	if out := mustRun(t, with(k2), "admin", "rotate-keys"); !strings.HasPrefix(out, "re-encrypted 0 secrets") {
		t.Fatalf("second rotate printed %q", out)
	}
}

// sealedValues reads every sealed column's values, in a stable order.
func sealedValues(t *testing.T, dir string) []byte {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "", sqlstore.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var b bytes.Buffer
	for _, q := range []string{`SELECT totp_secret FROM users ORDER BY id`, `SELECT secret FROM access_keys ORDER BY id`} {
		rows, err := st.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			b.WriteString(s + "\n")
		}
		rows.Close()
	}
	return b.Bytes()
}

// Every header a dialect uses carries a token made by `admin token create`.
func TestTokenInEveryHeader(t *testing.T) {
	t.Parallel()
	environ := map[string]string{"VCSAUTH_DATA_DIR": t.TempDir()}
	mustRun(t, environ, "admin", "user", "create", "--username", "alice", "--password", "correct horse")
	token := strings.TrimSpace(mustRun(t, environ, "admin", "token", "create", "--username", "alice"))

	d, err := openDeps(context.Background(), storeConfig(environ), env{getenv: func(k string) string { return environ[k] }}, newLogger(&bytes.Buffer{}), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /whoami", app.APIAuth(d.identity)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := httpx.PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, fmt.Sprint(httpx.AuthError(r.Context())), http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, p.User.Username)
	})))
	srv := httptest.NewServer(server.Handler(mux, server.HandlerOptions{Logger: newLogger(&bytes.Buffer{})}))
	defer srv.Close()

	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	// Another last character (a token ends in "x" one time in 62).
	last := "x"
	if strings.HasSuffix(token, last) {
		last = "y"
	}
	corrupt := token[:len(token)-1] + last
	for _, tt := range []struct {
		header, value string
		want          int
	}{
		{"Authorization", "Bearer " + token, 200},
		{"Authorization", "token " + token, 200},
		{"PRIVATE-TOKEN", token, 200},
		{"private-token", token, 200},
		{"Coder-Session-Token", token, 200},
		{"X-Auth-Token", token, 200},
		{"Authorization", basic("alice", "correct horse"), 200},
		{"Authorization", basic("alice", "wrong horse"), 401},
		{"Authorization", "Bearer " + corrupt, 401},
		{"PRIVATE-TOKEN", corrupt, 401},
		{"", "", 401},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/whoami", nil)
		if tt.header != "" {
			req.Header.Set(tt.header, tt.value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || (tt.want == 200 && body.String() != "alice") {
			t.Errorf("%s: %.20s…: %d %q, want %d", tt.header, tt.value, resp.StatusCode, body.String(), tt.want)
		}
	}
}
