package provider

import (
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

func TestMatchRemote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		web    string
		extra  []string
		remote string
		want   bool
	}{
		// HTTPS: host and port must agree (default ports count as absent).
		{"https://git.example.com", nil, "https://git.example.com/o/r.git", true},
		{"https://git.example.com", nil, "https://git.example.com:443/o/r.git", true},
		{"https://git.example.com", nil, "http://git.example.com/o/r.git", true},
		{"https://git.example.com", nil, "https://git.example.com:8443/o/r.git", false},
		{"https://git.example.com:8443", nil, "https://git.example.com:8443/o/r", true},
		{"https://git.example.com:8443", nil, "https://git.example.com/o/r", false},
		{"https://git.example.com", nil, "https://GIT.Example.COM./o/r", true},
		{"https://git.example.com", nil, "https://other.example.com/o/r", false},
		{"https://git.example.com", nil, "https://git.example.com.evil.test/o/r", false},
		{"https://git.example.com", nil, "https://evil.test/git.example.com/o/r", false},
		// Credentials in the remote are ignored.
		{"https://git.example.com", nil, "https://user@git.example.com/o/r", true},
		{"https://git.example.com", nil, "https://user:secret@git.example.com/o/r", true},
		{"https://git.example.com", nil, "https://git.example.com@evil.test/o/r", false},
		// Paths: an installation under a path only matches remotes under it.
		{"https://example.com/gitlab", nil, "https://example.com/gitlab/g/r.git", true},
		{"https://example.com/gitlab", nil, "https://example.com/gitlab", true},
		{"https://example.com/gitlab", nil, "https://example.com/gitlabx/g/r.git", false},
		{"https://example.com/gitlab", nil, "https://example.com/g/r.git", false},
		// SSH matches on host alone.
		{"https://git.example.com", nil, "git@git.example.com:o/r.git", true},
		{"https://git.example.com", nil, "git.example.com:o/r.git", true},
		{"https://git.example.com", nil, "ssh://git@git.example.com/o/r.git", true},
		{"https://git.example.com", nil, "ssh://git@git.example.com:2222/o/r.git", true},
		{"https://git.example.com:8443", nil, "ssh://git@git.example.com:22/o/r.git", true},
		{"https://git.example.com", nil, "git+ssh://git@git.example.com/o/r.git", true},
		{"https://git.example.com", nil, "git://git.example.com/o/r.git", true},
		{"https://git.example.com", nil, "git@other.example.com:o/r.git", false},
		{"https://[2001:db8::1]", nil, "git@[2001:db8::1]:o/r.git", true},
		{"https://[2001:db8::1]:8443", nil, "https://[2001:db8::1]:8443/o/r", true},
		// Extra hosts and wildcards.
		{"https://dev.azure.com", []string{"*.visualstudio.com"}, "https://org.visualstudio.com/p/_git/r", true},
		{"https://dev.azure.com", []string{"*.visualstudio.com"}, "https://visualstudio.com/p/_git/r", false},
		{"https://github.com", []string{"ssh.github.com"}, "ssh://git@ssh.github.com:443/o/r", true},
		// Not remotes of any provider.
		{"https://git.example.com", nil, "", false},
		{"https://git.example.com", nil, "/srv/git/o/r.git", false},
		{"https://git.example.com", nil, "./o/r", false},
		{"https://git.example.com", nil, "file:///git.example.com/o/r", false},
		{"https://git.example.com", nil, "o/r:x", false},
		{"https://git.example.com", nil, "https:///o/r", false},
		{"https://git.example.com", nil, "https://git.example.com:port/o/r", false},
		{"https://git.example.com", nil, "git@git.example.com:", false},
		{"https://git.example.com", nil, "git@git example.com:o/r", false},
	}
	for _, tt := range tests {
		if got := MatchRemote(tt.web, tt.extra, tt.remote); got != tt.want {
			t.Errorf("MatchRemote(%q, %v, %q) = %v, want %v", tt.web, tt.extra, tt.remote, got, tt.want)
		}
	}
}

// FuzzMatchRemote: the matcher never panics, agrees with itself, and never matches
// a remote whose host is not the provider's.
func FuzzMatchRemote(f *testing.F) {
	for _, s := range []string{
		"https://git.example.com/o/r.git", "git@git.example.com:o/r.git", "ssh://git@git.example.com:2222/o/r",
		"https://user:pw@git.example.com:443/o/r", "git@[::1]:o/r", "file:///x", "", ":", "@:", "[", "]:x",
		"https://git.example.com%2F@evil/x", "ssh://[v1.x]:22/x", "git@git.example.com:8443:o/r",
	} {
		f.Add(s)
	}
	const web = "https://git.example.com"
	f.Fuzz(func(t *testing.T, remote string) {
		got := MatchRemote(web, nil, remote)
		if got != MatchRemote(web, nil, remote) {
			t.Fatalf("MatchRemote(%q) is not deterministic", remote)
		}
		if !got {
			return
		}
		u, ok := ParseRemote(remote)
		if !ok {
			t.Fatalf("MatchRemote(%q) true but ParseRemote refuses it", remote)
		}
		if h := normHost(u.Hostname()); h != "git.example.com" {
			t.Fatalf("MatchRemote(%q) true for host %q", remote, h)
		}
	})
}

func TestParseRemote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		remote, scheme, host, path string
	}{
		{"git@github.com:octo/repo.git", "ssh", "github.com", "octo/repo.git"},
		{"github.com:octo/repo.git", "ssh", "github.com", "octo/repo.git"},
		{"user@host.example:~/repo", "ssh", "host.example", "~/repo"},
		{"git@[2001:db8::1]:o/r", "ssh", "[2001:db8::1]", "o/r"},
		{"HTTPS://github.com/o/r", "https", "github.com", "/o/r"},
		{"ssh://git@host.example:2222/o/r", "ssh", "host.example:2222", "/o/r"},
	}
	for _, tt := range tests {
		u, ok := ParseRemote(tt.remote)
		if !ok || u.Scheme != tt.scheme || u.Host != tt.host || u.Path != tt.path {
			t.Errorf("ParseRemote(%q) = %v %v", tt.remote, u, ok)
		}
	}
}

func TestParseBaseURL(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"https://github.com":                    "https://github.com",
		"https://GitLab.Example.com/":           "https://gitlab.example.com",
		" http://gitea.local:3000/git// ":       "http://gitea.local:3000/git",
		"https://ado.example.com/tfs/DefaultCo": "https://ado.example.com/tfs/DefaultCo",
		"https://[2001:db8::1]:8443":            "https://[2001:db8::1]:8443",
	}
	for in, want := range good {
		got, err := ParseBaseURL("http_url", in)
		if err != nil || got != want {
			t.Errorf("ParseBaseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "github.com", "//github.com", "ftp://x.example", "https://", "https://u:p@x.example",
		"https://x.example?a=b", "https://x.example?", "https://x.example#f", "https://x.example/#",
		"https://x.example:port", "mailto:a@b", "https://:443"}
	for _, in := range bad {
		_, err := ParseBaseURL("api_url", in)
		v, ok := core.AsValidation(err)
		if !ok || v.Field != "api_url" {
			t.Errorf("ParseBaseURL(%q) = %v, want a validation error on api_url", in, err)
		}
	}
}

func TestGitAuth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		g                GitAuth
		login, user, pwd string
	}{
		{GitAuth{Password: "x-oauth-basic"}, "octo", "T", "x-oauth-basic"},
		{GitAuth{Username: "oauth2"}, "octo", "oauth2", "T"},
		{GitAuth{UseLogin: true, Username: "x-token-auth"}, "octo", "octo", "T"},
		{GitAuth{UseLogin: true, Username: "x-token-auth"}, "", "x-token-auth", "T"},
	}
	for _, c := range cases {
		u, p := c.g.Credential(c.login, "T")
		if u != c.user || p != c.pwd {
			t.Errorf("%+v.Credential(%q) = %q, %q", c.g, c.login, u, p)
		}
	}
}
