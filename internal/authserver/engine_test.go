package authserver_test

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

type fixture struct {
	st    *sqlstore.Store
	id    *identity.Service
	eng   *authserver.Engine
	admin core.Principal
	alice core.Principal
	bob   core.Principal
	skew  atomic.Int64 // added to epoch
}

var epoch = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

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
	f := &fixture{st: st}
	now := func() time.Time { return epoch.Add(time.Duration(f.skew.Load())) }
	f.id = identity.New(st, keys, identity.Options{Now: now})
	if f.eng, err = authserver.New(authserver.Options{Store: st, Identity: f.id, Issuer: "https://vcsauth.example/", Now: now}); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, admin bool) core.Principal {
		u, err := f.id.CreateUser(context.Background(), identity.System(), identity.NewUser{Username: name, Password: "correct horse " + name, SiteAdmin: admin})
		if err != nil {
			t.Fatal(err)
		}
		return core.Principal{User: u, Method: core.AuthPassword, Scopes: []string{core.ScopeAPI}}
	}
	f.admin, f.alice, f.bob = mk("root", true), mk("alice", false), mk("bob", false)
	return f
}

func TestCreateApplication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	good := authserver.NewApplication{Name: " CI ", RedirectURIs: []string{"https://ci.example/cb", "http://127.0.0.1/cb", "com.example.ci:/cb", "https://ci.example/cb"},
		Scopes: []string{"read_api", "credentials", "read_api"}, Confidential: true}
	a, sec, err := f.eng.CreateApplication(ctx, f.admin, good)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "CI" || len(a.ClientID) != 20 || !strings.HasPrefix(sec, "vcas_") || a.SecretLast != sec[len(sec)-8:] ||
		len(a.RedirectURIs) != 3 || strings.Join(a.Scopes, " ") != "credentials read_api" || a.OwnerID != f.admin.User.ID {
		t.Fatalf("application = %+v, secret %q", a, sec)
	}
	stored, _ := f.st.Application(ctx, a.ID)
	if string(stored.SecretHash) != string(secret.HashToken(sec)) || strings.Contains(string(stored.SecretHash), sec) {
		t.Fatal("the secret is not stored as its hash")
	}
	if _, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: a.ClientID, Secret: sec}); err != nil {
		t.Fatalf("AuthenticateClient: %v", err)
	}
	pub, sec, err := f.eng.CreateApplication(ctx, f.admin, authserver.NewApplication{Name: "SPA", RedirectURIs: []string{"https://spa.example/"}, Scopes: []string{"api"}})
	if err != nil || sec != "" || pub.Confidential || pub.SecretHash != nil {
		t.Fatalf("public application: %+v %q %v", pub, sec, err)
	}

	for name, tc := range map[string]struct {
		actor core.Principal
		mod   func(*authserver.NewApplication)
		field string
		is    error
	}{
		"not a site admin":                {actor: f.alice, is: core.ErrForbidden},
		"admin token without admin scope": {actor: core.Principal{User: f.admin.User, Method: core.AuthToken, Scopes: []string{"read_api"}}, is: core.ErrForbidden},
		"no name":                         {mod: func(n *authserver.NewApplication) { n.Name = "  " }, field: "name"},
		"name with newline":               {mod: func(n *authserver.NewApplication) { n.Name = "a\nb" }, field: "name"},
		"no redirect URI":                 {mod: func(n *authserver.NewApplication) { n.RedirectURIs = nil }, field: "redirect_uri"},
		"relative redirect":               {mod: func(n *authserver.NewApplication) { n.RedirectURIs = []string{"/cb"} }, field: "redirect_uri"},
		"redirect with fragment":          {mod: func(n *authserver.NewApplication) { n.RedirectURIs = []string{"https://x.example/cb#f"} }, field: "redirect_uri"},
		"http not loopback":               {mod: func(n *authserver.NewApplication) { n.RedirectURIs = []string{"http://x.example/cb"} }, field: "redirect_uri"},
		"javascript":                      {mod: func(n *authserver.NewApplication) { n.RedirectURIs = []string{"javascript:alert(1)"} }, field: "redirect_uri"},
		"no scopes":                       {mod: func(n *authserver.NewApplication) { n.Scopes = nil }, field: "scopes"},
		"unknown scope":                   {mod: func(n *authserver.NewApplication) { n.Scopes = []string{"sudo"} }, field: "scopes"},
	} {
		t.Run(name, func(t *testing.T) {
			in := good
			if tc.mod != nil {
				tc.mod(&in)
			}
			actor := f.admin
			if tc.actor.User.ID != "" {
				actor = tc.actor
			}
			_, _, err := f.eng.CreateApplication(ctx, actor, in)
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Fatalf("err = %v, want %v", err, tc.is)
				}
				return
			}
			if v, ok := core.AsValidation(err); !ok || v.Field != tc.field {
				t.Fatalf("err = %v, want a validation error on %s", err, tc.field)
			}
		})
	}
	events, _, err := f.id.ListAudit(ctx, f.admin, store.AuditFilter{Action: "application.create"}, store.Page{})
	if err != nil || len(events) != 2 || strings.Contains(events[0].Detail+events[1].Detail, "vcas_") {
		t.Fatalf("audit = %+v %v", events, err)
	}
}

func TestRenewAndDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, old, err := f.eng.CreateApplication(ctx, f.admin, authserver.NewApplication{Name: "CI", RedirectURIs: []string{"https://ci.example/cb"}, Scopes: []string{"api"}, Confidential: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.eng.RenewSecret(ctx, f.alice, a.ID); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("renew by a non-admin: %v", err)
	}
	renewed, fresh, err := f.eng.RenewSecret(ctx, f.admin, a.ID)
	if err != nil || fresh == old || renewed.SecretLast != fresh[len(fresh)-8:] {
		t.Fatalf("renew: %v", err)
	}
	if _, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: a.ClientID, Secret: old}); err == nil {
		t.Fatal("the old secret still works")
	}
	if _, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: a.ClientID, Secret: fresh}); err != nil {
		t.Fatalf("the new secret: %v", err)
	}
	pub, _, _ := f.eng.CreateApplication(ctx, f.admin, authserver.NewApplication{Name: "SPA", RedirectURIs: []string{"https://spa.example/"}, Scopes: []string{"api"}})
	if _, _, err := f.eng.RenewSecret(ctx, f.admin, pub.ID); err == nil {
		t.Fatal("renewed the secret of a public application")
	}

	// Tokens of the application die with it.
	text, _, err := f.eng.IssueToken(ctx, f.alice, a, identity.NewToken{Scopes: []string{"read_api"}, Note: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.eng.DeleteApplication(ctx, f.alice, a.ID); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("delete by a non-admin: %v", err)
	}
	if err := f.eng.DeleteApplication(ctx, f.admin, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.id.AuthenticateToken(ctx, text); err == nil {
		t.Fatal("a token of a deleted application still works")
	}
	if _, err := f.eng.Application(ctx, f.admin, a.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted application: %v", err)
	}
	for _, action := range []string{"application.renew_secret", "application.delete"} {
		if ev, _, _ := f.id.ListAudit(ctx, f.admin, store.AuditFilter{Action: action}, store.Page{}); len(ev) != 1 {
			t.Errorf("%d %s events", len(ev), action)
		}
	}
}

func TestBuiltIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.eng.EnsureBuiltIn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.ClientID != authserver.CLIClientID || !a.BuiltIn || a.Confidential || len(a.RedirectURIs) != 0 {
		t.Fatalf("built-in = %+v", a)
	}
	// Idempotent, and restores its definition.
	if _, err := f.st.UpdateApplication(ctx, a.ID, func(a core.Application) (core.Application, error) {
		a.Scopes, a.Name = []string{"read_user"}, "changed"
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	again, err := f.eng.EnsureBuiltIn(ctx)
	if err != nil || again.ID != a.ID || again.Name != "vcsauth CLI" || strings.Join(again.Scopes, " ") != "api" {
		t.Fatalf("second EnsureBuiltIn = %+v %v", again, err)
	}
	if _, n, _ := f.eng.ListApplications(ctx, f.admin, store.Page{}); n != 1 {
		t.Fatalf("%d applications", n)
	}
	if err := f.eng.DeleteApplication(ctx, f.admin, a.ID); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("deleting the built-in application: %v", err)
	}
	// Public: the client_id alone authenticates it.
	if _, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: authserver.CLIClientID}); err != nil {
		t.Fatal(err)
	}
}

// TestGrants covers what the GitHub dialect needs: grants of a user, tokens issued
// for (user, application) with note, fingerprint and scopes, and revocation.
func TestGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, sec, _ := f.eng.CreateApplication(ctx, f.admin, authserver.NewApplication{Name: "CI", RedirectURIs: []string{"https://ci.example/cb"}, Scopes: []string{"read_api", "credentials"}, Confidential: true})
	app, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: a.ClientID, Secret: sec})
	if err != nil {
		t.Fatal(err)
	}
	text, tok, err := f.eng.IssueToken(ctx, f.alice, app, identity.NewToken{Scopes: []string{"read_api"}, Note: "laptop", NoteURL: "https://ci.example/n", Fingerprint: "fp1"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Kind != core.TokenAccess || tok.ApplicationID != a.ID || tok.GrantID == 0 || tok.FamilyID == "" || tok.Note != "laptop" || !tok.ExpiresAt.IsZero() {
		t.Fatalf("token = %+v", tok)
	}
	if p, err := f.id.AuthenticateToken(ctx, text); err != nil || p.User.ID != f.alice.User.ID {
		t.Fatalf("the token does not authenticate: %v", err)
	}
	if got, err := f.eng.AppToken(ctx, f.alice, app, "fp1"); err != nil || got.ID != tok.ID {
		t.Fatalf("AppToken(fp1) = %+v %v", got, err)
	}
	if _, err := f.eng.AppToken(ctx, f.alice, app, ""); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("AppToken without fingerprint: %v", err)
	}
	if _, err := f.eng.AppToken(ctx, f.bob, app, "fp1"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("AppToken of another person: %v", err)
	}
	if _, _, err := f.eng.IssueToken(ctx, f.alice, app, identity.NewToken{Scopes: []string{"read_api"}, Fingerprint: "fp1"}); err == nil {
		t.Fatal("a second token with the same fingerprint")
	}
	if _, _, err := f.eng.IssueToken(ctx, f.alice, app, identity.NewToken{Scopes: []string{"admin"}}); err == nil {
		t.Fatal("a token with scopes beyond the application's")
	}
	narrow := core.Principal{User: f.alice.User, Method: core.AuthToken, Scopes: []string{"read_api"}}
	if _, _, err := f.eng.IssueToken(ctx, narrow, app, identity.NewToken{Scopes: []string{"credentials"}}); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("a read-only token issuing tokens: %v", err)
	}

	grants, n, err := f.eng.ListGrants(ctx, f.alice, store.Page{})
	if err != nil || n != 1 || grants[0].Application.ClientID != a.ClientID || strings.Join(grants[0].Scopes, " ") != "read_api" {
		t.Fatalf("grants = %+v %d %v", grants, n, err)
	}
	if _, err := f.eng.Grant(ctx, f.bob, grants[0].ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("another person's grant: %v", err)
	}
	if err := f.eng.DeleteGrant(ctx, f.bob, grants[0].ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleting another person's grant: %v", err)
	}
	if err := f.eng.RevokeToken(ctx, f.bob, tok.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("revoking another person's token: %v", err)
	}
	if err := f.eng.RevokeToken(ctx, f.alice, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.id.AuthenticateToken(ctx, text); err == nil {
		t.Fatal("revoked token still works")
	}
	text2, _, _ := f.eng.IssueToken(ctx, f.alice, app, identity.NewToken{Scopes: []string{"credentials"}})
	if err := f.eng.DeleteGrant(ctx, f.alice, grants[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.id.AuthenticateToken(ctx, text2); err == nil {
		t.Fatal("a token of a deleted grant still works")
	}
	if _, n, _ := f.eng.ListGrants(ctx, f.alice, store.Page{}); n != 0 {
		t.Fatalf("%d grants after delete", n)
	}
}

func TestNewValidatesIssuer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, iss := range []string{"", "vcsauth.example", "ftp://x", "https://x/?q", "https://x/#f"} {
		if _, err := authserver.New(authserver.Options{Store: f.st, Identity: f.id, Issuer: iss}); err == nil {
			t.Errorf("issuer %q accepted", iss)
		}
	}
	if f.eng.Issuer() != "https://vcsauth.example" {
		t.Errorf("issuer = %q", f.eng.Issuer())
	}
}

func TestMatchRedirectURI(t *testing.T) {
	t.Parallel()
	reg := []string{"https://app.example/cb?x=1", "http://127.0.0.1/loop", "http://[::1]:8080/v6", "com.example.app:/oauth"}
	for req, want := range map[string]bool{
		"https://app.example/cb?x=1":         true,
		"http://127.0.0.1/loop":              true,
		"http://127.0.0.1:1/loop":            true,
		"http://127.0.0.1:65535/loop":        true,
		"http://[::1]/v6":                    true,
		"http://[::1]:9/v6":                  true,
		"com.example.app:/oauth":             true,
		"https://app.example/cb?x=1&y=2":     false,
		"https://app.example/cb":             false,
		"https://app.example/cb?x=1#f":       false,
		"http://127.0.0.1:0/loop":            false,
		"http://127.0.0.1:65536/loop":        false,
		"http://127.0.0.1:80a/loop":          false,
		"http://127.0.0.1:8080/loop?x":       false,
		"http://127.0.0.1:8080/loop/":        false,
		"http://127.0.0.1:8080/loop#x":       false,
		"http://127.0.0.1:8080@evil/loop":    false,
		"http://127.0.0.1.evil.example/loop": false,
		"http://localhost:8080/loop":         false,
		"https://127.0.0.1:8080/loop":        false,
		"http://127.0.0.1:8080/loop\\x":      false,
		"com.example.app:/oauth2":            false,
		"":                                   false,
	} {
		if got := authserver.MatchRedirectURI(reg, req); got != want {
			t.Errorf("MatchRedirectURI(%q) = %v, want %v", req, got, want)
		}
	}
}

// FuzzMatchRedirectURI: whatever matches goes to the registered place: the same
// scheme, host, path and query, with nothing hidden in user information or a
// fragment; only a loopback URI's port may differ.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, s := range [][2]string{
		{"https://app.example/cb?x=1", "https://app.example/cb?x=1"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:4242/cb"},
		{"http://[::1]:80/cb", "http://[::1]/cb"},
		{"http://localhost/cb", "http://localhost:1@evil/cb"},
		{"com.example.app:/cb", "com.example.app:/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:4242/cb#x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, reg, req string) {
		if authserver.ValidateRedirectURI(reg) != nil || !authserver.MatchRedirectURI([]string{reg}, req) {
			return
		}
		if req == reg {
			return
		}
		// Only the loopback exception lets two different strings match.
		r, err1 := url.Parse(reg)
		q, err2 := url.Parse(req)
		if err1 != nil || err2 != nil {
			t.Fatalf("matched unparsable %q for %q", req, reg)
		}
		if r.Scheme != "http" || q.Scheme != "http" || q.User != nil || q.Fragment != "" || strings.Contains(req, "#") {
			t.Fatalf("%q matched %q", req, reg)
		}
		if q.Hostname() != r.Hostname() || q.Path != r.Path || q.RawPath != r.RawPath || q.RawQuery != r.RawQuery {
			t.Fatalf("%q matched %q but goes elsewhere", req, reg)
		}
		if h := q.Hostname(); h != "127.0.0.1" && h != "::1" && h != "localhost" {
			t.Fatalf("%q matched %q on a non-loopback host", req, reg)
		}
	})
}

func TestDeleteExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, _, _ := f.eng.CreateApplication(ctx, f.admin, authserver.NewApplication{Name: "CI", RedirectURIs: []string{"https://ci.example/cb"}, Scopes: []string{"api"}, Confidential: true})
	az, err := f.eng.ValidateAuthorize(ctx, authserver.AuthorizeRequest{ResponseType: "code", ClientID: a.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.IssueCode(ctx, f.alice, az); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.StartDevice(ctx, a, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := f.eng.DeleteExpired(ctx, 0); err != nil || n != 0 {
		t.Fatalf("nothing expired yet: %d %v", n, err)
	}
	f.skew.Add(int64(11 * time.Minute))
	if n, err := f.eng.DeleteExpired(ctx, time.Minute); err != nil || n != 0 {
		t.Fatalf("within the grace period: %d %v", n, err)
	}
	if n, err := f.eng.DeleteExpired(ctx, 0); err != nil || n != 2 {
		t.Fatalf("expired: %d %v", n, err)
	}
}
