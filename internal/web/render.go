package web

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
)

// pageCSP is every page's Content-Security-Policy: our own stylesheet and nothing
// else, never framed, forms posting only to us (plus, on a consent page, the
// application's redirect URI: browsers apply form-action to the redirect that
// follows a form's submission).
const pageCSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'%s; base-uri 'none'; object-src 'none'"

// setPageHeaders sets the headers of an HTML page. Every page carries a CSRF token
// and many a secret (a code in a URL, a password on the second sign-in step), so no
// page is stored by any cache.
func setPageHeaders(h http.Header, formActions []string) {
	extra := ""
	for _, src := range formActions {
		if validCSPSource(src) {
			extra += " " + src
		}
	}
	h.Set("Content-Security-Policy", strings.Replace(pageCSP, "%s", extra, 1))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// validCSPSource accepts "scheme:" and "scheme://host[:port]": what CSPSource makes.
// Anything else (a ';' or a quote above all) could rewrite the policy.
func validCSPSource(src string) bool {
	scheme, rest, ok := strings.Cut(src, ":")
	if !ok || scheme == "" {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		if !(('a' <= c && c <= 'z') || ('0' <= c && c <= '9' && i > 0) || ((c == '+' || c == '-' || c == '.') && i > 0)) {
			return false
		}
	}
	if rest == "" {
		return true
	}
	host, ok := strings.CutPrefix(rest, "//")
	if !ok || host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || strings.IndexByte(".-:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// CSPSource returns the CSP source expression of a redirect target: its origin for
// http(s), its scheme for a private-use scheme ("com.example.app:"). It returns ""
// when the URI makes no valid source.
func CSPSource(uri string) string {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok {
		return ""
	}
	src := scheme + ":"
	if scheme == "http" || scheme == "https" {
		host, ok := strings.CutPrefix(rest, "//")
		if !ok {
			return ""
		}
		if i := strings.IndexAny(host, "/?#"); i >= 0 {
			host = host[:i]
		}
		src += "//" + host
	}
	if !validCSPSource(src) {
		return ""
	}
	return src
}

// FormActioner is implemented by page data that posts a form which redirects
// outside the site; Render adds its sources to the page's form-action.
type FormActioner interface {
	FormActions() []string
}

// layoutData is what every template receives: .Page is the page's own data.
type layoutData struct {
	User *core.User
	CSRF string
	Page any
	// Nav is what the layout's navigation offers; Section is the part of the site
	// the page belongs to (the first segment of its path), marked as current.
	Nav     navigation
	Section string
	// Notice is the outcome of the action that redirected here (?done=…), from a
	// fixed list: a query parameter never puts words of its own on a page.
	Notice string
}

// navigation says which groups of console pages exist for this person.
type navigation struct {
	Account, Connections, Apps, Orgs, Admin bool
}

func (s *Site) nav(u *core.User) navigation {
	if u == nil || s.acc == nil {
		return navigation{}
	}
	return navigation{Account: true, Connections: s.up != nil, Apps: s.apps != nil, Orgs: true, Admin: u.SiteAdmin}
}

func section(path string) string {
	path = strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	if path == "external-auth" {
		return "connections"
	}
	return path
}

// Render writes page name (a file templates/<name>.html) with status and data, in
// the layout, with the page security headers. The template gets .Page (data), .User
// (the signed-in person or nil) and .CSRF (the token its forms must carry).
func (s *Site) Render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t, ok := s.pages[name]
	if !ok {
		s.log.ErrorContext(r.Context(), "no such page template", "page", name)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	st := stateFrom(r)
	ld := layoutData{CSRF: st.csrf, Page: data, Section: section(r.URL.Path)}
	if st.signedIn {
		u := st.p.User
		ld.User = &u
	}
	ld.Nav = s.nav(ld.User)
	if status < 300 {
		ld.Notice = notices[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", ld); err != nil {
		s.log.ErrorContext(r.Context(), "rendering a page failed", "page", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	var fa []string
	if f, ok := data.(FormActioner); ok {
		fa = f.FormActions()
	}
	h := w.Header()
	setPageHeaders(h, fa)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// ErrorPage is the data of the error page.
type ErrorPage struct {
	Status  int
	Title   string
	Message string
}

// Error renders the error page with status and a message for people.
func (s *Site) Error(w http.ResponseWriter, r *http.Request, status int, message string) {
	s.Render(w, r, status, "error", ErrorPage{Status: status, Title: http.StatusText(status), Message: message})
}
