package credhelper_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/credhelper"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want credhelper.GitCredential
		err  bool
	}{
		{"git's get", "protocol=https\nhost=example.com\npath=group/repo.git\n\n", credhelper.GitCredential{Protocol: "https", Host: "example.com", Path: "group/repo.git"}, false},
		{"ends at EOF", "protocol=https\nhost=example.com", credhelper.GitCredential{Protocol: "https", Host: "example.com"}, false},
		{"empty", "", credhelper.GitCredential{}, false},
		{"CRLF", "protocol=https\r\nhost=h\r\n\r\n", credhelper.GitCredential{Protocol: "https", Host: "h"}, false},
		{"stops at the blank line", "host=a\n\nhost=b\n", credhelper.GitCredential{Host: "a"}, false},
		{"value with =", "password=a=b==\n", credhelper.GitCredential{Password: "a=b=="}, false},
		{"url expands", "username=old\nurl=https://u%40x:p%3Ass@git.example.com:8443/a/b.git\n",
			credhelper.GitCredential{Protocol: "https", Host: "git.example.com:8443", Path: "a/b.git", Username: "u@x", Password: "p:ss"}, false},
		{"url, no path", "url=https://example.com\n", credhelper.GitCredential{Protocol: "https", Host: "example.com"}, false},
		{"fields after url", "url=https://h/p\npassword=x\n", credhelper.GitCredential{Protocol: "https", Host: "h", Path: "p", Password: "x"}, false},
		{"arrays and expiry", "capability[]=authtype\nwwwauth[]=Basic realm=\"x\"\nwwwauth[]=Bearer\npassword_expiry_utc=1700000000\noauth_refresh_token=r\n",
			credhelper.GitCredential{Capabilities: []string{"authtype"}, WWWAuth: []string{`Basic realm="x"`, "Bearer"}, PasswordExpiryUTC: "1700000000", OAuthRefreshToken: "r"}, false},
		{"array reset", "wwwauth[]=a\nwwwauth[]=\nwwwauth[]=b\n", credhelper.GitCredential{WWWAuth: []string{"b"}}, false},
		{"unknown keys pass through", "authtype=Bearer\nstate[]=x\nephemeral=1\n",
			credhelper.GitCredential{Extra: []credhelper.Attr{{Key: "authtype", Value: "Bearer"}, {Key: "state[]", Value: "x"}, {Key: "ephemeral", Value: "1"}}}, false},
		{"no =", "protocol\n", credhelper.GitCredential{}, true},
		{"empty key", "=x\n", credhelper.GitCredential{}, true},
		{"NUL", "host=a\x00b\n", credhelper.GitCredential{}, true},
		{"url with encoded newline", "url=https://h/a%0apassword=x\n", credhelper.GitCredential{}, true},
		{"url with encoded NUL", "url=https://u%00@h/\n", credhelper.GitCredential{}, true},
		{"url without scheme", "url=example.com/x\n", credhelper.GitCredential{}, true},
		{"url with a bad escape", "url=https://h/%zz\n", credhelper.GitCredential{}, true},
		{"line too long", "host=" + strings.Repeat("a", 70<<10) + "\n", credhelper.GitCredential{}, true},
	} {
		got, err := credhelper.Parse(strings.NewReader(tc.in))
		if (err != nil) != tc.err {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, credhelper.ErrProtocol) {
				t.Errorf("%s: %v is not an ErrProtocol", tc.name, err)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.name, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	err := credhelper.Format(&b, credhelper.GitCredential{Username: "oauth2", Password: "tok", PasswordExpiryUTC: "1700000000",
		WWWAuth: []string{"Basic"}, Extra: []credhelper.Attr{{Key: "ephemeral", Value: "1"}}})
	if err != nil || b.String() != "username=oauth2\npassword=tok\npassword_expiry_utc=1700000000\nwwwauth[]=Basic\nephemeral=1\n" {
		t.Errorf("Format: %q, %v", b.String(), err)
	}
	for name, c := range map[string]credhelper.GitCredential{
		"newline in a value":  {Password: "a\nhost=evil"},
		"NUL in a value":      {Username: "a\x00"},
		"CR at the end":       {Password: "a\r"},
		"= in a key":          {Extra: []credhelper.Attr{{Key: "a=b", Value: "c"}}},
		"newline in an array": {WWWAuth: []string{"x\ny"}},
		"empty key":           {Extra: []credhelper.Attr{{Key: "", Value: "c"}}},
	} {
		var b bytes.Buffer
		if err := credhelper.Format(&b, c); !errors.Is(err, credhelper.ErrProtocol) || b.Len() != 0 {
			t.Errorf("%s: wrote %q, err %v", name, b.String(), err)
		}
	}
}

// FuzzParse: whatever git (or anyone) sends, Parse does not panic, and what it
// accepts Format writes back so that it parses the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"protocol=https\nhost=example.com\npath=a/b\n\n",
		"url=https://u:p@h:1/x%20y\n",
		"wwwauth[]=Basic\nwwwauth[]=\ncapability[]=authtype\nk=v\n",
		"password=a=b\r\nhost=h\r\n",
		"=\n", "x\n", "\n", "a=\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := credhelper.Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := credhelper.Format(&b, c); err != nil {
			t.Fatalf("Format of a parsed credential %#v: %v", c, err)
		}
		again, err := credhelper.Parse(&b)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if !reflect.DeepEqual(norm(c), norm(again)) {
			t.Fatalf("round trip:\n %#v\n %#v", c, again)
		}
	})
}

func norm(c credhelper.GitCredential) credhelper.GitCredential {
	if len(c.WWWAuth) == 0 {
		c.WWWAuth = nil
	}
	if len(c.Capabilities) == 0 {
		c.Capabilities = nil
	}
	if len(c.Extra) == 0 {
		c.Extra = nil
	}
	return c
}
