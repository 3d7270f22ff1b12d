package credhelper

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// GitCredential is one credential description of git's credential-helper protocol
// (git-credential(1), "INPUT/OUTPUT FORMAT"): attributes as key=value lines, ended by
// a blank line or the end of input.
type GitCredential struct {
	Protocol string
	Host     string // host[:port]
	Path     string // without a leading slash
	Username string
	Password string
	// PasswordExpiryUTC is the password's expiry in Unix seconds, as git writes it.
	PasswordExpiryUTC string
	OAuthRefreshToken string
	// WWWAuth are the WWW-Authenticate headers of the server's refusal (wwwauth[]).
	WWWAuth []string
	// Capabilities git announces (capability[]).
	Capabilities []string
	// Extra are the other attributes, in order, passed through as given (arrays keep
	// their "[]" suffix).
	Extra []Attr
}

// Attr is one attribute line.
type Attr struct {
	Key, Value string
}

// Limits on input: far above anything git sends.
const (
	maxLine  = 64 << 10
	maxAttrs = 1000
)

// ErrProtocol is wrapped by every error about malformed input or output.
var ErrProtocol = errors.New("git credential protocol")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// Parse reads one credential description. A "url" attribute is expanded into its
// parts (protocol, host, path, username, password), replacing everything read
// before it, as git does; an empty value of an array attribute ("wwwauth[]=")
// empties the array. Lines without "=", an empty key, NUL bytes and URL parts that
// decode to a newline or NUL are refused.
func Parse(r io.Reader) (GitCredential, error) {
	var c GitCredential
	br := bufio.NewReaderSize(r, 4096)
	for n := 0; ; n++ {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) && line == "" {
			return c, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return GitCredential{}, err
		}
		if line == "" {
			return c, nil
		}
		if n >= maxAttrs {
			return GitCredential{}, protoErr("more than %d attributes", maxAttrs)
		}
		if strings.IndexByte(line, 0) >= 0 {
			return GitCredential{}, protoErr("NUL byte in a line")
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return GitCredential{}, protoErr("invalid credential line %q", shortQuote(line))
		}
		if err := c.set(key, value); err != nil {
			return GitCredential{}, err
		}
		if errors.Is(err, io.EOF) {
			return c, nil
		}
	}
}

// readLine reads one line without its "\n" (and without one "\r" before it, as git's
// strbuf_getline does).
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", protoErr("line longer than %d bytes", maxLine)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return string(b), io.EOF
			}
			return "", err
		}
		if !isPrefix {
			break
		}
	}
	// bufio's ReadLine already dropped a "\r\n"'s "\r". A value that would end in
	// "\r" cannot be written back (it would read as without it), so it is refused.
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return "", protoErr("line ends with a carriage return")
	}
	return string(b), nil
}

func shortQuote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func (c *GitCredential) set(key, value string) error {
	switch key {
	case "url":
		return c.setURL(value)
	case "protocol":
		c.Protocol = value
	case "host":
		c.Host = value
	case "path":
		c.Path = value
	case "username":
		c.Username = value
	case "password":
		c.Password = value
	case "password_expiry_utc":
		c.PasswordExpiryUTC = value
	case "oauth_refresh_token":
		c.OAuthRefreshToken = value
	case "wwwauth[]":
		c.WWWAuth = appendOrReset(c.WWWAuth, value)
	case "capability[]":
		c.Capabilities = appendOrReset(c.Capabilities, value)
	default:
		c.Extra = append(c.Extra, Attr{key, value})
	}
	return nil
}

func appendOrReset(list []string, v string) []string {
	if v == "" {
		return nil
	}
	return append(list, v)
}

// setURL is git's credential_from_url: the description becomes exactly the URL's
// parts. Decoded parts must not hold a newline or NUL (git refuses those since
// CVE-2020-5260: they would smuggle attributes into a helper's input).
func (c *GitCredential) setURL(raw string) error {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return protoErr("url has no scheme")
	}
	var userinfo, host, path string
	hostEnd := strings.IndexByte(rest, '/')
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	authority := rest[:hostEnd]
	if hostEnd < len(rest) {
		path = rest[hostEnd+1:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, host = authority[:at], authority[at+1:]
	} else {
		host = authority
	}
	var user, pass string
	if userinfo != "" {
		u, p, hasPass := strings.Cut(userinfo, ":")
		user = u
		if hasPass {
			pass = p
		}
	}
	parts := []*string{&user, &pass, &host, &path}
	for _, p := range parts {
		d, err := url.PathUnescape(*p)
		if err != nil {
			return protoErr("url has a malformed escape")
		}
		if strings.ContainsAny(d, "\r\n\x00") {
			return protoErr("url has a newline, carriage return or NUL in it")
		}
		*p = d
	}
	*c = GitCredential{Protocol: scheme, Host: host, Path: path, Username: user, Password: pass}
	return nil
}

// Format writes a credential description: the fields that are set, the arrays, and
// Extra, one key=value line each. Keys with "=", and keys or values with a newline
// or NUL, are refused, as git refuses them (and a value ending in "\r" would not
// read back the same).
func Format(w io.Writer, c GitCredential) error {
	var b strings.Builder
	add := func(k, v string) error {
		if k == "" || strings.ContainsAny(k, "=\n\x00") {
			return protoErr("invalid key %q", shortQuote(k))
		}
		if strings.ContainsAny(v, "\n\x00") {
			return protoErr("value of %s contains a newline or NUL", k)
		}
		if strings.HasSuffix(v, "\r") {
			return protoErr("value of %s ends with a carriage return", k)
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
		b.WriteByte('\n')
		return nil
	}
	for _, v := range c.Capabilities {
		if err := add("capability[]", v); err != nil {
			return err
		}
	}
	for _, kv := range []Attr{{"protocol", c.Protocol}, {"host", c.Host}, {"path", c.Path}, {"username", c.Username},
		{"password", c.Password}, {"password_expiry_utc", c.PasswordExpiryUTC}, {"oauth_refresh_token", c.OAuthRefreshToken}} {
		if kv.Value == "" {
			continue
		}
		if err := add(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	for _, v := range c.WWWAuth {
		if err := add("wwwauth[]", v); err != nil {
			return err
		}
	}
	for _, kv := range c.Extra {
		if err := add(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
