package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// maxKeyFileSize bounds what LoadOrCreateKeyFile reads: a key line is under 80
// bytes, so this leaves room for thousands of keys and comments.
const maxKeyFileSize = 1 << 20

// GenerateKeyLine returns a fresh "kid:base64key" entry for VCSAUTH_SECRET_KEYS or
// a key file: a random id "k" + 8 base62 characters and 32 random bytes.
func GenerateKeyLine(rand io.Reader) (string, error) {
	kid, err := randomString([]byte("k"), rand, base62, 8)
	if err != nil {
		return "", err
	}
	key := make([]byte, KeySize)
	defer clear(key)
	if err := readRandom(rand, key); err != nil {
		return "", err
	}
	return string(kid) + ":" + base64.StdEncoding.EncodeToString(key), nil
}

// LoadOrCreateKeyFile loads the keyring from the key file at path, or, when there
// is no such file, creates it with one fresh key (mode 0600) and reports created.
// The file holds ParseKeys entries, one or more per line; lines starting with # are
// comments. The directory must exist.
//
// Creation is atomic and exclusive: the key is written to a temporary file that is
// then hard-linked into place, which fails if path exists, so when two processes
// start at once exactly one key wins and the loser loads it. (A rename would
// silently replace the winner's key after the winner had started sealing with it.)
//
// A key file that the group or others may read or write is refused.
func LoadOrCreateKeyFile(path string, rand io.Reader) (kr *Keyring, created bool, err error) {
	return loadOrCreateKeyFile(path, rand, os.Link)
}

// loadOrCreateKeyFile is LoadOrCreateKeyFile with the hard-link call as a
// parameter, so tests can take the path of file systems without hard links.
func loadOrCreateKeyFile(path string, rand io.Reader, link func(oldname, newname string) error) (kr *Keyring, created bool, err error) {
	kr, err = loadSettledKeyFile(path, rand)
	if !errors.Is(err, fs.ErrNotExist) {
		return kr, false, err
	}
	won, err := createKeyFile(path, rand, link)
	if err != nil {
		return nil, false, err
	}
	if won {
		kr, err = loadKeyFile(path, rand)
		return kr, err == nil, err
	}
	kr, err = loadSettledKeyFile(path, rand)
	return kr, false, err
}

// loadSettledKeyFile is loadKeyFile, retried for a second while the file's content
// does not parse: where hard links are not supported, another process may be
// writing the file it just created. A key file that is really broken costs that
// second before its error is reported.
func loadSettledKeyFile(path string, rand io.Reader) (*Keyring, error) {
	for i := 0; ; i++ {
		kr, err := loadKeyFile(path, rand)
		var ce *keyFileContentError
		if !errors.As(err, &ce) || i == 20 {
			return kr, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keyFileContentError says a key file was read but its content does not parse.
type keyFileContentError struct{ msg string }

func (e *keyFileContentError) Error() string { return e.msg }

// loadKeyFile reads and parses a key file; a missing file gives an error wrapping
// fs.ErrNotExist.
func loadKeyFile(path string, rand io.Reader) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secret: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	// Windows has no such permission bits; its ACLs are the operator's business.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("secret: key file %s is accessible to group or others (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("secret: key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("secret: key file %s is larger than %d bytes", path, maxKeyFileSize)
	}
	var b strings.Builder
	for line := range strings.Lines(string(data)) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(t)
			b.WriteByte('\n')
		}
	}
	kr, err := ParseKeys(b.String(), rand)
	if err != nil {
		// ParseKeys's errors never quote key material and wrap nothing.
		return nil, &keyFileContentError{"secret: key file " + path + ": " + strings.TrimPrefix(err.Error(), "secret: ")}
	}
	return kr, nil
}

// createKeyFile writes a new key file at path unless one appears first; won says
// whether this call's file is the one at path.
func createKeyFile(path string, rand io.Reader, link func(oldname, newname string) error) (won bool, err error) {
	line, err := GenerateKeyLine(rand)
	if err != nil {
		return false, err
	}
	content := []byte("# vcsauth secret keys: kid:base64key entries; the first seals, all open.\n" +
		"# Keep this file private and backed up: without it, stored secrets cannot be read.\n" +
		line + "\n")
	defer clear(content)

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return false, fmt.Errorf("secret: creating key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeAndSync(tmp, content); err != nil {
		return false, fmt.Errorf("secret: writing key file: %w", err)
	}

	if err := link(tmpName, path); err == nil {
		syncDir(dir)
		return true, nil
	} else if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	// No hard links on this file system: create the file exclusively in place.
	// A concurrent loader may see it half-written; loadSettledKeyFile waits.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("secret: creating key file: %w", err)
	}
	if err := writeAndSync(f, content); err != nil {
		// Leaving a half-written file would make every later start fail to parse
		// it; nothing has been sealed with this key yet, so removing it is safe.
		os.Remove(path)
		return false, fmt.Errorf("secret: writing key file: %w", err)
	}
	syncDir(dir)
	return true, nil
}

func writeAndSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the new directory entry durable: losing the key file in a crash
// after secrets were sealed with it would lose those secrets. Best effort; some
// systems cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
