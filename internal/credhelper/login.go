package credhelper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// CLIClientID is the client_id of vcsauth's built-in CLI application
// (authserver.CLIClientID; repeated here so the client needs nothing of the server).
const CLIClientID = "vcsauth-cli"

// DefaultLoginScopes are what `vcsauth login` asks for unless told otherwise: Git
// credentials of the person's connections, which is all the credential helper uses.
var DefaultLoginScopes = []string{"credentials"}

// LoginOptions configure Login.
type LoginOptions struct {
	// Server is the vcsauth server's URL (--server).
	Server string
	// Scopes to ask for; DefaultLoginScopes when empty.
	Scopes []string
	// Out receives the instructions for the person: the URL to open and the code.
	Out io.Writer
	// Path of the credentials file; DefaultCredentialsPath(os.Getenv) when empty.
	Path string
	// HTTPClient makes the requests; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// Login runs `vcsauth login --server URL`: the device flow (RFC 8628) of the
// built-in CLI application against the server, with golang.org/x/oauth2. It prints
// the verification URL and the user code to o.Out, waits until the person approves
// (or denies, or the code expires), and saves the tokens to the credentials file,
// making this server the default. ctx bounds the wait: cancel it on SIGINT.
func Login(ctx context.Context, o LoginOptions) (Credentials, error) {
	server, err := NormalizeServer(o.Server)
	if err != nil {
		return Credentials{}, err
	}
	path, err := credentialsPath(o.Path)
	if err != nil {
		return Credentials{}, err
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	client := o.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	cfg, err := discover(ctx, client, server)
	if err != nil {
		return Credentials{}, err
	}
	cfg.Scopes = o.Scopes
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = slices.Clone(DefaultLoginScopes)
	}
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("login: starting the device flow at %s: %w", server, describeOAuthError(err))
	}
	fmt.Fprintf(out, "To sign in to %s, open\n\n    %s\n\nand enter the code  %s\n", server, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(out, "\n(or open %s)\n", da.VerificationURIComplete)
	}
	fmt.Fprintf(out, "\nWaiting for approval…\n")
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		return Credentials{}, fmt.Errorf("login: %w", describeOAuthError(err))
	}
	c := fromToken(server, tok, cfg.Scopes)
	c.TokenURL = cfg.Endpoint.TokenURL
	err = withLock(path, func() error {
		f, err := LoadCredentials(path)
		if err != nil {
			return err
		}
		f.Servers[server] = c
		f.Default = server
		return SaveCredentials(path, f)
	})
	if err != nil {
		return Credentials{}, err
	}
	fmt.Fprintf(out, "Logged in to %s. Credentials saved in %s.\n", server, path)
	return c, nil
}

// FreshCredentials returns the saved credentials for server ("" for the default
// one) with an access token that has not expired, refreshing it first when it has
// (or will within ten seconds) and saving the rotated tokens. Refreshes are
// serialised across processes by a lock file: the server rotates refresh tokens and
// treats a rotated one presented again as theft.
func FreshCredentials(ctx context.Context, path, server string, client *http.Client) (Credentials, error) {
	path, err := credentialsPath(path)
	if err != nil {
		return Credentials{}, err
	}
	f, err := LoadCredentials(path)
	if err != nil {
		return Credentials{}, err
	}
	c, ok := f.Lookup(server)
	if !ok {
		return Credentials{}, fmt.Errorf("not logged in to %s: run 'vcsauth login --server URL'", orDefault(server, "any server"))
	}
	if toToken(c).Valid() {
		return c, nil
	}
	if c.RefreshToken == "" {
		return Credentials{}, fmt.Errorf("the login to %s expired: run 'vcsauth login --server %s'", c.Server, c.Server)
	}
	if client == nil {
		client = http.DefaultClient
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	err = withLock(path, func() error {
		// Another process may have refreshed while we waited for the lock.
		f, err := LoadCredentials(path)
		if err != nil {
			return err
		}
		cur, ok := f.Servers[c.Server]
		if !ok {
			return fmt.Errorf("not logged in to %s: run 'vcsauth login --server %s'", c.Server, c.Server)
		}
		if toToken(cur).Valid() {
			c = cur
			return nil
		}
		cfg := oauth2.Config{ClientID: orDefault(cur.ClientID, CLIClientID),
			Endpoint: oauth2.Endpoint{TokenURL: orDefault(cur.TokenURL, cur.Server+"/oauth/token"), AuthStyle: oauth2.AuthStyleInParams}}
		tok, err := cfg.TokenSource(ctx, toToken(cur)).Token()
		if err != nil {
			return fmt.Errorf("refreshing the login to %s: %w (run 'vcsauth login --server %s')", cur.Server, describeOAuthError(err), cur.Server)
		}
		c = fromToken(cur.Server, tok, cur.Scopes)
		c.ClientID, c.TokenURL = cfg.ClientID, cur.TokenURL
		f.Servers[c.Server] = c
		return SaveCredentials(path, f)
	})
	if err != nil {
		return Credentials{}, err
	}
	return c, nil
}

func credentialsPath(p string) (string, error) {
	if p != "" {
		return p, nil
	}
	return DefaultCredentialsPath(os.Getenv)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// discover reads the server's metadata (RFC 8414) for its endpoints, and checks that
// the server calls itself by the URL we were given (§3.3), which keeps a login from
// being sent to one server's endpoints on behalf of another.
func discover(ctx context.Context, client *http.Client, server string) (*oauth2.Config, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("login: reaching %s: %w", server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("login: %s answered %s to the metadata request: is it a vcsauth server?", server, resp.Status)
	}
	var md struct {
		Issuer                      string `json:"issuer"`
		TokenEndpoint               string `json:"token_endpoint"`
		DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil {
		return nil, fmt.Errorf("login: %s sent unreadable metadata: %w", server, err)
	}
	if iss, err := NormalizeServer(md.Issuer); err != nil || iss != server {
		return nil, fmt.Errorf("login: the server at %s says its address is %q: log in with --server %s", server, md.Issuer, md.Issuer)
	}
	if md.TokenEndpoint == "" || md.DeviceAuthorizationEndpoint == "" {
		return nil, fmt.Errorf("login: %s does not offer the device flow", server)
	}
	return &oauth2.Config{ClientID: CLIClientID, Endpoint: oauth2.Endpoint{
		TokenURL: md.TokenEndpoint, DeviceAuthURL: md.DeviceAuthorizationEndpoint,
		// A public client: client_id in the body. The auto-detection would send
		// each poll twice (header, then body), and the second would be slow_down.
		AuthStyle: oauth2.AuthStyleInParams,
	}}, nil
}

func fromToken(server string, tok *oauth2.Token, asked []string) Credentials {
	c := Credentials{Server: server, ClientID: CLIClientID, AccessToken: tok.AccessToken, TokenType: tok.TokenType,
		RefreshToken: tok.RefreshToken, Expiry: tok.Expiry.UTC(), Scopes: slices.Clone(asked)}
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		c.Scopes = strings.Fields(s)
	}
	return c
}

func toToken(c Credentials) *oauth2.Token {
	return &oauth2.Token{AccessToken: c.AccessToken, TokenType: c.TokenType, RefreshToken: c.RefreshToken, Expiry: c.Expiry}
}

// describeOAuthError turns x/oauth2's errors into a sentence for people.
func describeOAuthError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode == "" {
		return err
	}
	switch re.ErrorCode {
	case "access_denied":
		return errors.New("the request was denied in the browser")
	case "expired_token":
		return errors.New("the code expired before it was approved; run the command again")
	case "invalid_grant":
		return errors.New("the server no longer accepts this login")
	}
	if re.ErrorDescription != "" {
		return fmt.Errorf("%s: %s", re.ErrorCode, re.ErrorDescription)
	}
	return errors.New(re.ErrorCode)
}
