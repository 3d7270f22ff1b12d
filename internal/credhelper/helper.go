package credhelper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables the helper reads.
const (
	// EnvToken is a vcsauth token (scope credentials is enough) to use instead of
	// the credentials file's login: what a workload usually has.
	EnvToken = "VCSAUTH_TOKEN"
	// EnvServer is the server's URL, when --server is not given.
	EnvServer = "VCSAUTH_SERVER"
)

// CredentialPath is the server's git credential endpoint.
const CredentialPath = "/api/v1/git/credential"

// HelperOptions configure Get.
type HelperOptions struct {
	// Server is the vcsauth server (--server); else $VCSAUTH_SERVER; else the
	// credentials file's server.
	Server string
	// Token is the token to present; else $VCSAUTH_TOKEN; else the credentials
	// file's login (refreshed when it has expired).
	Token string
	// CredentialsPath is the credentials file; DefaultCredentialsPath when empty.
	CredentialsPath string
	// Wait asks the server to wait (at most a minute) for the person to link an
	// account when none is linked yet.
	Wait time.Duration
	// HTTPClient makes the request; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
}

// NotLinkedError: the server has no connection the caller may use for the remote.
// LinkURL, when set, is where the person can link one.
type NotLinkedError struct {
	Host    string
	Message string
	LinkURL string
}

func (e *NotLinkedError) Error() string {
	if e.LinkURL != "" {
		return fmt.Sprintf("no usable linked account for %s: %s", e.Host, e.Message)
	}
	return fmt.Sprintf("no credentials for %s: %s", e.Host, e.Message)
}

// resolve finds the server and the token to present to it.
func (o HelperOptions) resolve(ctx context.Context) (server, token string, err error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	path := o.CredentialsPath
	if path == "" {
		if path, err = DefaultCredentialsPath(getenv); err != nil {
			return "", "", err
		}
	}
	server = firstOf(o.Server, getenv(EnvServer))
	if token = firstOf(o.Token, getenv(EnvToken)); token != "" {
		if server == "" {
			f, err := LoadCredentials(path)
			if err != nil {
				return "", "", err
			}
			server = f.Default
		}
		if server == "" {
			return "", "", fmt.Errorf("no server: give --server or set %s", EnvServer)
		}
		server, err = NormalizeServer(server)
		return server, token, err
	}
	c, err := FreshCredentials(ctx, path, server, o.HTTPClient)
	if err != nil {
		return "", "", fmt.Errorf("%w (or set %s to a token)", err, EnvToken)
	}
	return c.Server, c.AccessToken, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Get answers git's "get": it asks the server for credentials for the remote in
// describes and returns username, password and password_expiry_utc. A description
// that is not an http(s) remote gets an empty answer (git asks other helpers or the
// person). When the server has no usable connection, the error is a
// *NotLinkedError.
func Get(ctx context.Context, o HelperOptions, in GitCredential) (GitCredential, error) {
	proto := strings.ToLower(in.Protocol)
	if (proto != "https" && proto != "http") || in.Host == "" {
		return GitCredential{}, nil
	}
	server, token, err := o.resolve(ctx)
	if err != nil {
		return GitCredential{}, err
	}
	wait := min(max(o.Wait, 0), time.Minute)
	body, err := json.Marshal(struct {
		Protocol string `json:"protocol"`
		Host     string `json:"host"`
		Path     string `json:"path,omitempty"`
		Wait     int    `json:"wait,omitempty"`
	}{proto, in.Host, in.Path, int(wait / time.Second)})
	if err != nil {
		return GitCredential{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+CredentialPath, bytes.NewReader(body))
	if err != nil {
		return GitCredential{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return GitCredential{}, fmt.Errorf("asking %s for credentials: %w", server, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return GitCredential{}, fmt.Errorf("asking %s for credentials: %w", server, err)
	}
	var ans struct {
		Username          string `json:"username"`
		Password          string `json:"password"`
		PasswordExpiryUTC int64  `json:"password_expiry_utc"`
		Message           string `json:"message"`
		LinkURL           string `json:"link_url"`
	}
	jerr := json.Unmarshal(raw, &ans)
	switch {
	case resp.StatusCode == http.StatusOK && jerr == nil && ans.Password != "":
		out := GitCredential{Username: ans.Username, Password: ans.Password}
		if ans.PasswordExpiryUTC > 0 {
			out.PasswordExpiryUTC = strconv.FormatInt(ans.PasswordExpiryUTC, 10)
		}
		return out, nil
	case resp.StatusCode == http.StatusNotFound && jerr == nil:
		return GitCredential{}, &NotLinkedError{Host: in.Host, Message: ans.Message, LinkURL: ans.LinkURL}
	case resp.StatusCode == http.StatusUnauthorized:
		return GitCredential{}, fmt.Errorf("%s refused the token: run 'vcsauth login --server %s' or set %s", server, server, EnvToken)
	case jerr == nil && ans.Message != "":
		return GitCredential{}, fmt.Errorf("%s answered %s: %s", server, resp.Status, ans.Message)
	}
	return GitCredential{}, fmt.Errorf("%s answered %s, which is not a credential: is it a vcsauth server?", server, resp.Status)
}

// Store answers git's "store" by doing nothing. vcsauth owns the tokens: the one git
// would have us store is the one we gave it, and it is kept (and refreshed, and
// rotated) on the server; a local copy would only go stale.
func Store(context.Context, HelperOptions, GitCredential) error { return nil }

// Erase answers git's "erase" by doing nothing. git sends it when the remote refused
// a credential, which may be a permission the account lacks on that repository
// rather than a dead token; unlinking or revoking on that guess would break every
// other repository. The server learns a token is dead when it validates or refreshes
// it, and then answers "get" with the link to re-authorize.
func Erase(context.Context, HelperOptions, GitCredential) error { return nil }

// Run is `vcsauth git-credential [--server URL] [--wait SECONDS] [--credentials FILE]
// get|store|erase`: git's credential-helper protocol on stdin and stdout. Configure
// git with
//
//	git config --global credential.helper '!vcsauth git-credential'
//
// The token is $VCSAUTH_TOKEN, or the login saved by `vcsauth login`. Operations
// other than get, store and erase are ignored, as git asks of helpers. An error
// (nothing linked, server unreachable) leaves stdout empty, so git goes on to its
// other helpers or the prompt; the caller prints it on stderr.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("vcsauth git-credential", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := HelperOptions{Getenv: getenv}
	fs.StringVar(&o.Server, "server", "", "vcsauth server URL (default $"+EnvServer+", else the login's server)")
	fs.StringVar(&o.CredentialsPath, "credentials", "", "credentials file (default: the one 'vcsauth login' writes)")
	wait := fs.Int("wait", 0, "seconds to wait for an account to be linked when none is (at most 60)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vcsauth git-credential [flags] get|store|erase")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("git-credential: want exactly one operation: get, store or erase")
	}
	o.Wait = time.Duration(*wait) * time.Second
	in, err := Parse(stdin)
	if err != nil {
		return fmt.Errorf("git-credential: %w", err)
	}
	switch fs.Arg(0) {
	case "get":
		out, err := Get(ctx, o, in)
		if err != nil {
			return fmt.Errorf("git-credential: %w", err)
		}
		return Format(stdout, out)
	case "store":
		return Store(ctx, o, in)
	case "erase":
		return Erase(ctx, o, in)
	}
	return nil
}
