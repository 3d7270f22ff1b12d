package oauthhttp

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/authserver"
)

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func TestParseClientAuth(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		header   []string
		form     url.Values
		id, sec  string
		basic    bool
		wantCode string
	}{
		"basic":                   {header: []string{basic("app", "s3cret")}, id: "app", sec: "s3cret", basic: true},
		"basic form-encoded":      {header: []string{basic("a:b", "p%s+")}, id: "a:b", sec: "p%s+", basic: true},
		"basic scheme any case":   {header: []string{"bAsIc " + base64.StdEncoding.EncodeToString([]byte("app:s"))}, id: "app", sec: "s", basic: true},
		"basic public, empty pw":  {header: []string{basic("app", "")}, form: url.Values{"client_id": {"app"}}, id: "app", basic: true},
		"post":                    {form: url.Values{"client_id": {"app"}, "client_secret": {"s"}}, id: "app", sec: "s"},
		"public":                  {form: url.Values{"client_id": {"app"}}, id: "app"},
		"bearer header ignored":   {header: []string{"Bearer vco_x"}, form: url.Values{"client_id": {"app"}}, id: "app"},
		"nothing":                 {wantCode: "invalid_client"},
		"secret without id":       {form: url.Values{"client_secret": {"s"}}, wantCode: "invalid_client"},
		"basic not base64":        {header: []string{"Basic !!!"}, basic: true, wantCode: "invalid_client"},
		"basic without colon":     {header: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("app"))}, basic: true, wantCode: "invalid_client"},
		"basic bad escape":        {header: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("a%zz:b"))}, basic: true, wantCode: "invalid_client"},
		"basic and body secret":   {header: []string{basic("app", "s")}, form: url.Values{"client_secret": {"s"}}, basic: true, wantCode: "invalid_request"},
		"basic and other body id": {header: []string{basic("app", "s")}, form: url.Values{"client_id": {"other"}}, basic: true, wantCode: "invalid_request"},
		"two basic headers":       {header: []string{basic("app", "s"), basic("app", "s")}, basic: true, wantCode: "invalid_request"},
		"repeated client_id":      {form: url.Values{"client_id": {"a", "a"}}, wantCode: "invalid_request"},
		"control character in id": {form: url.Values{"client_id": {"a\x00"}}, wantCode: "invalid_client"},
		"over-long secret":        {form: url.Values{"client_id": {"a"}, "client_secret": {strings.Repeat("s", 600)}}, wantCode: "invalid_client"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := parseClientAuth(tc.header, tc.form)
			if c.Basic != tc.basic {
				t.Errorf("Basic = %v, want %v", c.Basic, tc.basic)
			}
			if tc.wantCode != "" {
				var oe *authserver.Error
				if !errors.As(err, &oe) || oe.Code != tc.wantCode {
					t.Fatalf("err = %v, want %s", err, tc.wantCode)
				}
				return
			}
			if err != nil || c.ClientID != tc.id || c.Secret != tc.sec {
				t.Fatalf("got %+v, %v; want %q %q", c, err, tc.id, tc.sec)
			}
		})
	}
}

// FuzzParseClientAuth: the parser never panics, fails only with the two codes a
// client can cause, and accepts nothing it should not.
func FuzzParseClientAuth(f *testing.F) {
	f.Add(basic("app", "s3cret"), "client_id=app")
	f.Add("Basic YXBwOg==", "client_id=app&grant_type=x")
	f.Add("", "client_id=app&client_secret=s")
	f.Add("Basic !!", "")
	f.Add("Bearer x", "client_id=%00")
	f.Fuzz(func(t *testing.T, header, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		var hs []string
		if header != "" {
			hs = []string{header}
		}
		c, err := parseClientAuth(hs, form)
		if err != nil {
			var oe *authserver.Error
			if !errors.As(err, &oe) || (oe.Code != authserver.ErrInvalidClient && oe.Code != authserver.ErrInvalidRequest) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if c.ClientID == "" || len(c.ClientID) > maxClientIDLen || len(c.Secret) > maxClientSecretLen || !printable(c.ClientID) || !printable(c.Secret) {
			t.Fatalf("accepted %+v", c)
		}
		if !c.Basic {
			if form.Get("client_id") != c.ClientID || form.Get("client_secret") != c.Secret {
				t.Fatalf("credentials %+v do not come from the body %v", c, form)
			}
		} else if form.Has("client_secret") {
			t.Fatalf("two authentication methods accepted: %q %q", header, body)
		}
	})
}
