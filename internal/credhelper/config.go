package credhelper

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/secret"
)

// Credentials are what `vcsauth login` obtained from one vcsauth server: the tokens
// of the built-in CLI application, which the git credential helper uses.
type Credentials struct {
	Server   string `json:"server"`
	ClientID string `json:"client_id"`
	// TokenURL is the token endpoint the server's metadata named, for refreshes.
	TokenURL     string    `json:"token_url,omitempty"`
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
}

// CredentialsFile is the credentials file: one entry per server, and the server of
// the last login, which commands use when given none.
type CredentialsFile struct {
	Default string                 `json:"default,omitempty"`
	Servers map[string]Credentials `json:"servers"`
}

// Lookup returns the credentials for server (Default when server is "").
func (f *CredentialsFile) Lookup(server string) (Credentials, bool) {
	if server == "" {
		server = f.Default
	} else if s, err := NormalizeServer(server); err == nil {
		server = s
	}
	c, ok := f.Servers[server]
	return c, ok
}

// DefaultCredentialsPath is $XDG_CONFIG_HOME/vcsauth/credentials.json, or
// ~/.config/vcsauth/credentials.json when XDG_CONFIG_HOME is unset or not absolute
// (as the XDG Base Directory specification says). getenv is os.Getenv in the binary.
func DefaultCredentialsPath(getenv func(string) string) (string, error) {
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "vcsauth", "credentials.json"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("credentials file: no XDG_CONFIG_HOME and no home directory: %w", err)
		}
	}
	return filepath.Join(home, ".config", "vcsauth", "credentials.json"), nil
}

// NormalizeServer turns a --server value into the form credentials are keyed by:
// scheme and host in lower case, no trailing slash, no query or fragment.
func NormalizeServer(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("server %q must be an http or https URL without a user, such as https://vcsauth.example.com", secret.RedactURL(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server %q must not have a query or fragment", secret.RedactURL(raw))
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// LoadCredentials reads the credentials file; a file that does not exist reads as
// empty.
func LoadCredentials(path string) (*CredentialsFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &CredentialsFile{Servers: map[string]Credentials{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	var f CredentialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("credentials file %s is damaged: %w", path, err)
	}
	if f.Servers == nil {
		f.Servers = map[string]Credentials{}
	}
	return &f, nil
}

// SaveCredentials writes the credentials file atomically with mode 0600 (its
// directory 0700): a temporary file in the same directory, synced, then renamed over
// the old one, so a reader sees the old file or the new one, never half of one.
func SaveCredentials(path string, f *CredentialsFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*.tmp")
	if err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable where the platform allows
		d.Close()
	}
	return nil
}

// lockStale is how old a lock file may get before it is taken to be left over from
// a process that died holding it.
const lockStale = 2 * time.Minute

// withLock runs fn while holding path+".lock", a lock file created exclusively, so
// that two processes never refresh one refresh token at once (the second would
// present a rotated token, and the server would revoke the whole login).
func withLock(path string, fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	lock := path + ".lock"
	deadline := time.Now().Add(lockStale + 30*time.Second)
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			defer os.Remove(lock)
			return fn()
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("credentials lock: %w", err)
		}
		if fi, serr := os.Stat(lock); serr == nil && time.Since(fi.ModTime()) > lockStale {
			os.Remove(lock)
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("credentials lock %s is held by another process; remove it if none runs", lock)
		}
		time.Sleep(delay)
	}
}
