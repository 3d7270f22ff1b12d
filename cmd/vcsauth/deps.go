package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vcsauth/vcsauth/internal/config"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// keyFileName is the key file `serve` creates in the data directory on first start.
const keyFileName = "secret.keys"

// deps are the parts every command that touches data needs.
type deps struct {
	store    *sqlstore.Store
	keys     *secret.Keyring
	identity *identity.Service
	log      *slog.Logger
}

func (d *deps) Close() { d.store.Close() }

// openDeps loads the keyring (VCSAUTH_SECRET_KEYS, else the data directory's key
// file, created on first use), opens the database and applies pending migrations.
// cacheTTL is serve's --cache-ttl; one-shot commands pass 0.
func openDeps(ctx context.Context, c config.Store, e env, log *slog.Logger, cacheTTL time.Duration) (*deps, error) {
	if err := c.Validate(); err != nil {
		return nil, usageError{err}
	}
	keys, err := loadKeys(c, e, log)
	if err != nil {
		return nil, err
	}
	st, err := sqlstore.Open(ctx, c.Database, sqlstore.Options{DataDir: c.DataDir, Migrate: true, CacheTTL: cacheTTL, Logger: log})
	if err != nil {
		return nil, err
	}
	return &deps{store: st, keys: keys, log: log,
		identity: identity.New(st, keys, identity.Options{Log: log})}, nil
}

func loadKeys(c config.Store, e env, log *slog.Logger) (*secret.Keyring, error) {
	if s := e.getenv("VCSAUTH_SECRET_KEYS"); s != "" {
		kr, err := secret.ParseKeys(s, nil)
		if err != nil {
			return nil, fmt.Errorf("VCSAUTH_SECRET_KEYS: %w", err)
		}
		return kr, nil
	}
	if c.DataDir == "" {
		return nil, fmt.Errorf("no VCSAUTH_SECRET_KEYS and no --data-dir for a key file")
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(c.DataDir, keyFileName)
	kr, created, err := secret.LoadOrCreateKeyFile(path, nil)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if created {
		log.Warn("created a new secret key file; back it up: without it, stored secrets cannot be read", "path", path)
	}
	return kr, nil
}

// newLogger returns the process's logger: text on stderr.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// randomPassword makes a password for generated accounts: 24 base62 characters.
func randomPassword() (string, error) {
	s, err := secret.NewID("p", nil)
	if err != nil {
		return "", err
	}
	t, err := secret.NewID("q", nil)
	if err != nil {
		return "", err
	}
	return s[2:] + t[2:10], nil
}
