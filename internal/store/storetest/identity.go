package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// The Identity group's tests. Helpers here carry an "ident" prefix so they cannot
// collide with the other groups' files of this package.
//
// Besides what store.go states, the suite pins what every backend must agree on:
// lists come back in a stable order (users by username, organizations and projects by
// name, memberships by creation, tokens and access keys by creation, audit events
// newest first); audit Since is inclusive and Until exclusive; a login failure exactly
// window old still counts.

func runIdentity(t *testing.T, open Opener) {
	each(t, open, map[string]func(t *testing.T, s store.Store){
		"UserRoundTrip":          testUserRoundTrip,
		"UserConflict":           testUserConflict,
		"UserNotFound":           testUserNotFound,
		"ListUsers":              testListUsers,
		"UpdateUser":             testUpdateUser,
		"UpdateUserConcurrent":   testUpdateUserConcurrent,
		"DeleteUserCascades":     testDeleteUserCascades,
		"OrgRoundTrip":           testOrgRoundTrip,
		"OrgNotFound":            testOrgNotFound,
		"ListOrgs":               testListOrgs,
		"UpdateOrg":              testUpdateOrg,
		"DeleteOrgCascades":      testDeleteOrgCascades,
		"Memberships":            testMemberships,
		"OrgWithRole":            testOrgWithRole,
		"Projects":               testProjects,
		"UpdateProject":          testUpdateProject,
		"TokenRoundTrip":         testTokenRoundTrip,
		"TokenConflict":          testTokenConflict,
		"TokenNotFound":          testTokenNotFound,
		"UpdateToken":            testUpdateToken,
		"UpdateTokenConcurrent":  testUpdateTokenConcurrent,
		"ListTokens":             testListTokens,
		"RevokeTokens":           testRevokeTokens,
		"DeleteDeadTokens":       testDeleteDeadTokens,
		"LoginFailures":          testLoginFailures,
		"LoginFailuresParallel":  testLoginFailuresParallel,
		"DeleteLoginFailures":    testDeleteLoginFailures,
		"Audit":                  testAudit,
		"AccessKeys":             testAccessKeys,
		"ReencryptSecrets":       testReencryptSecrets,
		"ReencryptSecretsFailed": testReencryptSecretsFailed,
	})
	// Tokens of applications need application and grant rows, which only the
	// Downstream group can make: kept apart so they fail on their own if it breaks.
	t.Run("WithApplications", func(t *testing.T) {
		each(t, open, map[string]func(t *testing.T, s store.Store){
			"TokenRoundTrip":  testAppTokenRoundTrip,
			"Fingerprints":    testAppTokenFingerprints,
			"ListAndRevoke":   testAppTokenListAndRevoke,
			"DeleteCascades":  testAppTokenDeleteCascades,
			"PersonalExclude": testAppTokenPersonalOnly,
		})
	})
}

// ---- helpers ------------------------------------------------------------------------

// micro is an instant with every microsecond digit set, to prove the store keeps them.
var micro = now.Add(123456 * time.Microsecond)

// errBoom is what failing callbacks return.
var errBoom = errors.New("boom")

func identSame[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func identIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func identOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// identHash returns the SHA-256 of a fresh token text.
func identHash() []byte {
	h := sha256.Sum256([]byte(uniq("token-text-")))
	return h[:]
}

// identNewToken stores a personal token of the user, changed by mod first, and
// returns it as stored.
func identNewToken(t *testing.T, s store.Store, userID string, mod func(*core.Token)) core.Token {
	t.Helper()
	tok := core.Token{Kind: core.TokenPersonal, Hash: identHash(), LastEight: "abcd1234", UserID: userID,
		Scopes: []string{"api"}, CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(&tok)
	}
	if err := s.CreateToken(ctx(t), &tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if tok.ID == 0 {
		t.Fatal("CreateToken did not set the id")
	}
	return tok
}

// identNewApp stores an application through the Downstream group.
func identNewApp(t *testing.T, s store.Store) core.Application {
	t.Helper()
	a := core.Application{ClientID: uniq("client"), Name: uniq("app"), RedirectURIs: []string{"http://127.0.0.1/cb"},
		Scopes: []string{"api"}, Confidential: true, SecretHash: identHash(), SecretLast: "12345678",
		CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApplication(ctx(t), &a); err != nil {
		t.Fatalf("CreateApplication: %v", err)
	}
	return a
}

func identGrant(t *testing.T, s store.Store, userID string, appID int64) core.Grant {
	t.Helper()
	g, err := s.GrantFor(ctx(t), userID, appID, now)
	if err != nil {
		t.Fatalf("GrantFor: %v", err)
	}
	return g
}

func identTokenIDs(ts []core.Token) []int64 {
	ids := make([]int64, len(ts))
	for i, x := range ts {
		ids[i] = x.ID
	}
	return ids
}

// identListTokenIDs lists the ids f selects, checking that the total agrees.
func identListTokenIDs(t *testing.T, s store.Store, f store.TokenFilter) []int64 {
	t.Helper()
	ts, total, err := s.ListTokens(ctx(t), f, store.Page{})
	if err != nil {
		t.Fatalf("ListTokens(%+v): %v", f, err)
	}
	if total != len(ts) {
		t.Errorf("ListTokens(%+v): total %d, %d tokens", f, total, len(ts))
	}
	return identTokenIDs(ts)
}

// ---- users --------------------------------------------------------------------------

func testUserRoundTrip(t *testing.T, s store.Store) {
	full := core.User{ID: "user-full", Username: "full", Email: "full@example.com", PasswordHash: "$argon2id$v=19$x",
		TOTPSecret: "k1.c2VhbGVk", SiteAdmin: true, PasswordChangedAt: micro.Add(time.Hour),
		CreatedAt: micro, UpdatedAt: micro.Add(time.Minute)}
	bare := core.User{ID: "user-bare", Username: "bare", CreatedAt: now, UpdatedAt: now}
	for _, u := range []core.User{full, bare} {
		identOK(t, "CreateUser", s.CreateUser(ctx(t), u))
		got, err := s.User(ctx(t), u.ID)
		identOK(t, "User", err)
		identSame(t, "User", got, u)
		got, err = s.UserByUsername(ctx(t), u.Username)
		identOK(t, "UserByUsername", err)
		identSame(t, "UserByUsername", got, u)
	}

	// Times come back in UTC, whatever zone they went in with.
	zoned := core.User{ID: "user-zoned", Username: "zoned", CreatedAt: micro.In(time.FixedZone("X", 5*3600)), UpdatedAt: now}
	identOK(t, "CreateUser", s.CreateUser(ctx(t), zoned))
	got, err := s.User(ctx(t), zoned.ID)
	identOK(t, "User", err)
	if !got.CreatedAt.Equal(micro) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt %v, want %v in UTC", got.CreatedAt, micro)
	}
}

func testUserConflict(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	identIs(t, "same username", s.CreateUser(ctx(t), core.User{ID: "user-other", Username: u.Username, CreatedAt: now, UpdatedAt: now}), core.ErrConflict)
	identIs(t, "same id", s.CreateUser(ctx(t), core.User{ID: u.ID, Username: uniq("other"), CreatedAt: now, UpdatedAt: now}), core.ErrConflict)
}

func testUserNotFound(t *testing.T, s store.Store) {
	_, err := s.User(ctx(t), "user-nobody")
	identIs(t, "User", err, core.ErrNotFound)
	_, err = s.UserByUsername(ctx(t), "nobody")
	identIs(t, "UserByUsername", err, core.ErrNotFound)
	called := false
	_, err = s.UpdateUser(ctx(t), "user-nobody", func(u core.User) (core.User, error) { called = true; return u, nil })
	identIs(t, "UpdateUser", err, core.ErrNotFound)
	if called {
		t.Error("UpdateUser called fn for a missing user")
	}
	identIs(t, "DeleteUser", s.DeleteUser(ctx(t), "user-nobody"), core.ErrNotFound)
}

func testListUsers(t *testing.T, s store.Store) {
	users, total, err := s.ListUsers(ctx(t), store.Page{})
	identOK(t, "ListUsers", err)
	if len(users) != 0 || total != 0 {
		t.Errorf("empty store: %d users, total %d", len(users), total)
	}
	var names []string
	for range 5 {
		names = append(names, NewUser(t, s).Username)
	}
	slices.Sort(names)
	all, total, err := s.ListUsers(ctx(t), store.Page{})
	identOK(t, "ListUsers", err)
	if total != 5 || len(all) != 5 {
		t.Fatalf("ListUsers: %d users, total %d; want 5", len(all), total)
	}
	var paged []string
	for i, want := range []int{2, 2, 1, 0} {
		page, total, err := s.ListUsers(ctx(t), store.Page{Number: i + 1, Size: 2})
		identOK(t, "ListUsers", err)
		if len(page) != want || total != 5 {
			t.Errorf("page %d: %d users, total %d; want %d, 5", i+1, len(page), total, want)
		}
		for _, u := range page {
			paged = append(paged, u.Username)
		}
	}
	identSame(t, "usernames over pages", paged, names)
	// Number 0 is the first page.
	first, _, err := s.ListUsers(ctx(t), store.Page{Size: 2})
	identOK(t, "ListUsers", err)
	if len(first) != 2 || first[0].Username != names[0] {
		t.Errorf("page 0: %+v", first)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	other := NewUser(t, s)
	got, err := s.UpdateUser(ctx(t), u.ID, func(old core.User) (core.User, error) {
		identSame(t, "fn's argument", old, u)
		old.ID = "user-hijacked" // ignored: ids are immutable
		old.CreatedAt = now.Add(-time.Hour)
		old.Username = "renamed-" + u.Username
		old.Email = "new@example.com"
		old.PasswordHash = "$argon2id$new"
		old.TOTPSecret = "k2.bmV3"
		old.SiteAdmin = true
		old.PasswordChangedAt = micro
		old.UpdatedAt = micro
		return old, nil
	})
	identOK(t, "UpdateUser", err)
	want := u
	want.Username, want.Email, want.PasswordHash = "renamed-"+u.Username, "new@example.com", "$argon2id$new"
	want.TOTPSecret, want.SiteAdmin, want.PasswordChangedAt, want.UpdatedAt = "k2.bmV3", true, micro, micro
	identSame(t, "UpdateUser result", got, want)
	stored, err := s.User(ctx(t), u.ID)
	identOK(t, "User", err)
	identSame(t, "after UpdateUser", stored, want)
	if _, err := s.User(ctx(t), "user-hijacked"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("fn changed the id: %v", err)
	}

	// Clearing works too: zero time, empty secret, false.
	got, err = s.UpdateUser(ctx(t), u.ID, func(old core.User) (core.User, error) {
		old.TOTPSecret, old.SiteAdmin, old.PasswordChangedAt = "", false, time.Time{}
		return old, nil
	})
	identOK(t, "UpdateUser", err)
	if got.HasTOTP() || got.SiteAdmin || !got.PasswordChangedAt.IsZero() {
		t.Errorf("not cleared: %+v", got)
	}
	want = got

	// A failing fn changes nothing, and its error comes back.
	_, err = s.UpdateUser(ctx(t), u.ID, func(old core.User) (core.User, error) {
		old.Email = "lost@example.com"
		return old, errBoom
	})
	identIs(t, "failing fn", err, errBoom)
	// A taken username is a conflict, and changes nothing either.
	_, err = s.UpdateUser(ctx(t), u.ID, func(old core.User) (core.User, error) {
		old.Username, old.Email = other.Username, "lost@example.com"
		return old, nil
	})
	identIs(t, "taken username", err, core.ErrConflict)
	stored, err = s.User(ctx(t), u.ID)
	identOK(t, "User", err)
	identSame(t, "after failed updates", stored, want)
}

// Every read-modify-write runs in isolation: concurrent updates of one row lose none.
func testUpdateUserConcurrent(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateUser(ctx(t), u.ID, func(old core.User) (core.User, error) {
				old.Email += "x"
				return old, nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("UpdateUser: %v", err)
		}
	}
	got, err := s.User(ctx(t), u.ID)
	identOK(t, "User", err)
	if want := u.Email + strings.Repeat("x", n); got.Email != want {
		t.Errorf("lost %d of %d updates", len(want)-len(got.Email), n)
	}
}

func testDeleteUserCascades(t *testing.T, s store.Store) {
	u, keep := NewUser(t, s), NewUser(t, s)
	o := NewOrg(t, s)
	identOK(t, "PutMembership", s.PutMembership(ctx(t), core.Membership{OrgID: o.ID, UserID: u.ID, Role: core.RoleOwner, CreatedAt: now}))
	identOK(t, "PutMembership", s.PutMembership(ctx(t), core.Membership{OrgID: o.ID, UserID: keep.ID, Role: core.RoleMember, CreatedAt: now}))
	tok := identNewToken(t, s, u.ID, nil)
	kept := identNewToken(t, s, keep.ID, nil)
	identOK(t, "CreateAccessKey", s.CreateAccessKey(ctx(t), core.AccessKey{ID: uniq("AK"), UserID: u.ID, Secret: "k1.c2s", CreatedAt: now}))

	identOK(t, "DeleteUser", s.DeleteUser(ctx(t), u.ID))
	_, err := s.User(ctx(t), u.ID)
	identIs(t, "User", err, core.ErrNotFound)
	_, err = s.Membership(ctx(t), o.ID, u.ID)
	identIs(t, "Membership", err, core.ErrNotFound)
	_, err = s.Token(ctx(t), tok.ID)
	identIs(t, "Token", err, core.ErrNotFound)
	_, _, err = s.LookupToken(ctx(t), tok.Hash)
	identIs(t, "LookupToken", err, core.ErrNotFound)
	keys, err := s.ListAccessKeys(ctx(t), u.ID)
	identOK(t, "ListAccessKeys", err)
	if len(keys) != 0 {
		t.Errorf("access keys survived: %+v", keys)
	}
	// Others are untouched.
	if _, err := s.Org(ctx(t), o.ID); err != nil {
		t.Errorf("Org: %v", err)
	}
	if _, err := s.Membership(ctx(t), o.ID, keep.ID); err != nil {
		t.Errorf("other membership: %v", err)
	}
	if _, err := s.Token(ctx(t), kept.ID); err != nil {
		t.Errorf("other token: %v", err)
	}
	identIs(t, "DeleteUser again", s.DeleteUser(ctx(t), u.ID), core.ErrNotFound)
}

// ---- organizations ------------------------------------------------------------------

func testOrgRoundTrip(t *testing.T, s store.Store) {
	o := core.Organization{ID: "org-full", Name: "full", Email: "ops@example.com", CreatedAt: micro, UpdatedAt: micro.Add(time.Second)}
	identOK(t, "CreateOrg", s.CreateOrg(ctx(t), o))
	got, err := s.Org(ctx(t), o.ID)
	identOK(t, "Org", err)
	identSame(t, "Org", got, o)
	got, err = s.OrgByName(ctx(t), o.Name)
	identOK(t, "OrgByName", err)
	identSame(t, "OrgByName", got, o)

	identIs(t, "same name", s.CreateOrg(ctx(t), core.Organization{ID: "org-other", Name: o.Name, CreatedAt: now, UpdatedAt: now}), core.ErrConflict)
	identIs(t, "same id", s.CreateOrg(ctx(t), core.Organization{ID: o.ID, Name: "other", CreatedAt: now, UpdatedAt: now}), core.ErrConflict)
}

func testOrgNotFound(t *testing.T, s store.Store) {
	_, err := s.Org(ctx(t), "org-none")
	identIs(t, "Org", err, core.ErrNotFound)
	_, err = s.OrgByName(ctx(t), "none")
	identIs(t, "OrgByName", err, core.ErrNotFound)
	_, err = s.UpdateOrg(ctx(t), "org-none", func(o core.Organization) (core.Organization, error) { return o, nil })
	identIs(t, "UpdateOrg", err, core.ErrNotFound)
	identIs(t, "DeleteOrg", s.DeleteOrg(ctx(t), "org-none"), core.ErrNotFound)
}

func testListOrgs(t *testing.T, s store.Store) {
	var names []string
	for range 3 {
		names = append(names, NewOrg(t, s).Name)
	}
	slices.Sort(names)
	var paged []string
	for i, want := range []int{2, 1, 0} {
		page, total, err := s.ListOrgs(ctx(t), store.Page{Number: i + 1, Size: 2})
		identOK(t, "ListOrgs", err)
		if len(page) != want || total != 3 {
			t.Errorf("page %d: %d orgs, total %d; want %d, 3", i+1, len(page), total, want)
		}
		for _, o := range page {
			paged = append(paged, o.Name)
		}
	}
	identSame(t, "names over pages", paged, names)
	all, total, err := s.ListOrgs(ctx(t), store.Page{})
	identOK(t, "ListOrgs", err)
	if len(all) != 3 || total != 3 {
		t.Errorf("ListOrgs: %d, total %d", len(all), total)
	}
}

func testUpdateOrg(t *testing.T, s store.Store) {
	o, other := NewOrg(t, s), NewOrg(t, s)
	got, err := s.UpdateOrg(ctx(t), o.ID, func(old core.Organization) (core.Organization, error) {
		identSame(t, "fn's argument", old, o)
		old.ID, old.CreatedAt = "org-hijacked", micro
		old.Name, old.Email, old.UpdatedAt = "renamed-"+o.Name, "new@example.com", micro
		return old, nil
	})
	identOK(t, "UpdateOrg", err)
	want := o
	want.Name, want.Email, want.UpdatedAt = "renamed-"+o.Name, "new@example.com", micro
	identSame(t, "UpdateOrg", got, want)

	_, err = s.UpdateOrg(ctx(t), o.ID, func(old core.Organization) (core.Organization, error) {
		old.Email = "lost"
		return old, errBoom
	})
	identIs(t, "failing fn", err, errBoom)
	_, err = s.UpdateOrg(ctx(t), o.ID, func(old core.Organization) (core.Organization, error) {
		old.Name, old.Email = other.Name, "lost"
		return old, nil
	})
	identIs(t, "taken name", err, core.ErrConflict)
	stored, err := s.Org(ctx(t), o.ID)
	identOK(t, "Org", err)
	identSame(t, "after failed updates", stored, want)
}

func testDeleteOrgCascades(t *testing.T, s store.Store) {
	o, keep := NewOrg(t, s), NewOrg(t, s)
	u := NewUser(t, s)
	identOK(t, "PutMembership", s.PutMembership(ctx(t), core.Membership{OrgID: o.ID, UserID: u.ID, Role: core.RoleOwner, CreatedAt: now}))
	identOK(t, "PutMembership", s.PutMembership(ctx(t), core.Membership{OrgID: keep.ID, UserID: u.ID, Role: core.RoleOwner, CreatedAt: now}))
	p := NewProject(t, s, o.ID)
	kp := NewProject(t, s, keep.ID)

	identOK(t, "DeleteOrg", s.DeleteOrg(ctx(t), o.ID))
	_, err := s.Org(ctx(t), o.ID)
	identIs(t, "Org", err, core.ErrNotFound)
	_, err = s.Membership(ctx(t), o.ID, u.ID)
	identIs(t, "Membership", err, core.ErrNotFound)
	_, err = s.Project(ctx(t), p.ID)
	identIs(t, "Project", err, core.ErrNotFound)
	ms, err := s.ListMemberships(ctx(t), u.ID)
	identOK(t, "ListMemberships", err)
	if len(ms) != 1 || ms[0].OrgID != keep.ID {
		t.Errorf("memberships left: %+v", ms)
	}
	if _, err := s.User(ctx(t), u.ID); err != nil {
		t.Errorf("the member went with the organization: %v", err)
	}
	if _, err := s.Project(ctx(t), kp.ID); err != nil {
		t.Errorf("another organization's project: %v", err)
	}
}

// ---- memberships --------------------------------------------------------------------

func testOrgWithRole(t *testing.T, s store.Store) {
	o, other := NewOrg(t, s), NewOrg(t, s)
	admin, outsider := NewUser(t, s), NewUser(t, s)
	identOK(t, "PutMembership", s.PutMembership(ctx(t), core.Membership{OrgID: o.ID, UserID: admin.ID, Role: core.RoleAdmin, CreatedAt: micro}))
	identOK(t, "PutMembership", s.PutMembership(ctx(t), core.Membership{OrgID: other.ID, UserID: outsider.ID, Role: core.RoleOwner, CreatedAt: micro}))
	for _, tc := range []struct {
		user string
		want core.Role
	}{{admin.ID, core.RoleAdmin}, {outsider.ID, ""}, {"user-none", ""}} {
		got, role, err := s.OrgWithRole(ctx(t), o.ID, tc.user)
		identOK(t, "OrgWithRole", err)
		identSame(t, "OrgWithRole", got, o)
		if role != tc.want {
			t.Errorf("OrgWithRole(%s): role %q, want %q", tc.user, role, tc.want)
		}
		got, role, err = s.OrgByNameWithRole(ctx(t), o.Name, tc.user)
		identOK(t, "OrgByNameWithRole", err)
		identSame(t, "OrgByNameWithRole", got, o)
		if role != tc.want {
			t.Errorf("OrgByNameWithRole(%s): role %q, want %q", tc.user, role, tc.want)
		}
	}
	_, _, err := s.OrgWithRole(ctx(t), "org-none", admin.ID)
	identIs(t, "OrgWithRole of a missing organization", err, core.ErrNotFound)
	_, _, err = s.OrgByNameWithRole(ctx(t), "no-such-org", admin.ID)
	identIs(t, "OrgByNameWithRole of a missing organization", err, core.ErrNotFound)
}

func testMemberships(t *testing.T, s store.Store) {
	o1, o2 := NewOrg(t, s), NewOrg(t, s)
	u1, u2 := NewUser(t, s), NewUser(t, s)
	m := core.Membership{OrgID: o1.ID, UserID: u1.ID, Role: core.RoleMember, CreatedAt: micro}
	identOK(t, "PutMembership", s.PutMembership(ctx(t), m))
	got, err := s.Membership(ctx(t), o1.ID, u1.ID)
	identOK(t, "Membership", err)
	identSame(t, "Membership", got, m)

	// Putting again changes the role and keeps the first CreatedAt.
	identOK(t, "PutMembership", s.PutMembership(ctx(t), core.Membership{OrgID: o1.ID, UserID: u1.ID, Role: core.RoleAdmin, CreatedAt: now.Add(time.Hour)}))
	got, err = s.Membership(ctx(t), o1.ID, u1.ID)
	identOK(t, "Membership", err)
	m.Role = core.RoleAdmin
	identSame(t, "after role change", got, m)

	m2 := core.Membership{OrgID: o1.ID, UserID: u2.ID, Role: core.RoleOwner, CreatedAt: micro.Add(time.Second)}
	m3 := core.Membership{OrgID: o2.ID, UserID: u1.ID, Role: core.RoleMember, CreatedAt: micro.Add(2 * time.Second)}
	identOK(t, "PutMembership", s.PutMembership(ctx(t), m2))
	identOK(t, "PutMembership", s.PutMembership(ctx(t), m3))

	members, err := s.ListMembers(ctx(t), o1.ID)
	identOK(t, "ListMembers", err)
	identSame(t, "ListMembers", members, []core.Membership{m, m2})
	mine, err := s.ListMemberships(ctx(t), u1.ID)
	identOK(t, "ListMemberships", err)
	identSame(t, "ListMemberships", mine, []core.Membership{m, m3})
	none, err := s.ListMembers(ctx(t), "org-none")
	identOK(t, "ListMembers", err)
	if len(none) != 0 {
		t.Errorf("ListMembers of a missing org: %#v", none)
	}

	identIs(t, "missing org", s.PutMembership(ctx(t), core.Membership{OrgID: "org-none", UserID: u1.ID, Role: core.RoleMember, CreatedAt: now}), core.ErrNotFound)
	identIs(t, "missing user", s.PutMembership(ctx(t), core.Membership{OrgID: o1.ID, UserID: "user-none", Role: core.RoleMember, CreatedAt: now}), core.ErrNotFound)
	_, err = s.Membership(ctx(t), o2.ID, u2.ID)
	identIs(t, "Membership", err, core.ErrNotFound)

	identOK(t, "DeleteMembership", s.DeleteMembership(ctx(t), o1.ID, u1.ID))
	_, err = s.Membership(ctx(t), o1.ID, u1.ID)
	identIs(t, "deleted", err, core.ErrNotFound)
	identIs(t, "DeleteMembership again", s.DeleteMembership(ctx(t), o1.ID, u1.ID), core.ErrNotFound)
	if _, err := s.Membership(ctx(t), o2.ID, u1.ID); err != nil {
		t.Errorf("other membership of the user: %v", err)
	}
}

// ---- projects -----------------------------------------------------------------------

func testProjects(t *testing.T, s store.Store) {
	o, o2 := NewOrg(t, s), NewOrg(t, s)
	p := core.Project{ID: "prj-full", OrgID: o.ID, Name: "infra", Description: "all of it", CreatedAt: micro, UpdatedAt: micro.Add(time.Second)}
	identOK(t, "CreateProject", s.CreateProject(ctx(t), p))
	got, err := s.Project(ctx(t), p.ID)
	identOK(t, "Project", err)
	identSame(t, "Project", got, p)

	identIs(t, "same name, same org", s.CreateProject(ctx(t), core.Project{ID: "prj-2", OrgID: o.ID, Name: p.Name, CreatedAt: now, UpdatedAt: now}), core.ErrConflict)
	identIs(t, "same id", s.CreateProject(ctx(t), core.Project{ID: p.ID, OrgID: o2.ID, Name: "x", CreatedAt: now, UpdatedAt: now}), core.ErrConflict)
	identOK(t, "same name, other org", s.CreateProject(ctx(t), core.Project{ID: "prj-3", OrgID: o2.ID, Name: p.Name, CreatedAt: now, UpdatedAt: now}))
	identIs(t, "missing org", s.CreateProject(ctx(t), core.Project{ID: "prj-4", OrgID: "org-none", Name: "x", CreatedAt: now, UpdatedAt: now}), core.ErrNotFound)
	_, err = s.Project(ctx(t), "prj-none")
	identIs(t, "Project", err, core.ErrNotFound)

	names := []string{p.Name}
	for range 4 {
		names = append(names, NewProject(t, s, o.ID).Name)
	}
	slices.Sort(names)
	var paged []string
	for i, want := range []int{2, 2, 1, 0} {
		page, total, err := s.ListProjects(ctx(t), o.ID, store.Page{Number: i + 1, Size: 2})
		identOK(t, "ListProjects", err)
		if len(page) != want || total != 5 {
			t.Errorf("page %d: %d projects, total %d; want %d, 5", i+1, len(page), total, want)
		}
		for _, p := range page {
			if p.OrgID != o.ID {
				t.Errorf("project of another org: %+v", p)
			}
			paged = append(paged, p.Name)
		}
	}
	identSame(t, "names over pages", paged, names)
	other, total, err := s.ListProjects(ctx(t), o2.ID, store.Page{})
	identOK(t, "ListProjects", err)
	if len(other) != 1 || total != 1 || other[0].ID != "prj-3" {
		t.Errorf("ListProjects(o2): %+v, total %d", other, total)
	}
	none, total, err := s.ListProjects(ctx(t), "", store.Page{})
	identOK(t, "ListProjects", err)
	if len(none) != 0 || total != 0 {
		t.Errorf("ListProjects(\"\"): %d projects, total %d", len(none), total)
	}

	identOK(t, "DeleteProject", s.DeleteProject(ctx(t), p.ID))
	_, err = s.Project(ctx(t), p.ID)
	identIs(t, "deleted", err, core.ErrNotFound)
	identIs(t, "DeleteProject again", s.DeleteProject(ctx(t), p.ID), core.ErrNotFound)
}

func testUpdateProject(t *testing.T, s store.Store) {
	o := NewOrg(t, s)
	p, other := NewProject(t, s, o.ID), NewProject(t, s, o.ID)
	got, err := s.UpdateProject(ctx(t), p.ID, func(old core.Project) (core.Project, error) {
		identSame(t, "fn's argument", old, p)
		old.ID, old.CreatedAt = "prj-hijacked", micro
		old.Name, old.Description, old.UpdatedAt = "renamed", "now described", micro
		return old, nil
	})
	identOK(t, "UpdateProject", err)
	want := p
	want.Name, want.Description, want.UpdatedAt = "renamed", "now described", micro
	identSame(t, "UpdateProject", got, want)

	_, err = s.UpdateProject(ctx(t), p.ID, func(old core.Project) (core.Project, error) {
		old.Description = "lost"
		return old, errBoom
	})
	identIs(t, "failing fn", err, errBoom)
	_, err = s.UpdateProject(ctx(t), p.ID, func(old core.Project) (core.Project, error) {
		old.Name, old.Description = other.Name, "lost"
		return old, nil
	})
	identIs(t, "taken name", err, core.ErrConflict)
	_, err = s.UpdateProject(ctx(t), "prj-none", func(old core.Project) (core.Project, error) { return old, nil })
	identIs(t, "missing project", err, core.ErrNotFound)
	stored, err := s.Project(ctx(t), p.ID)
	identOK(t, "Project", err)
	identSame(t, "after failed updates", stored, want)
}

// ---- tokens -------------------------------------------------------------------------

func testTokenRoundTrip(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	full := core.Token{Kind: core.TokenPersonal, Hash: identHash(), LastEight: "Zz9Yy8Xx", UserID: u.ID,
		Scopes: []string{"read_api", "credentials"}, Note: "ci", NoteURL: "https://ci.example.com/",
		Fingerprint: "fp-1", FamilyID: "fam-1", ExpiresAt: micro.Add(24 * time.Hour), RevokedAt: micro.Add(time.Hour),
		LastUsedAt: micro.Add(time.Minute), CreatedAt: micro, UpdatedAt: micro.Add(time.Second)}
	identOK(t, "CreateToken", s.CreateToken(ctx(t), &full))
	bare := core.Token{Kind: core.TokenSession, Hash: identHash(), LastEight: "00000000", UserID: u.ID, CreatedAt: now, UpdatedAt: now}
	identOK(t, "CreateToken", s.CreateToken(ctx(t), &bare))
	if full.ID == 0 || bare.ID == 0 || full.ID == bare.ID {
		t.Fatalf("ids %d, %d", full.ID, bare.ID)
	}
	bare.Scopes = []string{} // nil reads back as empty
	for _, want := range []core.Token{full, bare} {
		got, err := s.Token(ctx(t), want.ID)
		identOK(t, "Token", err)
		identSame(t, "Token", got, want)
		got, gotUser, err := s.LookupToken(ctx(t), want.Hash)
		identOK(t, "LookupToken", err)
		identSame(t, "LookupToken token", got, want)
		identSame(t, "LookupToken user", gotUser, u)
	}
	_, _, err := s.LookupToken(ctx(t), identHash())
	identIs(t, "LookupToken of an unknown hash", err, core.ErrNotFound)
	_, _, err = s.LookupToken(ctx(t), full.Hash[:31])
	identIs(t, "LookupToken of a prefix", err, core.ErrNotFound)
}

func testTokenConflict(t *testing.T, s store.Store) {
	u, u2 := NewUser(t, s), NewUser(t, s)
	a := identNewToken(t, s, u.ID, func(x *core.Token) { x.Fingerprint = "laptop" })

	dup := core.Token{Kind: core.TokenPersonal, Hash: a.Hash, LastEight: "x", UserID: u2.ID, CreatedAt: now, UpdatedAt: now}
	identIs(t, "same hash", s.CreateToken(ctx(t), &dup), core.ErrConflict)
	same := core.Token{Kind: core.TokenPersonal, Hash: identHash(), LastEight: "x", UserID: u.ID, Fingerprint: "laptop", CreatedAt: now, UpdatedAt: now}
	identIs(t, "same fingerprint, same user", s.CreateToken(ctx(t), &same), core.ErrConflict)
	missing := core.Token{Kind: core.TokenPersonal, Hash: identHash(), LastEight: "x", UserID: "user-none", CreatedAt: now, UpdatedAt: now}
	identIs(t, "missing user", s.CreateToken(ctx(t), &missing), core.ErrNotFound)

	identNewToken(t, s, u2.ID, func(x *core.Token) { x.Fingerprint = "laptop" }) // another user
	identNewToken(t, s, u.ID, func(x *core.Token) { x.Fingerprint = "desktop" }) // another fingerprint
	identNewToken(t, s, u.ID, nil)                                               // no fingerprint: any number
	identNewToken(t, s, u.ID, nil)

	// A revoked token frees its fingerprint.
	n, err := s.RevokeTokens(ctx(t), store.TokenFilter{UserID: u.ID, Fingerprint: "laptop"}, now)
	identOK(t, "RevokeTokens", err)
	if n != 1 {
		t.Errorf("revoked %d", n)
	}
	identNewToken(t, s, u.ID, func(x *core.Token) { x.Fingerprint = "laptop" })
}

func testTokenNotFound(t *testing.T, s store.Store) {
	_, err := s.Token(ctx(t), 424242)
	identIs(t, "Token", err, core.ErrNotFound)
	called := false
	_, err = s.UpdateToken(ctx(t), 424242, func(x core.Token) (core.Token, error) { called = true; return x, nil })
	identIs(t, "UpdateToken", err, core.ErrNotFound)
	if called {
		t.Error("UpdateToken called fn for a missing token")
	}
	identIs(t, "DeleteToken", s.DeleteToken(ctx(t), 424242), core.ErrNotFound)

	u := NewUser(t, s)
	tok := identNewToken(t, s, u.ID, nil)
	identOK(t, "DeleteToken", s.DeleteToken(ctx(t), tok.ID))
	_, err = s.Token(ctx(t), tok.ID)
	identIs(t, "deleted", err, core.ErrNotFound)
	_, _, err = s.LookupToken(ctx(t), tok.Hash)
	identIs(t, "LookupToken after delete", err, core.ErrNotFound)
	identIs(t, "DeleteToken again", s.DeleteToken(ctx(t), tok.ID), core.ErrNotFound)
}

func testUpdateToken(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	tok := identNewToken(t, s, u.ID, func(x *core.Token) { x.Fingerprint = "a"; x.ExpiresAt = now.Add(time.Hour) })
	other := identNewToken(t, s, u.ID, func(x *core.Token) { x.Fingerprint = "b" })
	newHash := identHash()
	got, err := s.UpdateToken(ctx(t), tok.ID, func(old core.Token) (core.Token, error) {
		identSame(t, "fn's argument", old, tok)
		old.ID, old.CreatedAt = other.ID, micro       // ignored
		old.Hash, old.LastEight = newHash, "newlast8" // a reset: new text, same id
		old.Scopes = []string{"read_user"}
		old.Note, old.NoteURL, old.Fingerprint, old.FamilyID = "renamed", "https://x.example/", "c", "fam"
		old.ExpiresAt, old.LastUsedAt, old.UpdatedAt = time.Time{}, micro, micro
		return old, nil
	})
	identOK(t, "UpdateToken", err)
	want := tok
	want.Hash, want.LastEight, want.Scopes = newHash, "newlast8", []string{"read_user"}
	want.Note, want.NoteURL, want.Fingerprint, want.FamilyID = "renamed", "https://x.example/", "c", "fam"
	want.ExpiresAt, want.LastUsedAt, want.UpdatedAt = time.Time{}, micro, micro
	identSame(t, "UpdateToken", got, want)
	stored, err := s.Token(ctx(t), tok.ID)
	identOK(t, "Token", err)
	identSame(t, "after UpdateToken", stored, want)
	if o, err := s.Token(ctx(t), other.ID); err != nil || o.Note != other.Note {
		t.Errorf("the other token: %+v, %v", o, err)
	}
	_, _, err = s.LookupToken(ctx(t), tok.Hash)
	identIs(t, "old hash", err, core.ErrNotFound)
	if looked, _, err := s.LookupToken(ctx(t), newHash); err != nil || looked.ID != tok.ID {
		t.Errorf("LookupToken(new hash): %+v, %v", looked, err)
	}

	_, err = s.UpdateToken(ctx(t), tok.ID, func(old core.Token) (core.Token, error) {
		old.Note = "lost"
		return old, errBoom
	})
	identIs(t, "failing fn", err, errBoom)
	_, err = s.UpdateToken(ctx(t), tok.ID, func(old core.Token) (core.Token, error) {
		old.Fingerprint, old.Note = other.Fingerprint, "lost"
		return old, nil
	})
	identIs(t, "taken fingerprint", err, core.ErrConflict)
	_, err = s.UpdateToken(ctx(t), tok.ID, func(old core.Token) (core.Token, error) {
		old.Hash, old.Note = other.Hash, "lost"
		return old, nil
	})
	identIs(t, "taken hash", err, core.ErrConflict)
	stored, err = s.Token(ctx(t), tok.ID)
	identOK(t, "Token", err)
	identSame(t, "after failed updates", stored, want)
}

func testUpdateTokenConcurrent(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	tok := identNewToken(t, s, u.ID, nil)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateToken(ctx(t), tok.ID, func(old core.Token) (core.Token, error) {
				old.Note += "x"
				return old, nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("UpdateToken: %v", err)
		}
	}
	got, err := s.Token(ctx(t), tok.ID)
	identOK(t, "Token", err)
	if len(got.Note) != n {
		t.Errorf("lost %d of %d updates", n-len(got.Note), n)
	}
}

func testListTokens(t *testing.T, s store.Store) {
	a, b := NewUser(t, s), NewUser(t, s)
	at := now.Add(time.Hour)
	p1 := identNewToken(t, s, a.ID, func(x *core.Token) { x.Fingerprint = "fp" })
	p2 := identNewToken(t, s, a.ID, func(x *core.Token) { x.FamilyID = "fam" })
	sess := identNewToken(t, s, a.ID, func(x *core.Token) { x.Kind = core.TokenSession; x.FamilyID = "fam" })
	revoked := identNewToken(t, s, a.ID, func(x *core.Token) { x.RevokedAt = now })
	expired := identNewToken(t, s, a.ID, func(x *core.Token) { x.ExpiresAt = at }) // expires exactly at `at`: dead then
	later := identNewToken(t, s, a.ID, func(x *core.Token) { x.ExpiresAt = at.Add(time.Microsecond) })
	pb := identNewToken(t, s, b.ID, func(x *core.Token) { x.Fingerprint = "fp" })

	for _, c := range []struct {
		name string
		f    store.TokenFilter
		want []core.Token
	}{
		{"all", store.TokenFilter{}, []core.Token{p1, p2, sess, revoked, expired, later, pb}},
		{"user", store.TokenFilter{UserID: b.ID}, []core.Token{pb}},
		{"kind", store.TokenFilter{UserID: a.ID, Kinds: []core.TokenKind{core.TokenSession}}, []core.Token{sess}},
		{"kinds", store.TokenFilter{Kinds: []core.TokenKind{core.TokenSession, core.TokenPersonal}}, []core.Token{p1, p2, sess, revoked, expired, later, pb}},
		{"no such kind", store.TokenFilter{Kinds: []core.TokenKind{core.TokenRefresh}}, nil},
		{"personal only", store.TokenFilter{UserID: a.ID, PersonalOnly: true}, []core.Token{p1, p2, sess, revoked, expired, later}},
		{"family", store.TokenFilter{FamilyID: "fam"}, []core.Token{p2, sess}},
		{"fingerprint", store.TokenFilter{Fingerprint: "fp"}, []core.Token{p1, pb}},
		{"fingerprint and user", store.TokenFilter{UserID: a.ID, Fingerprint: "fp"}, []core.Token{p1}},
		{"live", store.TokenFilter{UserID: a.ID, LiveAt: at}, []core.Token{p1, p2, sess, later}},
		{"live before expiry", store.TokenFilter{UserID: a.ID, LiveAt: now}, []core.Token{p1, p2, sess, expired, later}},
		{"live session", store.TokenFilter{Kinds: []core.TokenKind{core.TokenSession}, LiveAt: at}, []core.Token{sess}},
		{"unknown user", store.TokenFilter{UserID: "user-none"}, nil},
		{"application (none here)", store.TokenFilter{ApplicationID: 1}, nil},
		{"grant (none here)", store.TokenFilter{GrantID: 1}, nil},
	} {
		got := identListTokenIDs(t, s, c.f)
		if want := identTokenIDs(c.want); !slices.Equal(got, want) {
			t.Errorf("%s: ids %v, want %v", c.name, got, want)
		}
	}

	// Full rows, in creation order.
	all, _, err := s.ListTokens(ctx(t), store.TokenFilter{UserID: b.ID}, store.Page{})
	identOK(t, "ListTokens", err)
	identSame(t, "ListTokens rows", all, []core.Token{pb})

	// Pages.
	var paged []int64
	for i, want := range []int{4, 2, 0} {
		page, total, err := s.ListTokens(ctx(t), store.TokenFilter{UserID: a.ID}, store.Page{Number: i + 1, Size: 4})
		identOK(t, "ListTokens", err)
		if len(page) != want || total != 6 {
			t.Errorf("page %d: %d tokens, total %d; want %d, 6", i+1, len(page), total, want)
		}
		paged = append(paged, identTokenIDs(page)...)
	}
	if want := identTokenIDs([]core.Token{p1, p2, sess, revoked, expired, later}); !slices.Equal(paged, want) {
		t.Errorf("ids over pages %v, want %v", paged, want)
	}
	page, total, err := s.ListTokens(ctx(t), store.TokenFilter{UserID: a.ID, LiveAt: at}, store.Page{Number: 2, Size: 3})
	identOK(t, "ListTokens", err)
	if total != 4 || len(page) != 1 || page[0].ID != later.ID {
		t.Errorf("filtered page 2: %v, total %d", identTokenIDs(page), total)
	}
}

func testRevokeTokens(t *testing.T, s store.Store) {
	a, b := NewUser(t, s), NewUser(t, s)
	at := now.Add(time.Hour)
	live1 := identNewToken(t, s, a.ID, nil)
	live2 := identNewToken(t, s, a.ID, func(x *core.Token) { x.ExpiresAt = at.Add(time.Hour) })
	sess := identNewToken(t, s, a.ID, func(x *core.Token) { x.Kind = core.TokenSession })
	revoked := identNewToken(t, s, a.ID, func(x *core.Token) { x.RevokedAt = now })
	expired := identNewToken(t, s, a.ID, func(x *core.Token) { x.ExpiresAt = now })
	other := identNewToken(t, s, b.ID, nil)

	n, err := s.RevokeTokens(ctx(t), store.TokenFilter{UserID: a.ID, Kinds: []core.TokenKind{core.TokenPersonal}}, at)
	identOK(t, "RevokeTokens", err)
	if n != 2 {
		t.Errorf("RevokeTokens counted %d, want 2 (live personal tokens of a)", n)
	}
	check := func(tok core.Token, revokedAt time.Time) {
		t.Helper()
		got, err := s.Token(ctx(t), tok.ID)
		identOK(t, "Token", err)
		if !got.RevokedAt.Equal(revokedAt) {
			t.Errorf("token %d: RevokedAt %v, want %v", tok.ID, got.RevokedAt, revokedAt)
		}
	}
	check(live1, at)
	check(live2, at)
	check(sess, time.Time{})
	check(revoked, now)         // keeps its first revocation
	check(expired, time.Time{}) // dead already: left alone
	check(other, time.Time{})   // another user
	if got, _ := s.Token(ctx(t), live1.ID); !got.UpdatedAt.Equal(at) {
		t.Errorf("UpdatedAt %v, want %v", got.UpdatedAt, at)
	}

	n, err = s.RevokeTokens(ctx(t), store.TokenFilter{UserID: a.ID, Kinds: []core.TokenKind{core.TokenPersonal}}, at.Add(time.Minute))
	identOK(t, "RevokeTokens", err)
	if n != 0 {
		t.Errorf("second RevokeTokens counted %d", n)
	}
	n, err = s.RevokeTokens(ctx(t), store.TokenFilter{UserID: "user-none"}, at)
	identOK(t, "RevokeTokens", err)
	if n != 0 {
		t.Errorf("RevokeTokens of nobody counted %d", n)
	}
	n, err = s.RevokeTokens(ctx(t), store.TokenFilter{UserID: a.ID}, at)
	identOK(t, "RevokeTokens", err)
	if n != 1 {
		t.Errorf("RevokeTokens of a's last live token counted %d", n)
	}
	check(sess, at)
	live := identListTokenIDs(t, s, store.TokenFilter{LiveAt: at})
	if !slices.Equal(live, []int64{other.ID}) {
		t.Errorf("live after revocations: %v", live)
	}
}

func testDeleteDeadTokens(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	cut := now.Add(time.Hour)
	gone := []core.Token{
		identNewToken(t, s, u.ID, func(x *core.Token) { x.RevokedAt = cut.Add(-time.Microsecond) }),
		identNewToken(t, s, u.ID, func(x *core.Token) { x.ExpiresAt = cut.Add(-time.Minute) }),
		identNewToken(t, s, u.ID, func(x *core.Token) { x.ExpiresAt = now; x.RevokedAt = now }),
	}
	kept := []core.Token{
		identNewToken(t, s, u.ID, nil),
		identNewToken(t, s, u.ID, func(x *core.Token) { x.RevokedAt = cut }),
		identNewToken(t, s, u.ID, func(x *core.Token) { x.ExpiresAt = cut.Add(time.Minute) }),
	}
	n, err := s.DeleteDeadTokens(ctx(t), cut)
	identOK(t, "DeleteDeadTokens", err)
	if n != len(gone) {
		t.Errorf("deleted %d, want %d", n, len(gone))
	}
	if got, want := identListTokenIDs(t, s, store.TokenFilter{}), identTokenIDs(kept); !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	n, err = s.DeleteDeadTokens(ctx(t), cut)
	identOK(t, "DeleteDeadTokens", err)
	if n != 0 {
		t.Errorf("second DeleteDeadTokens deleted %d", n)
	}
}

// ---- login throttling ---------------------------------------------------------------

func testLoginFailures(t *testing.T, s store.Store) {
	const window = 15 * time.Minute
	key, other := uniq("alice"), uniq("bob")
	count := func(at time.Time) int {
		t.Helper()
		n, err := s.LoginFailures(ctx(t), key, at, window)
		identOK(t, "LoginFailures", err)
		return n
	}
	if n := count(now); n != 0 {
		t.Fatalf("fresh key: %d", n)
	}
	for i, at := range []time.Time{now, now.Add(time.Minute), now.Add(2 * time.Minute)} {
		n, err := s.RecordLoginFailure(ctx(t), key, at, window)
		identOK(t, "RecordLoginFailure", err)
		if n != i+1 {
			t.Errorf("failure %d counted %d", i+1, n)
		}
	}
	if _, err := s.RecordLoginFailure(ctx(t), other, now, window); err != nil {
		t.Fatal(err)
	}
	if n := count(now.Add(2 * time.Minute)); n != 3 {
		t.Errorf("LoginFailures: %d, want 3", n)
	}
	// The window slides: a failure exactly window old still counts, older ones not.
	if n := count(now.Add(window)); n != 3 {
		t.Errorf("at now+window: %d, want 3", n)
	}
	if n := count(now.Add(window + time.Microsecond)); n != 2 {
		t.Errorf("just after now+window: %d, want 2", n)
	}
	if n := count(now.Add(window + 2*time.Minute + time.Second)); n != 0 {
		t.Errorf("after the window: %d, want 0", n)
	}
	// A failure long after the others counts alone.
	n, err := s.RecordLoginFailure(ctx(t), key, now.Add(time.Hour), window)
	identOK(t, "RecordLoginFailure", err)
	if n != 1 {
		t.Errorf("failure an hour later counted %d, want 1", n)
	}
	// A wider window sees further back than a narrow one.
	n, err = s.LoginFailures(ctx(t), other, now.Add(10*time.Minute), 5*time.Minute)
	identOK(t, "LoginFailures", err)
	if n != 0 {
		t.Errorf("narrow window: %d", n)
	}
	n, err = s.LoginFailures(ctx(t), other, now.Add(10*time.Minute), time.Hour)
	identOK(t, "LoginFailures", err)
	if n != 1 {
		t.Errorf("wide window: %d", n)
	}

	identOK(t, "ClearLoginFailures", s.ClearLoginFailures(ctx(t), key))
	if n := count(now.Add(time.Hour)); n != 0 {
		t.Errorf("after Clear: %d", n)
	}
	identOK(t, "ClearLoginFailures of a clean key", s.ClearLoginFailures(ctx(t), key))
	n, err = s.LoginFailures(ctx(t), other, now, window)
	identOK(t, "LoginFailures", err)
	if n != 1 {
		t.Errorf("Clear touched another key: %d", n)
	}
}

// DeleteLoginFailures sweeps old failures of every key and keeps newer ones.
func testDeleteLoginFailures(t *testing.T, s store.Store) {
	const window = 15 * time.Minute
	at := map[string]time.Time{ // one failure each
		uniq("sprayed"): now.Add(-2 * time.Hour), uniq("sprayed"): now.Add(-time.Hour),
		uniq("recent"): now.Add(-30 * time.Second), uniq("recent"): now,
	}
	for key, t0 := range at {
		_, err := s.RecordLoginFailure(ctx(t), key, t0, window)
		identOK(t, "RecordLoginFailure", err)
	}
	cutoff := now.Add(-time.Minute)
	n, err := s.DeleteLoginFailures(ctx(t), cutoff)
	identOK(t, "DeleteLoginFailures", err)
	if n != 2 {
		t.Errorf("deleted %d, want 2", n)
	}
	for key, t0 := range at {
		want := 0
		if !t0.Before(cutoff) {
			want = 1
		}
		got, err := s.LoginFailures(ctx(t), key, now, 24*time.Hour)
		identOK(t, "LoginFailures", err)
		if got != want {
			t.Errorf("%s (failed at %v): %d failures left, want %d", key, t0, got, want)
		}
	}
}

// Parallel failures are counted one by one: each call sees a different count, so a
// burst of guesses cannot all pass under the limit.
func testLoginFailuresParallel(t *testing.T, s store.Store) {
	const n = 20
	key := uniq("mallory")
	var wg sync.WaitGroup
	counts := make(chan int, n)
	for range n {
		wg.Go(func() {
			c, err := s.RecordLoginFailure(ctx(t), key, now, time.Hour)
			if err != nil {
				t.Errorf("RecordLoginFailure: %v", err)
			}
			counts <- c
		})
	}
	wg.Wait()
	close(counts)
	var got []int
	for c := range counts {
		got = append(got, c)
	}
	slices.Sort(got)
	for i, c := range got {
		if c != i+1 {
			t.Fatalf("counts %v, want 1…%d each once", got, n)
		}
	}
	if c, err := s.LoginFailures(ctx(t), key, now, time.Hour); err != nil || c != n {
		t.Errorf("LoginFailures: %d, %v", c, err)
	}
}

// ---- audit --------------------------------------------------------------------------

func testAudit(t *testing.T, s store.Store) {
	events, total, err := s.ListAudit(ctx(t), store.AuditFilter{}, store.Page{})
	identOK(t, "ListAudit", err)
	if total != 0 || len(events) != 0 {
		t.Fatalf("empty store: %#v, %d", events, total)
	}
	mk := func(sec int, actor, action, ttype, tid, org string) core.AuditEvent {
		return core.AuditEvent{Time: micro.Add(time.Duration(sec) * time.Second), ActorID: actor, ActorName: actor + "-name",
			Action: action, TargetType: ttype, TargetID: tid, OrgID: org, RemoteAddr: "192.0.2.1", Detail: "d" + fmt.Sprint(sec)}
	}
	in := []core.AuditEvent{
		mk(0, "user-a", "token.create", "token", "1", ""),
		mk(1, "user-a", "token.revoke", "token", "1", ""),
		mk(2, "user-b", "user.create", "user", "user-c", ""),
		mk(3, "", "oauth_client.create", "oauth_client", "oc-1", "org-1"),
		mk(3, "user-b", "tokens.weird", "token", "2", "org-1"), // same time as the one before
		mk(4, "user-a", "session.sign_in", "session", "", ""),
		mk(5, "user-a", "session.signXin", "session", "", ""),
		mk(6, "user-a", "token", "token", "3", ""),
	}
	var last int64
	for i := range in {
		identOK(t, "AppendAudit", s.AppendAudit(ctx(t), &in[i]))
		if in[i].ID <= last {
			t.Fatalf("AppendAudit id %d after %d", in[i].ID, last)
		}
		last = in[i].ID
	}
	// Newest first; among equal times, the later append first.
	rev := func(idx ...int) []core.AuditEvent {
		var out []core.AuditEvent
		for _, i := range slices.Backward(idx) {
			out = append(out, in[i])
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    store.AuditFilter
		want []core.AuditEvent
	}{
		{"all", store.AuditFilter{}, rev(0, 1, 2, 3, 4, 5, 6, 7)},
		{"actor", store.AuditFilter{ActorID: "user-b"}, rev(2, 4)},
		{"prefix", store.AuditFilter{Action: "token."}, rev(0, 1)},
		{"exact", store.AuditFilter{Action: "token.revoke"}, rev(1)},
		{"exact, no prefix match", store.AuditFilter{Action: "token"}, rev(7)},
		{"underscore is no wildcard", store.AuditFilter{Action: "session.sign_in"}, rev(5)},
		{"prefix with underscore", store.AuditFilter{Action: "oauth_client."}, rev(3)},
		{"prefix matching nothing", store.AuditFilter{Action: "oauthXclient."}, nil},
		{"target type", store.AuditFilter{TargetType: "token"}, rev(0, 1, 4, 7)},
		{"target", store.AuditFilter{TargetType: "token", TargetID: "1"}, rev(0, 1)},
		{"org", store.AuditFilter{OrgID: "org-1"}, rev(3, 4)},
		{"since (inclusive)", store.AuditFilter{Since: micro.Add(5 * time.Second)}, rev(6, 7)},
		{"until (exclusive)", store.AuditFilter{Until: micro.Add(2 * time.Second)}, rev(0, 1)},
		{"between", store.AuditFilter{Since: micro.Add(time.Second), Until: micro.Add(4 * time.Second)}, rev(1, 2, 3, 4)},
		{"all at once", store.AuditFilter{ActorID: "user-a", Action: "token.", TargetType: "token", TargetID: "1",
			Since: micro, Until: micro.Add(time.Second)}, rev(0)},
	} {
		got, total, err := s.ListAudit(ctx(t), c.f, store.Page{})
		identOK(t, "ListAudit", err)
		if c.want == nil {
			c.want = []core.AuditEvent{}
		}
		identSame(t, c.name, got, c.want)
		if total != len(c.want) {
			t.Errorf("%s: total %d, want %d", c.name, total, len(c.want))
		}
	}

	var paged []core.AuditEvent
	for i, want := range []int{3, 3, 2, 0} {
		page, total, err := s.ListAudit(ctx(t), store.AuditFilter{}, store.Page{Number: i + 1, Size: 3})
		identOK(t, "ListAudit", err)
		if len(page) != want || total != len(in) {
			t.Errorf("page %d: %d events, total %d; want %d, %d", i+1, len(page), total, want, len(in))
		}
		paged = append(paged, page...)
	}
	identSame(t, "events over pages", paged, rev(0, 1, 2, 3, 4, 5, 6, 7))
	page, total, err := s.ListAudit(ctx(t), store.AuditFilter{ActorID: "user-a"}, store.Page{Number: 2, Size: 3})
	identOK(t, "ListAudit", err)
	identSame(t, "filtered page 2", page, rev(0, 1))
	if total != 5 {
		t.Errorf("filtered total %d, want 5", total)
	}
}

// ---- access keys --------------------------------------------------------------------

func testAccessKeys(t *testing.T, s store.Store) {
	u, v := NewUser(t, s), NewUser(t, s)
	k1 := core.AccessKey{ID: uniq("AK"), UserID: u.ID, Secret: "k1.c2VjcmV0", CreatedAt: micro}
	k2 := core.AccessKey{ID: uniq("AK"), UserID: u.ID, Secret: "k1.b3RoZXI", CreatedAt: micro.Add(time.Second)}
	k3 := core.AccessKey{ID: uniq("AK"), UserID: v.ID, Secret: "k1.dg", CreatedAt: now}
	for _, k := range []core.AccessKey{k2, k1, k3} {
		identOK(t, "CreateAccessKey", s.CreateAccessKey(ctx(t), k))
	}
	got, err := s.AccessKey(ctx(t), k1.ID)
	identOK(t, "AccessKey", err)
	identSame(t, "AccessKey", got, k1)
	list, err := s.ListAccessKeys(ctx(t), u.ID)
	identOK(t, "ListAccessKeys", err)
	identSame(t, "ListAccessKeys", list, []core.AccessKey{k1, k2})
	none, err := s.ListAccessKeys(ctx(t), "user-none")
	identOK(t, "ListAccessKeys", err)
	if len(none) != 0 {
		t.Errorf("ListAccessKeys of nobody: %#v", none)
	}

	identIs(t, "same id", s.CreateAccessKey(ctx(t), core.AccessKey{ID: k1.ID, UserID: v.ID, Secret: "x", CreatedAt: now}), core.ErrConflict)
	identIs(t, "missing user", s.CreateAccessKey(ctx(t), core.AccessKey{ID: uniq("AK"), UserID: "user-none", Secret: "x", CreatedAt: now}), core.ErrNotFound)
	_, err = s.AccessKey(ctx(t), "AK-none")
	identIs(t, "AccessKey", err, core.ErrNotFound)

	identOK(t, "DeleteAccessKey", s.DeleteAccessKey(ctx(t), k1.ID))
	_, err = s.AccessKey(ctx(t), k1.ID)
	identIs(t, "deleted", err, core.ErrNotFound)
	identIs(t, "DeleteAccessKey again", s.DeleteAccessKey(ctx(t), k1.ID), core.ErrNotFound)
	list, err = s.ListAccessKeys(ctx(t), u.ID)
	identOK(t, "ListAccessKeys", err)
	identSame(t, "after delete", list, []core.AccessKey{k2})
}

// ---- key rotation -------------------------------------------------------------------

// identSecrets makes a user with a second factor, one without, and an access key.
func identSecrets(t *testing.T, s store.Store) (withTOTP, without core.User, key core.AccessKey) {
	t.Helper()
	withTOTP, without = NewUser(t, s), NewUser(t, s)
	withTOTP, err := s.UpdateUser(ctx(t), withTOTP.ID, func(u core.User) (core.User, error) {
		u.TOTPSecret = "k1.dG90cA"
		return u, nil
	})
	identOK(t, "UpdateUser", err)
	key = core.AccessKey{ID: uniq("AK"), UserID: without.ID, Secret: "k1.c2s", CreatedAt: now}
	identOK(t, "CreateAccessKey", s.CreateAccessKey(ctx(t), key))
	return withTOTP, without, key
}

func testReencryptSecrets(t *testing.T, s store.Store) {
	withTOTP, without, key := identSecrets(t, s)
	var seen []core.Sealed
	n, err := s.ReencryptSecrets(ctx(t), func(v core.Sealed) (core.Sealed, error) {
		seen = append(seen, v)
		return v + "x", nil
	})
	identOK(t, "ReencryptSecrets", err)
	if n != 2 {
		t.Errorf("rewrote %d values, want 2", n)
	}
	slices.Sort(seen)
	identSame(t, "values given to fn (never an empty one)", seen, []core.Sealed{"k1.c2s", "k1.dG90cA"})
	u, err := s.User(ctx(t), withTOTP.ID)
	identOK(t, "User", err)
	if u.TOTPSecret != withTOTP.TOTPSecret+"x" {
		t.Errorf("totp secret %q", u.TOTPSecret)
	}
	u, err = s.User(ctx(t), without.ID)
	identOK(t, "User", err)
	if u.TOTPSecret != "" {
		t.Errorf("an empty secret became %q", u.TOTPSecret)
	}
	k, err := s.AccessKey(ctx(t), key.ID)
	identOK(t, "AccessKey", err)
	if k.Secret != key.Secret+"x" {
		t.Errorf("access key secret %q", k.Secret)
	}
	// Values fn returns unchanged are not rewritten, nor counted.
	n, err = s.ReencryptSecrets(ctx(t), func(v core.Sealed) (core.Sealed, error) { return v, nil })
	identOK(t, "ReencryptSecrets", err)
	if n != 0 {
		t.Errorf("identity rewrote %d values", n)
	}
}

func testReencryptSecretsFailed(t *testing.T, s store.Store) {
	withTOTP, _, key := identSecrets(t, s)
	calls := 0
	_, err := s.ReencryptSecrets(ctx(t), func(v core.Sealed) (core.Sealed, error) {
		calls++
		if calls == 2 {
			return "", errBoom
		}
		return v + "x", nil
	})
	identIs(t, "ReencryptSecrets", err, errBoom)
	u, err := s.User(ctx(t), withTOTP.ID)
	identOK(t, "User", err)
	k, err := s.AccessKey(ctx(t), key.ID)
	identOK(t, "AccessKey", err)
	if u.TOTPSecret != withTOTP.TOTPSecret || k.Secret != key.Secret {
		t.Errorf("a failed rotation wrote: totp %q, access key %q", u.TOTPSecret, k.Secret)
	}
}

// ---- tokens of applications ---------------------------------------------------------

func testAppTokenRoundTrip(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	app := identNewApp(t, s)
	g := identGrant(t, s, u.ID, app.ID)
	tok := identNewToken(t, s, u.ID, func(x *core.Token) {
		x.Kind, x.ApplicationID, x.GrantID, x.FamilyID = core.TokenAccess, app.ID, g.ID, "fam"
		x.ExpiresAt = micro.Add(time.Hour)
	})
	got, err := s.Token(ctx(t), tok.ID)
	identOK(t, "Token", err)
	identSame(t, "Token", got, tok)
	got, gotUser, err := s.LookupToken(ctx(t), tok.Hash)
	identOK(t, "LookupToken", err)
	identSame(t, "LookupToken", got, tok)
	identSame(t, "LookupToken user", gotUser, u)

	// Moving a token to no application stores NULL again.
	got, err = s.UpdateToken(ctx(t), tok.ID, func(x core.Token) (core.Token, error) {
		x.ApplicationID, x.GrantID = 0, 0
		return x, nil
	})
	identOK(t, "UpdateToken", err)
	if got.ApplicationID != 0 || got.GrantID != 0 {
		t.Errorf("UpdateToken: application %d, grant %d", got.ApplicationID, got.GrantID)
	}
	missing := core.Token{Kind: core.TokenAccess, Hash: identHash(), UserID: u.ID, ApplicationID: app.ID + 1000, CreatedAt: now, UpdatedAt: now}
	identIs(t, "missing application", s.CreateToken(ctx(t), &missing), core.ErrNotFound)
}

func testAppTokenFingerprints(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a1, a2 := identNewApp(t, s), identNewApp(t, s)
	g1, g2 := identGrant(t, s, u.ID, a1.ID), identGrant(t, s, u.ID, a2.ID)
	withFP := func(app core.Application, g core.Grant) func(*core.Token) {
		return func(x *core.Token) {
			x.Kind, x.ApplicationID, x.GrantID, x.Fingerprint = core.TokenAccess, app.ID, g.ID, "fp"
		}
	}
	identNewToken(t, s, u.ID, withFP(a1, g1))
	identNewToken(t, s, u.ID, withFP(a2, g2))                               // another application
	identNewToken(t, s, u.ID, func(x *core.Token) { x.Fingerprint = "fp" }) // no application
	dup := core.Token{Hash: identHash(), UserID: u.ID, CreatedAt: now, UpdatedAt: now}
	withFP(a1, g1)(&dup)
	identIs(t, "same fingerprint, same application", s.CreateToken(ctx(t), &dup), core.ErrConflict)
}

func testAppTokenListAndRevoke(t *testing.T, s store.Store) {
	u, v := NewUser(t, s), NewUser(t, s)
	app, app2 := identNewApp(t, s), identNewApp(t, s)
	g, gv, g2 := identGrant(t, s, u.ID, app.ID), identGrant(t, s, v.ID, app.ID), identGrant(t, s, u.ID, app2.ID)
	of := func(app core.Application, g core.Grant, kind core.TokenKind, fam string) func(*core.Token) {
		return func(x *core.Token) { x.Kind, x.ApplicationID, x.GrantID, x.FamilyID = kind, app.ID, g.ID, fam }
	}
	acc := identNewToken(t, s, u.ID, of(app, g, core.TokenAccess, "f1"))
	ref := identNewToken(t, s, u.ID, of(app, g, core.TokenRefresh, "f1"))
	acc2 := identNewToken(t, s, u.ID, of(app, g, core.TokenAccess, "f2"))
	vacc := identNewToken(t, s, v.ID, of(app, gv, core.TokenAccess, "f3"))
	other := identNewToken(t, s, u.ID, of(app2, g2, core.TokenAccess, "f4"))
	pat := identNewToken(t, s, u.ID, nil)

	for _, c := range []struct {
		name string
		f    store.TokenFilter
		want []core.Token
	}{
		{"application", store.TokenFilter{ApplicationID: app.ID}, []core.Token{acc, ref, acc2, vacc}},
		{"application and user", store.TokenFilter{ApplicationID: app.ID, UserID: u.ID}, []core.Token{acc, ref, acc2}},
		{"grant", store.TokenFilter{GrantID: g.ID}, []core.Token{acc, ref, acc2}},
		{"grant and kind", store.TokenFilter{GrantID: g.ID, Kinds: []core.TokenKind{core.TokenRefresh}}, []core.Token{ref}},
		{"family", store.TokenFilter{FamilyID: "f1"}, []core.Token{acc, ref}},
		{"personal only", store.TokenFilter{UserID: u.ID, PersonalOnly: true}, []core.Token{pat}},
		{"personal only and application", store.TokenFilter{PersonalOnly: true, ApplicationID: app.ID}, nil},
		{"user", store.TokenFilter{UserID: u.ID}, []core.Token{acc, ref, acc2, other, pat}},
	} {
		got := identListTokenIDs(t, s, c.f)
		if want := identTokenIDs(c.want); !slices.Equal(got, want) {
			t.Errorf("%s: ids %v, want %v", c.name, got, want)
		}
	}

	n, err := s.RevokeTokens(ctx(t), store.TokenFilter{FamilyID: "f1"}, now)
	identOK(t, "RevokeTokens", err)
	if n != 2 {
		t.Errorf("revoked family: %d", n)
	}
	n, err = s.RevokeTokens(ctx(t), store.TokenFilter{GrantID: g.ID}, now)
	identOK(t, "RevokeTokens", err)
	if n != 1 {
		t.Errorf("revoked grant: %d (family already revoked)", n)
	}
	if got := identListTokenIDs(t, s, store.TokenFilter{LiveAt: now}); !slices.Equal(got, identTokenIDs([]core.Token{vacc, other, pat})) {
		t.Errorf("live after revocations: %v", got)
	}
}

func testAppTokenDeleteCascades(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	app := identNewApp(t, s)
	g := identGrant(t, s, u.ID, app.ID)
	tok := identNewToken(t, s, u.ID, func(x *core.Token) { x.Kind, x.ApplicationID, x.GrantID = core.TokenAccess, app.ID, g.ID })
	pat := identNewToken(t, s, u.ID, nil)
	identOK(t, "DeleteGrant", s.DeleteGrant(ctx(t), g.ID))
	_, err := s.Token(ctx(t), tok.ID)
	identIs(t, "token of a deleted grant", err, core.ErrNotFound)
	if _, err := s.Token(ctx(t), pat.ID); err != nil {
		t.Errorf("personal token: %v", err)
	}
	// Deleting the user takes their grants along.
	g = identGrant(t, s, u.ID, app.ID)
	identOK(t, "DeleteUser", s.DeleteUser(ctx(t), u.ID))
	_, err = s.Grant(ctx(t), g.ID, now)
	identIs(t, "grant of a deleted user", err, core.ErrNotFound)
}

func testAppTokenPersonalOnly(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	app := identNewApp(t, s)
	g := identGrant(t, s, u.ID, app.ID)
	identNewToken(t, s, u.ID, func(x *core.Token) { x.Kind, x.ApplicationID, x.GrantID = core.TokenAccess, app.ID, g.ID })
	pat := identNewToken(t, s, u.ID, nil)
	n, err := s.RevokeTokens(ctx(t), store.TokenFilter{UserID: u.ID, PersonalOnly: true}, now)
	identOK(t, "RevokeTokens", err)
	if n != 1 {
		t.Errorf("revoked %d, want only the personal token", n)
	}
	if got := identListTokenIDs(t, s, store.TokenFilter{UserID: u.ID, LiveAt: now, PersonalOnly: true}); len(got) != 0 {
		t.Errorf("live personal tokens: %v (revoked %d)", got, pat.ID)
	}
	if got := identListTokenIDs(t, s, store.TokenFilter{UserID: u.ID, LiveAt: now}); len(got) != 1 {
		t.Errorf("live tokens: %v", got)
	}
}
