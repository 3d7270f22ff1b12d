package apptest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Browser is a person's browser without JavaScript: a cookie jar, and no automatic
// redirects, so that each step can be checked.
type Browser struct {
	T    testing.TB
	Base string // where paths are sent: the server's address
	HTTP *http.Client
	// Last is the body of the last response.
	Last string
}

// Browser returns a browser without a session.
func (s *Server) Browser(t testing.TB) *Browser { return NewBrowser(t, s.URL) }

// NewBrowser returns a browser without a session that sends paths to base.
func NewBrowser(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{T: t, Base: base, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Do sends a request to target (a path on Base, or an absolute URL); form, when
// not nil, is posted url-encoded.
func (b *Browser) Do(method, target string, form url.Values) *http.Response {
	b.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if strings.HasPrefix(target, "/") {
		target = b.Base + target
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.T.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		b.T.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.Last = string(raw)
	return resp
}

// Get is Do("GET", target, nil).
func (b *Browser) Get(target string) *http.Response {
	b.T.Helper()
	return b.Do(http.MethodGet, target, nil)
}

// PostForm posts form to target.
func (b *Browser) PostForm(target string, form url.Values) *http.Response {
	b.T.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.Do(http.MethodPost, target, form)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// CSRF is the CSRF token in the last page.
func (b *Browser) CSRF() string {
	b.T.Helper()
	m := csrfRE.FindStringSubmatch(b.Last)
	if m == nil {
		b.T.Fatalf("no CSRF token in the page:\n%s", b.Last)
	}
	return m[1]
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// Hidden returns the hidden fields of the last page's form that posts to action.
func (b *Browser) Hidden(action string) url.Values {
	b.T.Helper()
	i := strings.Index(b.Last, `action="`+action+`"`)
	if i < 0 {
		b.T.Fatalf("no form posting to %s in page:\n%s", action, b.Last)
	}
	form := b.Last[i:]
	form = form[:strings.Index(form, "</form>")]
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(form, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}
