package httpx

import "net/http"

// APIContentSecurityPolicy is the policy for everything that is not an HTML page: load
// nothing, be framed by no one.
const APIContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"

// SecurityHeaders sets, before the handler runs (so a handler can replace any of them,
// as an HTML page does with its own Content-Security-Policy):
//
//	X-Content-Type-Options: nosniff
//	Referrer-Policy: no-referrer         (a URL with a code or state never leaks onward)
//	Content-Security-Policy: default-src 'none'; frame-ancestors 'none'
//	X-Frame-Options: DENY                (frame-ancestors for older browsers)
//	Cache-Control: no-store              when the request carries credentials
//
// The last rule goes by the credential headers rather than by the outcome of
// authentication, so it holds for a response to a failed login and for handlers that
// resolve the caller by themselves.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assigned, not Set: the names are canonical already and the values are
		// shared, read-only slices (a handler's Set replaces a slice, an Add
		// appends to a full one, which copies), so this costs no allocation.
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Referrer-Policy"] = noReferrer
		h["Content-Security-Policy"] = apiCSP
		h["X-Frame-Options"] = deny
		if carriesCredentials(r) {
			h["Cache-Control"] = noStore
		}
		next.ServeHTTP(w, r)
	})
}

var (
	nosniff    = []string{"nosniff"}
	noReferrer = []string{"no-referrer"}
	apiCSP     = []string{APIContentSecurityPolicy}
	deny       = []string{"DENY"}
	noStore    = []string{"no-store"}
)

func carriesCredentials(r *http.Request) bool {
	if _, ok := PrincipalFrom(r.Context()); ok {
		return true
	}
	for _, name := range credentialHeaders {
		if r.Header.Get(name) != "" {
			return true
		}
	}
	return false
}
