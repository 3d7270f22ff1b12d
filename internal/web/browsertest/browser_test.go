package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/web/webtest"
)

// chromium finds the browser, or skips (or fails, under VCSAUTH_TEST_BROWSER) the
// test with the reason.
func chromium(t *testing.T) string {
	t.Helper()
	required := os.Getenv("VCSAUTH_TEST_BROWSER")
	mustRun := required != "" && required != "0" && required != "false"
	// A browser named in VCSAUTH_TEST_CHROMIUM is the only one tried.
	candidates := []string{"chromium", "chromium-browser", "/usr/bin/chromium"}
	if named := os.Getenv("VCSAUTH_TEST_CHROMIUM"); named != "" {
		candidates = []string{named}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "browser tests need chromium (Debian package \"chromium\"), which is not installed (looked for " + strings.Join(candidates, ", ") + ")"
	if mustRun {
		t.Fatalf("%s, and VCSAUTH_TEST_BROWSER=%s says they must run", msg, required)
	}
	t.Skip(msg + "; install it, or set VCSAUTH_TEST_BROWSER=1 to make this a failure (CI does)")
	return ""
}

// screenshotDir is where the screenshots go: $VCSAUTH_TEST_OUTPUT/screenshots,
// or testout/screenshots at the module root.
func screenshotDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("VCSAUTH_TEST_OUTPUT")
	if base == "" {
		dir, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				t.Fatal("no go.mod above the test's directory")
			}
			dir = parent
		}
		base = filepath.Join(dir, "testout")
	}
	dir := filepath.Join(base, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Only this run's pictures: an old one would pass for the page as it is now.
	old, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	return dir
}

// browser is one chromium process that every subtest shares; each person gets a
// browser context of their own (their own cookies), like a private window.
type browser struct {
	ctx  context.Context
	dir  string
	env  *webtest.Env
	shot int
}

func startBrowser(t *testing.T, env *webtest.Env) *browser {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Without these, chromium calls home, and here those connections are refused.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// Starts the browser; no timeout on this context, which the browser lives by.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return &browser{ctx: bctx, dir: screenshotDir(t), env: env}
}

// person is one person's private window.
type person struct {
	t   *testing.T
	b   *browser
	ctx context.Context

	mu sync.Mutex
	// problems are what the browser reported against the pages: Content
	// Security Policy violations (an inline style or script would be one) and
	// script errors.
	problems []string
}

func (b *browser) person(t *testing.T) *person {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action opens the tab, which lives by the context of that call: no
	// timeout on it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("opening a window: %v", err)
	}
	p := &person{t: t, b: b, ctx: ctx}
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if e := ev.Entry; e != nil && (strings.Contains(e.Text, "Content Security Policy") ||
				(e.Level == cdplog.EntryLevelError && e.Source == cdplog.EntrySourceJavascript)) {
				p.mu.Lock()
				p.problems = append(p.problems, e.Text)
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// step bounds one browser action.
const step = 20 * time.Second

func (p *person) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.fatalf("browser: %v", err)
	}
}

func run[T any](p *person, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fatalf("browser: %v", err)
	}
	return v
}

// fatalf fails with where the browser is, and a screenshot of it.
func (p *person) fatalf(format string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(p.b.dir, "FAILED-"+strings.ReplaceAll(p.t.Name(), "/", "_")+".png"), png, 0o644)
	}
	p.t.Fatalf(format+"\nat %s:\n%s", append(args, loc, body)...)
}

// open navigates to a path of the server (or an absolute URL).
func (p *person) open(path string) {
	p.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = p.b.env.URL + path
	}
	p.do(chromedp.Navigate(path))
}

// click clicks and waits for the page it leads to.
func (p *person) click(sel string) {
	p.t.Helper()
	_ = run(p, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)))
}

func (p *person) fill(sel, value string) {
	p.t.Helper()
	p.do(chromedp.SetValue(chromedp.CSS(sel), value, chromedp.NodeReady))
}

func (p *person) text(sel string) string {
	p.t.Helper()
	return run(p, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady))
}

func (p *person) location() string {
	p.t.Helper()
	return run(p, chromedp.Location())
}

// see fails unless the main landmark holds every one of want.
func (p *person) see(want ...string) string {
	p.t.Helper()
	got := p.text("main")
	for _, w := range want {
		if !strings.Contains(got, w) {
			p.fatalf("the page does not say %q", w)
		}
	}
	return got
}

// screenshot saves the whole page as NN-name.png, after checking that the
// browser reported nothing against it.
func (p *person) screenshot(name string) {
	p.t.Helper()
	p.mu.Lock()
	problems := p.problems
	p.problems = nil
	p.mu.Unlock()
	if len(problems) > 0 {
		p.fatalf("the browser reported:\n%s", strings.Join(problems, "\n"))
	}
	png := run(p, chromedp.FullScreenshot(100))
	p.b.shot++
	file := filepath.Join(p.b.dir, fmt.Sprintf("%02d-%s.png", p.b.shot, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", file)
}

func (p *person) signIn(u core.User) {
	p.t.Helper()
	p.open("/login")
	p.fill("#username", u.Username)
	p.fill("#password", webtest.Password)
	p.click("form[action='/login'] button[type=submit]")
	if u.HasTOTP() {
		p.see("six-digit code")
		p.fill("#otp", webtest.TOTP(time.Now()))
		p.click("form[action='/login'] button[type=submit]")
	}
	p.see("Welcome, " + u.Username)
}

func TestConsoleInBrowser(t *testing.T) {
	chromium(t) // skip before building anything
	env := webtest.New(t)
	b := startBrowser(t, env)
	ctx := context.Background()

	alice := b.person(t)
	var oc core.OAuthClient

	t.Run("sign in with TOTP", func(t *testing.T) {
		alice.t = t
		alice.open("/tokens")
		if loc := alice.location(); !strings.Contains(loc, "/login?next=%2Ftokens") {
			alice.fatalf("a console page without a session went to %s", loc)
		}
		alice.screenshot("sign-in")
		alice.fill("#username", "alice")
		alice.fill("#password", webtest.Password)
		alice.click("form[action='/login'] button[type=submit]")
		alice.see("six-digit code")
		alice.screenshot("sign-in-second-factor")
		alice.fill("#otp", webtest.TOTP(time.Now()))
		alice.click("form[action='/login'] button[type=submit]")
		if loc := alice.location(); loc != env.URL+"/tokens" {
			alice.fatalf("after sign-in: %s", loc)
		}
		alice.open("/")
		alice.see("Welcome, alice", "Connections")
		alice.screenshot("home")
	})

	t.Run("org admin creates an OAuth client and connects it", func(t *testing.T) {
		alice.t = t
		alice.open("/orgs/acme/clients")
		alice.screenshot("org-clients-empty")
		alice.click("a[href='/orgs/acme/clients/new']")
		alice.fill("#name", "GitHub for builds")
		alice.fill("#http_url", env.Fake.HTTPURL())
		alice.fill("#api_url", env.Fake.APIURL())
		alice.fill("#key", env.Fake.ClientID)
		alice.fill("#secret", env.Fake.ClientSecret)
		alice.screenshot("org-client-new")
		alice.click("form[action='/orgs/acme/clients'] button[type=submit]")
		alice.see("OAuth client created", "Callback URL", "Not connected for the organization yet")
		list, _, err := env.Connect.ListClients(ctx, webtest.Principal(env.Alice), "acme", store.Page{})
		if err != nil || len(list) != 1 {
			t.Fatalf("clients: %v %v", list, err)
		}
		oc = list[0]
		if got := alice.text("#callback-url"); got != env.Connect.CallbackURL(oc) {
			alice.fatalf("callback URL shown %q, want %q", got, env.Connect.CallbackURL(oc))
		}
		// The admin registers that callback URL at the provider.
		env.UseClient(oc)
		alice.screenshot("org-client-created")
		alice.click("a[href^='/auth/']")
		alice.see("Account linked", "octo", "Healthy")
		alice.screenshot("org-client-connected")
		conns, err := env.Connect.ClientConnections(ctx, webtest.Principal(env.Alice), oc.ID)
		if err != nil || len(conns) != 1 || conns[0].OwnerKind != core.OwnerOrg || conns[0].UpstreamLogin != "octo" {
			t.Fatalf("organization connections: %+v %v", conns, err)
		}
	})

	t.Run("link an account, see it healthy, unlink", func(t *testing.T) {
		alice.t = t
		if oc.ID == "" {
			t.Skip("no OAuth client (the previous step failed)")
		}
		alice.open("/connections")
		alice.see("GitHub for builds", "Not linked")
		alice.screenshot("connections-unlinked")
		alice.click("li.provider a.button")
		if loc := alice.location(); !strings.HasPrefix(loc, env.URL+"/connections") {
			alice.fatalf("after the flow: %s", loc)
		}
		alice.see("Account linked", "Linked as octo", "Healthy")
		alice.screenshot("connections-linked")
		link, err := env.Connect.UserLink(ctx, webtest.Principal(env.Alice), oc.ID)
		if err != nil || link.Health != core.HealthHealthy {
			t.Fatalf("the link: %+v %v", link, err)
		}
		// Where a workload's credential request sends people.
		alice.open("/external-auth/" + oc.ID)
		alice.see("Your GitHub account", "Linked as octo", "Re-link")
		alice.screenshot("external-auth")
		alice.open("/connections")
		alice.click("form[action$='/unlink'] button")
		alice.see("Account unlinked", "Not linked")
		alice.screenshot("connections-after-unlink")
		if _, err := env.Connect.UserLink(ctx, webtest.Principal(env.Alice), oc.ID); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("still linked: %v", err)
		}
	})

	t.Run("link with a device code", func(t *testing.T) {
		alice.t = t
		if oc.ID == "" {
			t.Skip("no OAuth client (the previous step failed)")
		}
		alice.open("/connections")
		alice.click("form[action$='/device'] button")
		code := alice.text("#user-code")
		alice.see("Link GitHub with a code", code)
		alice.screenshot("connections-device-code")
		alice.click("form[action$='/device/poll'] button")
		alice.see("Not yet")
		if err := env.Fake.ApproveDevice(code); err != nil {
			t.Fatal(err)
		}
		// The fake judges the polling interval by its own clock.
		env.Fake.Advance(20 * time.Second)
		env.Clock.Advance(20 * time.Second)
		alice.click("form[action$='/device/poll'] button")
		alice.see("Account linked", "Linked as octo", "Healthy")
	})

	bob := b.person(t)

	t.Run("create a personal token and see it once", func(t *testing.T) {
		bob.t = t
		bob.signIn(env.Bob)
		bob.open("/tokens")
		bob.fill("#note", "laptop git")
		bob.do(chromedp.Click(chromedp.CSS("input[name=scopes][value=credentials]"), chromedp.NodeVisible))
		bob.screenshot("tokens-new")
		bob.click("form[action='/tokens'] button[type=submit]")
		if loc := bob.location(); loc != env.URL+"/tokens/created" {
			bob.fatalf("after creation: %s", loc)
		}
		value := run(bob, chromedp.Value(chromedp.CSS("#secret-value")))
		if !strings.HasPrefix(value, "vcp_") {
			bob.fatalf("token shown: %q", value)
		}
		// The copy button is there: the page's one script ran under its CSP.
		if hidden := run(bob, chromedp.Evaluate[bool](`document.querySelector("button[data-copy]").hidden`)); hidden {
			bob.fatalf("the copy button is hidden: the script did not run")
		}
		bob.screenshot("tokens-created-once")
		if p, err := env.Identity.AuthenticateToken(ctx, value); err != nil || p.User.ID != env.Bob.ID {
			t.Fatalf("the token shown does not work: %v", err)
		}
		_ = run(bob, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Reload()))
		got := bob.see("shown once already")
		if strings.Contains(got, value) || strings.Contains(run(bob, chromedp.OuterHTML(chromedp.CSS("html"))), value) {
			bob.fatalf("the token is shown again after a reload")
		}
		bob.screenshot("tokens-created-reloaded")
		bob.open("/tokens")
		bob.see("laptop git", value[len(value)-8:])
		bob.screenshot("tokens-list")
	})

	// An application that receives the authorization code.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<!doctype html><title>app</title><p id=result>code=%s state=%s</p>", r.URL.Query().Get("code"), r.URL.Query().Get("state"))
	}))
	t.Cleanup(app.Close)

	t.Run("approve an application's consent", func(t *testing.T) {
		bob.t = t
		a, _, err := env.Auth.CreateApplication(ctx, webtest.Principal(env.Root), authserver.NewApplication{Name: "Build dashboard",
			RedirectURIs: []string{app.URL + "/cb"}, Scopes: []string{core.ScopeReadAPI, core.ScopeCredentials}, Confidential: true})
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"response_type": {"code"}, "client_id": {a.ClientID}, "redirect_uri": {app.URL + "/cb"},
			"scope": {"read_api credentials"}, "state": {"s-123"},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
		bob.open("/oauth/authorize?" + q.Encode())
		bob.see("Authorize Build dashboard", "read_api", "credentials")
		bob.screenshot("consent")
		bob.click("button[name=decision][value=approve]")
		loc := bob.location()
		u, err := url.Parse(loc)
		if err != nil || !strings.HasPrefix(loc, app.URL+"/cb?") || u.Query().Get("state") != "s-123" || u.Query().Get("code") == "" {
			bob.fatalf("after consent: %s", loc)
		}
		// The application exchanges the code; then it holds a grant.
		if _, err := env.Auth.ExchangeCode(ctx, a, authserver.CodeExchange{Code: u.Query().Get("code"), RedirectURI: app.URL + "/cb",
			CodeVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}); err != nil {
			t.Fatalf("exchanging the code: %v", err)
		}
		bob.open("/grants")
		bob.see("Build dashboard", "Revoke access")
		bob.screenshot("grants")
	})

	t.Run("enter a device code", func(t *testing.T) {
		bob.t = t
		cli, err := env.Auth.ApplicationByClientID(ctx, authserver.CLIClientID)
		if err != nil {
			t.Fatal(err)
		}
		start, err := env.Auth.StartDevice(ctx, cli, "credentials")
		if err != nil {
			t.Fatal(err)
		}
		bob.open("/device")
		bob.screenshot("device-entry")
		bob.fill("#user_code", strings.ToLower(start.UserCode))
		bob.click("form[action='/device'] button[type=submit]")
		bob.see(start.UserCode, "credentials")
		bob.screenshot("device-consent")
		bob.click("button[name=decision][value=approve]")
		bob.see("Device connected")
		bob.screenshot("device-done")
		if _, err := env.Auth.PollDevice(ctx, cli, start.DeviceCode); err != nil {
			t.Fatalf("the device gets no token: %v", err)
		}
	})

	t.Run("a member does not see admin pages", func(t *testing.T) {
		bob.t = t
		bob.open("/orgs/acme/clients")
		bob.see("Not Found")
		bob.screenshot("member-admin-page-not-found")
	})

	t.Run("site admin pages", func(t *testing.T) {
		root := b.person(t)
		root.signIn(env.Root)
		root.open("/admin/applications")
		root.fill("#name", "Release bot")
		root.fill("#redirect_uris", "https://bot.example/callback")
		root.do(chromedp.Click(chromedp.CSS("input[name=scopes][value=read_api]"), chromedp.NodeVisible))
		root.screenshot("admin-applications")
		root.click("form[action='/admin/applications'] button[type=submit]")
		root.see("Application registered", "Copy it now", "Client ID")
		root.screenshot("admin-application-secret")
		root.open("/admin/users")
		root.see("alice", "bob", "root")
		root.screenshot("admin-users")
		root.open("/admin/audit?action=token")
		root.see("token.create")
		root.screenshot("admin-audit")
		root.open("/orgs/acme/members")
		root.see("alice", "admin", "bob", "member")
		root.screenshot("org-members")
		root.open("/orgs/acme/projects")
		root.see("web")
		root.screenshot("org-projects")
		root.open("/account")
		root.screenshot("account")
		root.open("/account/totp")
		root.see("Setup key")
		root.screenshot("account-totp-setup")
	})
}
