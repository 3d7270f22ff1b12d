package clienttest

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/coder/coder/v2/codersdk"
	"github.com/google/uuid"

	"github.com/vcsauth/vcsauth/internal/api/coder"
	"github.com/vcsauth/vcsauth/internal/api/coder/codertest"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

// codersdk's Client.User(ctx, codersdk.Me), what the coder CLI checks a session
// token with: the caller, with any valid token, decoded into codersdk.User.
func TestCurrentUser(t *testing.T) {
	t.Parallel()
	s := start(t, codertest.Options{})
	ctx := t.Context()
	ns := uuid.MustParse(coder.UserNamespace)
	root := s.App.CreateUser(t, identity.NewUser{Username: "root", Password: "correct horse root",
		Email: "root@example.com", SiteAdmin: true})

	for _, tc := range []struct {
		name   string
		p      core.Principal
		scopes []string
		roles  []codersdk.SlimRole
	}{
		{"member", s.Alice, []string{core.ScopeAPI}, []codersdk.SlimRole{}},
		// A workload's token may check itself too.
		{"credentials only", s.Bob, []string{core.ScopeCredentials}, []codersdk.SlimRole{}},
		{"site admin", core.Principal{User: root}, []string{core.ScopeReadUser},
			[]codersdk.SlimRole{{Name: codersdk.RoleOwner, DisplayName: "Owner"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := client(t, s, tc.p, tc.scopes...).User(ctx, codersdk.Me)
			if err != nil {
				t.Fatalf("User(me): %v", err)
			}
			want := tc.p.User
			if u.ID != uuid.NewSHA1(ns, []byte(want.ID)) || u.ID.Version() != 5 {
				t.Errorf("id %s (version %d), want the v5 UUID of %q", u.ID, u.ID.Version(), want.ID)
			}
			if u.Username != want.Username || u.Email != want.Email || u.Name != "" || u.AvatarURL != "" ||
				u.Status != codersdk.UserStatusActive || u.LoginType != codersdk.LoginTypePassword ||
				!u.CreatedAt.Equal(want.CreatedAt) || !u.UpdatedAt.Equal(want.UpdatedAt) || !u.LastSeenAt.IsZero() {
				t.Errorf("user: %+v", u)
			}
			if u.OrganizationIDs == nil || len(u.OrganizationIDs) != 0 {
				t.Errorf("organization_ids: %#v", u.OrganizationIDs)
			}
			if len(u.Roles) != len(tc.roles) || (len(u.Roles) > 0 && u.Roles[0] != tc.roles[0]) {
				t.Errorf("roles: %+v, want %+v", u.Roles, tc.roles)
			}
		})
	}
	// The id is the same on every call: Coder's clients keep users by it.
	a, err := client(t, s, s.Alice).User(ctx, codersdk.Me)
	if err != nil {
		t.Fatal(err)
	}
	b, err := client(t, s, s.Alice).User(ctx, codersdk.Me)
	if err != nil || a.ID != b.ID {
		t.Errorf("two calls: %s, %s (%v)", a.ID, b.ID, err)
	}

	// A bad or missing token: the 401 codersdk reports as its *Error.
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	bad := codersdk.New(u)
	bad.SetSessionToken("vcp_notatoken")
	_, err = bad.User(ctx, codersdk.Me)
	if e := sdkError(t, "bad token", err, http.StatusUnauthorized); e.Message != "Invalid or expired token." {
		t.Errorf("bad token: %v", e)
	}
	_, err = codersdk.New(u).User(ctx, codersdk.Me)
	sdkError(t, "no token", err, http.StatusUnauthorized)
}
