package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/web/webtest"
)

// seeded is an installation with heavy lists: rows of each kind for one person.
type seeded struct {
	env     *webtest.Env
	cookie  *http.Cookie // Bob's session (tokens, connections)
	root    *http.Cookie // the site admin's (users, audit log, org admin)
	orgConn string       // the OAuth client with rows organization connections
}

const benchRows = 1000

func seed(b *testing.B) *seeded {
	b.Helper()
	e := webtest.New(b)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	// Personal tokens (and, with them, as many audit events).
	for i := range benchRows {
		if _, _, err := e.Identity.CreatePersonalToken(ctx, identity.System(), e.Bob.ID,
			identity.NewToken{Note: fmt.Sprintf("token %d", i), Scopes: []string{core.ScopeReadAPI, core.ScopeCredentials}}); err != nil {
			b.Fatal(err)
		}
	}
	// Users, straight into the store: hashing a thousand passwords would take a minute.
	for i := range benchRows {
		if err := e.Store.CreateUser(ctx, core.User{ID: fmt.Sprintf("user-bench%04d", i), Username: fmt.Sprintf("person%04d", i),
			Email: fmt.Sprintf("p%d@example.com", i), PasswordHash: "$argon2id$unused", CreatedAt: now, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	// OAuth clients of acme, each with Bob's link, and one client with as many
	// organization connections.
	sealed, err := webtest.Keys().SealString("secret")
	if err != nil {
		b.Fatal(err)
	}
	conn := func(id, client string, kind core.OwnerKind, login string) core.Connection {
		return core.Connection{ID: id, OAuthClientID: client, OwnerKind: kind, OwnerUserID: e.Bob.ID, OwnerOrgID: e.Org.ID,
			CredentialKind: core.CredentialOAuth, AccessToken: sealed, TokenType: "bearer", UpstreamID: login, UpstreamLogin: login,
			UpstreamName: "Person " + login, Health: core.HealthHealthy, LastSuccessAt: now, Version: 1, CreatedAt: now, UpdatedAt: now}
	}
	for i := range benchRows {
		oc := core.OAuthClient{ID: fmt.Sprintf("oc-bench%04d", i), OrgID: e.Org.ID, Name: fmt.Sprintf("GitHub %d", i),
			Kind: core.ProviderGitHub, HTTPURL: "https://github.com", APIURL: "https://api.github.com", Key: "key", Secret: sealed,
			OrganizationScoped: true, CreatedAt: now, UpdatedAt: now}
		if err := e.Store.CreateOAuthClient(ctx, oc); err != nil {
			b.Fatal(err)
		}
		health := core.HealthHealthy
		if i%7 == 0 {
			health = core.HealthNeedsReauth
		}
		c := conn(fmt.Sprintf("ot-bench%04d", i), oc.ID, core.OwnerUser, fmt.Sprintf("octo%d", i))
		c.Health = health
		if err := e.Store.CreateConnection(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchRows {
		if err := e.Store.CreateConnection(ctx, conn(fmt.Sprintf("ot-org%04d", i), "oc-bench0000", core.OwnerOrg, fmt.Sprintf("bot%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	s := &seeded{env: e, orgConn: "oc-bench0000"}
	for _, who := range []struct {
		name string
		dst  **http.Cookie
	}{{"bob", &s.cookie}, {"root", &s.root}} {
		text, _, err := e.Identity.SignIn(ctx, who.name, webtest.Password, "")
		if err != nil {
			b.Fatal(err)
		}
		*who.dst = &http.Cookie{Name: "vcsauth_session", Value: text}
	}
	return s
}

// BenchmarkPages renders each heavy page server-side (the whole handler chain,
// database included) with benchRows rows on its list, into a recorder. The account
// page, which lists nothing, is the baseline of the same run.
func BenchmarkPages(b *testing.B) {
	s := seed(b)
	for _, bc := range []struct {
		name, path string
		admin      bool
	}{
		{"baseline-account", "/account", false},
		{"tokens", "/tokens", false},
		{"tokens-last-page", "/tokens?page=20", false},
		{"connections", "/connections", false},
		{"connections-last-page", "/connections?page=20", false},
		{"home", "/", false},
		{"org-client-connections", "/orgs/acme/clients/" + s.orgConn, true},
		{"org-clients", "/orgs/acme/clients", true},
		{"users", "/admin/users", true},
		{"users-last-page", "/admin/users?page=21", true},
		{"audit", "/admin/audit", true},
		{"audit-filtered", "/admin/audit?action=token&actor=root", true},
		{"audit-last-page", "/admin/audit?page=20", true},
	} {
		cookie := s.cookie
		if bc.admin {
			cookie = s.root
		}
		req := httptest.NewRequest("GET", s.env.URL+bc.path, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		s.env.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d\n%s", bc.path, rec.Code, rec.Body)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.env.Handler.ServeHTTP(rec, req.Clone(req.Context()))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", bc.path, rec.Code)
				}
			}
		})
	}
}
