package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// The Downstream group: applications, grants, authorization codes, device
// authorizations. Helpers of this file carry a "ds" prefix: the other groups' files
// of this package are written apart from this one.

func runDownstream(t *testing.T, open Opener) {
	each(t, open, map[string]func(t *testing.T, s store.Store){
		"ApplicationRoundTrip":        dsApplicationRoundTrip,
		"ApplicationClientIDUnique":   dsApplicationClientIDUnique,
		"ApplicationNotFound":         dsApplicationNotFound,
		"ListApplications":            dsListApplications,
		"UpdateApplication":           dsUpdateApplication,
		"DeleteApplicationCascades":   dsDeleteApplicationCascades,
		"GrantFor":                    dsGrantFor,
		"GrantForConcurrent":          dsGrantForConcurrent,
		"GrantScopesFromLiveTokens":   dsGrantScopes,
		"ListGrants":                  dsListGrants,
		"DeleteGrant":                 dsDeleteGrant,
		"DeleteUserCascades":          dsDeleteUserCascades,
		"AuthCodeRoundTrip":           dsAuthCodeRoundTrip,
		"AuthCodeConsumeConcurrent":   dsAuthCodeConcurrent,
		"DeleteExpiredAuthCodes":      dsDeleteExpiredAuthCodes,
		"DeviceAuthRoundTrip":         dsDeviceAuthRoundTrip,
		"UpdateDeviceAuth":            dsUpdateDeviceAuth,
		"UpdateDeviceAuthConcurrent":  dsUpdateDeviceAuthConcurrent,
		"DeleteExpiredDeviceAuths":    dsDeleteExpiredDeviceAuths,
		"DeviceAuthUserCodeReusable":  dsDeviceAuthUserCodeReusable,
		"ApplicationWithoutOptionals": dsApplicationWithoutOptionals,
		"EnsureGrant":                 dsEnsureGrant,
		"EnsureGrantConcurrent":       dsEnsureGrantConcurrent,
		"CreateTokens":                dsCreateTokens,
		"RotateToken":                 dsRotateToken,
		"RotateTokenConcurrent":       dsRotateTokenConcurrent,
	})
}

// ---- fixtures ----

// dsHash returns a distinct 32-byte hash.
func dsHash() []byte {
	h := sha256.Sum256([]byte(uniq("hash")))
	return h[:]
}

// dsApp stores a confidential application with every field set and returns it.
func dsApp(t *testing.T, s store.Store, ownerID string) core.Application {
	t.Helper()
	name := uniq("app")
	a := core.Application{
		ClientID:     "cid-" + name,
		Name:         name,
		RedirectURIs: []string{"https://" + name + ".example.com/cb", "http://127.0.0.1/cb"},
		Scopes:       []string{"api", "read_user"},
		Confidential: true,
		SecretHash:   dsHash(),
		SecretLast:   "abcd1234",
		OwnerID:      ownerID,
		CreatedAt:    now.Add(-time.Hour),
		UpdatedAt:    now,
	}
	if err := s.CreateApplication(ctx(t), &a); err != nil {
		t.Fatalf("CreateApplication: %v", err)
	}
	if a.ID == 0 {
		t.Fatal("CreateApplication did not set ID")
	}
	return a
}

// dsGrant returns the user's grant to the application, creating it.
func dsGrant(t *testing.T, s store.Store, userID string, appID int64) core.Grant {
	t.Helper()
	g, err := s.GrantFor(ctx(t), userID, appID, now)
	if err != nil {
		t.Fatalf("GrantFor(%s, %d): %v", userID, appID, err)
	}
	return g
}

// dsToken stores an access token under g (or a personal token of userID when g is
// the zero Grant) and returns it. Each token gets a family of its own, so dsRevoke
// can revoke exactly it.
func dsToken(t *testing.T, s store.Store, userID string, g core.Grant, scopes []string, expiresAt time.Time) core.Token {
	t.Helper()
	tok := core.Token{
		Kind:          core.TokenAccess,
		Hash:          dsHash(),
		LastEight:     "tok12345",
		UserID:        userID,
		ApplicationID: g.ApplicationID,
		GrantID:       g.ID,
		Scopes:        scopes,
		FamilyID:      uniq("fam"),
		ExpiresAt:     expiresAt,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if g.ID == 0 {
		tok.Kind = core.TokenPersonal
		tok.Note = uniq("note")
	}
	if err := s.CreateToken(ctx(t), &tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if tok.ID == 0 {
		t.Fatal("CreateToken did not set ID")
	}
	return tok
}

// dsRevoke revokes one token through the store's own revocation path.
func dsRevoke(t *testing.T, s store.Store, tok core.Token) {
	t.Helper()
	n, err := s.RevokeTokens(ctx(t), store.TokenFilter{FamilyID: tok.FamilyID}, now.Add(-time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("RevokeTokens(family %s) = %d, %v; want 1", tok.FamilyID, n, err)
	}
}

// dsCode stores an authorization code with every field set and returns it.
func dsCode(t *testing.T, s store.Store, appID int64, userID string, expiresAt time.Time) core.AuthorizationCode {
	t.Helper()
	c := core.AuthorizationCode{
		Hash:                dsHash(),
		ApplicationID:       appID,
		UserID:              userID,
		RedirectURI:         "https://app.example.com/cb?x=1",
		Scopes:              []string{"api", "read_user"},
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		FamilyID:            uniq("fam"),
		ExpiresAt:           expiresAt,
		CreatedAt:           now,
	}
	if err := s.CreateAuthCode(ctx(t), c); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	return c
}

// dsDevice stores a pending device authorization and returns it.
func dsDevice(t *testing.T, s store.Store, appID int64, expiresAt time.Time) core.DeviceAuthorization {
	t.Helper()
	d := core.DeviceAuthorization{
		DeviceCodeHash: dsHash(),
		UserCode:       uniq("WDJB"),
		ApplicationID:  appID,
		Scopes:         []string{"read_user", "credentials"},
		Status:         core.DevicePending,
		Interval:       5 * time.Second,
		ExpiresAt:      expiresAt,
		CreatedAt:      now,
	}
	if err := s.CreateDeviceAuth(ctx(t), d); err != nil {
		t.Fatalf("CreateDeviceAuth: %v", err)
	}
	return d
}

// ---- comparison ----

// Normalisers: the store may give back nil or empty for empty lists and hashes, and
// times in any location; the contract is about values.
func dsNormApp(a core.Application) core.Application {
	a.RedirectURIs, a.Scopes, a.SecretHash = dsNormList(a.RedirectURIs), dsNormList(a.Scopes), dsNormBytes(a.SecretHash)
	a.CreatedAt, a.UpdatedAt = dsNormTime(a.CreatedAt), dsNormTime(a.UpdatedAt)
	return a
}

func dsNormGrant(g core.Grant) core.Grant {
	g.Scopes = dsNormList(g.Scopes)
	g.CreatedAt, g.UpdatedAt = dsNormTime(g.CreatedAt), dsNormTime(g.UpdatedAt)
	return g
}

func dsNormCode(c core.AuthorizationCode) core.AuthorizationCode {
	c.Hash, c.Scopes = dsNormBytes(c.Hash), dsNormList(c.Scopes)
	c.ExpiresAt, c.UsedAt, c.CreatedAt = dsNormTime(c.ExpiresAt), dsNormTime(c.UsedAt), dsNormTime(c.CreatedAt)
	return c
}

func dsNormDevice(d core.DeviceAuthorization) core.DeviceAuthorization {
	d.DeviceCodeHash, d.Scopes = dsNormBytes(d.DeviceCodeHash), dsNormList(d.Scopes)
	d.LastPolledAt, d.ExpiresAt, d.CreatedAt = dsNormTime(d.LastPolledAt), dsNormTime(d.ExpiresAt), dsNormTime(d.CreatedAt)
	return d
}

func dsNormList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func dsNormBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func dsNormTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func dsSameApp(t *testing.T, what string, got, want core.Application) {
	t.Helper()
	if g, w := dsNormApp(got), dsNormApp(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func dsSameGrant(t *testing.T, what string, got, want core.Grant) {
	t.Helper()
	if g, w := dsNormGrant(got), dsNormGrant(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func dsSameCode(t *testing.T, what string, got, want core.AuthorizationCode) {
	t.Helper()
	if g, w := dsNormCode(got), dsNormCode(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func dsSameDevice(t *testing.T, what string, got, want core.DeviceAuthorization) {
	t.Helper()
	if g, w := dsNormDevice(got), dsNormDevice(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func dsSameScopes(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(dsNormList(got), dsNormList(want)) {
		t.Errorf("%s: scopes %q, want %q", what, got, want)
	}
}

// dsIs fails unless err wraps target.
func dsIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func dsTokenGone(t *testing.T, s store.Store, what string, tok core.Token) {
	t.Helper()
	_, err := s.Token(ctx(t), tok.ID)
	dsIs(t, what, err, core.ErrNotFound)
}

func dsTokenKept(t *testing.T, s store.Store, what string, tok core.Token) {
	t.Helper()
	if _, err := s.Token(ctx(t), tok.ID); err != nil {
		t.Errorf("%s: Token(%d): %v", what, tok.ID, err)
	}
}

var errDSBoom = errors.New("boom from the update callback")

// ---- applications ----

func dsApplicationRoundTrip(t *testing.T, s store.Store) {
	owner := NewUser(t, s)
	a := dsApp(t, s, owner.ID)
	got, err := s.Application(ctx(t), a.ID)
	if err != nil {
		t.Fatalf("Application: %v", err)
	}
	dsSameApp(t, "Application", got, a)
	got, err = s.ApplicationByClientID(ctx(t), a.ClientID)
	if err != nil {
		t.Fatalf("ApplicationByClientID: %v", err)
	}
	dsSameApp(t, "ApplicationByClientID", got, a)

	// The other value of each flag, and a public client with no secret.
	b := core.Application{ClientID: uniq("cid"), Name: "public CLI", RedirectURIs: []string{"http://127.0.0.1/cb"},
		Scopes: []string{"read_user"}, BuiltIn: true, CreatedAt: now, UpdatedAt: now.Add(time.Minute)}
	if err := s.CreateApplication(ctx(t), &b); err != nil {
		t.Fatalf("CreateApplication(public): %v", err)
	}
	if b.ID == 0 || b.ID == a.ID {
		t.Fatalf("second application got ID %d (first %d)", b.ID, a.ID)
	}
	got, err = s.Application(ctx(t), b.ID)
	if err != nil {
		t.Fatalf("Application(public): %v", err)
	}
	dsSameApp(t, "Application(public)", got, b)
	if got.Confidential || !got.BuiltIn || len(got.SecretHash) != 0 {
		t.Errorf("public application read back as confidential=%v built_in=%v secret=%x", got.Confidential, got.BuiltIn, got.SecretHash)
	}
}

func dsApplicationWithoutOptionals(t *testing.T, s store.Store) {
	a := core.Application{ClientID: uniq("cid"), Name: "bare", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateApplication(ctx(t), &a); err != nil {
		t.Fatalf("CreateApplication: %v", err)
	}
	got, err := s.Application(ctx(t), a.ID)
	if err != nil {
		t.Fatalf("Application: %v", err)
	}
	dsSameApp(t, "Application", got, a)
	if got.RedirectURIs == nil || got.Scopes == nil {
		t.Errorf("empty lists read back as nil (redirect %#v, scopes %#v); want empty slices for the JSON encoders", got.RedirectURIs, got.Scopes)
	}
}

func dsApplicationClientIDUnique(t *testing.T, s store.Store) {
	a := dsApp(t, s, "")
	b := core.Application{ClientID: a.ClientID, Name: "twin", CreatedAt: now, UpdatedAt: now}
	dsIs(t, "CreateApplication(same client_id)", s.CreateApplication(ctx(t), &b), core.ErrConflict)
	if _, total, err := s.ListApplications(ctx(t), store.Page{}); err != nil || total != 1 {
		t.Errorf("ListApplications after conflict: total %d, %v; want 1", total, err)
	}
	got, err := s.ApplicationByClientID(ctx(t), a.ClientID)
	if err != nil || got.ID != a.ID || got.Name != a.Name {
		t.Errorf("ApplicationByClientID after conflict: %+v, %v; want the first", got, err)
	}
}

func dsApplicationNotFound(t *testing.T, s store.Store) {
	a := dsApp(t, s, "")
	missing := a.ID + 1000
	_, err := s.Application(ctx(t), missing)
	dsIs(t, "Application", err, core.ErrNotFound)
	_, err = s.ApplicationByClientID(ctx(t), "no-such-client")
	dsIs(t, "ApplicationByClientID", err, core.ErrNotFound)
	called := false
	_, err = s.UpdateApplication(ctx(t), missing, func(a core.Application) (core.Application, error) {
		called = true
		return a, nil
	})
	dsIs(t, "UpdateApplication", err, core.ErrNotFound)
	if called {
		t.Error("UpdateApplication called fn for a missing application")
	}
	dsIs(t, "DeleteApplication", s.DeleteApplication(ctx(t), missing), core.ErrNotFound)
}

func dsListApplications(t *testing.T, s store.Store) {
	got, total, err := s.ListApplications(ctx(t), store.Page{})
	if err != nil || len(got) != 0 || total != 0 {
		t.Fatalf("ListApplications(empty) = %d items, total %d, %v", len(got), total, err)
	}
	var apps []core.Application
	for range 5 {
		apps = append(apps, dsApp(t, s, ""))
	}
	got, total, err = s.ListApplications(ctx(t), store.Page{})
	if err != nil {
		t.Fatalf("ListApplications: %v", err)
	}
	if total != 5 || len(got) != 5 {
		t.Fatalf("ListApplications = %d items, total %d; want 5, 5", len(got), total)
	}
	for i := range got {
		dsSameApp(t, "ListApplications item", got[i], apps[i])
	}
	for _, tc := range []struct {
		page store.Page
		want []core.Application
	}{
		{store.Page{Number: 1, Size: 2}, apps[0:2]},
		{store.Page{Number: 2, Size: 2}, apps[2:4]},
		{store.Page{Number: 3, Size: 2}, apps[4:5]},
		{store.Page{Number: 4, Size: 2}, nil},
		{store.Page{Number: 1, Size: 10}, apps},
	} {
		got, total, err := s.ListApplications(ctx(t), tc.page)
		if err != nil {
			t.Fatalf("ListApplications(%+v): %v", tc.page, err)
		}
		if total != 5 {
			t.Errorf("ListApplications(%+v): total %d, want 5", tc.page, total)
		}
		if len(got) != len(tc.want) {
			t.Errorf("ListApplications(%+v): %d items, want %d", tc.page, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if got[i].ID != tc.want[i].ID {
				t.Errorf("ListApplications(%+v)[%d]: id %d, want %d", tc.page, i, got[i].ID, tc.want[i].ID)
			}
		}
	}
}

func dsUpdateApplication(t *testing.T, s store.Store) {
	owner, other := NewUser(t, s), NewUser(t, s)
	a := dsApp(t, s, owner.ID)
	newHash := dsHash()
	got, err := s.UpdateApplication(ctx(t), a.ID, func(old core.Application) (core.Application, error) {
		dsSameApp(t, "fn's argument", old, a)
		old.Name = "renamed"
		old.RedirectURIs = []string{"https://new.example.com/cb"}
		old.Scopes = []string{"read_api"}
		old.Confidential = false
		old.SecretHash = newHash
		old.SecretLast = "zyxw9876"
		old.OwnerID = other.ID
		old.BuiltIn = true
		old.UpdatedAt = now.Add(time.Hour)
		// Immutable: ignored.
		old.ID = a.ID + 100
		old.ClientID = "hijacked"
		old.CreatedAt = now.Add(5 * time.Hour)
		return old, nil
	})
	if err != nil {
		t.Fatalf("UpdateApplication: %v", err)
	}
	want := a
	want.Name, want.RedirectURIs, want.Scopes = "renamed", []string{"https://new.example.com/cb"}, []string{"read_api"}
	want.Confidential, want.SecretHash, want.SecretLast = false, newHash, "zyxw9876"
	want.OwnerID, want.BuiltIn, want.UpdatedAt = other.ID, true, now.Add(time.Hour)
	dsSameApp(t, "UpdateApplication result", got, want)
	stored, err := s.Application(ctx(t), a.ID)
	if err != nil {
		t.Fatalf("Application: %v", err)
	}
	dsSameApp(t, "Application after update", stored, want)
	_, err = s.ApplicationByClientID(ctx(t), "hijacked")
	dsIs(t, "ApplicationByClientID(changed client_id)", err, core.ErrNotFound)
	if _, err := s.Application(ctx(t), a.ID+100); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Application(changed id): %v, want not found", err)
	}

	// Clearing the secret (a confidential client turned public).
	got, err = s.UpdateApplication(ctx(t), a.ID, func(old core.Application) (core.Application, error) {
		old.SecretHash, old.SecretLast, old.Scopes = nil, "", nil
		return old, nil
	})
	if err != nil {
		t.Fatalf("UpdateApplication(clear secret): %v", err)
	}
	if len(got.SecretHash) != 0 || got.SecretLast != "" || len(got.Scopes) != 0 {
		t.Errorf("after clearing: secret %x %q scopes %q", got.SecretHash, got.SecretLast, got.Scopes)
	}
	before, _ := s.Application(ctx(t), a.ID)

	// An error from fn changes nothing and comes back.
	_, err = s.UpdateApplication(ctx(t), a.ID, func(old core.Application) (core.Application, error) {
		old.Name = "should not stick"
		return old, errDSBoom
	})
	dsIs(t, "UpdateApplication(fn fails)", err, errDSBoom)
	after, err := s.Application(ctx(t), a.ID)
	if err != nil {
		t.Fatalf("Application: %v", err)
	}
	dsSameApp(t, "Application after failed update", after, before)
}

func dsDeleteApplicationCascades(t *testing.T, s store.Store) {
	u1, u2 := NewUser(t, s), NewUser(t, s)
	a1, a2 := dsApp(t, s, u1.ID), dsApp(t, s, u1.ID)
	g1, g1b, g2 := dsGrant(t, s, u1.ID, a1.ID), dsGrant(t, s, u2.ID, a1.ID), dsGrant(t, s, u1.ID, a2.ID)
	t1 := dsToken(t, s, u1.ID, g1, []string{"api"}, time.Time{})
	t1b := dsToken(t, s, u2.ID, g1b, []string{"api"}, now.Add(time.Hour))
	t2 := dsToken(t, s, u1.ID, g2, []string{"api"}, time.Time{})
	tp := dsToken(t, s, u1.ID, core.Grant{}, []string{"api"}, time.Time{})
	c1, c2 := dsCode(t, s, a1.ID, u1.ID, now.Add(time.Minute)), dsCode(t, s, a2.ID, u1.ID, now.Add(time.Minute))
	d1, d2 := dsDevice(t, s, a1.ID, now.Add(time.Minute)), dsDevice(t, s, a2.ID, now.Add(time.Minute))

	if err := s.DeleteApplication(ctx(t), a1.ID); err != nil {
		t.Fatalf("DeleteApplication: %v", err)
	}
	_, err := s.Application(ctx(t), a1.ID)
	dsIs(t, "Application(deleted)", err, core.ErrNotFound)
	_, err = s.ApplicationByClientID(ctx(t), a1.ClientID)
	dsIs(t, "ApplicationByClientID(deleted)", err, core.ErrNotFound)
	for _, g := range []core.Grant{g1, g1b} {
		_, err = s.Grant(ctx(t), g.ID, now)
		dsIs(t, "Grant of the deleted application", err, core.ErrNotFound)
		_, err = s.FindGrant(ctx(t), g.UserID, a1.ID, now)
		dsIs(t, "FindGrant of the deleted application", err, core.ErrNotFound)
	}
	dsTokenGone(t, s, "token of the deleted application", t1)
	dsTokenGone(t, s, "other user's token of the deleted application", t1b)
	_, _, err = s.ConsumeAuthCode(ctx(t), c1.Hash, now)
	dsIs(t, "ConsumeAuthCode of the deleted application", err, core.ErrNotFound)
	_, err = s.DeviceAuth(ctx(t), d1.DeviceCodeHash)
	dsIs(t, "DeviceAuth of the deleted application", err, core.ErrNotFound)
	_, err = s.DeviceAuthByUserCode(ctx(t), d1.UserCode)
	dsIs(t, "DeviceAuthByUserCode of the deleted application", err, core.ErrNotFound)
	dsIs(t, "DeleteApplication again", s.DeleteApplication(ctx(t), a1.ID), core.ErrNotFound)

	// The other application and everything under it stay.
	if _, err := s.Application(ctx(t), a2.ID); err != nil {
		t.Errorf("Application(other): %v", err)
	}
	if g, err := s.Grant(ctx(t), g2.ID, now); err != nil || g.ApplicationID != a2.ID {
		t.Errorf("Grant(other) = %+v, %v", g, err)
	}
	dsTokenKept(t, s, "other application's token", t2)
	dsTokenKept(t, s, "personal token", tp)
	if _, first, err := s.ConsumeAuthCode(ctx(t), c2.Hash, now); err != nil || !first {
		t.Errorf("ConsumeAuthCode(other) = %v, %v", first, err)
	}
	if _, err := s.DeviceAuth(ctx(t), d2.DeviceCodeHash); err != nil {
		t.Errorf("DeviceAuth(other): %v", err)
	}
	if gs, total, err := s.ListGrants(ctx(t), u1.ID, now, store.Page{}); err != nil || total != 1 || len(gs) != 1 || gs[0].ID != g2.ID {
		t.Errorf("ListGrants(u1) = %+v, %d, %v; want only grant %d", gs, total, err, g2.ID)
	}
	if _, total, err := s.ListApplications(ctx(t), store.Page{}); err != nil || total != 1 {
		t.Errorf("ListApplications total %d, %v; want 1", total, err)
	}
}

// ---- grants ----

func dsGrantFor(t *testing.T, s store.Store) {
	u, u2 := NewUser(t, s), NewUser(t, s)
	a, b := dsApp(t, s, ""), dsApp(t, s, "")
	g, err := s.GrantFor(ctx(t), u.ID, a.ID, now)
	if err != nil {
		t.Fatalf("GrantFor: %v", err)
	}
	want := core.Grant{ID: g.ID, UserID: u.ID, ApplicationID: a.ID, CreatedAt: now, UpdatedAt: now}
	if g.ID == 0 {
		t.Fatal("GrantFor returned ID 0")
	}
	dsSameGrant(t, "GrantFor(new)", g, want)

	again, err := s.GrantFor(ctx(t), u.ID, a.ID, now.Add(time.Hour))
	if err != nil {
		t.Fatalf("GrantFor(again): %v", err)
	}
	dsSameGrant(t, "GrantFor(existing)", again, want)
	got, err := s.Grant(ctx(t), g.ID, now)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	dsSameGrant(t, "Grant", got, want)
	got, err = s.FindGrant(ctx(t), u.ID, a.ID, now)
	if err != nil {
		t.Fatalf("FindGrant: %v", err)
	}
	dsSameGrant(t, "FindGrant", got, want)

	// One grant per (user, application).
	gb := dsGrant(t, s, u.ID, b.ID)
	g2 := dsGrant(t, s, u2.ID, a.ID)
	if gb.ID == g.ID || g2.ID == g.ID || gb.ID == g2.ID {
		t.Errorf("grant ids not distinct: %d %d %d", g.ID, gb.ID, g2.ID)
	}
	if g2.UserID != u2.ID || g2.ApplicationID != a.ID || gb.UserID != u.ID || gb.ApplicationID != b.ID {
		t.Errorf("grants for the wrong pair: %+v %+v", gb, g2)
	}

	// FindGrant creates nothing.
	_, err = s.FindGrant(ctx(t), u2.ID, b.ID, now)
	dsIs(t, "FindGrant(none)", err, core.ErrNotFound)
	if _, total, err := s.ListGrants(ctx(t), u2.ID, now, store.Page{}); err != nil || total != 1 {
		t.Errorf("ListGrants(u2) total %d, %v; want 1 (FindGrant must not create)", total, err)
	}

	// Missing references.
	_, err = s.GrantFor(ctx(t), "user-missing", a.ID, now)
	dsIs(t, "GrantFor(missing user)", err, core.ErrNotFound)
	_, err = s.GrantFor(ctx(t), u.ID, b.ID+1000, now)
	dsIs(t, "GrantFor(missing application)", err, core.ErrNotFound)
	_, err = s.Grant(ctx(t), g2.ID+1000, now)
	dsIs(t, "Grant(missing)", err, core.ErrNotFound)
	dsIs(t, "DeleteGrant(missing)", s.DeleteGrant(ctx(t), g2.ID+1000), core.ErrNotFound)
}

func dsGrantForConcurrent(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	const n = 20
	ids := make([]int64, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			g, err := s.GrantFor(ctx(t), u.ID, a.ID, now)
			ids[i], errs[i] = g.ID, err
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("GrantFor #%d: %v", i, errs[i])
		}
		if ids[i] == 0 || ids[i] != ids[0] {
			t.Fatalf("GrantFor gave different grants: %v", ids)
		}
	}
	if gs, total, err := s.ListGrants(ctx(t), u.ID, now, store.Page{}); err != nil || total != 1 || len(gs) != 1 {
		t.Errorf("ListGrants after racing GrantFor: %d items, total %d, %v; want one grant", len(gs), total, err)
	}
}

func dsGrantScopes(t *testing.T, s store.Store) {
	u, u2 := NewUser(t, s), NewUser(t, s)
	a, b := dsApp(t, s, ""), dsApp(t, s, "")
	g := dsGrant(t, s, u.ID, a.ID)
	dsSameScopes(t, "grant without tokens", g.Scopes, nil)

	dsToken(t, s, u.ID, g, []string{"read_user", "api"}, time.Time{})                   // live, no expiry
	dsToken(t, s, u.ID, g, []string{"read_user", "credentials"}, now.Add(24*time.Hour)) // live a day
	dsToken(t, s, u.ID, g, []string{"read_api"}, now.Add(time.Hour))                    // live an hour
	dsToken(t, s, u.ID, g, []string{"dead_expired"}, now.Add(-time.Second))             // expired
	dsToken(t, s, u.ID, g, []string{"dead_at_now"}, now)                                // expires exactly now: dead
	dsRevoke(t, s, dsToken(t, s, u.ID, g, []string{"dead_revoked"}, time.Time{}))       // revoked
	dsRevoke(t, s, dsToken(t, s, u.ID, g, []string{"dead_revoked_later"}, now.Add(48*time.Hour)))
	// Other grants' and personal tokens do not count.
	gb := dsGrant(t, s, u.ID, b.ID)
	dsToken(t, s, u.ID, gb, []string{"other_app"}, time.Time{})
	g2 := dsGrant(t, s, u2.ID, a.ID)
	dsToken(t, s, u2.ID, g2, []string{"other_user"}, time.Time{})
	dsToken(t, s, u.ID, core.Grant{}, []string{"personal"}, time.Time{})
	empty := dsGrant(t, s, u2.ID, b.ID)

	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{now, []string{"api", "credentials", "read_api", "read_user"}},
		{now.Add(2 * time.Hour), []string{"api", "credentials", "read_user"}},
		{now.Add(25 * time.Hour), []string{"api", "read_user"}},
	} {
		got, err := s.Grant(ctx(t), g.ID, tc.at)
		if err != nil {
			t.Fatalf("Grant: %v", err)
		}
		dsSameScopes(t, "Grant at "+tc.at.String(), got.Scopes, tc.want)
		got, err = s.FindGrant(ctx(t), u.ID, a.ID, tc.at)
		if err != nil {
			t.Fatalf("FindGrant: %v", err)
		}
		dsSameScopes(t, "FindGrant at "+tc.at.String(), got.Scopes, tc.want)
		got, err = s.GrantFor(ctx(t), u.ID, a.ID, tc.at)
		if err != nil {
			t.Fatalf("GrantFor: %v", err)
		}
		dsSameScopes(t, "GrantFor at "+tc.at.String(), got.Scopes, tc.want)
		gs, _, err := s.ListGrants(ctx(t), u.ID, tc.at, store.Page{})
		if err != nil || len(gs) != 2 {
			t.Fatalf("ListGrants = %d grants, %v; want 2", len(gs), err)
		}
		dsSameScopes(t, "ListGrants[0] at "+tc.at.String(), gs[0].Scopes, tc.want)
		dsSameScopes(t, "ListGrants[1] at "+tc.at.String(), gs[1].Scopes, []string{"other_app"})
	}
	got, err := s.Grant(ctx(t), g2.ID, now)
	if err != nil {
		t.Fatalf("Grant(other user): %v", err)
	}
	dsSameScopes(t, "other user's grant", got.Scopes, []string{"other_user"})
	got, err = s.Grant(ctx(t), empty.ID, now)
	if err != nil {
		t.Fatalf("Grant(empty): %v", err)
	}
	dsSameScopes(t, "grant without tokens", got.Scopes, nil)

	// Revoking the last live token of a grant leaves the grant with no scopes.
	tok := dsToken(t, s, u2.ID, empty, []string{"api"}, time.Time{})
	if got, _ := s.Grant(ctx(t), empty.ID, now); !reflect.DeepEqual(got.Scopes, []string{"api"}) {
		t.Errorf("grant with one token: scopes %q, want [api]", got.Scopes)
	}
	dsRevoke(t, s, tok)
	if got, _ := s.Grant(ctx(t), empty.ID, now); len(got.Scopes) != 0 {
		t.Errorf("grant whose only token is revoked: scopes %q, want none", got.Scopes)
	}
}

func dsListGrants(t *testing.T, s store.Store) {
	u1, u2, u3 := NewUser(t, s), NewUser(t, s), NewUser(t, s)
	var apps []core.Application
	var grants []core.Grant
	for i := range 5 {
		a := dsApp(t, s, "")
		apps = append(apps, a)
		g := dsGrant(t, s, u1.ID, a.ID)
		if i < 4 { // the last grant has no token
			dsToken(t, s, u1.ID, g, []string{a.Name}, time.Time{})
			g.Scopes = []string{a.Name}
		}
		grants = append(grants, g)
	}
	for _, a := range apps[:2] {
		g := dsGrant(t, s, u2.ID, a.ID)
		dsToken(t, s, u2.ID, g, []string{"u2"}, time.Time{})
	}

	got, total, err := s.ListGrants(ctx(t), u1.ID, now, store.Page{})
	if err != nil {
		t.Fatalf("ListGrants: %v", err)
	}
	if total != 5 || len(got) != 5 {
		t.Fatalf("ListGrants(u1) = %d items, total %d; want 5, 5", len(got), total)
	}
	for i := range got {
		dsSameGrant(t, "ListGrants item", got[i], grants[i])
	}
	for _, tc := range []struct {
		page store.Page
		want []core.Grant
	}{
		{store.Page{Number: 1, Size: 2}, grants[0:2]},
		{store.Page{Number: 2, Size: 2}, grants[2:4]},
		{store.Page{Number: 3, Size: 2}, grants[4:5]},
		{store.Page{Number: 4, Size: 2}, nil},
	} {
		got, total, err := s.ListGrants(ctx(t), u1.ID, now, tc.page)
		if err != nil {
			t.Fatalf("ListGrants(%+v): %v", tc.page, err)
		}
		if total != 5 {
			t.Errorf("ListGrants(%+v): total %d, want 5", tc.page, total)
		}
		if len(got) != len(tc.want) {
			t.Errorf("ListGrants(%+v): %d items, want %d", tc.page, len(got), len(tc.want))
			continue
		}
		for i := range got {
			dsSameGrant(t, "ListGrants page item", got[i], tc.want[i])
		}
	}

	got, total, err = s.ListGrants(ctx(t), u2.ID, now, store.Page{})
	if err != nil || total != 2 || len(got) != 2 {
		t.Fatalf("ListGrants(u2) = %d items, total %d, %v; want 2, 2", len(got), total, err)
	}
	for _, g := range got {
		if g.UserID != u2.ID {
			t.Errorf("ListGrants(u2) returned a grant of %s", g.UserID)
		}
		dsSameScopes(t, "ListGrants(u2) item", g.Scopes, []string{"u2"})
	}
	got, total, err = s.ListGrants(ctx(t), u3.ID, now, store.Page{})
	if err != nil || total != 0 || len(got) != 0 {
		t.Errorf("ListGrants(no grants) = %d items, total %d, %v", len(got), total, err)
	}
}

func dsDeleteGrant(t *testing.T, s store.Store) {
	u, u2 := NewUser(t, s), NewUser(t, s)
	a, b := dsApp(t, s, ""), dsApp(t, s, "")
	gA, gB, gA2 := dsGrant(t, s, u.ID, a.ID), dsGrant(t, s, u.ID, b.ID), dsGrant(t, s, u2.ID, a.ID)
	tA1 := dsToken(t, s, u.ID, gA, []string{"api"}, time.Time{})
	tA2 := dsToken(t, s, u.ID, gA, []string{"read_user"}, now.Add(time.Hour))
	tB := dsToken(t, s, u.ID, gB, []string{"api"}, time.Time{})
	tA2x := dsToken(t, s, u2.ID, gA2, []string{"api"}, time.Time{})
	tp := dsToken(t, s, u.ID, core.Grant{}, []string{"api"}, time.Time{})

	if err := s.DeleteGrant(ctx(t), gA.ID); err != nil {
		t.Fatalf("DeleteGrant: %v", err)
	}
	_, err := s.Grant(ctx(t), gA.ID, now)
	dsIs(t, "Grant(deleted)", err, core.ErrNotFound)
	_, err = s.FindGrant(ctx(t), u.ID, a.ID, now)
	dsIs(t, "FindGrant(deleted)", err, core.ErrNotFound)
	dsTokenGone(t, s, "token of the deleted grant", tA1)
	dsTokenGone(t, s, "second token of the deleted grant", tA2)
	dsTokenKept(t, s, "token of the user's other grant", tB)
	dsTokenKept(t, s, "other user's token to the same application", tA2x)
	dsTokenKept(t, s, "personal token", tp)
	if _, err := s.Grant(ctx(t), gB.ID, now); err != nil {
		t.Errorf("Grant(user's other grant): %v", err)
	}
	if _, err := s.Grant(ctx(t), gA2.ID, now); err != nil {
		t.Errorf("Grant(other user's grant): %v", err)
	}
	if _, err := s.Application(ctx(t), a.ID); err != nil {
		t.Errorf("Application after DeleteGrant: %v", err)
	}
	dsIs(t, "DeleteGrant again", s.DeleteGrant(ctx(t), gA.ID), core.ErrNotFound)

	// Granting again starts afresh.
	g, err := s.GrantFor(ctx(t), u.ID, a.ID, now)
	if err != nil {
		t.Fatalf("GrantFor after delete: %v", err)
	}
	if g.ID == gA.ID || len(g.Scopes) != 0 {
		t.Errorf("GrantFor after delete = %+v; want a new grant without scopes", g)
	}
}

func dsDeleteUserCascades(t *testing.T, s store.Store) {
	u, u2 := NewUser(t, s), NewUser(t, s)
	a := dsApp(t, s, "")
	g, g2 := dsGrant(t, s, u.ID, a.ID), dsGrant(t, s, u2.ID, a.ID)
	tok := dsToken(t, s, u.ID, g, []string{"api"}, time.Time{})
	tok2 := dsToken(t, s, u2.ID, g2, []string{"api"}, time.Time{})
	code, code2 := dsCode(t, s, a.ID, u.ID, now.Add(time.Minute)), dsCode(t, s, a.ID, u2.ID, now.Add(time.Minute))
	approve := func(d core.DeviceAuthorization, userID string) {
		t.Helper()
		if _, err := s.UpdateDeviceAuth(ctx(t), d.DeviceCodeHash, func(d core.DeviceAuthorization) (core.DeviceAuthorization, error) {
			d.Status, d.UserID = core.DeviceApproved, userID
			return d, nil
		}); err != nil {
			t.Fatalf("UpdateDeviceAuth(approve): %v", err)
		}
	}
	dByU, dByU2, dPending := dsDevice(t, s, a.ID, now.Add(time.Minute)), dsDevice(t, s, a.ID, now.Add(time.Minute)), dsDevice(t, s, a.ID, now.Add(time.Minute))
	approve(dByU, u.ID)
	approve(dByU2, u2.ID)

	if err := s.DeleteUser(ctx(t), u.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err := s.Grant(ctx(t), g.ID, now)
	dsIs(t, "Grant of the deleted user", err, core.ErrNotFound)
	_, err = s.FindGrant(ctx(t), u.ID, a.ID, now)
	dsIs(t, "FindGrant of the deleted user", err, core.ErrNotFound)
	if gs, total, err := s.ListGrants(ctx(t), u.ID, now, store.Page{}); err != nil || total != 0 || len(gs) != 0 {
		t.Errorf("ListGrants(deleted user) = %d, %d, %v; want none", len(gs), total, err)
	}
	dsTokenGone(t, s, "token of the deleted user", tok)
	_, _, err = s.ConsumeAuthCode(ctx(t), code.Hash, now)
	dsIs(t, "ConsumeAuthCode of the deleted user", err, core.ErrNotFound)
	_, err = s.DeviceAuth(ctx(t), dByU.DeviceCodeHash)
	dsIs(t, "DeviceAuth approved by the deleted user", err, core.ErrNotFound)

	// Everybody else's stays.
	if _, err := s.Grant(ctx(t), g2.ID, now); err != nil {
		t.Errorf("Grant(other user): %v", err)
	}
	dsTokenKept(t, s, "other user's token", tok2)
	if _, first, err := s.ConsumeAuthCode(ctx(t), code2.Hash, now); err != nil || !first {
		t.Errorf("ConsumeAuthCode(other user) = %v, %v", first, err)
	}
	for _, d := range []core.DeviceAuthorization{dByU2, dPending} {
		if _, err := s.DeviceAuth(ctx(t), d.DeviceCodeHash); err != nil {
			t.Errorf("DeviceAuth(%s): %v", d.UserCode, err)
		}
	}
	if _, err := s.Application(ctx(t), a.ID); err != nil {
		t.Errorf("Application after DeleteUser: %v", err)
	}
}

// ---- authorization codes ----

func dsAuthCodeRoundTrip(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	c := dsCode(t, s, a.ID, u.ID, now.Add(10*time.Minute))

	got, first, err := s.ConsumeAuthCode(ctx(t), c.Hash, now.Add(time.Minute))
	if err != nil || !first {
		t.Fatalf("ConsumeAuthCode = first %v, %v; want first", first, err)
	}
	want := c
	want.UsedAt = now.Add(time.Minute)
	dsSameCode(t, "ConsumeAuthCode(first)", got, want)

	// The second exchange sees the code as the first left it.
	got, first, err = s.ConsumeAuthCode(ctx(t), c.Hash, now.Add(2*time.Minute))
	if err != nil || first {
		t.Fatalf("ConsumeAuthCode(again) = first %v, %v; want used", first, err)
	}
	dsSameCode(t, "ConsumeAuthCode(again)", got, want)

	_, _, err = s.ConsumeAuthCode(ctx(t), dsHash(), now)
	dsIs(t, "ConsumeAuthCode(unknown)", err, core.ErrNotFound)

	dup := c
	dup.FamilyID = "another"
	dsIs(t, "CreateAuthCode(same hash)", s.CreateAuthCode(ctx(t), dup), core.ErrConflict)
	noApp := c
	noApp.Hash, noApp.ApplicationID = dsHash(), a.ID+1000
	dsIs(t, "CreateAuthCode(missing application)", s.CreateAuthCode(ctx(t), noApp), core.ErrNotFound)
	noUser := c
	noUser.Hash, noUser.UserID = dsHash(), "user-missing"
	dsIs(t, "CreateAuthCode(missing user)", s.CreateAuthCode(ctx(t), noUser), core.ErrNotFound)

	// Expiry is the caller's to check: an expired code is returned, with its expiry.
	old := dsCode(t, s, a.ID, u.ID, now.Add(-time.Minute))
	got, first, err = s.ConsumeAuthCode(ctx(t), old.Hash, now)
	if err != nil || !first {
		t.Fatalf("ConsumeAuthCode(expired) = first %v, %v", first, err)
	}
	if !got.ExpiresAt.Equal(now.Add(-time.Minute)) {
		t.Errorf("expired code: ExpiresAt %v, want %v", got.ExpiresAt, now.Add(-time.Minute))
	}

	// A code without optional fields (no PKCE, no scopes).
	bare := core.AuthorizationCode{Hash: dsHash(), ApplicationID: a.ID, UserID: u.ID,
		RedirectURI: "https://app.example.com/cb", ExpiresAt: now.Add(time.Minute), CreatedAt: now}
	if err := s.CreateAuthCode(ctx(t), bare); err != nil {
		t.Fatalf("CreateAuthCode(bare): %v", err)
	}
	got, first, err = s.ConsumeAuthCode(ctx(t), bare.Hash, now)
	if err != nil || !first {
		t.Fatalf("ConsumeAuthCode(bare) = first %v, %v", first, err)
	}
	bare.UsedAt = now
	dsSameCode(t, "ConsumeAuthCode(bare)", got, bare)
}

func dsAuthCodeConcurrent(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	c := dsCode(t, s, a.ID, u.ID, now.Add(10*time.Minute))
	const n = 20
	codes := make([]core.AuthorizationCode, n)
	firsts := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i], firsts[i], errs[i] = s.ConsumeAuthCode(ctx(t), c.Hash, now.Add(time.Duration(i+1)*time.Second))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("ConsumeAuthCode #%d: %v", i, errs[i])
		}
		if firsts[i] {
			if winner >= 0 {
				t.Fatalf("ConsumeAuthCode: both #%d and #%d were first", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("ConsumeAuthCode: nobody was first")
	}
	usedAt := now.Add(time.Duration(winner+1) * time.Second)
	for i := range n {
		if !codes[i].UsedAt.Equal(usedAt) || !bytes.Equal(codes[i].Hash, c.Hash) {
			t.Errorf("ConsumeAuthCode #%d: used at %v (hash %x), want the winner's %v", i, codes[i].UsedAt, codes[i].Hash, usedAt)
		}
	}
}

func dsDeleteExpiredAuthCodes(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	e1 := dsCode(t, s, a.ID, u.ID, now.Add(-time.Hour))
	e2 := dsCode(t, s, a.ID, u.ID, now.Add(-time.Second))
	if _, _, err := s.ConsumeAuthCode(ctx(t), e2.Hash, now.Add(-2*time.Second)); err != nil {
		t.Fatal(err)
	}
	l1 := dsCode(t, s, a.ID, u.ID, now.Add(time.Minute))
	l2 := dsCode(t, s, a.ID, u.ID, now.Add(time.Hour))
	if _, _, err := s.ConsumeAuthCode(ctx(t), l2.Hash, now); err != nil {
		t.Fatal(err)
	}

	n, err := s.DeleteExpiredAuthCodes(ctx(t), now)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredAuthCodes = %d, %v; want 2", n, err)
	}
	for _, c := range []core.AuthorizationCode{e1, e2} {
		_, _, err := s.ConsumeAuthCode(ctx(t), c.Hash, now)
		dsIs(t, "ConsumeAuthCode(deleted)", err, core.ErrNotFound)
	}
	if _, first, err := s.ConsumeAuthCode(ctx(t), l1.Hash, now); err != nil || !first {
		t.Errorf("ConsumeAuthCode(live) = %v, %v", first, err)
	}
	// A used code is kept until it expires, so a replay is still recognised.
	if _, first, err := s.ConsumeAuthCode(ctx(t), l2.Hash, now); err != nil || first {
		t.Errorf("ConsumeAuthCode(live, used) = first %v, %v; want used", first, err)
	}
	if n, err := s.DeleteExpiredAuthCodes(ctx(t), now); err != nil || n != 0 {
		t.Errorf("DeleteExpiredAuthCodes(again) = %d, %v; want 0", n, err)
	}
}

// ---- device authorizations ----

func dsDeviceAuthRoundTrip(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	d := dsDevice(t, s, a.ID, now.Add(15*time.Minute))
	got, err := s.DeviceAuth(ctx(t), d.DeviceCodeHash)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	dsSameDevice(t, "DeviceAuth(pending)", got, d)
	got, err = s.DeviceAuthByUserCode(ctx(t), d.UserCode)
	if err != nil {
		t.Fatalf("DeviceAuthByUserCode: %v", err)
	}
	dsSameDevice(t, "DeviceAuthByUserCode(pending)", got, d)

	// Every field set, with an interval that is not a whole second.
	full := core.DeviceAuthorization{
		DeviceCodeHash: dsHash(), UserCode: uniq("FULL"), ApplicationID: a.ID,
		Scopes: []string{"api"}, Status: core.DeviceApproved, UserID: u.ID,
		Interval: 7*time.Second + 500*time.Millisecond, LastPolledAt: now.Add(30 * time.Second),
		ExpiresAt: now.Add(10 * time.Minute), CreatedAt: now.Add(-time.Minute),
	}
	if err := s.CreateDeviceAuth(ctx(t), full); err != nil {
		t.Fatalf("CreateDeviceAuth(full): %v", err)
	}
	got, err = s.DeviceAuth(ctx(t), full.DeviceCodeHash)
	if err != nil {
		t.Fatalf("DeviceAuth(full): %v", err)
	}
	dsSameDevice(t, "DeviceAuth(full)", got, full)
	got, err = s.DeviceAuthByUserCode(ctx(t), full.UserCode)
	if err != nil {
		t.Fatalf("DeviceAuthByUserCode(full): %v", err)
	}
	dsSameDevice(t, "DeviceAuthByUserCode(full)", got, full)

	sameCode := core.DeviceAuthorization{DeviceCodeHash: dsHash(), UserCode: d.UserCode, ApplicationID: a.ID,
		Status: core.DevicePending, Interval: 5 * time.Second, ExpiresAt: now.Add(time.Minute), CreatedAt: now}
	dsIs(t, "CreateDeviceAuth(same user code)", s.CreateDeviceAuth(ctx(t), sameCode), core.ErrConflict)
	sameHash := sameCode
	sameHash.DeviceCodeHash, sameHash.UserCode = d.DeviceCodeHash, uniq("HASH")
	dsIs(t, "CreateDeviceAuth(same device code)", s.CreateDeviceAuth(ctx(t), sameHash), core.ErrConflict)
	noApp := sameCode
	noApp.UserCode, noApp.ApplicationID = uniq("NOAPP"), a.ID+1000
	dsIs(t, "CreateDeviceAuth(missing application)", s.CreateDeviceAuth(ctx(t), noApp), core.ErrNotFound)

	_, err = s.DeviceAuth(ctx(t), dsHash())
	dsIs(t, "DeviceAuth(unknown)", err, core.ErrNotFound)
	_, err = s.DeviceAuthByUserCode(ctx(t), "NOSUCHCODE")
	dsIs(t, "DeviceAuthByUserCode(unknown)", err, core.ErrNotFound)
	// The first one is untouched by the failed creations.
	got, err = s.DeviceAuthByUserCode(ctx(t), d.UserCode)
	if err != nil {
		t.Fatalf("DeviceAuthByUserCode: %v", err)
	}
	dsSameDevice(t, "DeviceAuthByUserCode after conflicts", got, d)
}

func dsUpdateDeviceAuth(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a, b := dsApp(t, s, ""), dsApp(t, s, "")
	d := dsDevice(t, s, a.ID, now.Add(15*time.Minute))
	got, err := s.UpdateDeviceAuth(ctx(t), d.DeviceCodeHash, func(old core.DeviceAuthorization) (core.DeviceAuthorization, error) {
		dsSameDevice(t, "fn's argument", old, d)
		old.Status = core.DeviceApproved
		old.UserID = u.ID
		old.Scopes = []string{"read_user"}
		old.Interval = 10 * time.Second
		old.LastPolledAt = now.Add(10 * time.Second)
		old.ExpiresAt = now.Add(20 * time.Minute)
		// Immutable: ignored.
		old.DeviceCodeHash = dsHash()
		old.UserCode = "CHANGED"
		old.ApplicationID = b.ID
		old.CreatedAt = now.Add(time.Hour)
		return old, nil
	})
	if err != nil {
		t.Fatalf("UpdateDeviceAuth: %v", err)
	}
	want := d
	want.Status, want.UserID, want.Scopes = core.DeviceApproved, u.ID, []string{"read_user"}
	want.Interval, want.LastPolledAt, want.ExpiresAt = 10*time.Second, now.Add(10*time.Second), now.Add(20*time.Minute)
	dsSameDevice(t, "UpdateDeviceAuth result", got, want)
	stored, err := s.DeviceAuth(ctx(t), d.DeviceCodeHash)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	dsSameDevice(t, "DeviceAuth after update", stored, want)
	_, err = s.DeviceAuthByUserCode(ctx(t), "CHANGED")
	dsIs(t, "DeviceAuthByUserCode(changed user code)", err, core.ErrNotFound)

	// An error from fn changes nothing and comes back.
	_, err = s.UpdateDeviceAuth(ctx(t), d.DeviceCodeHash, func(old core.DeviceAuthorization) (core.DeviceAuthorization, error) {
		old.Status = core.DeviceUsed
		old.Interval = time.Hour
		return old, errDSBoom
	})
	dsIs(t, "UpdateDeviceAuth(fn fails)", err, errDSBoom)
	stored, err = s.DeviceAuth(ctx(t), d.DeviceCodeHash)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	dsSameDevice(t, "DeviceAuth after failed update", stored, want)

	// Back to no user (a denial recorded without one, say).
	got, err = s.UpdateDeviceAuth(ctx(t), d.DeviceCodeHash, func(old core.DeviceAuthorization) (core.DeviceAuthorization, error) {
		old.Status, old.UserID, old.LastPolledAt = core.DeviceDenied, "", time.Time{}
		return old, nil
	})
	if err != nil {
		t.Fatalf("UpdateDeviceAuth(clear user): %v", err)
	}
	if got.UserID != "" || got.Status != core.DeviceDenied || !got.LastPolledAt.IsZero() {
		t.Errorf("after clearing: user %q status %q last polled %v", got.UserID, got.Status, got.LastPolledAt)
	}

	called := false
	_, err = s.UpdateDeviceAuth(ctx(t), dsHash(), func(old core.DeviceAuthorization) (core.DeviceAuthorization, error) {
		called = true
		return old, nil
	})
	dsIs(t, "UpdateDeviceAuth(unknown)", err, core.ErrNotFound)
	if called {
		t.Error("UpdateDeviceAuth called fn for an unknown device code")
	}
}

// Polls of one device flow arrive concurrently (several replicas, an impatient
// client); each read-modify-write must see the one before it.
func dsUpdateDeviceAuthConcurrent(t *testing.T, s store.Store) {
	a := dsApp(t, s, "")
	d := dsDevice(t, s, a.ID, now.Add(15*time.Minute))
	const n = 30
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.UpdateDeviceAuth(ctx(t), d.DeviceCodeHash, func(old core.DeviceAuthorization) (core.DeviceAuthorization, error) {
				old.Interval += time.Second // the poll count
				old.LastPolledAt = now.Add(time.Duration(i) * time.Second)
				return old, nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("UpdateDeviceAuth #%d: %v", i, err)
		}
	}
	got, err := s.DeviceAuth(ctx(t), d.DeviceCodeHash)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if want := d.Interval + n*time.Second; got.Interval != want {
		t.Errorf("after %d concurrent updates: interval %v, want %v (updates lost)", n, got.Interval, want)
	}
}

func dsDeleteExpiredDeviceAuths(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	var expired []core.DeviceAuthorization
	for _, st := range []core.DeviceStatus{core.DevicePending, core.DeviceApproved, core.DeviceDenied, core.DeviceUsed} {
		d := dsDevice(t, s, a.ID, now.Add(-time.Minute))
		if st != core.DevicePending {
			if _, err := s.UpdateDeviceAuth(ctx(t), d.DeviceCodeHash, func(d core.DeviceAuthorization) (core.DeviceAuthorization, error) {
				d.Status, d.UserID = st, u.ID
				return d, nil
			}); err != nil {
				t.Fatalf("UpdateDeviceAuth: %v", err)
			}
		}
		expired = append(expired, d)
	}
	live := dsDevice(t, s, a.ID, now.Add(time.Minute))

	n, err := s.DeleteExpiredDeviceAuths(ctx(t), now)
	if err != nil || n != len(expired) {
		t.Fatalf("DeleteExpiredDeviceAuths = %d, %v; want %d", n, err, len(expired))
	}
	for _, d := range expired {
		_, err := s.DeviceAuth(ctx(t), d.DeviceCodeHash)
		dsIs(t, "DeviceAuth(expired, deleted)", err, core.ErrNotFound)
		_, err = s.DeviceAuthByUserCode(ctx(t), d.UserCode)
		dsIs(t, "DeviceAuthByUserCode(expired, deleted)", err, core.ErrNotFound)
	}
	got, err := s.DeviceAuth(ctx(t), live.DeviceCodeHash)
	if err != nil {
		t.Fatalf("DeviceAuth(live): %v", err)
	}
	dsSameDevice(t, "DeviceAuth(live)", got, live)
	if n, err := s.DeleteExpiredDeviceAuths(ctx(t), now); err != nil || n != 0 {
		t.Errorf("DeleteExpiredDeviceAuths(again) = %d, %v; want 0", n, err)
	}
}

// A user code is unique among stored device authorizations only: once the sweeper
// removed an expired one, its code may be drawn again.
func dsDeviceAuthUserCodeReusable(t *testing.T, s store.Store) {
	a := dsApp(t, s, "")
	d := dsDevice(t, s, a.ID, now.Add(-time.Minute))
	if _, err := s.DeleteExpiredDeviceAuths(ctx(t), now); err != nil {
		t.Fatalf("DeleteExpiredDeviceAuths: %v", err)
	}
	again := d
	again.DeviceCodeHash, again.ExpiresAt = dsHash(), now.Add(time.Minute)
	if err := s.CreateDeviceAuth(ctx(t), again); err != nil {
		t.Fatalf("CreateDeviceAuth(reused user code): %v", err)
	}
	got, err := s.DeviceAuthByUserCode(ctx(t), d.UserCode)
	if err != nil {
		t.Fatalf("DeviceAuthByUserCode: %v", err)
	}
	dsSameDevice(t, "DeviceAuthByUserCode(reused)", got, again)
}

// ---- EnsureGrant, CreateTokens, RotateToken ----

func dsEnsureGrant(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a, b := dsApp(t, s, ""), dsApp(t, s, "")
	id, err := s.EnsureGrant(ctx(t), u.ID, a.ID, now)
	if err != nil || id == 0 {
		t.Fatalf("EnsureGrant(new) = %d, %v", id, err)
	}
	g, err := s.FindGrant(ctx(t), u.ID, a.ID, now)
	if err != nil {
		t.Fatalf("FindGrant after EnsureGrant: %v", err)
	}
	dsSameGrant(t, "EnsureGrant(new)", g, core.Grant{ID: id, UserID: u.ID, ApplicationID: a.ID, CreatedAt: now, UpdatedAt: now})
	again, err := s.EnsureGrant(ctx(t), u.ID, a.ID, now.Add(time.Hour))
	if err != nil || again != id {
		t.Errorf("EnsureGrant(existing) = %d, %v; want %d", again, err, id)
	}
	// The grant GrantFor made is the one EnsureGrant finds, and the other way round.
	gb := dsGrant(t, s, u.ID, b.ID)
	if got, err := s.EnsureGrant(ctx(t), u.ID, b.ID, now); err != nil || got != gb.ID {
		t.Errorf("EnsureGrant(after GrantFor) = %d, %v; want %d", got, err, gb.ID)
	}
	if g := dsGrant(t, s, u.ID, a.ID); g.ID != id {
		t.Errorf("GrantFor(after EnsureGrant) = %d; want %d", g.ID, id)
	}
	if _, total, err := s.ListGrants(ctx(t), u.ID, now, store.Page{}); err != nil || total != 2 {
		t.Errorf("ListGrants total %d, %v; want 2", total, err)
	}
	// After DeleteGrant a new grant is made.
	if err := s.DeleteGrant(ctx(t), id); err != nil {
		t.Fatalf("DeleteGrant: %v", err)
	}
	if got, err := s.EnsureGrant(ctx(t), u.ID, a.ID, now); err != nil || got == 0 || got == id {
		t.Errorf("EnsureGrant(after delete) = %d, %v; want a new grant", got, err)
	}
	_, err = s.EnsureGrant(ctx(t), "user-missing", a.ID, now)
	dsIs(t, "EnsureGrant(missing user)", err, core.ErrNotFound)
	_, err = s.EnsureGrant(ctx(t), u.ID, b.ID+1000, now)
	dsIs(t, "EnsureGrant(missing application)", err, core.ErrNotFound)
}

func dsEnsureGrantConcurrent(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	const n = 20
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = s.EnsureGrant(ctx(t), u.ID, a.ID, now)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("EnsureGrant #%d: %v", i, errs[i])
		}
		if ids[i] != ids[0] || ids[i] == 0 {
			t.Fatalf("EnsureGrant gave different grants: %v", ids)
		}
	}
	if gs, total, err := s.ListGrants(ctx(t), u.ID, now, store.Page{}); err != nil || total != 1 || len(gs) != 1 {
		t.Errorf("ListGrants after racing EnsureGrant: %d items, total %d, %v; want one grant", len(gs), total, err)
	}
}

// dsPair returns an access and a refresh token under g, of one new family, unsaved.
func dsPair(userID string, g core.Grant) []*core.Token {
	fam := uniq("fam")
	out := []*core.Token{}
	for _, k := range []core.TokenKind{core.TokenAccess, core.TokenRefresh} {
		out = append(out, &core.Token{Kind: k, Hash: dsHash(), LastEight: "tok12345", UserID: userID,
			ApplicationID: g.ApplicationID, GrantID: g.ID, Scopes: []string{"api"}, FamilyID: fam,
			ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now})
	}
	return out
}

// dsStored checks that each of toks is stored as it is.
func dsStored(t *testing.T, what string, s store.Store, toks []*core.Token) {
	t.Helper()
	for _, tok := range toks {
		if tok.ID == 0 {
			t.Fatalf("%s: ID not set", what)
		}
		got, err := s.Token(ctx(t), tok.ID)
		if err != nil {
			t.Fatalf("%s: Token(%d): %v", what, tok.ID, err)
		}
		if got.Kind != tok.Kind || !bytes.Equal(got.Hash, tok.Hash) || got.FamilyID != tok.FamilyID ||
			got.GrantID != tok.GrantID || got.ApplicationID != tok.ApplicationID || !got.ExpiresAt.Equal(tok.ExpiresAt) ||
			!reflect.DeepEqual(got.Scopes, tok.Scopes) || !got.RevokedAt.IsZero() {
			t.Errorf("%s: stored %+v; want %+v", what, got, *tok)
		}
	}
}

// dsFamilyCount counts the tokens of a family.
func dsFamilyCount(t *testing.T, s store.Store, family string) int {
	t.Helper()
	_, total, err := s.ListTokens(ctx(t), store.TokenFilter{FamilyID: family}, store.Page{})
	if err != nil {
		t.Fatalf("ListTokens(family %s): %v", family, err)
	}
	return total
}

func dsCreateTokens(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	g := dsGrant(t, s, u.ID, a.ID)
	pair := dsPair(u.ID, g)
	if err := s.CreateTokens(ctx(t), pair); err != nil {
		t.Fatalf("CreateTokens: %v", err)
	}
	if pair[0].ID == pair[1].ID {
		t.Fatalf("CreateTokens gave one ID twice: %d", pair[0].ID)
	}
	dsStored(t, "CreateTokens", s, pair)
	if err := s.CreateTokens(ctx(t), nil); err != nil {
		t.Errorf("CreateTokens(none): %v", err)
	}

	// All or none: the second token's hash is taken, so the first is not stored.
	bad := dsPair(u.ID, g)
	bad[1].Hash = pair[0].Hash
	dsIs(t, "CreateTokens(hash taken)", s.CreateTokens(ctx(t), bad), core.ErrConflict)
	if n := dsFamilyCount(t, s, bad[0].FamilyID); n != 0 || bad[0].ID != 0 {
		t.Errorf("CreateTokens(hash taken) left %d tokens, ID %d; want none", n, bad[0].ID)
	}
	// A missing grant is ErrNotFound, nothing stored.
	missing := dsPair(u.ID, core.Grant{ID: g.ID + 1000, ApplicationID: a.ID})
	dsIs(t, "CreateTokens(missing grant)", s.CreateTokens(ctx(t), missing), core.ErrNotFound)
	if n := dsFamilyCount(t, s, missing[0].FamilyID); n != 0 {
		t.Errorf("CreateTokens(missing grant) left %d tokens", n)
	}
}

func dsRotateToken(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	g := dsGrant(t, s, u.ID, a.ID)
	first := dsPair(u.ID, g)
	if err := s.CreateTokens(ctx(t), first); err != nil {
		t.Fatalf("CreateTokens: %v", err)
	}
	at := now.Add(time.Minute)
	next := dsPair(u.ID, g)
	if err := s.RotateToken(ctx(t), first[1].ID, at, next); err != nil {
		t.Fatalf("RotateToken: %v", err)
	}
	dsStored(t, "RotateToken", s, next)
	old, err := s.Token(ctx(t), first[1].ID)
	if err != nil {
		t.Fatalf("Token(rotated): %v", err)
	}
	if !old.RevokedAt.Equal(at) || !old.LastUsedAt.Equal(at) || !old.UpdatedAt.Equal(at) {
		t.Errorf("rotated token: revoked %v, last used %v, updated %v; want %v", old.RevokedAt, old.LastUsedAt, old.UpdatedAt, at)
	}
	if acc, err := s.Token(ctx(t), first[0].ID); err != nil || !acc.RevokedAt.IsZero() {
		t.Errorf("the other token of the first pair: %+v, %v; want it untouched", acc, err)
	}

	// Rotating it again is ErrStale, and stores nothing.
	again := dsPair(u.ID, g)
	dsIs(t, "RotateToken(again)", s.RotateToken(ctx(t), first[1].ID, at.Add(time.Minute), again), core.ErrStale)
	if n := dsFamilyCount(t, s, again[0].FamilyID); n != 0 || again[0].ID != 0 {
		t.Errorf("RotateToken(again) stored %d tokens, ID %d; want none", n, again[0].ID)
	}
	if old2, _ := s.Token(ctx(t), first[1].ID); !old2.RevokedAt.Equal(at) {
		t.Errorf("RotateToken(again) moved RevokedAt to %v; want %v", old2.RevokedAt, at)
	}
	// An unknown token is ErrNotFound.
	dsIs(t, "RotateToken(missing)", s.RotateToken(ctx(t), next[1].ID+1000, at, dsPair(u.ID, g)), core.ErrNotFound)
	// A failing insert leaves the token unrevoked.
	bad := dsPair(u.ID, g)
	bad[1].Hash = first[0].Hash
	dsIs(t, "RotateToken(hash taken)", s.RotateToken(ctx(t), next[1].ID, at, bad), core.ErrConflict)
	if cur, _ := s.Token(ctx(t), next[1].ID); !cur.RevokedAt.IsZero() {
		t.Errorf("RotateToken(hash taken) revoked the token at %v; want nothing changed", cur.RevokedAt)
	}
	if n := dsFamilyCount(t, s, bad[0].FamilyID); n != 0 {
		t.Errorf("RotateToken(hash taken) stored %d tokens", n)
	}
}

func dsRotateTokenConcurrent(t *testing.T, s store.Store) {
	u := NewUser(t, s)
	a := dsApp(t, s, "")
	g := dsGrant(t, s, u.ID, a.ID)
	first := dsPair(u.ID, g)
	if err := s.CreateTokens(ctx(t), first); err != nil {
		t.Fatalf("CreateTokens: %v", err)
	}
	const n = 10
	errs := make([]error, n)
	pairs := make([][]*core.Token, n)
	var wg sync.WaitGroup
	for i := range n {
		pairs[i] = dsPair(u.ID, g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.RotateToken(ctx(t), first[1].ID, now.Add(time.Minute), pairs[i])
		}()
	}
	wg.Wait()
	won := 0
	for i := range n {
		switch {
		case errs[i] == nil:
			won++
			dsStored(t, "RotateToken(winner)", s, pairs[i])
		case errors.Is(errs[i], core.ErrStale):
			if c := dsFamilyCount(t, s, pairs[i][0].FamilyID); c != 0 {
				t.Errorf("RotateToken(loser) stored %d tokens", c)
			}
		default:
			t.Errorf("RotateToken #%d: %v; want nil or ErrStale", i, errs[i])
		}
	}
	if won != 1 {
		t.Errorf("%d rotations won; want exactly 1", won)
	}
}
