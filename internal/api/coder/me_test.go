package coder_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/vcsauth/vcsauth/internal/api/coder"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

// UserUUID is RFC 9562's version 5: these were computed with Python's uuid.uuid5, an
// implementation of its own. A change here renames every user for Coder's clients.
func TestUserUUID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"user-alice": "5ef3a169-cd4b-51ab-a8a0-ce8afee742f3",
		"user-admin": "828f7ac7-4c23-59a6-8f2e-4fc08fd47cb6",
		"":           "cae70b5a-a9bd-5101-b942-fe42803fb80d",
	} {
		if got := coder.UserUUID(id); got != want {
			t.Errorf("UserUUID(%q) = %s, want %s", id, got, want)
		}
	}
}

// GET /api/v2/users/me: the caller with any valid token, in codersdk.User's shape.
func TestMe(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	root := v.App.CreateUser(t, identity.NewUser{Username: "root", Password: "correct horse root",
		Email: "root@example.com", SiteAdmin: true})
	rootPrincipal := core.Principal{User: root}

	for _, tc := range []struct {
		name   string
		p      core.Principal
		scopes []string
		golden string
	}{
		{"every scope", v.Alice, []string{core.ScopeAPI}, "users_me"},
		// A workload's token may check itself too.
		{"credentials only", v.Alice, []string{core.ScopeCredentials}, "users_me"},
		{"site admin", rootPrincipal, []string{core.ScopeReadUser}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := v.do(t, v.token(t, tc.p, tc.scopes...), http.MethodGet, coder.PathMe, "")
			want(t, tc.name, ex, http.StatusOK)
			u := decode[coder.CurrentUser](t, ex)
			if u.ID != coder.UserUUID(tc.p.User.ID) || u.Username != tc.p.User.Username || u.Email != tc.p.User.Email ||
				u.Status != "active" || u.LoginType != "password" || !u.CreatedAt.Equal(tc.p.User.CreatedAt) ||
				!u.LastSeenAt.IsZero() || u.OrganizationIDs == nil || len(u.OrganizationIDs) != 0 {
				t.Errorf("user: %+v", u)
			}
			roles := []coder.SlimRole{}
			if tc.p.User.SiteAdmin {
				roles = append(roles, coder.SlimRole{Name: "owner", DisplayName: "Owner"})
			}
			if len(u.Roles) != len(roles) || (len(roles) > 0 && u.Roles[0] != roles[0]) ||
				(len(roles) == 0 && !bytes.Contains(ex.Body, []byte(`"roles":[]`))) {
				t.Errorf("roles %+v, want %+v: %s", u.Roles, roles, ex.Body)
			}
			if tc.golden != "" {
				v.golden(t, tc.golden, ex)
			}
		})
	}

	// Bearer works as well as Coder-Session-Token.
	ex := v.doHeader(t, http.Header{"Authorization": {"Bearer " + v.token(t, v.Bob)}}, http.MethodGet, coder.PathMe, "")
	want(t, "bearer", ex, http.StatusOK)
	if u := decode[coder.CurrentUser](t, ex); u.Username != "bob" {
		t.Errorf("bearer: %+v", u)
	}

	// Errors: the same answers as the rest of the dialect.
	for _, tc := range []struct {
		name, token, method, path string
		status                    int
		golden                    string
	}{
		{"no token", "", http.MethodGet, coder.PathMe, http.StatusUnauthorized, "unauthenticated"},
		{"unknown token", "vcp_notatoken", http.MethodGet, coder.PathMe, http.StatusUnauthorized, "invalid_token"},
		{"wrong method", v.token(t, v.Alice), http.MethodPut, coder.PathMe, http.StatusMethodNotAllowed, ""},
		{"another user", v.token(t, v.Alice), http.MethodGet, "/api/v2/users/bob", http.StatusNotFound, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := v.do(t, tc.token, tc.method, tc.path, "")
			want(t, tc.name, ex, tc.status)
			if tc.status == http.StatusMethodNotAllowed && ex.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", ex.Header.Get("Allow"))
			}
			if tc.golden != "" {
				v.golden(t, tc.golden, ex)
			}
		})
	}
}

// The email is private: only a token allowed read_user sees it, as in every dialect.
func TestMeEmailNeedsReadUser(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpts{})
	carol := v.App.CreateUser(t, identity.NewUser{Username: "carol", Password: "correct horse carol", Email: "carol@example.com"})
	for scope, email := range map[string]string{core.ScopeReadUser: "carol@example.com", core.ScopeCredentials: ""} {
		ex := v.do(t, v.token(t, core.Principal{User: carol}, scope), http.MethodGet, coder.PathMe, "")
		want(t, scope, ex, http.StatusOK)
		if u := decode[coder.CurrentUser](t, ex); u.Email != email {
			t.Errorf("token with %s: email %q, want %q", scope, u.Email, email)
		}
	}
}
