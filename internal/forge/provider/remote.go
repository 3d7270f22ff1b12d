package provider

import (
	"net"
	"net/url"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
)

// ParseBaseURL validates an http_url or api_url as an admin typed it: absolute,
// http or https, a host, no user info, query or fragment. It returns the URL
// without a trailing slash. Errors are *core.ValidationError naming field.
func ParseBaseURL(field, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", core.Missing(field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", core.Invalid(field, "%s is not a URL", strings.ReplaceAll(field, "_", " "))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", core.Invalid(field, "%s must be an absolute http or https URL", strings.ReplaceAll(field, "_", " "))
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", core.Invalid(field, "%s must name a host", strings.ReplaceAll(field, "_", " "))
	case u.User != nil:
		return "", core.Invalid(field, "%s must not carry credentials", strings.ReplaceAll(field, "_", " "))
	case u.RawQuery != "" || u.ForceQuery:
		return "", core.Invalid(field, "%s must not have a query", strings.ReplaceAll(field, "_", " "))
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", core.Invalid(field, "%s must not have a fragment", strings.ReplaceAll(field, "_", " "))
	}
	if p := u.Port(); p != "" && !allDigits(p) {
		return "", core.Invalid(field, "%s has an invalid port", strings.ReplaceAll(field, "_", " "))
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// BaseURLs validates a provider's web and API addresses as an admin typed them. An
// empty webURL takes defaultWeb (pass "" for self-hosted kinds: the address is then
// required); an empty apiURL is defaultAPI of the validated web address, so a
// self-hosted API can default to a path under it and a hosted one to a constant.
func BaseURLs(webURL, apiURL, defaultWeb string, defaultAPI func(web string) string) (web, api string, err error) {
	if webURL == "" {
		webURL = defaultWeb
	}
	if web, err = ParseBaseURL("http_url", webURL); err != nil {
		return "", "", err
	}
	if apiURL == "" {
		apiURL = defaultAPI(web)
	}
	if api, err = ParseBaseURL("api_url", apiURL); err != nil {
		return "", "", err
	}
	return web, api, nil
}

// Fixed returns a defaultAPI for BaseURLs that is always url (hosted providers).
func Fixed(url string) func(string) string { return func(string) string { return url } }

// Under returns a defaultAPI for BaseURLs that is path under the web address.
func Under(path string) func(string) string { return func(web string) string { return web + path } }

// MatchRemote reports whether a git remote URL points at the provider whose web
// address is webURL (or at one of extraHosts).
//
// HTTP(S) remotes must name the web address's host and port (default ports count
// as absent) and lie under its path, so two installations on one host under
// different paths are told apart. SSH remotes (ssh://, git+ssh://, scp-like
// [user@]host:path) and git:// remotes match on the host name alone: SSH servers
// listen on their own ports and paths. User names and passwords in the remote are
// ignored. Host names compare case-insensitively.
func MatchRemote(webURL string, extraHosts []string, remote string) bool {
	w, err := url.Parse(webURL)
	if err != nil || w.Hostname() == "" {
		return false
	}
	r, ok := ParseRemote(remote)
	if !ok {
		return false
	}
	host := normHost(r.Hostname())
	for _, h := range extraHosts {
		if hostMatches(h, host) {
			return true
		}
	}
	switch r.Scheme {
	case "http", "https":
		return hostPort(r) == hostPort(w) && pathUnder(r.Path, w.Path)
	default:
		return host == normHost(w.Hostname())
	}
}

// ParseRemote parses a git remote URL: scheme://[user@]host[:port]/path for the
// schemes git speaks over a network, or the scp-like [user@]host:path. Local paths
// and file:// URLs are not remotes of any provider.
func ParseRemote(remote string) (*url.URL, bool) {
	remote = strings.TrimSpace(remote)
	if remote == "" || strings.ContainsAny(remote, " \t\r\n\x00") {
		return nil, false
	}
	if i := strings.Index(remote, "://"); i >= 0 {
		u, err := url.Parse(remote)
		if err != nil {
			return nil, false
		}
		u.Scheme = strings.ToLower(u.Scheme)
		switch u.Scheme {
		case "http", "https", "ssh", "git", "git+ssh", "ssh+git":
		default:
			return nil, false
		}
		if !validHost(u.Hostname()) {
			return nil, false
		}
		if p := u.Port(); p != "" && !allDigits(p) {
			return nil, false
		}
		return u, true
	}
	// scp-like syntax: git takes it when a colon comes before any slash.
	// https://git-scm.com/docs/git-clone#_git_urls
	colon := strings.Index(remote, ":")
	if colon <= 0 {
		return nil, false
	}
	if slash := strings.Index(remote, "/"); slash >= 0 && slash < colon {
		return nil, false
	}
	userHost, path := remote[:colon], remote[colon+1:]
	if open := strings.Index(remote, "["); open >= 0 && open < colon {
		// [user@][v6addr]:path — the first colon was inside the brackets.
		end := strings.Index(remote, "]")
		if end < open || end+1 >= len(remote) || remote[end+1] != ':' {
			return nil, false
		}
		userHost, path = remote[:end+1], remote[end+2:]
	}
	var user *url.Userinfo
	host := userHost
	if at := strings.LastIndex(userHost, "@"); at >= 0 {
		user = url.User(userHost[:at])
		host = userHost[at+1:]
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if !validHost(bare) || path == "" {
		return nil, false
	}
	return &url.URL{Scheme: "ssh", User: user, Host: host, Path: path}, true
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return true
}

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// hostPort is host[:port] with the scheme's default port left out.
func hostPort(u *url.URL) string {
	host := normHost(u.Hostname())
	port := u.Port()
	if port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

func hostMatches(pattern, host string) bool {
	pattern = normHost(pattern)
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+rest)
	}
	return host == pattern
}

func pathUnder(p, base string) bool {
	base = strings.TrimRight(base, "/")
	if base == "" {
		return true
	}
	return p == base || strings.HasPrefix(p, base+"/")
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
