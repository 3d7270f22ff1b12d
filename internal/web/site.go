// Package web holds vcsauth's HTML pages and the machinery they share: one layout,
// html/template pages and a small stylesheet embedded in the binary (no build step,
// no JavaScript), sessions in a cookie that holds an identity session token, CSRF
// protection for every form, and the security headers of every page.
//
// Other packages add pages with the same look (the authorization server's consent
// and device pages, the upstream flow pages): wrap the handler in Site.Pages, read
// the signed-in person with Session, and answer with Site.Render. Pages checks the
// CSRF token of every POST before the handler runs, so a handler never sees a
// forged form.
//
// The console is built on the same machinery: the person's account (password,
// second factor), their Git provider connections, the applications and tokens that
// act for them, organization administration (projects, members, OAuth clients) and
// site administration (applications, users, the audit log). Each group of pages is
// registered when the engine it needs is given in Options; routes.go lists them all.
//
// Rules every console page keeps: a page an admin may see is "not found" (404) to
// anyone else, never "forbidden", so it does not tell that it exists; a secret
// (token, client secret) is shown once, on the page the creation redirects to, and
// is gone when that page is loaded again (see once.go); lists are paginated.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Identity is what the pages need of the identity service (*identity.Service).
type Identity interface {
	SignIn(ctx context.Context, username, password, otp string) (string, core.Principal, error)
	SignOut(ctx context.Context, text string) error
	AuthenticateSession(ctx context.Context, text string) (core.Principal, error)
}

// Options configure a Site.
type Options struct {
	// Identity signs people in. When nil, Accounts serves.
	Identity Identity
	// The console's engines. Each is optional: the pages that need one are
	// registered only when it is given, so a Site with Identity alone serves the
	// sign-in page and what other packages render with it.
	//
	// Accounts: the account, personal token, organization and site admin pages
	// (users, audit log). Apps: the grants page and the site admin's applications
	// (needs Accounts). Upstream: the person's connections, /external-auth/{id},
	// and the organizations' OAuth clients (needs Accounts).
	Accounts *identity.Service
	Apps     *authserver.Engine
	Upstream *connect.Engine
	// ExternalURL is vcsauth's address as browsers see it. When it is https, the
	// cookies are Secure and named with the __Host- prefix, which keeps a sibling
	// subdomain from planting them.
	ExternalURL string
	Log         *slog.Logger
	// Rand feeds the pre-session CSRF cookie; crypto/rand when nil.
	Rand io.Reader
	// SessionLifetime is the session cookie's Max-Age; identity.SessionLifetime
	// when zero (the session token itself expires then too).
	SessionLifetime time.Duration
}

// Site renders pages and keeps sessions. It is safe for concurrent use.
type Site struct {
	id         Identity
	secure     bool
	sessionKey string // cookie names
	csrfKey    string
	maxAge     time.Duration
	pages      map[string]*template.Template
	static     fs.FS
	log        *slog.Logger
	rand       io.Reader

	acc  *identity.Service
	apps *authserver.Engine
	up   *connect.Engine
	now  func() time.Time
}

// New parses the embedded templates and returns a Site.
func New(o Options) (*Site, error) {
	if o.Identity == nil && o.Accounts != nil {
		o.Identity = o.Accounts
	}
	if o.Identity == nil {
		return nil, errors.New("web: an identity service is required")
	}
	if (o.Apps != nil || o.Upstream != nil) && o.Accounts == nil {
		return nil, errors.New("web: the applications and connections pages need Accounts")
	}
	s := &Site{id: o.Identity, maxAge: o.SessionLifetime, log: o.Log, rand: o.Rand,
		acc: o.Accounts, apps: o.Apps, up: o.Upstream, now: time.Now}
	if o.Accounts != nil {
		s.now = o.Accounts.Now
	}
	if o.ExternalURL != "" {
		u, err := url.Parse(o.ExternalURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("web: external URL %q is not an absolute URL", o.ExternalURL)
		}
		s.secure = u.Scheme == "https"
	}
	s.sessionKey, s.csrfKey = "vcsauth_session", "vcsauth_csrf"
	if s.secure {
		s.sessionKey, s.csrfKey = "__Host-"+s.sessionKey, "__Host-"+s.csrfKey
	}
	if s.maxAge <= 0 {
		s.maxAge = identity.SessionLifetime
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if s.static, err = fs.Sub(assets, "static"); err != nil {
		return nil, err
	}
	return s, nil
}

// funcs are available in every template (see funcs.go).
var funcs = template.FuncMap{
	"join":      strings.Join,
	"when":      formatTime,
	"isotime":   isoTime,
	"health":    healthText,
	"healthcss": healthClass,
	"scopetext": scopeText,
	"has":       hasString,
	"ownertext": ownerText,
	"opsOf":     opsOf,
}

// parsePages parses each page together with the layout and the shared fragments
// (templates/_*.html), so that every page defines its own "title" and "content"
// blocks.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/_*.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(assets, n)
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}
