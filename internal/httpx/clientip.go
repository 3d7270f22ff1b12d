package httpx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
)

// TrustProxies works out the client's address once per request and records it for
// ClientIP and for core.RemoteAddr (which audit events read). It believes
// X-Forwarded-For only as far as trusted proxies vouch for it: when the peer
// (RemoteAddr) is inside one of trusted, the header's addresses are read from the
// right, skipping trusted ones, and the first untrusted address is the client. With an
// empty list the client is the peer: anyone can write X-Forwarded-For, and login
// throttling keyed on a forged address would be no throttling at all.
func TrustProxies(trusted []netip.Prefix) Middleware {
	trusted = append([]netip.Prefix(nil), trusted...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := clientIPFrom(r, trusted)
			// One copy of the request for the state and core's address: this is
			// the outermost layer, so the state is usually made here.
			ctx := r.Context()
			st := stateFrom(ctx)
			if st == nil {
				st = &state{}
				ctx = context.WithValue(ctx, stateKey{}, st)
			}
			st.clientIP = ip
			next.ServeHTTP(w, r.WithContext(core.WithRemoteAddr(ctx, ip)))
		})
	}
}

// ClientIP returns the address of the client: the one TrustProxies worked out, or the
// host part of r.RemoteAddr.
func ClientIP(r *http.Request) string {
	if st := stateFrom(r.Context()); st != nil && st.clientIP != "" {
		return st.clientIP
	}
	return peerHost(r.RemoteAddr)
}

func peerHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

func clientIPFrom(r *http.Request, trusted []netip.Prefix) string {
	peer := peerHost(r.RemoteAddr)
	if len(trusted) == 0 {
		return peer
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !isTrusted(addr, trusted) {
		return peer
	}
	addr = addr.Unmap()
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := addr
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			// A garbled entry: whatever lies left of it is not trustworthy either.
			return client.String()
		}
		client = hop
		if !isTrusted(hop, trusted) {
			return hop.String()
		}
	}
	return client.String()
}

func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
