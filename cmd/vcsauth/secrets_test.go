package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/secret"
)

// No secret that goes into vcsauth — password, TOTP seed, token, access-key secret —
// appears in clear in any file of the database (main file, WAL, shared memory), in
// plain text or base64. Only the key file may hold key material.
func TestNoSecretInDatabaseFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	environ := map[string]string{"VCSAUTH_DATA_DIR": dir}
	totp, _ := secret.NewTOTPSecret(nil)
	password := "a-password-nobody-should-see"
	mustRun(t, environ, "admin", "user", "create", "--username", "alice", "--password", password, "--totp-secret", totp)
	token := strings.TrimSpace(mustRun(t, environ, "admin", "token", "create", "--username", "alice"))
	pair := mustRun(t, environ, "admin", "access-key", "create", "--username", "alice")
	sk := pair[strings.Index(pair, "secret_key=")+len("secret_key=") : len(pair)-1]

	secrets := map[string]string{"password": password, "totp seed": totp, "token": token, "secret key": sk}
	files, err := filepath.Glob(filepath.Join(dir, "vcsauth.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for what, s := range secrets {
			for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))} {
				if bytes.Contains(raw, []byte(form)) {
					t.Errorf("%s appears in clear in %s", what, filepath.Base(f))
				}
			}
		}
	}
	// The token's last eight characters are kept in clear on purpose (people tell
	// tokens apart by them); make sure the scan could see such text at all.
	found := false
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		found = found || bytes.Contains(raw, []byte(secret.LastEight(token)))
	}
	if !found {
		t.Error("the scan cannot see stored text: the token's last eight characters were not found")
	}
}
