package akskauth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/akskauth"
)

func TestCanonicalRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, target string
		headers              map[string]string
		signed               []string
		want                 string
	}{
		{
			name: "root path gets its slash", method: "GET", target: "http://h.test",
			headers: map[string]string{"X-Sdk-Date": "20060102T150405Z"}, signed: []string{"x-sdk-date"},
			want: "GET\n/\n\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\nPAYLOAD",
		},
		{
			name: "trailing slash added once", method: "GET", target: "http://h.test/v1/prj-1/git/auths",
			signed: []string{"x-sdk-date"},
			want:   "GET\n/v1/prj-1/git/auths/\n\n\nx-sdk-date\nPAYLOAD",
		},
		{
			name: "trailing slash kept", method: "DELETE", target: "http://h.test/v1/prj-1/git/auths/",
			signed: []string{"x-sdk-date"},
			want:   "DELETE\n/v1/prj-1/git/auths/\n\n\nx-sdk-date\nPAYLOAD",
		},
		{
			name: "segments escaped like the SDK", method: "DELETE", target: "http://h.test/v1/p/a%20b~c.d_e-f%2Fg%21",
			signed: []string{"x-sdk-date"},
			want:   "DELETE\n/v1/p/a%20b~c.d_e-f%2Fg%21/\n\n\nx-sdk-date\nPAYLOAD",
		},
		{
			name: "query sorted by name then value, re-escaped", method: "GET", target: "http://h.test/p?b=2&a=z&a=y&c&d=%2B+x&%C3%A9=1",
			signed: []string{"x-sdk-date"},
			want:   "GET\n/p/\na=y&a=z&b=2&c=&d=%2B%20x&%C3%A9=1\n\nx-sdk-date\nPAYLOAD",
		},
		{
			name: "headers trimmed, repeated values sorted, absent ones skipped, host from the request", method: "GET", target: "http://h.test:8080/p",
			headers: map[string]string{"X-A": "  two ", "X-Sdk-Date": "20060102T150405Z"},
			signed:  []string{"host", "x-a", "x-missing", "x-sdk-date"},
			want:    "GET\n/p/\n\nhost:h.test:8080\nx-a:two\nx-sdk-date:20060102T150405Z\n\nhost;x-a;x-missing;x-sdk-date\nPAYLOAD",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, tc.target, nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			got, err := akskauth.CanonicalRequest(r, tc.signed, "PAYLOAD")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("canonical request\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestCanonicalRequestRepeatedHeader(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "http://h.test/", nil)
	r.Header.Add("X-A", "b")
	r.Header.Add("X-A", "a")
	got, err := akskauth.CanonicalRequest(r, []string{"x-a"}, "P")
	if err != nil {
		t.Fatal(err)
	}
	if want := "GET\n/\n\nx-a:a\nx-a:b\n\nx-a\nP"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// The SDK's own expectation for its canonical query string (signer_test.go,
// TestSigner_canonicalQueryString), from the query as the SDK puts it on the wire.
func TestCanonicalQueryAsTheSDK(t *testing.T) {
	t.Parallel()
	q := url.Values{}
	q.Add("limit", "1")
	q.Add("enable", "true")
	q.Add("test", "一 (&=?!#%.*)")
	q.Add("path", "/tmp/123")
	for _, v := range []string{"1", "2", "3"} {
		q.Add("multi", v)
	}
	wire := strings.ReplaceAll(q.Encode(), "+", "%20") // what the SDK's fillQueryParams sends
	r := httptest.NewRequest("GET", "http://h.test/?"+wire, nil)
	got, err := akskauth.CanonicalRequest(r, []string{"x"}, "P")
	if err != nil {
		t.Fatal(err)
	}
	want := "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
	if line := strings.Split(got, "\n")[2]; line != want {
		t.Fatalf("query line\n got %q\nwant %q", line, want)
	}
}

func TestCanonicalRequestUndecodable(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "http://h.test/", nil)
	r.URL.RawQuery = "a=%zz"
	if _, err := akskauth.CanonicalRequest(r, []string{"x"}, "P"); err == nil {
		t.Fatal("an undecodable query was accepted")
	}
}

// FuzzSignVerify: for any path, query, header value and body that make a request,
// canonicalization does not panic, and what Sign signs, Verify accepts — and no
// longer accepts once the query changes.
func FuzzSignVerify(f *testing.F) {
	f.Add("/v1/prj-1/git/auths", "tag=intl", " value ", []byte(`{"name":"a"}`))
	f.Add("/a%20b/c%2Fd/", "a=1&a=0&b&c=%2B+x", "", []byte{})
	f.Add("/", "%zz", "x", []byte("body"))
	f.Fuzz(func(t *testing.T, path, query, header string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		u, err := url.Parse("http://vcsauth.test" + path)
		if err != nil || u.RawQuery != "" || u.Fragment != "" {
			return
		}
		u.RawQuery = query
		r, err := http.NewRequest("POST", u.String(), bytes.NewReader(body))
		if err != nil || strings.ContainsAny(header, "\r\n\x00") {
			return
		}
		r.Header.Set("X-Custom", header)
		if _, err := akskauth.CanonicalRequest(r, []string{"x-custom"}, "P"); err != nil {
			return // an undecodable path or query; refused, not signed
		}
		if err := akskauth.Sign(r, body, "AK1", "SK1", sdkDate); err != nil {
			t.Fatal(err)
		}
		k := newKeys(t, "AK1", "SK1")
		v, err := akskauth.New(akskauth.Options{Keys: k, Keyring: keyring, Users: k, Now: func() time.Time { return sdkDate }, MaxBody: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := v.Verify(r.Clone(context.Background())); !ok || err != nil {
			t.Fatalf("own signature refused: %v (path %q query %q)", err, u.EscapedPath(), u.RawQuery)
		}
		r2 := r.Clone(context.Background())
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.URL.RawQuery += "&extra=1"
		if _, _, err := v.Verify(r2); !errors.Is(err, akskauth.ErrBadSignature) {
			t.Fatalf("changed query accepted: %v", err)
		}
	})
}
