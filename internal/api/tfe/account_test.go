package tfe_test

import (
	"crypto/rand"
	"errors"
	"net/http"
	"testing"

	gotfe "github.com/hashicorp/go-tfe"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// TestAccountDetails: go-tfe's Users.ReadCurrent (what terraform login calls to check
// the token it got) reads the caller, with any token, on each database.
func TestAccountDetails(t *testing.T) {
	t.Parallel()
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			testAccountDetails(t, newEnv(t, dialect))
		})
	}
}

func testAccountDetails(t *testing.T, v *env) {
	ctx := t.Context()
	b32, err := secret.NewTOTPSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root := v.app.CreateUser(t, identity.NewUser{Username: "root", Password: "correct horse root",
		Email: "root@example.com", SiteAdmin: true, TOTPSecret: b32})

	for _, tc := range []struct {
		name     string
		user     core.User
		scopes   []string
		twoF     bool
		admin    bool
		canOrgs  bool
		email    string
		username string
	}{
		{"site admin, token of every scope", root, []string{core.ScopeAPI}, true, true, true, "root@example.com", "root"},
		// Organizations are created by site admins with a token allowed to administer.
		{"site admin, token without admin", root, []string{core.ScopeReadAPI}, true, true, false, "root@example.com", "root"},
		// Any valid token may read its own account: a workload's token too.
		{"member, credentials only", v.member.User, []string{core.ScopeCredentials}, false, false, false, "", "member"},
		// A token without read_user does not see the private profile (core.CanReadProfile).
		{"site admin, credentials only", root, []string{core.ScopeCredentials}, false, true, false, "", "root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := v.client(t, v.app.Token(t, tc.user.ID, "test", tc.scopes...)).Users.ReadCurrent(ctx)
			if err != nil {
				t.Fatalf("ReadCurrent: %v", err)
			}
			if u.ID != tc.user.ID || u.Username != tc.username || u.Email != tc.email || u.IsServiceAccount ||
				u.UnconfirmedEmail != "" || u.AvatarURL != "" || u.V2Only {
				t.Errorf("user: %+v", u)
			}
			if u.TwoFactor == nil || u.TwoFactor.Enabled != tc.twoF || u.TwoFactor.Verified != tc.twoF {
				t.Errorf("two-factor: %+v", u.TwoFactor)
			}
			//lint:ignore SA1019 clients of TFE before v202406 read is-site-admin; checking it is the point
			siteAdmin := u.IsSiteAdmin
			if siteAdmin == nil || *siteAdmin != tc.admin || u.IsAdmin == nil || *u.IsAdmin != tc.admin ||
				u.IsSsoLogin == nil || *u.IsSsoLogin {
				t.Errorf("is-site-admin %v, is-admin %v, is-sso-login %v", siteAdmin, u.IsAdmin, u.IsSsoLogin)
			}
			want := gotfe.UserPermissions{CanCreateOrganizations: tc.canOrgs, CanManageUserTokens: true, CanView2FaSettings: true}
			if u.Permissions == nil || *u.Permissions != want {
				t.Errorf("permissions: %+v, want %+v", u.Permissions, want)
			}
		})
	}

	// The wire: one users resource, JSON:API's media type.
	r := v.do(t, http.MethodGet, "/account/details", v.memberTok, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/vnd.api+json" {
		t.Fatalf("%d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	data, _ := r.doc(t)["data"].(map[string]any)
	if data["type"] != "users" || data["id"] != v.member.User.ID {
		t.Errorf("data: %v", data)
	}

	// Without valid credentials: 401 in JSON:API, and go-tfe's ErrUnauthorized.
	for _, tok := range []string{"", "vcp_notatoken", "not a token at all"} {
		errs := errorsOf(t, v.do(t, http.MethodGet, "/account/details", tok, nil), http.StatusUnauthorized)
		if errs[0]["title"] != "unauthorized" {
			t.Errorf("token %q: %v", tok, errs)
		}
	}
	if _, err := v.client(t, "vcp_notatoken").Users.ReadCurrent(ctx); !errors.Is(err, gotfe.ErrUnauthorized) {
		t.Errorf("go-tfe with a bad token: %v", err)
	}
	// A revoked token is refused at once.
	tok := v.token(t, v.member)
	if _, err := v.client(t, tok).Users.ReadCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := v.id.AuthenticateToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.id.RevokeToken(ctx, p, p.Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.client(t, tok).Users.ReadCurrent(ctx); !errors.Is(err, gotfe.ErrUnauthorized) {
		t.Errorf("go-tfe with a revoked token: %v", err)
	}

	// The rest of /account is the dialect's: 405 with Allow, 404.
	r = v.do(t, http.MethodPatch, "/account/details", v.memberTok, nil)
	errorsOf(t, r, http.StatusMethodNotAllowed)
	if got := r.header.Get("Allow"); got != "GET" {
		t.Errorf("Allow %q, want GET", got)
	}
	errorsOf(t, v.do(t, http.MethodGet, "/account/password", v.memberTok, nil), http.StatusNotFound)
}
