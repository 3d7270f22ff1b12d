package secret

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestGenerateKeyLine(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^k[0-9A-Za-z]{8}:[A-Za-z0-9+/]{43}=$`)
	seen := map[string]bool{}
	rnd := newDetRand("genkey")
	for range 50 {
		line, err := GenerateKeyLine(rnd)
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(line) {
			t.Fatalf("%q has the wrong form", line)
		}
		kr, err := ParseKeys(line, nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[kr.PrimaryID()] {
			t.Fatal("duplicate kid")
		}
		seen[kr.PrimaryID()] = true
	}
	if _, err := GenerateKeyLine(failRand{}); !errors.Is(err, errTestRand) {
		t.Fatalf("failing source: %v", err)
	}
}

func skipPermsOnWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	skipPermsOnWindows(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.keys")

	kr, created, err := LoadOrCreateKeyFile(path, newDetRand("create"))
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if !regexp.MustCompile(`(?m)^` + kr.PrimaryID() + `:[A-Za-z0-9+/]{43}=$`).Match(data) {
		t.Fatalf("key file content:\n%s", data)
	}
	s, err := kr.SealString("kept")
	if err != nil {
		t.Fatal(err)
	}

	kr2, created, err := LoadOrCreateKeyFile(path, nil)
	if err != nil || created {
		t.Fatalf("second call: created %v, %v", created, err)
	}
	if got, err := kr2.OpenString(s); err != nil || got != "kept" {
		t.Fatalf("second load opens %q, %v", got, err)
	}
	assertNoTempFiles(t, dir)
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestLoadKeyFileFormat(t *testing.T) {
	t.Parallel()
	skipPermsOnWindows(t)
	path := filepath.Join(t.TempDir(), "keys")
	content := "# rotated 2026-01-01\r\n\r\n  new:" + bStd + "  \r\n# old key, drop after rotate-keys\nold:" + seqStd + ",\n#last:" + seqStd + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	kr, created, err := LoadOrCreateKeyFile(path, nil)
	if err != nil || created {
		t.Fatalf("created %v, %v", created, err)
	}
	if ids := strings.Join(kr.KeyIDs(), ","); ids != "new,old" {
		t.Fatalf("KeyIDs = %s", ids)
	}
}

func TestLoadKeyFileRefusals(t *testing.T) {
	t.Parallel()
	skipPermsOnWindows(t)
	for _, tc := range []struct {
		name    string
		content string
		mode    fs.FileMode
		want    string
	}{
		{"world readable", "k1:" + seqStd, 0o644, "chmod 600"},
		{"group readable", "k1:" + seqStd, 0o640, "mode 0640"},
		{"group writable", "k1:" + seqStd, 0o620, "chmod 600"},
		{"comments only", "# nothing\n", 0o600, "no keys"},
		{"empty", "", 0o600, "no keys"},
		{"bad key", "k1:" + seqStd[:20], 0o600, `key 1 ("k1")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, created, err := LoadOrCreateKeyFile(path, nil)
			if err == nil || created {
				t.Fatalf("created %v, %v", created, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "secret: key file ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want %q", msg, tc.want)
			}
			if strings.Contains(msg, seqStd[:16]) {
				t.Fatalf("error %q contains key material", msg)
			}
			// The file must be left as it was: never replaced by a fresh key.
			if data, _ := os.ReadFile(path); string(data) != tc.content {
				t.Fatalf("file changed to %q", data)
			}
		})
	}
}

func TestLoadKeyFileOtherErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, _, err := LoadOrCreateKeyFile(filepath.Join(dir, "missing", "keys"), nil); err == nil {
		t.Fatal("created a key file in a missing directory")
	}
	if _, _, err := LoadOrCreateKeyFile(dir, nil); err == nil {
		t.Fatal("loaded a directory")
	}
	if _, _, err := LoadOrCreateKeyFile(filepath.Join(dir, "k"), failRand{}); !errors.Is(err, errTestRand) {
		t.Fatalf("failing source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "k")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed creation left a file: %v", err)
	}
	assertNoTempFiles(t, dir)
}

// TestLoadOrCreateKeyFileRace: processes starting at once must agree on one key.
func TestLoadOrCreateKeyFileRace(t *testing.T) {
	t.Parallel()
	skipPermsOnWindows(t)
	for _, tc := range []struct {
		name string
		link func(string, string) error
	}{
		{"hard link", os.Link},
		{"no hard links", func(string, string) error {
			return &os.LinkError{Op: "link", Err: syscall.EPERM}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for round := range 10 {
				dir := t.TempDir()
				path := filepath.Join(dir, "keys")
				const n = 8
				var (
					wg      sync.WaitGroup
					ids     [n]string
					created [n]bool
					errs    [n]error
				)
				start := make(chan struct{})
				for i := range n {
					wg.Go(func() {
						<-start
						var kr *Keyring
						kr, created[i], errs[i] = loadOrCreateKeyFile(path, nil, tc.link)
						if kr != nil {
							ids[i] = kr.PrimaryID()
						}
					})
				}
				close(start)
				wg.Wait()
				winners := 0
				for i := range n {
					if errs[i] != nil {
						t.Fatalf("round %d, caller %d: %v", round, i, errs[i])
					}
					if ids[i] != ids[0] {
						t.Fatalf("round %d: callers disagree on the key: %v", round, ids)
					}
					if created[i] {
						winners++
					}
				}
				if winners != 1 {
					t.Fatalf("round %d: %d callers report creating the file", round, winners)
				}
				kr, _, err := LoadOrCreateKeyFile(path, nil)
				if err != nil || kr.PrimaryID() != ids[0] {
					t.Fatalf("file holds %v, %v; callers use %s", kr, err, ids[0])
				}
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("mode: %v %v", fi, err)
				}
				assertNoTempFiles(t, dir)
			}
		})
	}
}
