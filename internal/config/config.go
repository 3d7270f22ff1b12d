// Package config turns flags and their VCSAUTH_* environment twins into validated
// settings. A flag given on the command line wins over its environment variable,
// which wins over the default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/secret"
)

// EnvName is the environment twin of a flag: --data-dir → VCSAUTH_DATA_DIR.
func EnvName(flagName string) string {
	return "VCSAUTH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then fills every flag not given on the command line
// from its environment twin, read through getenv.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	fs.SetOutput(io.Discard) // errors are returned, and printed once by the caller
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%v (see %s -h)", err, fs.Name())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", EnvName(f.Name), v, err))
			}
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see %s -h)", fs.Arg(0), fs.Name())
	}
	return nil
}

// Usage writes fs's flags with their environment twins.
func Usage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintf(w, "usage: %s\n\n", synopsis)
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%-16s %s%s [%s]\n", f.Name, f.Usage, def, EnvName(f.Name))
	})
}

// Store is where the data lives; every command that touches it takes these.
type Store struct {
	DataDir  string
	Database string
}

// Register adds --data-dir and --database to fs.
func (s *Store) Register(fs *flag.FlagSet) {
	fs.StringVar(&s.DataDir, "data-dir", "./vcsauth-data", "directory for the SQLite database and the secret key file")
	fs.StringVar(&s.Database, "database", "", "database URL: empty (SQLite in the data dir), sqlite:///path/file.db or postgres://…")
}

// Validate checks the database URL's form (reachability is checked on open).
func (s *Store) Validate() error {
	switch {
	case s.Database == "", strings.HasPrefix(s.Database, "sqlite://"),
		strings.HasPrefix(s.Database, "postgres://"), strings.HasPrefix(s.Database, "postgresql://"):
	default:
		return fmt.Errorf("--database: unsupported URL scheme (want empty, sqlite:///path or postgres://…)")
	}
	if s.Database == "" && s.DataDir == "" {
		return errors.New("--data-dir is empty and no --database is given")
	}
	return nil
}

// DefaultCacheTTL and MaxCacheTTL bound --cache-ttl: a revocation
// must reach every replica quickly, so the cache may not hold answers for long.
const (
	DefaultCacheTTL = time.Second
	MaxCacheTTL     = 10 * time.Second
)

// Serve is the configuration of `vcsauth serve`.
type Serve struct {
	Store
	Listen      string
	ExternalURL string
	Dev         bool
	// DebugListen, when set, serves Go's profiler (/debug/pprof/) on a listener of
	// its own, never on the public one.
	DebugListen string
	// CacheTTL is how long a token check, a client lookup or a git credential
	// lookup may be answered from memory: on PostgreSQL the bound if the change
	// notifications of other replicas lag (they usually arrive within
	// milliseconds), on SQLite the bound for changes made by admin commands run
	// as processes of their own. 0 turns the caches off.
	CacheTTL time.Duration
}

// Register adds serve's flags to fs.
func (c *Serve) Register(fs *flag.FlagSet) {
	c.Store.Register(fs)
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	fs.StringVar(&c.ExternalURL, "external-url", "", "the address people and providers reach this server at (default http://LISTEN)")
	fs.StringVar(&c.DebugListen, "debug-listen", "", "address for Go's profiler at /debug/pprof/ (off when empty; keep it on loopback)")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", DefaultCacheTTL, "how long token checks, client lookups and git credential lookups may be answered from memory: the bound within which a change made by another process is seen here when no notification tells sooner (0: no caches)")
	fs.BoolVar(&c.Dev, "dev", false, "try it out: SQLite, a site admin whose password and token are printed once, a demo organization and project")
}

// Validate checks serve's settings.
func (c *Serve) Validate() error {
	if err := c.Store.Validate(); err != nil {
		return err
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return fmt.Errorf("--listen %q: want HOST:PORT", c.Listen)
	}
	if c.DebugListen != "" {
		if _, port, err := net.SplitHostPort(c.DebugListen); err != nil || port == "" {
			return fmt.Errorf("--debug-listen %q: want HOST:PORT", c.DebugListen)
		}
	}
	if c.CacheTTL < 0 || c.CacheTTL > MaxCacheTTL {
		return fmt.Errorf("--cache-ttl %v: want 0 (off) to %v", c.CacheTTL, MaxCacheTTL)
	}
	if c.ExternalURL != "" {
		if _, err := ParseExternalURL(c.ExternalURL); err != nil {
			return err
		}
	}
	return nil
}

// ParseExternalURL checks an external URL: absolute http(s), no query or fragment.
// The result has no trailing slash.
func ParseExternalURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("--external-url %q: want an absolute http(s) URL without query, fragment or user", secret.RedactURL(s))
	}
	return strings.TrimRight(u.String(), "/"), nil
}
