package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/web"
)

const (
	password = "correct horse battery"
	totpB32  = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

type fixture struct {
	id   *identity.Service
	site *web.Site
	srv  *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.ParseKeys("k1:"+strings.Repeat("A", 43)+"=", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{id: identity.New(st, keys, identity.Options{MaxLoginFailures: 3})}
	if f.site, err = web.New(web.Options{Identity: f.id, ExternalURL: "http://vcsauth.test"}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.site.Register(mux)
	// A page of another package, with the shared machinery.
	mux.Handle("GET /probe", f.site.Pages(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.site.RequireSession(w, r); ok {
			f.site.Render(w, r, http.StatusOK, "home", web.HomePage{})
		}
	})))
	f.srv = httptest.NewServer(httpx.Chain(mux, httpx.SecurityHeaders))
	t.Cleanup(f.srv.Close)
	for _, u := range []identity.NewUser{{Username: "alice", Password: password}, {Username: "tom", Password: password, TOTPSecret: totpB32}} {
		if _, err := f.id.CreateUser(context.Background(), identity.System(), u); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

type browser struct {
	t    *testing.T
	srv  *httptest.Server
	c    *http.Client
	last string
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: f.srv, c: &http.Client{Jar: jar, Transport: f.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) *http.Response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.last = string(raw)
	return resp
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func (b *browser) form(action string) url.Values {
	b.t.Helper()
	i := strings.Index(b.last, `action="`+action+`"`)
	if i < 0 {
		b.t.Fatalf("no form posting to %s:\n%s", action, b.last)
	}
	page := b.last[i:]
	page = page[:strings.Index(page, "</form>")]
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Add(m[1], html.UnescapeString(m[2]))
	}
	return v
}

func (b *browser) login(username, pw, next string) *http.Response {
	b.t.Helper()
	path := "/login"
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	if resp := b.do("GET", path, nil); resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	v := b.form("/login")
	v.Set("username", username)
	v.Set("password", pw)
	return b.do("POST", "/login", v)
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("password", func(t *testing.T) {
		t.Parallel()
		b := f.browser(t)
		if resp := b.do("GET", "/probe", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fprobe" {
			t.Fatalf("anonymous page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp := b.login("Alice", password, "/probe")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/probe" {
			t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		c := resp.Header.Get("Set-Cookie")
		for _, want := range []string{"vcsauth_session=vcs_", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=43200"} {
			if !strings.Contains(c, want) {
				t.Errorf("session cookie %q lacks %q", c, want)
			}
		}
		if strings.Contains(c, "Secure") {
			t.Errorf("session cookie on http is Secure: %q", c)
		}
		if resp := b.do("GET", "/probe", nil); resp.StatusCode != http.StatusOK || !strings.Contains(b.last, "alice") {
			t.Fatalf("signed-in page: %d", resp.StatusCode)
		}
		// Signing out ends the session for good, not only the cookie.
		var session string
		u, _ := url.Parse(f.srv.URL)
		for _, ck := range b.c.Jar.Cookies(u) {
			if ck.Name == "vcsauth_session" {
				session = ck.Value
			}
		}
		if resp := b.do("POST", "/logout", b.form("/logout")); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		if _, err := f.id.AuthenticateSession(context.Background(), session); err == nil {
			t.Fatal("session still valid after logout")
		}
		if resp := b.do("GET", "/probe", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("after logout: %d", resp.StatusCode)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		b := f.browser(t)
		if resp := b.login("alice", "wrong password", ""); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b.last, "Wrong username or password") {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
		if resp := b.login("nobody", password, ""); resp.StatusCode != http.StatusUnauthorized || strings.Contains(resp.Header.Get("Set-Cookie"), "session") {
			t.Fatalf("unknown user: %d", resp.StatusCode)
		}
	})

	t.Run("second factor", func(t *testing.T) {
		t.Parallel()
		b := f.browser(t)
		resp := b.login("tom", password, "/probe")
		if resp.StatusCode != http.StatusOK || !strings.Contains(b.last, `name="otp"`) {
			t.Fatalf("password of a TOTP user: %d\n%s", resp.StatusCode, b.last)
		}
		step := b.form("/login")
		if step.Get("username") != "tom" || step.Get("password") != password || step.Get("next") != "/probe" {
			t.Fatalf("second step carries %v", step)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Error("the second step (with the password in it) may be cached")
		}
		wrong := url.Values{}
		for k, v := range step {
			wrong[k] = v
		}
		wrong.Set("otp", "000000")
		if resp := b.do("POST", "/login", wrong); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b.last, `name="otp"`) {
			t.Fatalf("wrong code: %d", resp.StatusCode)
		}
		seed, _ := secret.ParseTOTPSecret(totpB32)
		step.Set("otp", secret.TOTPCode(seed, time.Now()))
		if resp := b.do("POST", "/login", step); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/probe" {
			t.Fatalf("right code: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("next is only ever a local path", func(t *testing.T) {
		t.Parallel()
		for _, next := range []string{"https://evil.example/", "//evil.example/x", `/\evil.example`, "/\tevil", "javascript:alert(1)", "evil", "http:/evil.example"} {
			b := f.browser(t)
			resp := b.login("alice", password, next)
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
				t.Errorf("next=%q: %d %q, want /", next, resp.StatusCode, loc)
			}
		}
	})

	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		b := f.browser(t)
		resp := b.do("GET", "/login", nil)
		h := resp.Header
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
			"X-Content-Type-Options":  "nosniff",
			"Content-Type":            "text/html; charset=utf-8",
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s = %q, want %q", k, h.Get(k), v)
			}
		}
		if c := h.Get("Set-Cookie"); !strings.Contains(c, "vcsauth_csrf=") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
			t.Errorf("pre-session cookie = %q", c)
		}
		if resp := b.do("GET", "/static/vcsauth.css", nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
			t.Errorf("stylesheet: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})

	t.Run("forms need the CSRF token", func(t *testing.T) {
		t.Parallel()
		b := f.browser(t)
		b.do("GET", "/login", nil)
		v := b.form("/login")
		v.Set("csrf_token", "forged")
		v.Set("username", "alice")
		v.Set("password", password)
		if resp := b.do("POST", "/login", v); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("forged login: %d", resp.StatusCode)
		}
	})
}

func TestThrottledLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	for i := 0; i < 2; i++ {
		if resp := b.login("alice", "nope nope nope", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	if resp := b.login("alice", "nope nope nope", ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third failure: %d", resp.StatusCode)
	}
	if resp := b.login("alice", password, ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while throttled: %d", resp.StatusCode)
	}
}

func TestSecureCookies(t *testing.T) {
	t.Parallel()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, _ := secret.ParseKeys("k1:"+strings.Repeat("A", 43)+"=", nil)
	site, err := web.New(web.Options{Identity: identity.New(st, keys, identity.Options{}), ExternalURL: "https://vcsauth.example"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	site.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "https://vcsauth.example/login", nil))
	if c := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(c, "__Host-vcsauth_csrf=") || !strings.Contains(c, "Secure") {
		t.Fatalf("https cookie = %q", c)
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for next, ok := range map[string]bool{
		"/": true, "/oauth/authorize?client_id=x&state=y": true, "/device?user_code=BCDF-GHJK": true,
		"": false, "//evil": false, `/\evil`: false, "https://evil": false, "evil": false, "/a b": false,
		"/\x00": false, `/a\b`: false, "/" + strings.Repeat("a", 5000): false,
	} {
		if _, got := web.SafeNext(next); got != ok {
			t.Errorf("SafeNext(%q) = %v, want %v", next, got, ok)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//evil", `/\evil`, "/%2F%2Fevil", "https://x", "/ok?next=https://x", "/\t/evil"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://vcsauth.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		got, ok := web.SafeNext(next)
		if !ok {
			if got != "/" {
				t.Fatalf("refused %q but returned %q", next, got)
			}
			return
		}
		// Whatever a browser makes of it, it stays on our origin.
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted unparsable %q", got)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme || r.User != nil {
			t.Fatalf("SafeNext(%q) leads to %s", next, r)
		}
		if strings.ContainsAny(got, "\\\t\r\n") || strings.HasPrefix(got, "//") {
			t.Fatalf("accepted %q", got)
		}
	})
}

func TestCSPSource(t *testing.T) {
	t.Parallel()
	for uri, want := range map[string]string{
		"https://app.example/cb?x=1":        "https://app.example",
		"http://127.0.0.1:54321/cb":         "http://127.0.0.1:54321",
		"http://[::1]:8080/cb":              "http://[::1]:8080",
		"com.example.app:/oauth2redirect":   "com.example.app:",
		"https://app.example;script-src *":  "",
		"https://app.example'/cb":           "",
		"no-colon":                          "",
		"HTTPS://app.example/":              "",
		"https://app.example:443/x#y":       "https://app.example:443",
		"https://user@app.example/x":        "",
		"https://app.example,other.example": "",
	} {
		if got := web.CSPSource(uri); got != want {
			t.Errorf("CSPSource(%q) = %q, want %q", uri, got, want)
		}
	}
}
