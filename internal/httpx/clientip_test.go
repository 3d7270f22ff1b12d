package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

func mustPrefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestClientIPWithoutMiddleware(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := ClientIP(req); got != "192.0.2.1" {
		t.Errorf("ClientIP = %q", got)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		want    string
	}{
		{name: "peer", remote: "198.51.100.7:5555", want: "198.51.100.7"},
		{name: "xff ignored without trust", remote: "198.51.100.7:5555", xff: []string{"203.0.113.9"}, want: "198.51.100.7"},
		{name: "xff ignored from an untrusted peer", trusted: []string{"10.0.0.0/8"}, remote: "198.51.100.7:5555", xff: []string{"203.0.113.9"}, want: "198.51.100.7"},
		{name: "trusted proxy", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:5555", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "forged left part skipped", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:5555", xff: []string{"1.1.1.1, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "chain of proxies", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:5555", xff: []string{"203.0.113.9, 10.9.9.9", "10.8.8.8"}, want: "203.0.113.9"},
		{name: "all trusted", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:5555", xff: []string{"10.9.9.9"}, want: "10.9.9.9"},
		{name: "garbage entry", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:5555", xff: []string{"203.0.113.9, nonsense"}, want: "10.1.2.3"},
		{name: "no header from a trusted proxy", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3:5555", want: "10.1.2.3"},
		{name: "ipv6 peer", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "ipv6 proxy, mapped client with port", trusted: []string{"2001:db8::/32"}, remote: "[2001:db8::1]:443", xff: []string{"[::ffff:203.0.113.9]:1234"}, want: "203.0.113.9"},
		{name: "remote without port", remote: "pipe", want: "pipe"},
		{name: "mapped peer inside a v4 prefix", trusted: []string{"10.0.0.0/8"}, remote: "[::ffff:10.1.2.3]:5555", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			var got, audit string
			h := TrustProxies(mustPrefixes(t, tt.trusted...))(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got, audit = ClientIP(r), core.RemoteAddr(r.Context())
			}))
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != tt.want || audit != tt.want {
				t.Errorf("ClientIP = %q, core.RemoteAddr = %q, want %q", got, audit, tt.want)
			}
		})
	}
}
