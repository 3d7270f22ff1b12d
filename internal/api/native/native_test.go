package native_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/api/native"
	"github.com/vcsauth/vcsauth/internal/api/native/nativetest"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/store"
)

// noFollow is a client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, rawURL string, c *http.Cookie, h ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestBrowserFlowOverHTTP: connect-path → provider → callback → result, for the
// three owners, over real HTTP with a web session.
func TestBrowserFlowOverHTTP(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t, core.ProviderGitLabHosted)
	s := nativetest.Start(t, nativetest.Options{Now: fake.Now})
	oc := s.Client(t, fake, nil)
	admin := s.SessionCookie(t, s.Admin)
	for _, tc := range []struct {
		name   string
		start  string
		cookie *http.Cookie
		owner  core.OwnerKind
	}{
		{"own", s.URL + "/auth/" + oc.ID, s.SessionCookie(t, s.Alice), core.OwnerUser},
		{"organization (connect-path)", s.URL + s.Engine.ConnectPath(oc), admin, core.OwnerOrg},
		{"project", s.URL + "/auth/" + oc.ID + "?project_id=" + s.Project.ID + "&name=deploy", s.SessionCookie(t, s.Bob), core.OwnerProject},
	} {
		resp, _ := get(t, tc.start, tc.cookie)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), fake.URL+"/oauth/authorize?") {
			t.Fatalf("%s: start: %d %s", tc.name, resp.StatusCode, resp.Header.Get("Location"))
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if q := loc.Query(); q.Get("redirect_uri") != s.URL+"/auth/"+oc.ID+"/callback" || q.Get("code_challenge_method") != "S256" || !strings.HasPrefix(q.Get("state"), "vcst_") {
			t.Errorf("%s: authorize URL %s", tc.name, loc)
		}
		// The browser at the provider, which approves and sends it back.
		resp, _ = get(t, loc.String(), nil)
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), s.URL+"/auth/"+oc.ID+"/callback?") {
			t.Fatalf("%s: provider: %d %s", tc.name, resp.StatusCode, resp.Header.Get("Location"))
		}
		callback := resp.Header.Get("Location")
		resp, body := get(t, callback, tc.cookie)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Connected") || !strings.Contains(body, fake.User().Login) {
			t.Fatalf("%s: callback: %d %s", tc.name, resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: result page CSP %q", tc.name, csp)
		}
		// The same callback again: the state is used.
		resp, body = get(t, callback, tc.cookie)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already used") {
			t.Errorf("%s: replayed callback: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	cs, _, _ := s.Store.ListConnections(t.Context(), storeFilterClient(oc.ID), storePage)
	owners := map[core.OwnerKind]int{}
	for _, c := range cs {
		owners[c.OwnerKind]++
	}
	if owners[core.OwnerUser] != 1 || owners[core.OwnerOrg] != 1 || owners[core.OwnerProject] != 1 {
		t.Errorf("connections made: %v", owners)
	}
	// A member may not connect for the organization.
	if resp, body := get(t, s.URL+s.Engine.ConnectPath(oc), s.SessionCookie(t, s.Bob)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member's connect-path: %d %s", resp.StatusCode, body)
	}
	// Nobody of another organization learns the client exists.
	if resp, _ := get(t, s.URL+"/auth/"+oc.ID, s.SessionCookie(t, s.Outsider)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outsider: %d", resp.StatusCode)
	}
}

// TestCallbackPages: refusals render the error page; a callback without a session
// goes to sign in and comes back; another person's flow is refused and survives.
func TestCallbackPages(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t, core.ProviderGitHub)
	s := nativetest.Start(t, nativetest.Options{Now: fake.Now, Engine: connect.Options{ProviderTimeout: 300 * time.Millisecond}})
	oc := s.Client(t, fake, func(in *connect.ClientInput) { in.Slug = ptr("gh") })
	alice, bob := s.SessionCookie(t, s.Alice), s.SessionCookie(t, s.Bob)
	start := func(origin string) (string, string) {
		u, err := s.Engine.StartBrowser(t.Context(), s.Alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}, Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		return nativetest.Authorize(t, fake, u)
	}
	cb := func(path, state, code string, extra ...string) string {
		v := url.Values{"state": {state}, "code": {code}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return s.URL + path + "?" + v.Encode()
	}
	path := "/auth/" + oc.ID + "/callback"

	state, code := start("")
	// Not signed in: to the sign-in page, which comes back here.
	resp, _ := get(t, cb(path, state, code), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
		t.Fatalf("no session: %d %s", resp.StatusCode, loc)
	}
	// Bob with alice's callback: refused, and not consumed.
	resp, body := get(t, cb(path, state, code), bob)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "someone else") {
		t.Errorf("bob: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, cb(path, state, code), alice); resp.StatusCode != http.StatusOK {
		t.Errorf("alice after bob: %d %s", resp.StatusCode, body)
	}
	forged := "vcst_" + strings.Repeat("A", 38)
	for _, tc := range []struct {
		name   string
		url    string
		status int
		text   string
	}{
		{"forged state", cb(path, forged, "c"), http.StatusBadRequest, "invalid"},
		{"no state", s.URL + path + "?code=x", http.StatusBadRequest, "invalid"},
		{"unknown client", cb("/auth/oc-nope/callback", state, code), http.StatusBadRequest, "invalid"},
		{"denied", func() string { st, _ := start(""); return cb(path, st, "", "error", "access_denied") }(), http.StatusForbidden, "not granted"},
		{"provider hangs", func() string {
			st, c := start("")
			fake.HangNext(1)
			return cb(path, st, c)
		}(), http.StatusBadGateway, "could not complete"},
	} {
		resp, body := get(t, tc.url, alice)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.text) || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	// Coder's flows, and the alias path, answer 307 to the external-auth page.
	state, code = start(connect.OriginCoder)
	resp, _ = get(t, cb("/external-auth/gh/callback", state, code), alice)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/external-auth/gh?redirected=true" {
		t.Errorf("alias: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A ServiceStage flow hands the code back, with nobody signed in.
	u, err := s.Engine.StartBrowser(t.Context(), s.Alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID,
		OwnerKind: core.OwnerProject, ProjectID: s.Project.ID}, Origin: connect.OriginServiceStage, RepoType: "github"})
	if err != nil {
		t.Fatal(err)
	}
	state, code = nativetest.Authorize(t, fake, u)
	resp, body = get(t, cb(path, state, code), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, code) || !strings.Contains(body, state) {
		t.Errorf("hand-back: %d %s", resp.StatusCode, body)
	}
}

// TestCrossSiteStart: a start that another site sent asks for confirmation, which
// posts back with the page's CSRF token.
func TestCrossSiteStart(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t, core.ProviderGitHub)
	s := nativetest.Start(t, nativetest.Options{Now: fake.Now})
	oc := s.Client(t, fake, nil)
	admin := s.SessionCookie(t, s.Admin)
	resp, body := get(t, s.URL+s.Engine.ConnectPath(oc), admin, "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form method="post"`) {
		t.Fatalf("cross-site start: %d %s", resp.StatusCode, body)
	}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatal("no CSRF token in the form")
	}
	form := url.Values{"csrf_token": {csrf[1]}, "organization_id": {oc.OrgID}}
	post := func(f url.Values) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/auth/"+oc.ID, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(admin)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(form); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), fake.URL) {
		t.Errorf("confirmed: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	form.Set("csrf_token", "forged")
	if resp := post(form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged CSRF: %d", resp.StatusCode)
	}
}

func postCredential(t *testing.T, s *nativetest.Server, token, body string, query string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+native.PathCredential+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
	}
	return resp, m
}

func TestCredentialEndpoint(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t, core.ProviderGitLabHosted)
	s := nativetest.Start(t, nativetest.Options{Now: fake.Now})
	oc := s.Client(t, fake, func(in *connect.ClientInput) { in.Slug = ptr("gitlab") })
	tok := s.Token(t, s.Alice, core.ScopeCredentials)
	host := strings.TrimPrefix(fake.HTTPURL(), "http://")
	body := `{"protocol":"http","host":"` + host + `","path":"group/repo.git"}`

	for _, tc := range []struct {
		name   string
		token  string
		body   string
		query  string
		status int
		check  func(m map[string]any) bool
	}{
		{"no token", "", body, "", http.StatusUnauthorized, nil},
		{"bad token", "vcp_" + strings.Repeat("x", 38), body, "", http.StatusUnauthorized, nil},
		{"no scope", s.Token(t, s.Alice, core.ScopeReadAPI), body, "", http.StatusForbidden, nil},
		{"not linked", tok, body, "", http.StatusNotFound, func(m map[string]any) bool {
			return m["link_url"] == s.URL+"/external-auth/gitlab"
		}},
		{"not linked, short wait", tok, body, "?wait=0", http.StatusNotFound, nil},
		{"bad json", tok, `{"host":`, "", http.StatusBadRequest, nil},
		{"ssh", tok, `{"protocol":"ssh","host":"` + host + `"}`, "", http.StatusBadRequest, nil},
		{"bad wait", tok, body, "?wait=soon", http.StatusBadRequest, nil},
		{"unknown host", tok, `{"protocol":"https","host":"elsewhere.example"}`, "", http.StatusNotFound, func(m map[string]any) bool {
			return m["link_url"] == nil
		}},
	} {
		resp, m := postCredential(t, s, tc.token, tc.body, tc.query)
		if resp.StatusCode != tc.status || m["message"] == "" || (tc.check != nil && !tc.check(m)) {
			t.Errorf("%s: %d %v", tc.name, resp.StatusCode, m)
		}
		if resp.Header.Get("Cache-Control") != "no-store" && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: Cache-Control %q", tc.name, resp.Header.Get("Cache-Control"))
		}
	}

	// A waiting request ends with the link, made while it waits.
	type answer struct {
		resp *http.Response
		m    map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		resp, m := postCredential(t, s, tok, strings.Replace(body, "}", `,"wait":30}`, 1), "")
		done <- answer{resp, m}
	}()
	c := s.Link(t, fake, s.Alice, oc)
	a := <-done
	access, _ := s.Tokens(t, c.ID)
	if a.resp.StatusCode != http.StatusOK || a.m["username"] != "oauth2" || a.m["password"] != access {
		t.Fatalf("after linking: %d %v", a.resp.StatusCode, a.m)
	}
	if exp, ok := a.m["password_expiry_utc"].(float64); !ok || int64(exp) <= fake.Now().Unix() {
		t.Errorf("password_expiry_utc %v", a.m["password_expiry_utc"])
	}
	// Basic auth is resolved for this API (the wiring passes it in): a password
	// principal has every scope.
	resp, m := postCredential(t, s, tok, `{"url":"`+fake.HTTPURL()+`/group/repo.git"}`, "")
	if resp.StatusCode != http.StatusOK || m["password"] != access {
		t.Errorf("by url: %d %v", resp.StatusCode, m)
	}
}

// TestCredentialWaitDrains: a long poll answers at once when the server drains.
func TestCredentialWaitDrains(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t, core.ProviderGitHub)
	s := nativetest.Start(t, nativetest.Options{Now: fake.Now})
	s.Client(t, fake, nil)
	tok := s.Token(t, s.Bob, core.ScopeCredentials)
	done := make(chan int, 1)
	go func() {
		resp, _ := postCredential(t, s, tok, `{"url":"`+fake.HTTPURL()+`/o/r"}`, "?wait=60")
		done <- resp.StatusCode
	}()
	// Let the request reach its wait before draining; if it has not, it sees the
	// closed channel at once, which is as good.
	time.Sleep(50 * time.Millisecond)
	close(s.Draining)
	select {
	case status := <-done:
		if status != http.StatusNotFound {
			t.Errorf("drained wait: %d", status)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll did not end when the server drained")
	}
}

func ptr[T any](v T) *T { return &v }

var storePage = store.Page{}

func storeFilterClient(id string) store.ConnectionFilter {
	return store.ConnectionFilter{OAuthClientID: id}
}
