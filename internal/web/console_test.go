package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/web"
	"github.com/vcsauth/vcsauth/internal/web/webtest"
)

// fill makes a concrete path of a pattern ("POST /orgs/{org}/projects/{id}").
func fill(pattern string, vals map[string]string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}")
	for k, v := range vals {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return method, path
}

func params(e *webtest.Env, oc core.OAuthClient) map[string]string {
	return map[string]string{"org": e.Org.Name, "id": e.Project.ID, "oc": oc.ID, "username": "bob"}
}

// Every form refuses a POST without a valid CSRF token: missing, forged, one of
// another session, or sent twice. Pages checks it before any handler runs, so the
// table is every POST route the site registers.
func TestEveryPostNeedsCSRF(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	oc := e.AddClient("GitHub")
	root := e.NewClient(t)
	root.SignIn(e.Root)
	root.Get("/tokens")
	mine := root.CSRF()
	other := e.NewClient(t)
	other.SignIn(e.Bob)
	other.Get("/tokens")
	theirs := other.CSRF()
	anon := e.NewClient(t)
	anon.Get("/login")

	var posts int
	for _, pat := range e.Site.Patterns() {
		method, path := fill(pat, params(e, oc))
		if method != http.MethodPost {
			continue
		}
		posts++
		for name, tc := range map[string]struct {
			c    *webtest.Client
			form url.Values
		}{
			"missing":         {root, url.Values{"name": {"x"}}},
			"forged":          {root, url.Values{"csrf_token": {"forged"}, "name": {"x"}}},
			"another session": {root, url.Values{"csrf_token": {theirs}, "name": {"x"}}},
			"twice":           {root, url.Values{"csrf_token": {mine, mine}, "name": {"x"}}},
			"anonymous":       {anon, url.Values{"csrf_token": {mine}, "name": {"x"}}},
		} {
			if resp := tc.c.Do(method, path, tc.form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s, token %s: %d, want 403", method, path, name, resp.StatusCode)
			}
		}
	}
	if posts < 25 {
		t.Fatalf("only %d POST routes: is the console registered?", posts)
	}
	// Nothing happened: the project, the client and the tokens are as they were.
	if _, _, err := e.Identity.Project(context.Background(), webtest.Principal(e.Root), e.Project.ID); err != nil {
		t.Errorf("project: %v", err)
	}
	if _, err := e.Connect.Client(context.Background(), webtest.Principal(e.Root), oc.ID); err != nil {
		t.Errorf("client: %v", err)
	}
}

// A member who is not an admin gets "not found" for every admin page, whatever
// the method, and so does an org admin for the site admin pages.
func TestAdminPagesAreNotFound(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	oc := e.AddClient("GitHub")
	bob := e.NewClient(t)
	bob.SignIn(e.Bob)
	bob.Get("/tokens")
	token := bob.CSRF()
	check := func(c *webtest.Client, who string, patterns []string) {
		t.Helper()
		for _, pat := range patterns {
			method, path := fill(pat, params(e, oc))
			var form url.Values
			if method == http.MethodPost {
				form = url.Values{"csrf_token": {token}, "name": {"x"}, "username": {"bob"}, "role": {"owner"}}
			}
			if resp := c.Do(method, path, form); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %s %s = %d, want 404", who, method, path, resp.StatusCode)
			}
		}
	}
	check(bob, "member", e.Site.AdminPatterns("org"))
	check(bob, "member", e.Site.AdminPatterns("site"))
	// An organization nobody is in is not found, not forbidden, to anyone but site admins.
	if resp := bob.Get("/orgs/nosuch/projects"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown organization: %d", resp.StatusCode)
	}
	// Bob's role did not change through any of it.
	if role, _ := e.Identity.Role(context.Background(), e.Org.ID, e.Bob.ID); role != core.RoleMember {
		t.Errorf("bob is %q now", role)
	}

	alice := e.NewClient(t)
	alice.SignIn(e.Alice)
	alice.Get("/tokens")
	token = alice.CSRF()
	check(alice, "org admin", e.Site.AdminPatterns("site"))
	for _, p := range []string{"/orgs/acme/projects", "/orgs/acme/members", "/orgs/acme/clients", "/orgs/acme/audit", "/orgs/acme/clients/" + oc.ID} {
		if resp := alice.Get(p); resp.StatusCode != http.StatusOK {
			t.Errorf("org admin: GET %s = %d", p, resp.StatusCode)
		}
	}

	anon := e.NewClient(t)
	for _, pat := range e.Site.AdminPatterns("site") {
		if method, path := fill(pat, params(e, oc)); method == http.MethodGet {
			if resp := anon.Get(path); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Errorf("anonymous: GET %s = %d %q", path, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	}
}

// Every page renders for a site admin, with the page security headers.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	oc := e.AddClient("GitHub")
	root := e.NewClient(t)
	root.SignIn(e.Root)
	skip := map[string]bool{"GET /tokens/created": true, "GET /admin/applications/created": true, "GET /login": true}
	for _, pat := range e.Site.Patterns() {
		method, path := fill(pat, params(e, oc))
		if method != http.MethodGet || skip[pat] {
			continue
		}
		if pat == "GET /external-auth/{id}" {
			path = "/external-auth/" + oc.ID
		}
		resp := root.Get(path)
		if resp.StatusCode == http.StatusSeeOther {
			resp = root.Get(resp.Header.Get("Location"))
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, resp.StatusCode, root.Last)
			continue
		}
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", path, h)
		}
		if !strings.Contains(root.Last, `<main id="main"`) || !strings.Contains(root.Last, "<h1") {
			t.Errorf("GET %s: no main landmark or heading", path)
		}
	}
}

var tokenRE = regexp.MustCompile(`vcp_[A-Za-z0-9]{38}`)

// A personal token is shown once: on the page the creation redirects to, and
// never again — not on a reload, not to another session, not in the list.
func TestTokenShownOnce(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	c := e.NewClient(t)
	c.SignIn(e.Bob)
	resp := c.Post("/tokens", "/tokens", url.Values{"note": {"laptop"}, "scopes": {"read_api", "credentials"}, "expiry": {"30"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/tokens/created" {
		t.Fatalf("create: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), c.Last)
	}
	if tokenRE.MatchString(c.Last) || strings.Contains(resp.Header.Get("Set-Cookie"), "vcp_") {
		t.Fatal("the token is in the creation response")
	}
	// Another session that got hold of the cookie cannot open it.
	thief := e.NewClient(t)
	thief.SignIn(e.Root)
	u, _ := url.Parse(e.URL + "/tokens/created")
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == "vcsauth_once" {
			thief.HTTP.Jar.SetCookies(u, []*http.Cookie{ck})
		}
	}
	if thief.Get("/tokens/created"); tokenRE.MatchString(thief.Last) {
		t.Fatal("another session saw the token")
	}

	resp = c.Get("/tokens/created")
	text := tokenRE.FindString(c.Last)
	if resp.StatusCode != http.StatusOK || text == "" {
		t.Fatalf("created page: %d\n%s", resp.StatusCode, c.Last)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("secret page headers: %v", resp.Header)
	}
	if p, err := e.Identity.AuthenticateToken(context.Background(), text); err != nil || p.User.ID != e.Bob.ID {
		t.Fatalf("the token shown does not work: %v", err)
	}
	// Reload: gone.
	if resp := c.Get("/tokens/created"); resp.StatusCode != http.StatusOK || tokenRE.MatchString(c.Last) || !strings.Contains(c.Last, "shown once already") {
		t.Fatalf("reload shows: %d\n%s", resp.StatusCode, c.Last)
	}
	c.Get("/tokens")
	if strings.Contains(c.Last, text) || !strings.Contains(c.Last, secret.LastEight(text)) || !strings.Contains(c.Last, "laptop") {
		t.Fatal("the list shows the token, or does not list it")
	}
	// Revoke it.
	m := regexp.MustCompile(`action="/tokens/(\d+)/revoke"`).FindStringSubmatch(c.Last)
	if m == nil {
		t.Fatal("no revoke form")
	}
	if resp := c.Post("/tokens", "/tokens/"+m[1]+"/revoke", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, err := e.Identity.AuthenticateToken(context.Background(), text); err == nil {
		t.Fatal("revoked token still works")
	}
	// Mistakes are shown next to the form, and nothing is created.
	if resp := c.Post("/tokens", "/tokens", url.Values{"note": {"x"}, "expiry": {"30"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(c.Last, "at least one scope") {
		t.Fatalf("no scopes: %d", resp.StatusCode)
	}
}

// An application's secret is shown once at registration and once per renewal.
func TestApplicationSecretShownOnce(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	c := e.NewClient(t)
	c.SignIn(e.Root)
	resp := c.Post("/admin/applications", "/admin/applications", url.Values{"name": {"CI"}, "redirect_uris": {"https://ci.example/cb"},
		"scopes": {"read_api"}, "confidential": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", resp.StatusCode, c.Last)
	}
	c.Get(resp.Header.Get("Location"))
	first := regexp.MustCompile(`id="secret-value" readonly value="([^"]+)"`).FindStringSubmatch(c.Last)
	if first == nil {
		t.Fatalf("no secret on the page:\n%s", c.Last)
	}
	c.Get("/admin/applications/created")
	if strings.Contains(c.Last, first[1]) || !strings.Contains(c.Last, "shown once already") {
		t.Fatal("the secret was shown twice")
	}
	c.Get("/admin/applications")
	if strings.Contains(c.Last, first[1]) {
		t.Fatal("the list shows the secret")
	}
	apps, _, err := e.Auth.ListApplications(context.Background(), webtest.Principal(e.Root), pageAll)
	if err != nil {
		t.Fatal(err)
	}
	var app core.Application
	for _, a := range apps {
		if a.Name == "CI" {
			app = a
		}
	}
	if _, err := e.Auth.AuthenticateClient(context.Background(), authserver.ClientCredentials{ClientID: app.ClientID, Secret: first[1]}); err != nil {
		t.Fatalf("the secret shown does not authenticate: %v", err)
	}
	resp = c.Post("/admin/applications", "/admin/applications/"+itoa(app.ID)+"/secret", nil)
	c.Get(resp.Header.Get("Location"))
	second := regexp.MustCompile(`id="secret-value" readonly value="([^"]+)"`).FindStringSubmatch(c.Last)
	if second == nil || second[1] == first[1] {
		t.Fatalf("renewal: %v", second)
	}
	if _, err := e.Auth.AuthenticateClient(context.Background(), authserver.ClientCredentials{ClientID: app.ClientID, Secret: first[1]}); err == nil {
		t.Fatal("the old secret still works")
	}
	c.Get("/admin/applications/created")
	if strings.Contains(c.Last, second[1]) {
		t.Fatal("the renewed secret was shown twice")
	}
}

// Changing the password ends every session of the person, this one included.
func TestPasswordChangeEndsSessions(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	a, b := e.NewClient(t), e.NewClient(t)
	a.SignIn(e.Bob)
	b.SignIn(e.Bob)
	if resp := a.Post("/account", "/account/password", url.Values{"current_password": {"wrong wrong wrong"},
		"new_password": {"a new long password"}, "confirm_password": {"a new long password"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("wrong current password: %d", resp.StatusCode)
	}
	resp := a.Post("/account", "/account/password", url.Values{"current_password": {webtest.Password},
		"new_password": {"a new long password"}, "confirm_password": {"a new long password"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("change: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for name, c := range map[string]*webtest.Client{"this session": a, "another session": b} {
		if resp := c.Get("/tokens"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s still works: %d", name, resp.StatusCode)
		}
	}
	if _, _, err := e.Identity.SignIn(context.Background(), "bob", "a new long password", ""); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}

// Enrolling a second factor takes a code from the seed shown; removing it takes
// the password.
func TestTOTPEnrollAndRemove(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	c := e.NewClient(t)
	c.SignIn(e.Bob)
	c.Get("/account/totp")
	m := regexp.MustCompile(`id="totp-key" readonly value="([A-Z2-7]+)"`).FindStringSubmatch(c.Last)
	if m == nil || !strings.Contains(c.Last, "otpauth://totp/") {
		t.Fatalf("no setup key:\n%s", c.Last)
	}
	seed, err := secret.ParseTOTPSecret(m[1])
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"csrf_token": {c.CSRF()}, "totp_secret": {m[1]}, "otp": {"000000"}}
	if resp := c.Do("POST", "/account/totp", form); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(c.Last, m[1]) {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	form.Set("otp", secret.TOTPCode(seed, time.Now()))
	if resp := c.Do("POST", "/account/totp", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enroll: %d\n%s", resp.StatusCode, c.Last)
	}
	if u, _ := e.Identity.User(context.Background(), e.Bob.ID); !u.HasTOTP() {
		t.Fatal("not enrolled")
	}
	// The seed is not shown again.
	if c.Get("/account/totp"); strings.Contains(c.Last, m[1]) {
		t.Fatal("the seed is shown after enrolment")
	}
	if resp := c.Post("/account/totp", "/account/totp/remove", url.Values{"password": {"nope nope nope"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("remove with a wrong password: %d", resp.StatusCode)
	}
	if resp := c.Post("/account/totp", "/account/totp/remove", url.Values{"password": {webtest.Password}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	if u, _ := e.Identity.User(context.Background(), e.Bob.ID); u.HasTOTP() {
		t.Fatal("still enrolled")
	}
}

// Lists paginate: more rows than a page holds are reachable page by page.
func TestPagination(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	ctx := context.Background()
	for i := range 120 {
		if _, _, err := e.Identity.CreatePersonalToken(ctx, identity.System(), e.Bob.ID, identity.NewToken{Note: "seeded " + itoa(int64(i)), Scopes: []string{core.ScopeReadAPI}}); err != nil {
			t.Fatal(err)
		}
	}
	c := e.NewClient(t)
	c.SignIn(e.Bob)
	rows := regexp.MustCompile(`action="/tokens/\d+/revoke"`)
	for page, want := range map[string]int{"": 50, "?page=2": 50, "?page=3": 20, "?page=99": 0, "?page=-1": 50, "?page=x": 50} {
		c.Get("/tokens" + page)
		if got := len(rows.FindAllString(c.Last, -1)); got != want {
			t.Errorf("/tokens%s: %d rows, want %d", page, got, want)
		}
	}
	c.Get("/tokens?page=2")
	if !strings.Contains(c.Last, "51–100 of 120") || !strings.Contains(c.Last, `href="/tokens?page=3"`) || !strings.Contains(c.Last, `href="/tokens"`) {
		t.Errorf("pager of page 2:\n%s", c.Last)
	}
	// The audit log keeps its filters from page to page.
	root := e.NewClient(t)
	root.SignIn(e.Root)
	root.Get("/admin/audit?action=token")
	if !strings.Contains(root.Last, "1–50 of 120") || !strings.Contains(root.Last, `href="/admin/audit?action=token&amp;page=2"`) {
		t.Errorf("filtered audit log:\n%s", root.Last)
	}
	root.Get("/admin/audit?actor=bob")
	if strings.Contains(root.Last, "<code>token.create</code>") {
		t.Error("the actor filter kept the system's events")
	}
	if resp := root.Get("/admin/audit?since=yesterday"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad time: %d", resp.StatusCode)
	}
}

// Organization admin pages change what they show.
func TestOrgAdmin(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	root := e.NewClient(t) // the owner
	root.SignIn(e.Root)
	if resp := root.Post("/orgs/acme/projects", "/orgs/acme/projects", url.Values{"name": {"api"}, "description": {"the API"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create project: %d\n%s", resp.StatusCode, root.Last)
	}
	if resp := root.Post("/orgs/acme/projects", "/orgs/acme/projects", url.Values{"name": {"api"}}); resp.StatusCode == http.StatusSeeOther || !strings.Contains(root.Last, `class="error"`) {
		t.Fatalf("duplicate project: %d", resp.StatusCode)
	}
	if resp := root.Post("/orgs/acme/projects", "/orgs/acme/projects/"+e.Project.ID, url.Values{"name": {"www"}, "description": {"renamed"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d\n%s", resp.StatusCode, root.Last)
	}
	if prj, _, _ := e.Identity.Project(context.Background(), identity.System(), e.Project.ID); prj.Name != "www" {
		t.Fatalf("renamed to %q", prj.Name)
	}
	if resp := root.Post("/orgs/acme/members", "/orgs/acme/members", url.Values{"username": {"bob"}, "role": {"admin"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("role: %d\n%s", resp.StatusCode, root.Last)
	}
	if role, _ := e.Identity.Role(context.Background(), e.Org.ID, e.Bob.ID); role != core.RoleAdmin {
		t.Fatalf("bob is %q", role)
	}
	// An admin who is not an owner sees members but cannot change them.
	alice := e.NewClient(t)
	alice.SignIn(e.Alice)
	if resp := alice.Post("/orgs/acme/members", "/orgs/acme/members/bob/remove", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("admin removes a member: %d", resp.StatusCode)
	}
	if resp := root.Post("/orgs/acme/members", "/orgs/acme/members/bob/remove", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner removes a member: %d", resp.StatusCode)
	}
	if resp := root.Post("/orgs/acme/projects", "/orgs/acme/projects/"+e.Project.ID+"/delete", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete project: %d", resp.StatusCode)
	}
	root.Get("/orgs/acme/audit?action=project")
	for _, want := range []string{"project.create", "project.delete"} {
		if !strings.Contains(root.Last, want) {
			t.Errorf("org audit log lacks %s", want)
		}
	}
}

var pageAll = store.Page{}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// The upstream flow pages other packages render have the site's look.
func TestFlowPages(t *testing.T) {
	t.Parallel()
	e := webtest.New(t)
	for name, tc := range map[string]struct {
		data any
		want string
	}{
		"connected":     {web.ConnectedPage{Provider: "GitHub", Login: "octo", Owner: "organization"}, "connected at GitHub as <strong>octo</strong>, for the organization"},
		"handback":      {web.HandBackPage{Code: "the-code", State: "the-state"}, `value="the-code"`},
		"confirm_start": {web.ConfirmStartPage{Action: "/auth/oc-x", Fields: []web.HiddenField{{Name: "return_to", Value: "/x"}}}, `<input type="hidden" name="return_to" value="/x">`},
	} {
		rec := httptest.NewRecorder()
		e.Site.Pages(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.Site.Render(w, r, http.StatusOK, name, tc.data)
		})).ServeHTTP(rec, httptest.NewRequest("GET", e.URL+"/auth/oc-x/callback", nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.want) || !strings.Contains(rec.Body.String(), "/static/vcsauth.css") {
			t.Errorf("%s: %d\n%s", name, rec.Code, rec.Body)
		}
	}
}
