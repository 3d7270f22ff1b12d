package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// The Upstream group: OAuth clients, connections, flow states. Helpers here carry the
// prefix "up" so they cannot collide with the other groups' files of the package.

func runUpstream(t *testing.T, open Opener) {
	each(t, open, map[string]func(t *testing.T, s store.Store){
		"OAuthClientRoundTrip":          testOAuthClientRoundTrip,
		"OAuthClientUpdate":             testOAuthClientUpdate,
		"OAuthClientErrors":             testOAuthClientErrors,
		"OAuthClientList":               testOAuthClientList,
		"DeleteOAuthClientCascades":     testDeleteOAuthClientCascades,
		"DeleteProjectCascades":         testUpstreamDeleteProject,
		"DeleteOrgCascades":             testUpstreamDeleteOrg,
		"DeleteUserCascades":            testUpstreamDeleteUser,
		"ConnectionRoundTrip":           testConnectionRoundTrip,
		"ConnectionUpdate":              testConnectionUpdate,
		"ConnectionErrors":              testConnectionErrors,
		"ConnectionList":                testConnectionList,
		"UpdateConnectionNoLostUpdate":  testUpdateConnectionNoLostUpdate,
		"UpdateConnectionCompareSwap":   testUpdateConnectionCompareSwap,
		"ConnectionsExpiringBefore":     testConnectionsExpiringBefore,
		"FlowStateRoundTrip":            testFlowStateRoundTrip,
		"ConsumeFlowState":              testConsumeFlowState,
		"ConsumeFlowStateConcurrent":    testConsumeFlowStateConcurrent,
		"DeleteExpiredFlowStates":       testDeleteExpiredFlowStates,
		"ReencryptSecretsReachUpstream": testReencryptUpstream,
		"UpdateFlowState":               testUpdateFlowState,
		"UsableConnections":             testUsableConnections,
		"OneOwnConnectionPerClient":     testOneOwnConnectionPerClient,
	})
}

// ---- fixtures ----

// NewOAuthClient stores an organization-scoped GitHub client of org, changed by mod
// first when mod is not nil, and returns what was stored.
func NewOAuthClient(t *testing.T, s store.Store, orgID string, mod func(*core.OAuthClient)) core.OAuthClient {
	t.Helper()
	c := core.OAuthClient{
		ID: uniq("oc-"), OrgID: orgID, Name: "GitHub", Kind: core.ProviderGitHub,
		HTTPURL: "https://github.com", APIURL: "https://api.github.com", Key: "key", Secret: "k1.c2VjcmV0",
		Scopes: []string{"repo"}, OrganizationScoped: true, ProjectIDs: []string{},
		CreatedAt: now, UpdatedAt: now,
	}
	if mod != nil {
		mod(&c)
	}
	if err := s.CreateOAuthClient(ctx(t), c); err != nil {
		t.Fatalf("CreateOAuthClient: %v", err)
	}
	return c
}

// NewConnection stores an organization-owned OAuth connection through client oc, changed
// by mod first when mod is not nil, and returns what was stored.
func NewConnection(t *testing.T, s store.Store, oc core.OAuthClient, creator string, mod func(*core.Connection)) core.Connection {
	t.Helper()
	c := core.Connection{
		ID: uniq("ot-"), OAuthClientID: oc.ID, OwnerKind: core.OwnerOrg, OwnerUserID: creator,
		OwnerOrgID: oc.OrgID, CredentialKind: core.CredentialOAuth, AccessToken: "k1.YWNjZXNz",
		TokenType: "bearer", Scopes: []string{"repo"}, Health: core.HealthHealthy, Version: 1,
		CreatedAt: now, UpdatedAt: now,
	}
	if mod != nil {
		mod(&c)
	}
	if err := s.CreateConnection(ctx(t), c); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	return c
}

// upNewFlow stores a browser flow state through client oc started by userID, changed
// by mod first when mod is not nil, and returns what was stored.
func upNewFlow(t *testing.T, s store.Store, oc core.OAuthClient, userID string, mod func(*core.FlowState)) core.FlowState {
	t.Helper()
	id := uniq("fs-")
	f := core.FlowState{
		ID: id, StateHash: []byte("hash-of-" + id), OAuthClientID: oc.ID, UserID: userID,
		OwnerKind: core.OwnerUser, Origin: "web", PKCEVerifier: "k1.dmVyaWZpZXI=",
		ExpiresAt: now.Add(10 * time.Minute), CreatedAt: now,
	}
	if mod != nil {
		mod(&f)
	}
	if err := s.CreateFlowState(ctx(t), f); err != nil {
		t.Fatalf("CreateFlowState: %v", err)
	}
	return f
}

func upMember(t *testing.T, s store.Store, orgID, userID string, role core.Role) {
	t.Helper()
	if err := s.PutMembership(ctx(t), core.Membership{OrgID: orgID, UserID: userID, Role: role, CreatedAt: now}); err != nil {
		t.Fatalf("PutMembership: %v", err)
	}
}

// upNotFound fails unless err is (or wraps) core.ErrNotFound.
func upNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("%s: err = %v, want core.ErrNotFound", what, err)
	}
}

// upConflict fails unless err is (or wraps) core.ErrConflict.
func upConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, core.ErrConflict) {
		t.Errorf("%s: err = %v, want core.ErrConflict", what, err)
	}
}

func upOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Empty and nil lists are the same thing to the store.
func upNormClient(c core.OAuthClient) core.OAuthClient {
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	if c.ProjectIDs == nil {
		c.ProjectIDs = []string{}
	}
	return c
}

func upNormConn(c core.Connection) core.Connection {
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	return c
}

func upNormFlow(f core.FlowState) core.FlowState {
	if len(f.StateHash) == 0 {
		f.StateHash = nil
	}
	return f
}

func upSameClient(t *testing.T, what string, got, want core.OAuthClient) {
	t.Helper()
	if g, w := upNormClient(got), upNormClient(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func upSameConn(t *testing.T, what string, got, want core.Connection) {
	t.Helper()
	if g, w := upNormConn(got), upNormConn(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func upSameFlow(t *testing.T, what string, got, want core.FlowState) {
	t.Helper()
	if g, w := upNormFlow(got), upNormFlow(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func upClientIDs(cs []core.OAuthClient) []string {
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func upConnIDs(cs []core.Connection) []string {
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func upSameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// ---- OAuth clients ----

func testOAuthClientRoundTrip(t *testing.T, s store.Store) {
	org := NewOrg(t, s)
	p1, p2 := NewProject(t, s, org.ID), NewProject(t, s, org.ID)
	// Every field set, the project list out of order and with a duplicate.
	want := core.OAuthClient{
		ID: uniq("oc-"), Slug: uniq("bbdc-"), OrgID: org.ID, Name: "Bitbucket DC",
		Kind: core.ProviderBitbucketDataCenter, HTTPURL: "https://bitbucket.example.com",
		APIURL: "https://bitbucket.example.com/rest", Key: "consumer-key", Secret: "k1.c2VjcmV0",
		RSAPublicKey: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
		PrivateKey:   "k1.cHJpdmF0ZQ==", Scopes: []string{"REPO_READ", "PUBLIC_REPOS"},
		OrganizationScoped: false, ProjectIDs: []string{p2.ID, p1.ID, p2.ID},
		DeviceFlowDisabled: true, AgentPoolID: "apool-1",
		CreatedAt: now, UpdatedAt: now.Add(time.Second),
	}
	upOK(t, "CreateOAuthClient", s.CreateOAuthClient(ctx(t), want))
	want.ProjectIDs = slices.Sorted(slices.Values([]string{p1.ID, p2.ID}))

	got, err := s.OAuthClient(ctx(t), want.ID)
	upOK(t, "OAuthClient", err)
	upSameClient(t, "OAuthClient", got, want)

	got, err = s.OAuthClientBySlug(ctx(t), want.Slug)
	upOK(t, "OAuthClientBySlug", err)
	upSameClient(t, "OAuthClientBySlug", got, want)

	list, n, err := s.ListOAuthClients(ctx(t), store.OAuthClientFilter{OrgID: org.ID}, store.Page{})
	upOK(t, "ListOAuthClients", err)
	if n != 1 || len(list) != 1 {
		t.Fatalf("ListOAuthClients: %d clients, total %d; want 1, 1", len(list), n)
	}
	upSameClient(t, "ListOAuthClients", list[0], want)

	// The zero values come back as zero values: no slug, no scopes, no projects.
	bare := core.OAuthClient{ID: uniq("oc-"), OrgID: org.ID, Kind: core.ProviderGitHub, CreatedAt: now, UpdatedAt: now}
	upOK(t, "CreateOAuthClient bare", s.CreateOAuthClient(ctx(t), bare))
	got, err = s.OAuthClient(ctx(t), bare.ID)
	upOK(t, "OAuthClient bare", err)
	upSameClient(t, "bare client", got, bare)
	if got.Scopes == nil || got.ProjectIDs == nil {
		t.Errorf("bare client: Scopes %#v, ProjectIDs %#v; want empty, not nil", got.Scopes, got.ProjectIDs)
	}
}

func testOAuthClientUpdate(t *testing.T, s store.Store) {
	org, other := NewOrg(t, s), NewOrg(t, s)
	p1, p2, p3 := NewProject(t, s, org.ID), NewProject(t, s, org.ID), NewProject(t, s, org.ID)
	c := NewOAuthClient(t, s, org.ID, func(c *core.OAuthClient) {
		c.OrganizationScoped = false
		c.ProjectIDs = []string{p1.ID, p2.ID}
	})

	var seen core.OAuthClient
	slug := uniq("gl-")
	got, err := s.UpdateOAuthClient(ctx(t), c.ID, func(old core.OAuthClient) (core.OAuthClient, error) {
		seen = old
		old.Slug = slug
		old.Name = "GitLab"
		old.Kind = core.ProviderGitLabEnterpriseEdition
		old.HTTPURL = "https://gitlab.example.com"
		old.APIURL = "https://gitlab.example.com/api/v4"
		old.Key = "new-key"
		old.Secret = "k2.bmV3"
		old.RSAPublicKey = "rsa"
		old.PrivateKey = "k2.cHJpdg=="
		old.Scopes = []string{"read_api", "read_user"}
		old.OrganizationScoped = true
		old.ProjectIDs = []string{p3.ID, p2.ID}
		old.DeviceFlowDisabled = true
		old.AgentPoolID = "apool-2"
		old.UpdatedAt = now.Add(time.Hour)
		// Not changeable: these are ignored.
		old.ID = "oc-other"
		old.OrgID = other.ID
		old.CreatedAt = now.Add(-time.Hour)
		return old, nil
	})
	upOK(t, "UpdateOAuthClient", err)
	want := c
	want.ProjectIDs = slices.Sorted(slices.Values(c.ProjectIDs))
	upSameClient(t, "fn's argument", seen, want)

	want.Slug = slug
	want.Name, want.Kind = "GitLab", core.ProviderGitLabEnterpriseEdition
	want.HTTPURL, want.APIURL = "https://gitlab.example.com", "https://gitlab.example.com/api/v4"
	want.Key, want.Secret, want.RSAPublicKey, want.PrivateKey = "new-key", "k2.bmV3", "rsa", "k2.cHJpdg=="
	want.Scopes = []string{"read_api", "read_user"}
	want.OrganizationScoped, want.DeviceFlowDisabled, want.AgentPoolID = true, true, "apool-2"
	want.ProjectIDs = slices.Sorted(slices.Values([]string{p2.ID, p3.ID}))
	want.UpdatedAt = now.Add(time.Hour)
	upSameClient(t, "UpdateOAuthClient result", got, want)
	read, err := s.OAuthClient(ctx(t), c.ID)
	upOK(t, "OAuthClient", err)
	upSameClient(t, "read after update", read, want)
	_, err = s.OAuthClient(ctx(t), "oc-other")
	upNotFound(t, "OAuthClient(the id fn tried to set)", err)

	// projects: [] clears the list.
	got, err = s.UpdateOAuthClient(ctx(t), c.ID, func(old core.OAuthClient) (core.OAuthClient, error) {
		old.ProjectIDs = nil
		return old, nil
	})
	upOK(t, "UpdateOAuthClient clear projects", err)
	if len(got.ProjectIDs) != 0 {
		t.Errorf("ProjectIDs after clearing: %q", got.ProjectIDs)
	}
	read, err = s.OAuthClient(ctx(t), c.ID)
	upOK(t, "OAuthClient", err)
	if len(read.ProjectIDs) != 0 {
		t.Errorf("ProjectIDs read after clearing: %q", read.ProjectIDs)
	}
}

func testOAuthClientErrors(t *testing.T, s store.Store) {
	org := NewOrg(t, s)
	prj := NewProject(t, s, org.ID)
	c := NewOAuthClient(t, s, org.ID, func(c *core.OAuthClient) { c.Slug = uniq("slug-") })

	// Uniqueness.
	dup := c
	dup.Slug = ""
	upConflict(t, "CreateOAuthClient same id", s.CreateOAuthClient(ctx(t), dup))
	dup = c
	dup.ID = uniq("oc-")
	upConflict(t, "CreateOAuthClient same slug", s.CreateOAuthClient(ctx(t), dup))
	// Clients without a slug do not collide with each other.
	NewOAuthClient(t, s, org.ID, nil)
	NewOAuthClient(t, s, org.ID, nil)

	// References that do not exist; nothing is stored.
	bad := c
	bad.ID, bad.Slug, bad.OrgID = uniq("oc-"), "", "org-missing"
	upNotFound(t, "CreateOAuthClient missing org", s.CreateOAuthClient(ctx(t), bad))
	bad.OrgID, bad.ProjectIDs = org.ID, []string{prj.ID, "prj-missing"}
	upNotFound(t, "CreateOAuthClient missing project", s.CreateOAuthClient(ctx(t), bad))
	_, err := s.OAuthClient(ctx(t), bad.ID)
	upNotFound(t, "OAuthClient after failed create (the create must be atomic)", err)

	// Missing rows.
	_, err = s.OAuthClient(ctx(t), "oc-missing")
	upNotFound(t, "OAuthClient", err)
	_, err = s.OAuthClientBySlug(ctx(t), "no-such-slug")
	upNotFound(t, "OAuthClientBySlug", err)
	_, err = s.OAuthClientBySlug(ctx(t), "")
	upNotFound(t, "OAuthClientBySlug empty", err)
	called := false
	_, err = s.UpdateOAuthClient(ctx(t), "oc-missing", func(c core.OAuthClient) (core.OAuthClient, error) {
		called = true
		return c, nil
	})
	upNotFound(t, "UpdateOAuthClient", err)
	if called {
		t.Error("UpdateOAuthClient called fn for a missing client")
	}
	upNotFound(t, "DeleteOAuthClient", s.DeleteOAuthClient(ctx(t), "oc-missing"))

	// Failed updates change nothing.
	other := NewOAuthClient(t, s, org.ID, func(c *core.OAuthClient) { c.Slug = uniq("slug-") })
	_, err = s.UpdateOAuthClient(ctx(t), other.ID, func(o core.OAuthClient) (core.OAuthClient, error) {
		o.Name = "changed"
		o.Slug = c.Slug
		return o, nil
	})
	upConflict(t, "UpdateOAuthClient to a taken slug", err)
	_, err = s.UpdateOAuthClient(ctx(t), other.ID, func(o core.OAuthClient) (core.OAuthClient, error) {
		o.Name = "changed"
		o.ProjectIDs = []string{prj.ID, "prj-missing"}
		return o, nil
	})
	upNotFound(t, "UpdateOAuthClient with a missing project", err)
	boom := errors.New("boom")
	_, err = s.UpdateOAuthClient(ctx(t), other.ID, func(o core.OAuthClient) (core.OAuthClient, error) {
		o.Name = "changed"
		return o, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("UpdateOAuthClient: fn's error became %v", err)
	}
	got, err := s.OAuthClient(ctx(t), other.ID)
	upOK(t, "OAuthClient", err)
	upSameClient(t, "client after failed updates", got, other)

	upOK(t, "DeleteOAuthClient", s.DeleteOAuthClient(ctx(t), c.ID))
	_, err = s.OAuthClient(ctx(t), c.ID)
	upNotFound(t, "OAuthClient after delete", err)
	upNotFound(t, "DeleteOAuthClient twice", s.DeleteOAuthClient(ctx(t), c.ID))
	// The slug is free again.
	NewOAuthClient(t, s, org.ID, func(x *core.OAuthClient) { x.Slug = c.Slug })
}

func testOAuthClientList(t *testing.T, s store.Store) {
	orgA, orgB := NewOrg(t, s), NewOrg(t, s)
	pA1, pA2, pB1 := NewProject(t, s, orgA.ID), NewProject(t, s, orgA.ID), NewProject(t, s, orgB.ID)
	alice, bob, stranger := NewUser(t, s), NewUser(t, s), NewUser(t, s)
	upMember(t, s, orgA.ID, alice.ID, core.RoleMember) // member of A, not of B
	upMember(t, s, orgB.ID, bob.ID, core.RoleOwner)

	at := 0
	mk := func(org string, scoped bool, kind core.ProviderKind, projects ...string) core.OAuthClient {
		at++
		return NewOAuthClient(t, s, org, func(c *core.OAuthClient) {
			c.OrganizationScoped, c.Kind, c.ProjectIDs = scoped, kind, projects
			// Created out of id order, so the list order is by time, not by id.
			c.ID = fmt.Sprintf("oc-%03d-%s", 100-at, uniq(""))
			c.CreatedAt = now.Add(time.Duration(at) * time.Minute)
		})
	}
	a1 := mk(orgA.ID, true, core.ProviderGitHub)
	a2 := mk(orgA.ID, false, core.ProviderGitLabHosted, pA1.ID)
	a3 := mk(orgA.ID, false, core.ProviderGitHub) // serves nobody
	b1 := mk(orgB.ID, true, core.ProviderGitHub)
	b2 := mk(orgB.ID, false, core.ProviderGitLabHosted, pB1.ID)

	for _, tc := range []struct {
		name string
		f    store.OAuthClientFilter
		want []string
	}{
		{"all", store.OAuthClientFilter{}, []string{a1.ID, a2.ID, a3.ID, b1.ID, b2.ID}},
		{"org A", store.OAuthClientFilter{OrgID: orgA.ID}, []string{a1.ID, a2.ID, a3.ID}},
		{"org B", store.OAuthClientFilter{OrgID: orgB.ID}, []string{b1.ID, b2.ID}},
		{"unknown org", store.OAuthClientFilter{OrgID: "org-missing"}, nil},
		{"kind github", store.OAuthClientFilter{Kind: core.ProviderGitHub}, []string{a1.ID, a3.ID, b1.ID}},
		{"org A, kind github", store.OAuthClientFilter{OrgID: orgA.ID, Kind: core.ProviderGitHub}, []string{a1.ID, a3.ID}},
		{"project A1", store.OAuthClientFilter{AvailableToProject: pA1.ID}, []string{a1.ID, a2.ID}},
		{"project A2", store.OAuthClientFilter{AvailableToProject: pA2.ID}, []string{a1.ID}},
		{"project B1", store.OAuthClientFilter{AvailableToProject: pB1.ID}, []string{b1.ID, b2.ID}},
		{"project A1, kind gitlab", store.OAuthClientFilter{AvailableToProject: pA1.ID, Kind: core.ProviderGitLabHosted}, []string{a2.ID}},
		{"unknown project", store.OAuthClientFilter{AvailableToProject: "prj-missing"}, nil},
		{"alice", store.OAuthClientFilter{AvailableToUser: alice.ID}, []string{a1.ID, a2.ID}},
		{"alice, kind gitlab", store.OAuthClientFilter{AvailableToUser: alice.ID, Kind: core.ProviderGitLabHosted}, []string{a2.ID}},
		{"alice, org B", store.OAuthClientFilter{AvailableToUser: alice.ID, OrgID: orgB.ID}, nil},
		{"bob", store.OAuthClientFilter{AvailableToUser: bob.ID}, []string{b1.ID, b2.ID}},
		{"stranger", store.OAuthClientFilter{AvailableToUser: stranger.ID}, nil},
		{"alice and project A2", store.OAuthClientFilter{AvailableToUser: alice.ID, AvailableToProject: pA2.ID}, []string{a1.ID}},
	} {
		got, n, err := s.ListOAuthClients(ctx(t), tc.f, store.Page{})
		upOK(t, tc.name, err)
		upSameIDs(t, tc.name, upClientIDs(got), tc.want)
		if n != len(tc.want) {
			t.Errorf("%s: total %d, want %d", tc.name, n, len(tc.want))
		}
	}

	// Listed clients carry their projects.
	got, _, err := s.ListOAuthClients(ctx(t), store.OAuthClientFilter{AvailableToUser: alice.ID}, store.Page{})
	upOK(t, "ListOAuthClients", err)
	if len(got) == 2 {
		upSameClient(t, "listed a1", got[0], a1)
		upSameClient(t, "listed a2", got[1], a2)
	}

	// Pages.
	for _, tc := range []struct {
		page store.Page
		want []string
	}{
		{store.Page{Number: 1, Size: 2}, []string{a1.ID, a2.ID}},
		{store.Page{Number: 2, Size: 2}, []string{a3.ID}},
		{store.Page{Number: 3, Size: 2}, nil},
		{store.Page{Number: 0, Size: 1}, []string{a1.ID}},
	} {
		got, n, err := s.ListOAuthClients(ctx(t), store.OAuthClientFilter{OrgID: orgA.ID}, tc.page)
		name := fmt.Sprintf("page %+v", tc.page)
		upOK(t, name, err)
		upSameIDs(t, name, upClientIDs(got), tc.want)
		if n != 3 {
			t.Errorf("%s: total %d, want 3", name, n)
		}
	}

	// Availability follows membership and project lists as they change.
	upOK(t, "DeleteMembership", s.DeleteMembership(ctx(t), orgA.ID, alice.ID))
	got, n, err := s.ListOAuthClients(ctx(t), store.OAuthClientFilter{AvailableToUser: alice.ID}, store.Page{})
	upOK(t, "ListOAuthClients after leaving", err)
	if n != 0 || len(got) != 0 {
		t.Errorf("after leaving org A alice still has %q (total %d)", upClientIDs(got), n)
	}
	_, err = s.UpdateOAuthClient(ctx(t), a3.ID, func(c core.OAuthClient) (core.OAuthClient, error) {
		c.ProjectIDs = []string{pA2.ID}
		return c, nil
	})
	upOK(t, "UpdateOAuthClient", err)
	got, _, err = s.ListOAuthClients(ctx(t), store.OAuthClientFilter{AvailableToProject: pA2.ID}, store.Page{})
	upOK(t, "ListOAuthClients", err)
	upSameIDs(t, "project A2 after attaching a3", upClientIDs(got), []string{a1.ID, a3.ID})
}

func testDeleteOAuthClientCascades(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	prj := NewProject(t, s, org.ID)
	c := NewOAuthClient(t, s, org.ID, func(c *core.OAuthClient) { c.ProjectIDs = []string{prj.ID} })
	keep := NewOAuthClient(t, s, org.ID, nil)
	conn := NewConnection(t, s, c, u.ID, nil)
	mine := NewConnection(t, s, c, u.ID, func(x *core.Connection) { x.OwnerKind = core.OwnerUser })
	named := NewConnection(t, s, c, u.ID, func(x *core.Connection) {
		x.OwnerKind, x.OwnerProjectID, x.Name = core.OwnerProject, prj.ID, "main"
	})
	keptConn := NewConnection(t, s, keep, u.ID, nil)
	fs := upNewFlow(t, s, c, u.ID, nil)
	keptFlow := upNewFlow(t, s, keep, u.ID, nil)

	upOK(t, "DeleteOAuthClient", s.DeleteOAuthClient(ctx(t), c.ID))
	for _, id := range []string{conn.ID, mine.ID, named.ID} {
		_, err := s.Connection(ctx(t), id)
		upNotFound(t, "Connection of the deleted client", err)
	}
	_, err := s.FlowState(ctx(t), fs.ID)
	upNotFound(t, "FlowState of the deleted client", err)
	got, n, err := s.ListConnections(ctx(t), store.ConnectionFilter{OAuthClientID: c.ID}, store.Page{})
	upOK(t, "ListConnections", err)
	if n != 0 || len(got) != 0 {
		t.Errorf("deleted client still has connections %q", upConnIDs(got))
	}
	_, err = s.Connection(ctx(t), keptConn.ID)
	upOK(t, "other client's connection", err)
	_, err = s.FlowState(ctx(t), keptFlow.ID)
	upOK(t, "other client's flow state", err)
	// The project survives, and its name is free for a new connection.
	NewConnection(t, s, keep, u.ID, func(x *core.Connection) {
		x.OwnerKind, x.OwnerProjectID, x.Name = core.OwnerProject, prj.ID, "main"
	})
}

func testUpstreamDeleteProject(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	p1, p2 := NewProject(t, s, org.ID), NewProject(t, s, org.ID)
	c := NewOAuthClient(t, s, org.ID, func(c *core.OAuthClient) {
		c.OrganizationScoped = false
		c.ProjectIDs = []string{p1.ID, p2.ID}
	})
	inP1 := NewConnection(t, s, c, u.ID, func(x *core.Connection) {
		x.OwnerKind, x.OwnerProjectID, x.Name = core.OwnerProject, p1.ID, "auth"
	})
	inP2 := NewConnection(t, s, c, u.ID, func(x *core.Connection) {
		x.OwnerKind, x.OwnerProjectID, x.Name = core.OwnerProject, p2.ID, "auth"
	})
	orgConn := NewConnection(t, s, c, u.ID, nil)
	flowP1 := upNewFlow(t, s, c, u.ID, func(f *core.FlowState) {
		f.OwnerKind, f.OwnerProjectID, f.Name, f.Origin = core.OwnerProject, p1.ID, "auth2", "servicestage"
	})

	upOK(t, "DeleteProject", s.DeleteProject(ctx(t), p1.ID))
	got, err := s.OAuthClient(ctx(t), c.ID)
	upOK(t, "OAuthClient", err)
	upSameIDs(t, "ProjectIDs after deleting a project", got.ProjectIDs, []string{p2.ID})
	_, err = s.Connection(ctx(t), inP1.ID)
	upNotFound(t, "Connection of the deleted project", err)
	_, err = s.FlowState(ctx(t), flowP1.ID)
	upNotFound(t, "FlowState of the deleted project", err)
	for _, id := range []string{inP2.ID, orgConn.ID} {
		_, err = s.Connection(ctx(t), id)
		upOK(t, "surviving connection", err)
	}
	list, n, err := s.ListOAuthClients(ctx(t), store.OAuthClientFilter{AvailableToProject: p1.ID}, store.Page{})
	upOK(t, "ListOAuthClients", err)
	if n != 0 || len(list) != 0 {
		t.Errorf("deleted project still has clients %q", upClientIDs(list))
	}
}

func testUpstreamDeleteOrg(t *testing.T, s store.Store) {
	org, keepOrg, u := NewOrg(t, s), NewOrg(t, s), NewUser(t, s)
	prj := NewProject(t, s, org.ID)
	c := NewOAuthClient(t, s, org.ID, func(c *core.OAuthClient) { c.ProjectIDs = []string{prj.ID} })
	keep := NewOAuthClient(t, s, keepOrg.ID, nil)
	conns := []core.Connection{
		NewConnection(t, s, c, u.ID, nil),
		NewConnection(t, s, c, u.ID, func(x *core.Connection) { x.OwnerKind = core.OwnerUser }),
		NewConnection(t, s, c, u.ID, func(x *core.Connection) {
			x.OwnerKind, x.OwnerProjectID, x.Name = core.OwnerProject, prj.ID, "n"
		}),
	}
	fs := upNewFlow(t, s, c, u.ID, nil)
	keptConn := NewConnection(t, s, keep, u.ID, nil)

	upOK(t, "DeleteOrg", s.DeleteOrg(ctx(t), org.ID))
	_, err := s.OAuthClient(ctx(t), c.ID)
	upNotFound(t, "OAuthClient of the deleted org", err)
	for _, x := range conns {
		_, err := s.Connection(ctx(t), x.ID)
		upNotFound(t, "Connection of the deleted org", err)
	}
	_, err = s.FlowState(ctx(t), fs.ID)
	upNotFound(t, "FlowState of the deleted org", err)
	_, err = s.OAuthClient(ctx(t), keep.ID)
	upOK(t, "other org's client", err)
	_, err = s.Connection(ctx(t), keptConn.ID)
	upOK(t, "other org's connection", err)
	_, err = s.User(ctx(t), u.ID)
	upOK(t, "the user", err)
}

// Deleting a person deletes the connections they own and their flows in progress; the
// organization's and projects' connections they created stay, still naming them.
func testUpstreamDeleteUser(t *testing.T, s store.Store) {
	org, u, other := NewOrg(t, s), NewUser(t, s), NewUser(t, s)
	prj := NewProject(t, s, org.ID)
	c := NewOAuthClient(t, s, org.ID, nil)
	mine := NewConnection(t, s, c, u.ID, func(x *core.Connection) { x.OwnerKind = core.OwnerUser })
	theirs := NewConnection(t, s, c, other.ID, func(x *core.Connection) { x.OwnerKind = core.OwnerUser })
	orgConn := NewConnection(t, s, c, u.ID, nil)
	prjConn := NewConnection(t, s, c, u.ID, func(x *core.Connection) {
		x.OwnerKind, x.OwnerProjectID, x.Name = core.OwnerProject, prj.ID, "n"
	})
	fs := upNewFlow(t, s, c, u.ID, nil)
	// A connection that changed hands: once organization-owned, it no longer goes
	// with the person.
	moved := NewConnection(t, s, NewOAuthClient(t, s, org.ID, nil), u.ID, func(x *core.Connection) { x.OwnerKind = core.OwnerUser })
	_, err := s.UpdateConnection(ctx(t), moved.ID, func(x core.Connection) (core.Connection, error) {
		x.OwnerKind = core.OwnerOrg
		return x, nil
	})
	upOK(t, "UpdateConnection", err)

	upOK(t, "DeleteUser", s.DeleteUser(ctx(t), u.ID))
	_, err = s.Connection(ctx(t), mine.ID)
	upNotFound(t, "user-owned Connection of the deleted user", err)
	_, err = s.FlowState(ctx(t), fs.ID)
	upNotFound(t, "FlowState of the deleted user", err)
	for _, x := range []core.Connection{theirs, orgConn, prjConn, moved} {
		got, err := s.Connection(ctx(t), x.ID)
		upOK(t, "surviving connection", err)
		if got.OwnerUserID != x.OwnerUserID {
			t.Errorf("connection %s: OwnerUserID %q, want %q", x.ID, got.OwnerUserID, x.OwnerUserID)
		}
	}
}

// ---- connections ----

// upFullConn returns a connection with every field set.
func upFullConn(oc core.OAuthClient, kind core.OwnerKind, userID, projectID, name string) core.Connection {
	return core.Connection{
		ID: uniq("ot-"), OAuthClientID: oc.ID, OwnerKind: kind, OwnerUserID: userID,
		OwnerOrgID: oc.OrgID, OwnerProjectID: projectID, Name: name,
		CredentialKind: core.CredentialPassword, Username: "git-user",
		AccessToken: "k1.YWNjZXNz", RefreshToken: "k1.cmVmcmVzaA==", TokenType: "bearer",
		Scopes: []string{"repo", "read:org"}, ExpiresAt: now.Add(8 * time.Hour).Add(123 * time.Microsecond),
		SSHKey:     "k1.c3No",
		UpstreamID: "583231", UpstreamLogin: "octocat", UpstreamName: "The Octocat",
		AvatarURL: "https://avatars.example.com/u/583231", ProfileURL: "https://github.com/octocat",
		Health: core.HealthRefreshFailing, HealthReason: "HTTP 502 from the provider",
		LastRefreshAt: now.Add(-time.Hour), LastSuccessAt: now.Add(-time.Minute),
		RefreshLeaseUntil: now.Add(30 * time.Second), RefreshLeaseOwner: "replica-1",
		Version: 7, CreatedAt: now.Add(-24 * time.Hour), UpdatedAt: now,
	}
}

func testConnectionRoundTrip(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	prj := NewProject(t, s, org.ID)
	oc := NewOAuthClient(t, s, org.ID, nil)
	all := []core.Connection{
		upFullConn(oc, core.OwnerUser, u.ID, "", "laptop"),
		upFullConn(oc, core.OwnerOrg, u.ID, "", ""),
		upFullConn(oc, core.OwnerProject, u.ID, prj.ID, "github-main"),
		// The zero values of the optional fields.
		{ID: uniq("ot-"), OAuthClientID: oc.ID, OwnerKind: core.OwnerOrg, OwnerOrgID: org.ID,
			CredentialKind: core.CredentialPersonal, CreatedAt: now.Add(time.Hour), UpdatedAt: now},
	}
	for _, want := range all {
		upOK(t, "CreateConnection "+string(want.OwnerKind), s.CreateConnection(ctx(t), want))
		got, err := s.Connection(ctx(t), want.ID)
		upOK(t, "Connection", err)
		upSameConn(t, "Connection "+want.ID, got, want)
	}
	list, n, err := s.ListConnections(ctx(t), store.ConnectionFilter{OAuthClientID: oc.ID}, store.Page{})
	upOK(t, "ListConnections", err)
	if n != len(all) || len(list) != len(all) {
		t.Fatalf("ListConnections: %q, total %d; want %d", upConnIDs(list), n, len(all))
	}
	byID := map[string]core.Connection{}
	for _, c := range list {
		byID[c.ID] = c
	}
	for _, want := range all {
		upSameConn(t, "listed "+want.ID, byID[want.ID], want)
	}
}

func testConnectionUpdate(t *testing.T, s store.Store) {
	org, other, u, u2 := NewOrg(t, s), NewOrg(t, s), NewUser(t, s), NewUser(t, s)
	prj := NewProject(t, s, org.ID)
	oc, oc2 := NewOAuthClient(t, s, org.ID, nil), NewOAuthClient(t, s, org.ID, nil)
	c := upFullConn(oc, core.OwnerUser, u.ID, "", "")
	upOK(t, "CreateConnection", s.CreateConnection(ctx(t), c))

	var seen core.Connection
	got, err := s.UpdateConnection(ctx(t), c.ID, func(x core.Connection) (core.Connection, error) {
		seen = x
		x.OwnerKind, x.OwnerUserID, x.OwnerProjectID, x.Name = core.OwnerProject, u2.ID, prj.ID, "renamed"
		x.CredentialKind, x.Username = core.CredentialOAuth, ""
		x.AccessToken, x.RefreshToken, x.TokenType = "k2.bmV3", "k2.cmVmcmVzaDI=", "Bearer"
		x.Scopes = []string{"api"}
		x.ExpiresAt = time.Time{}
		x.SSHKey = ""
		x.UpstreamID, x.UpstreamLogin, x.UpstreamName = "1", "hubot", "Hubot"
		x.AvatarURL, x.ProfileURL = "https://a/1", "https://p/1"
		x.Health, x.HealthReason = core.HealthHealthy, ""
		x.LastRefreshAt, x.LastSuccessAt = now.Add(time.Minute), now.Add(2*time.Minute)
		x.RefreshLeaseUntil, x.RefreshLeaseOwner = time.Time{}, ""
		x.UpdatedAt = now.Add(3 * time.Minute)
		// Not changeable: ignored.
		x.ID, x.OAuthClientID, x.OwnerOrgID = "ot-other", oc2.ID, other.ID
		x.CreatedAt = now.Add(time.Hour)
		x.Version = 1000
		return x, nil
	})
	upOK(t, "UpdateConnection", err)
	upSameConn(t, "fn's argument", seen, c)

	want := c
	want.OwnerKind, want.OwnerUserID, want.OwnerProjectID, want.Name = core.OwnerProject, u2.ID, prj.ID, "renamed"
	want.CredentialKind, want.Username = core.CredentialOAuth, ""
	want.AccessToken, want.RefreshToken, want.TokenType = "k2.bmV3", "k2.cmVmcmVzaDI=", "Bearer"
	want.Scopes = []string{"api"}
	want.ExpiresAt = time.Time{}
	want.SSHKey = ""
	want.UpstreamID, want.UpstreamLogin, want.UpstreamName = "1", "hubot", "Hubot"
	want.AvatarURL, want.ProfileURL = "https://a/1", "https://p/1"
	want.Health, want.HealthReason = core.HealthHealthy, ""
	want.LastRefreshAt, want.LastSuccessAt = now.Add(time.Minute), now.Add(2*time.Minute)
	want.RefreshLeaseUntil, want.RefreshLeaseOwner = time.Time{}, ""
	want.UpdatedAt = now.Add(3 * time.Minute)
	want.Version = c.Version + 1
	upSameConn(t, "UpdateConnection result", got, want)
	read, err := s.Connection(ctx(t), c.ID)
	upOK(t, "Connection", err)
	upSameConn(t, "read after update", read, want)
	_, err = s.Connection(ctx(t), "ot-other")
	upNotFound(t, "Connection(the id fn tried to set)", err)

	// Each write increments the version, whatever fn does with it.
	for i := range 3 {
		got, err = s.UpdateConnection(ctx(t), c.ID, func(x core.Connection) (core.Connection, error) {
			x.Version = 0
			return x, nil
		})
		upOK(t, "UpdateConnection", err)
		if got.Version != c.Version+2+int64(i) {
			t.Errorf("version after %d more writes: %d, want %d", i+1, got.Version, c.Version+2+int64(i))
		}
	}
}

func testConnectionErrors(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	p1, p2 := NewProject(t, s, org.ID), NewProject(t, s, org.ID)
	oc := NewOAuthClient(t, s, org.ID, nil)
	inProject := func(prj, name string) func(*core.Connection) {
		return func(x *core.Connection) { x.OwnerKind, x.OwnerProjectID, x.Name = core.OwnerProject, prj, name }
	}
	c := NewConnection(t, s, oc, u.ID, inProject(p1.ID, "github"))

	// Uniqueness: the id, and a project's connection names.
	dup := c
	dup.Name = "other"
	upConflict(t, "CreateConnection same id", s.CreateConnection(ctx(t), dup))
	dup = c
	dup.ID = uniq("ot-")
	upConflict(t, "CreateConnection same name in the project", s.CreateConnection(ctx(t), dup))
	// The same name elsewhere is fine: another project, an organization's or a
	// person's connection.
	NewConnection(t, s, oc, u.ID, inProject(p2.ID, "github"))
	NewConnection(t, s, oc, u.ID, func(x *core.Connection) { x.Name = "github" })
	NewConnection(t, s, oc, u.ID, func(x *core.Connection) { x.Name = "github" })
	NewConnection(t, s, oc, u.ID, func(x *core.Connection) { x.OwnerKind, x.Name = core.OwnerUser, "github" })

	// References that do not exist.
	for name, mod := range map[string]func(*core.Connection){
		"client":  func(x *core.Connection) { x.OAuthClientID = "oc-missing" },
		"org":     func(x *core.Connection) { x.OwnerOrgID = "org-missing" },
		"project": inProject("prj-missing", "x"),
		"user":    func(x *core.Connection) { x.OwnerKind, x.OwnerUserID = core.OwnerUser, "user-missing" },
	} {
		x := c
		x.ID, x.OwnerKind, x.OwnerProjectID, x.Name = uniq("ot-"), core.OwnerOrg, "", ""
		mod(&x)
		upNotFound(t, "CreateConnection with missing "+name, s.CreateConnection(ctx(t), x))
	}

	// Missing rows.
	_, err := s.Connection(ctx(t), "ot-missing")
	upNotFound(t, "Connection", err)
	called := false
	_, err = s.UpdateConnection(ctx(t), "ot-missing", func(x core.Connection) (core.Connection, error) {
		called = true
		return x, nil
	})
	upNotFound(t, "UpdateConnection", err)
	if called {
		t.Error("UpdateConnection called fn for a missing connection")
	}
	upNotFound(t, "DeleteConnection", s.DeleteConnection(ctx(t), "ot-missing"))

	// Failed updates change nothing, the version included.
	other := NewConnection(t, s, oc, u.ID, inProject(p1.ID, "gitlab"))
	_, err = s.UpdateConnection(ctx(t), other.ID, func(x core.Connection) (core.Connection, error) {
		x.Name, x.AccessToken = "github", "k1.bmV3"
		return x, nil
	})
	upConflict(t, "UpdateConnection to a taken name", err)
	_, err = s.UpdateConnection(ctx(t), other.ID, func(x core.Connection) (core.Connection, error) {
		x.AccessToken = "k1.bmV3"
		return x, core.ErrStale
	})
	if !errors.Is(err, core.ErrStale) {
		t.Errorf("UpdateConnection: fn's error became %v", err)
	}
	got, err := s.Connection(ctx(t), other.ID)
	upOK(t, "Connection", err)
	upSameConn(t, "connection after failed updates", got, other)

	upOK(t, "DeleteConnection", s.DeleteConnection(ctx(t), c.ID))
	_, err = s.Connection(ctx(t), c.ID)
	upNotFound(t, "Connection after delete", err)
	upNotFound(t, "DeleteConnection twice", s.DeleteConnection(ctx(t), c.ID))
	// The name is free again.
	NewConnection(t, s, oc, u.ID, inProject(p1.ID, "github"))
}

func testConnectionList(t *testing.T, s store.Store) {
	orgA, orgB, u1, u2 := NewOrg(t, s), NewOrg(t, s), NewUser(t, s), NewUser(t, s)
	pA := NewProject(t, s, orgA.ID)
	ocA1, ocA2, ocB := NewOAuthClient(t, s, orgA.ID, nil), NewOAuthClient(t, s, orgA.ID, nil), NewOAuthClient(t, s, orgB.ID, nil)
	at := 0
	mk := func(oc core.OAuthClient, kind core.OwnerKind, user, prj, name string) core.Connection {
		at++
		return NewConnection(t, s, oc, user, func(x *core.Connection) {
			x.OwnerKind, x.OwnerProjectID, x.Name = kind, prj, name
			x.ID = fmt.Sprintf("ot-%03d-%s", 100-at, uniq(""))
			x.CreatedAt = now.Add(time.Duration(at) * time.Minute)
		})
	}
	c1 := mk(ocA1, core.OwnerUser, u1.ID, "", "")
	c2 := mk(ocA1, core.OwnerUser, u2.ID, "", "")
	c3 := mk(ocA1, core.OwnerOrg, u1.ID, "", "")
	c4 := mk(ocA2, core.OwnerProject, u2.ID, pA.ID, "deploy")
	c5 := mk(ocA2, core.OwnerProject, u1.ID, pA.ID, "build")
	c6 := mk(ocB, core.OwnerUser, u1.ID, "", "")

	for _, tc := range []struct {
		name string
		f    store.ConnectionFilter
		want []string
	}{
		{"all", store.ConnectionFilter{}, []string{c1.ID, c2.ID, c3.ID, c4.ID, c5.ID, c6.ID}},
		{"client A1", store.ConnectionFilter{OAuthClientID: ocA1.ID}, []string{c1.ID, c2.ID, c3.ID}},
		{"user-owned", store.ConnectionFilter{OwnerKind: core.OwnerUser}, []string{c1.ID, c2.ID, c6.ID}},
		{"u1's own", store.ConnectionFilter{OwnerKind: core.OwnerUser, OwnerUserID: u1.ID}, []string{c1.ID, c6.ID}},
		{"by u1", store.ConnectionFilter{OwnerUserID: u1.ID}, []string{c1.ID, c3.ID, c5.ID, c6.ID}},
		{"org A", store.ConnectionFilter{OwnerOrgID: orgA.ID}, []string{c1.ID, c2.ID, c3.ID, c4.ID, c5.ID}},
		{"org A, org-owned", store.ConnectionFilter{OwnerOrgID: orgA.ID, OwnerKind: core.OwnerOrg}, []string{c3.ID}},
		{"project A", store.ConnectionFilter{OwnerProjectID: pA.ID}, []string{c4.ID, c5.ID}},
		{"project A, by name", store.ConnectionFilter{OwnerProjectID: pA.ID, Name: "build"}, []string{c5.ID}},
		{"client B, u2", store.ConnectionFilter{OAuthClientID: ocB.ID, OwnerUserID: u2.ID}, nil},
		{"unknown name", store.ConnectionFilter{Name: "nope"}, nil},
	} {
		got, n, err := s.ListConnections(ctx(t), tc.f, store.Page{})
		upOK(t, tc.name, err)
		upSameIDs(t, tc.name, upConnIDs(got), tc.want)
		if n != len(tc.want) {
			t.Errorf("%s: total %d, want %d", tc.name, n, len(tc.want))
		}
	}
	for _, tc := range []struct {
		page store.Page
		want []string
	}{
		{store.Page{Number: 1, Size: 2}, []string{c1.ID, c2.ID}},
		{store.Page{Number: 3, Size: 2}, []string{c5.ID}},
		{store.Page{Number: 4, Size: 2}, nil},
	} {
		got, n, err := s.ListConnections(ctx(t), store.ConnectionFilter{OwnerOrgID: orgA.ID}, tc.page)
		name := fmt.Sprintf("page %+v", tc.page)
		upOK(t, name, err)
		upSameIDs(t, name, upConnIDs(got), tc.want)
		if n != 5 {
			t.Errorf("%s: total %d, want 5", name, n)
		}
	}
}

// Concurrent read-modify-writes through UpdateConnection never lose an update.
func testUpdateConnectionNoLostUpdate(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	c := NewConnection(t, s, NewOAuthClient(t, s, org.ID, nil), u.ID, func(x *core.Connection) {
		x.TokenType, x.Scopes = "0", []string{}
	})
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateConnection(ctx(t), c.ID, func(x core.Connection) (core.Connection, error) {
				k, err := strconv.Atoi(x.TokenType)
				if err != nil {
					return x, err
				}
				x.TokenType = strconv.Itoa(k + 1)
				x.Scopes = append(x.Scopes, fmt.Sprintf("s%02d", i))
				return x, nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("UpdateConnection: %v", err)
		}
	}
	got, err := s.Connection(ctx(t), c.ID)
	upOK(t, "Connection", err)
	if got.TokenType != strconv.Itoa(n) {
		t.Errorf("counter %s, want %d: updates were lost", got.TokenType, n)
	}
	if len(got.Scopes) != n || len(slices.Compact(slices.Sorted(slices.Values(got.Scopes)))) != n {
		t.Errorf("%d scopes (%d distinct), want %d", len(got.Scopes), len(slices.Compact(slices.Sorted(slices.Values(got.Scopes)))), n)
	}
	if got.Version != c.Version+n {
		t.Errorf("version %d, want %d", got.Version, c.Version+n)
	}
}

// The refresher's compare-and-swap: of writers that read the same version, one wins.
func testUpdateConnectionCompareSwap(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	c := NewConnection(t, s, NewOAuthClient(t, s, org.ID, nil), u.ID, nil)
	expected := c.Version
	const n = 10
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		stale   int
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			token := core.Sealed(fmt.Sprintf("k1.dG9rZW4t%d", i))
			got, err := s.UpdateConnection(ctx(t), c.ID, func(x core.Connection) (core.Connection, error) {
				if x.Version != expected {
					return x, core.ErrStale
				}
				x.AccessToken = token
				return x, nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, string(got.AccessToken))
			case errors.Is(err, core.ErrStale):
				stale++
			default:
				t.Errorf("UpdateConnection: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 || stale != n-1 {
		t.Fatalf("%d winners, %d stale; want 1 and %d", len(winners), stale, n-1)
	}
	got, err := s.Connection(ctx(t), c.ID)
	upOK(t, "Connection", err)
	if string(got.AccessToken) != winners[0] || got.Version != expected+1 {
		t.Errorf("stored token %s version %d; want the winner's %s, version %d", got.AccessToken, got.Version, winners[0], expected+1)
	}
}

func testConnectionsExpiringBefore(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	oc := NewOAuthClient(t, s, org.ID, nil)
	limit := now.Add(5 * time.Minute)
	mk := func(mod func(*core.Connection)) core.Connection {
		return NewConnection(t, s, oc, u.ID, func(x *core.Connection) {
			x.RefreshToken = "k1.cmVmcmVzaA=="
			x.ExpiresAt = now.Add(time.Minute)
			mod(x)
		})
	}
	soon := mk(func(x *core.Connection) {})
	sooner := mk(func(x *core.Connection) {
		x.ExpiresAt = now.Add(30 * time.Second)
		x.Health = core.HealthRefreshFailing // still worth trying
	})
	expired := mk(func(x *core.Connection) { x.ExpiresAt = now.Add(-time.Hour) })
	userOwned := mk(func(x *core.Connection) {
		x.OwnerKind = core.OwnerUser
		x.ExpiresAt = now.Add(2 * time.Minute)
	})
	// None of these may be refreshed now.
	mk(func(x *core.Connection) { x.RefreshToken = "" })
	mk(func(x *core.Connection) { x.CredentialKind = core.CredentialPersonal })
	mk(func(x *core.Connection) { x.CredentialKind = core.CredentialPassword })
	mk(func(x *core.Connection) { x.ExpiresAt = time.Time{} })
	mk(func(x *core.Connection) { x.Health = core.HealthNeedsReauth })
	mk(func(x *core.Connection) { x.Health = core.HealthRevoked })
	mk(func(x *core.Connection) { x.ExpiresAt = limit })
	mk(func(x *core.Connection) { x.ExpiresAt = limit.Add(time.Hour) })

	got, err := s.ConnectionsExpiringBefore(ctx(t), limit, 100)
	upOK(t, "ConnectionsExpiringBefore", err)
	upSameIDs(t, "expiring", upConnIDs(got), []string{expired.ID, sooner.ID, soon.ID, userOwned.ID})
	if len(got) == 4 {
		upSameConn(t, "expiring[1]", got[1], sooner)
	}
	got, err = s.ConnectionsExpiringBefore(ctx(t), limit, 2)
	upOK(t, "ConnectionsExpiringBefore limit 2", err)
	upSameIDs(t, "expiring, limit 2", upConnIDs(got), []string{expired.ID, sooner.ID})
	got, err = s.ConnectionsExpiringBefore(ctx(t), now, 100)
	upOK(t, "ConnectionsExpiringBefore now", err)
	upSameIDs(t, "expired at now", upConnIDs(got), []string{expired.ID})

	// A refreshed connection leaves the list.
	_, err = s.UpdateConnection(ctx(t), expired.ID, func(x core.Connection) (core.Connection, error) {
		x.ExpiresAt = now.Add(8 * time.Hour)
		return x, nil
	})
	upOK(t, "UpdateConnection", err)
	got, err = s.ConnectionsExpiringBefore(ctx(t), now, 100)
	upOK(t, "ConnectionsExpiringBefore now", err)
	upSameIDs(t, "expired at now after refresh", upConnIDs(got), nil)
}

// ---- flow states ----

func testFlowStateRoundTrip(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	prj := NewProject(t, s, org.ID)
	oc := NewOAuthClient(t, s, org.ID, nil)
	browser := core.FlowState{
		ID: uniq("fs-"), StateHash: []byte{0x00, 0x01, 0xfe, 0xff, 0x10}, OAuthClientID: oc.ID, UserID: u.ID,
		OwnerKind: core.OwnerProject, OwnerProjectID: prj.ID, Name: "github-auth",
		Origin: "servicestage", RepoType: "github", PKCEVerifier: "k1.dmVyaWZpZXI=",
		ReturnTo: "https://platform.example.com/back?x=1", ExpiresAt: now.Add(10 * time.Minute).Add(7 * time.Microsecond),
		CreatedAt: now,
	}
	device := core.FlowState{
		ID: uniq("fs-"), OAuthClientID: oc.ID, UserID: u.ID, OwnerKind: core.OwnerUser, Origin: "coder",
		DeviceCode: "k1.ZGV2aWNl", ExpiresAt: now.Add(15 * time.Minute), CreatedAt: now,
	}
	// Device flows have no state: several coexist.
	device2 := device
	device2.ID = uniq("fs-")
	// Already used, kept for the record.
	used := core.FlowState{
		ID: uniq("fs-"), StateHash: []byte("used"), OAuthClientID: oc.ID, OwnerKind: core.OwnerOrg,
		Origin: "tfe", ExpiresAt: now.Add(time.Minute), UsedAt: now.Add(-time.Second), CreatedAt: now.Add(-time.Minute),
	}
	for _, want := range []core.FlowState{browser, device, device2, used} {
		upOK(t, "CreateFlowState "+want.ID, s.CreateFlowState(ctx(t), want))
		got, err := s.FlowState(ctx(t), want.ID)
		upOK(t, "FlowState", err)
		upSameFlow(t, "FlowState "+want.ID, got, want)
	}

	dup := browser
	dup.StateHash = []byte("other")
	upConflict(t, "CreateFlowState same id", s.CreateFlowState(ctx(t), dup))
	dup = browser
	dup.ID = uniq("fs-")
	upConflict(t, "CreateFlowState same state hash", s.CreateFlowState(ctx(t), dup))
	for name, mod := range map[string]func(*core.FlowState){
		"client":  func(f *core.FlowState) { f.OAuthClientID = "oc-missing" },
		"user":    func(f *core.FlowState) { f.UserID = "user-missing" },
		"project": func(f *core.FlowState) { f.OwnerProjectID = "prj-missing" },
	} {
		f := browser
		f.ID, f.StateHash = uniq("fs-"), []byte(uniq("h"))
		mod(&f)
		upNotFound(t, "CreateFlowState with missing "+name, s.CreateFlowState(ctx(t), f))
	}
	_, err := s.FlowState(ctx(t), "fs-missing")
	upNotFound(t, "FlowState", err)
}

func testConsumeFlowState(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	oc := NewOAuthClient(t, s, org.ID, nil)
	f := upNewFlow(t, s, oc, u.ID, func(f *core.FlowState) { f.ReturnTo = "/back" })
	at := now.Add(time.Minute)

	got, err := s.ConsumeFlowState(ctx(t), f.StateHash, at)
	upOK(t, "ConsumeFlowState", err)
	want := f
	want.UsedAt = at
	upSameFlow(t, "consumed", got, want)
	read, err := s.FlowState(ctx(t), f.ID)
	upOK(t, "FlowState", err)
	upSameFlow(t, "read after consuming", read, want)

	_, err = s.ConsumeFlowState(ctx(t), f.StateHash, at)
	upNotFound(t, "ConsumeFlowState twice", err)
	_, err = s.ConsumeFlowState(ctx(t), f.StateHash, at.Add(time.Second))
	upNotFound(t, "ConsumeFlowState twice, later", err)
	_, err = s.ConsumeFlowState(ctx(t), []byte("unknown"), at)
	upNotFound(t, "ConsumeFlowState unknown", err)
	_, err = s.ConsumeFlowState(ctx(t), nil, at)
	upNotFound(t, "ConsumeFlowState empty hash", err)

	// Expiry: usable strictly before ExpiresAt.
	late := upNewFlow(t, s, oc, u.ID, nil)
	_, err = s.ConsumeFlowState(ctx(t), late.StateHash, late.ExpiresAt)
	upNotFound(t, "ConsumeFlowState at ExpiresAt", err)
	_, err = s.ConsumeFlowState(ctx(t), late.StateHash, late.ExpiresAt.Add(time.Hour))
	upNotFound(t, "ConsumeFlowState after ExpiresAt", err)
	read, err = s.FlowState(ctx(t), late.ID)
	upOK(t, "FlowState", err)
	if !read.UsedAt.IsZero() {
		t.Errorf("an expired state was marked used at %v", read.UsedAt)
	}
	got, err = s.ConsumeFlowState(ctx(t), late.StateHash, late.ExpiresAt.Add(-time.Microsecond))
	upOK(t, "ConsumeFlowState just before ExpiresAt", err)
	if got.ID != late.ID {
		t.Errorf("consumed %s, want %s", got.ID, late.ID)
	}

	// A device flow has no state to consume.
	dev := upNewFlow(t, s, oc, u.ID, func(f *core.FlowState) { f.StateHash, f.DeviceCode = nil, "k1.ZGV2" })
	_, err = s.ConsumeFlowState(ctx(t), []byte{}, at)
	upNotFound(t, "ConsumeFlowState of a device flow", err)
	read, err = s.FlowState(ctx(t), dev.ID)
	upOK(t, "FlowState", err)
	if !read.UsedAt.IsZero() {
		t.Error("a device flow was consumed by an empty hash")
	}
}

func testConsumeFlowStateConcurrent(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	f := upNewFlow(t, s, NewOAuthClient(t, s, org.ID, nil), u.ID, nil)
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		won      int
		notFound int
		start    = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			got, err := s.ConsumeFlowState(ctx(t), f.StateHash, now.Add(time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
				if got.ID != f.ID {
					t.Errorf("consumed %s, want %s", got.ID, f.ID)
				}
			case errors.Is(err, core.ErrNotFound):
				notFound++
			default:
				t.Errorf("ConsumeFlowState: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if won != 1 || notFound != n-1 {
		t.Errorf("%d consumed the state and %d got ErrNotFound; want 1 and %d", won, notFound, n-1)
	}
}

func testDeleteExpiredFlowStates(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	oc := NewOAuthClient(t, s, org.ID, nil)
	old := upNewFlow(t, s, oc, u.ID, func(f *core.FlowState) { f.ExpiresAt = now.Add(-time.Hour) })
	oldUsed := upNewFlow(t, s, oc, u.ID, func(f *core.FlowState) {
		f.ExpiresAt, f.UsedAt = now.Add(-time.Second), now.Add(-time.Minute)
	})
	atNow := upNewFlow(t, s, oc, u.ID, func(f *core.FlowState) { f.ExpiresAt = now })
	live := upNewFlow(t, s, oc, u.ID, func(f *core.FlowState) { f.StateHash, f.ExpiresAt = nil, now.Add(time.Hour) })

	n, err := s.DeleteExpiredFlowStates(ctx(t), now)
	upOK(t, "DeleteExpiredFlowStates", err)
	if n != 2 {
		t.Errorf("deleted %d, want 2", n)
	}
	for _, f := range []core.FlowState{old, oldUsed} {
		_, err := s.FlowState(ctx(t), f.ID)
		upNotFound(t, "FlowState expired", err)
	}
	for _, f := range []core.FlowState{atNow, live} {
		_, err := s.FlowState(ctx(t), f.ID)
		upOK(t, "FlowState kept", err)
	}
	n, err = s.DeleteExpiredFlowStates(ctx(t), now)
	upOK(t, "DeleteExpiredFlowStates again", err)
	if n != 0 {
		t.Errorf("deleted %d on the second run, want 0", n)
	}
}

// Key rotation reaches every encrypted column of the Upstream tables.
func testReencryptUpstream(t *testing.T, s store.Store) {
	org, u := NewOrg(t, s), NewUser(t, s)
	oc := NewOAuthClient(t, s, org.ID, func(c *core.OAuthClient) { c.Secret, c.PrivateKey = "k1.c2VjcmV0", "k1.cHJpdmF0ZQ==" })
	conn := NewConnection(t, s, oc, u.ID, func(x *core.Connection) {
		x.AccessToken, x.RefreshToken, x.SSHKey = "k1.YWNjZXNz", "k1.cmVmcmVzaA==", "k1.c3No"
	})
	bare := NewConnection(t, s, oc, u.ID, func(x *core.Connection) { x.AccessToken = "k1.b25seQ==" })
	fs := upNewFlow(t, s, oc, u.ID, func(f *core.FlowState) { f.PKCEVerifier, f.DeviceCode = "k1.dmVy", "k1.ZGV2" })

	rotate := func(v core.Sealed) (core.Sealed, error) {
		if v == "" {
			return v, nil
		}
		if !strings.HasPrefix(string(v), "k1.") {
			return "", fmt.Errorf("unexpected value %q", v)
		}
		return core.Sealed("k2." + strings.TrimPrefix(string(v), "k1.")), nil
	}
	n, err := s.ReencryptSecrets(ctx(t), rotate)
	upOK(t, "ReencryptSecrets", err)
	if n < 8 {
		t.Errorf("ReencryptSecrets rewrote %d values, want at least the 8 upstream ones", n)
	}
	r := func(v core.Sealed) core.Sealed { w, _ := rotate(v); return w }

	gotC, err := s.OAuthClient(ctx(t), oc.ID)
	upOK(t, "OAuthClient", err)
	if gotC.Secret != r(oc.Secret) || gotC.PrivateKey != r(oc.PrivateKey) {
		t.Errorf("client secrets not rotated: %q %q", gotC.Secret, gotC.PrivateKey)
	}
	gotConn, err := s.Connection(ctx(t), conn.ID)
	upOK(t, "Connection", err)
	if gotConn.AccessToken != r(conn.AccessToken) || gotConn.RefreshToken != r(conn.RefreshToken) || gotConn.SSHKey != r(conn.SSHKey) {
		t.Errorf("connection secrets not rotated: %q %q %q", gotConn.AccessToken, gotConn.RefreshToken, gotConn.SSHKey)
	}
	gotBare, err := s.Connection(ctx(t), bare.ID)
	upOK(t, "Connection", err)
	if gotBare.AccessToken != r(bare.AccessToken) || gotBare.RefreshToken != "" || gotBare.SSHKey != "" {
		t.Errorf("bare connection after rotation: %q %q %q", gotBare.AccessToken, gotBare.RefreshToken, gotBare.SSHKey)
	}
	gotF, err := s.FlowState(ctx(t), fs.ID)
	upOK(t, "FlowState", err)
	if gotF.PKCEVerifier != r(fs.PKCEVerifier) || gotF.DeviceCode != r(fs.DeviceCode) || !bytes.Equal(gotF.StateHash, fs.StateHash) {
		t.Errorf("flow state secrets not rotated: %q %q", gotF.PKCEVerifier, gotF.DeviceCode)
	}
}

func testUpdateFlowState(t *testing.T, s store.Store) {
	org, u, other := NewOrg(t, s), NewUser(t, s), NewUser(t, s)
	prj := NewProject(t, s, org.ID)
	oc := NewOAuthClient(t, s, org.ID, nil)
	f := upNewFlow(t, s, oc, u.ID, func(f *core.FlowState) {
		f.StateHash, f.DeviceCode = nil, "k1.ZGV2aWNl"
		f.OwnerKind, f.OwnerProjectID, f.Name, f.Origin, f.RepoType = core.OwnerProject, prj.ID, "n", "servicestage", "github"
	})
	at := now.Add(time.Minute)
	got, err := s.UpdateFlowState(ctx(t), f.ID, func(x core.FlowState) (core.FlowState, error) {
		upSameFlow(t, "fn's argument", x, f)
		x.Name, x.PKCEVerifier, x.DeviceCode, x.ReturnTo = "m", "k1.dg==", "k1.bmV3", "/next"
		x.ExpiresAt, x.UsedAt = f.ExpiresAt.Add(time.Minute), at
		// Fields that cannot change:
		x.StateHash, x.OAuthClientID, x.UserID, x.OwnerKind = []byte("forged"), "oc-other", other.ID, core.OwnerUser
		x.OwnerProjectID, x.Origin, x.RepoType, x.CreatedAt = "", "web", "gitlab", at
		return x, nil
	})
	upOK(t, "UpdateFlowState", err)
	want := f
	want.Name, want.PKCEVerifier, want.DeviceCode, want.ReturnTo = "m", "k1.dg==", "k1.bmV3", "/next"
	want.ExpiresAt, want.UsedAt = f.ExpiresAt.Add(time.Minute), at
	upSameFlow(t, "updated", got, want)
	read, err := s.FlowState(ctx(t), f.ID)
	upOK(t, "FlowState", err)
	upSameFlow(t, "read after update", read, want)

	// An error from fn changes nothing.
	boom := errors.New("boom")
	_, err = s.UpdateFlowState(ctx(t), f.ID, func(x core.FlowState) (core.FlowState, error) {
		x.Name = "lost"
		return x, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("fn's error: got %v", err)
	}
	read, err = s.FlowState(ctx(t), f.ID)
	upOK(t, "FlowState", err)
	upSameFlow(t, "after a refused update", read, want)

	_, err = s.UpdateFlowState(ctx(t), "fs-unknown", func(x core.FlowState) (core.FlowState, error) { return x, nil })
	upNotFound(t, "UpdateFlowState unknown", err)

	// Concurrent updates do not lose one another (a device flow's poll schedule).
	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.UpdateFlowState(ctx(t), f.ID, func(x core.FlowState) (core.FlowState, error) {
				x.Name += "+"
				return x, nil
			})
			if err != nil {
				t.Errorf("UpdateFlowState: %v", err)
			}
		})
	}
	wg.Wait()
	read, err = s.FlowState(ctx(t), f.ID)
	upOK(t, "FlowState", err)
	if read.Name != "m"+strings.Repeat("+", n) {
		t.Errorf("name after %d concurrent updates: %q", n, read.Name)
	}
}

// A person has one connection of their own per client (a second link renews it); an
// organization may hold several through one client.
func testOneOwnConnectionPerClient(t *testing.T, s store.Store) {
	o := NewOrg(t, s)
	u, v := NewUser(t, s), NewUser(t, s)
	oc := NewOAuthClient(t, s, o.ID, nil)
	own := func(x *core.Connection) { x.OwnerKind = core.OwnerUser }
	NewConnection(t, s, oc, u.ID, own)
	NewConnection(t, s, oc, v.ID, own)
	second := core.Connection{ID: uniq("ot-"), OAuthClientID: oc.ID, OwnerKind: core.OwnerUser, OwnerUserID: u.ID,
		OwnerOrgID: oc.OrgID, CredentialKind: core.CredentialOAuth, Version: 1, CreatedAt: now, UpdatedAt: now}
	upConflict(t, "a second own connection through the client", s.CreateConnection(ctx(t), second))
	NewConnection(t, s, oc, u.ID, nil)
	NewConnection(t, s, oc, u.ID, nil)
	cs, n, err := s.ListConnections(ctx(t), store.ConnectionFilter{OAuthClientID: oc.ID}, store.Page{})
	upOK(t, "ListConnections", err)
	if n != 4 || len(cs) != 4 {
		t.Errorf("%d connections (%d listed), want 4", n, len(cs))
	}
}

func testUsableConnections(t *testing.T, s store.Store) {
	orgA, orgB, orgC := NewOrg(t, s), NewOrg(t, s), NewOrg(t, s)
	u, v := NewUser(t, s), NewUser(t, s)
	upMember(t, s, orgA.ID, u.ID, core.RoleMember)
	upMember(t, s, orgB.ID, u.ID, core.RoleAdmin)
	upMember(t, s, orgA.ID, v.ID, core.RoleOwner)
	upMember(t, s, orgC.ID, v.ID, core.RoleOwner)
	pA, pC := NewProject(t, s, orgA.ID), NewProject(t, s, orgC.ID)
	ocA := NewOAuthClient(t, s, orgA.ID, func(c *core.OAuthClient) {
		c.Slug, c.Kind, c.HTTPURL, c.APIURL = uniq("gl"), core.ProviderGitLabHosted, "https://gitlab.example", "https://gitlab.example/api/v4"
	})
	ocB, ocC := NewOAuthClient(t, s, orgB.ID, nil), NewOAuthClient(t, s, orgC.ID, nil)
	at := 0
	mk := func(oc core.OAuthClient, kind core.OwnerKind, user, prj, name string) core.Connection {
		at++
		return NewConnection(t, s, oc, user, func(x *core.Connection) {
			x.OwnerKind, x.OwnerProjectID, x.Name = kind, prj, name
			// Ids that sort against creation order, so the order must come from created_at.
			x.ID = fmt.Sprintf("ot-%03d-%s", 100-at, uniq(""))
			x.CreatedAt = now.Add(time.Duration(at) * time.Minute)
		})
	}
	orgOwnedA := mk(ocA, core.OwnerOrg, v.ID, "", "")
	projA := mk(ocA, core.OwnerProject, v.ID, pA.ID, "deploy")
	ownA := mk(ocA, core.OwnerUser, u.ID, "", "")
	vOwnA := mk(ocA, core.OwnerUser, v.ID, "", "")
	ownB := mk(ocB, core.OwnerUser, u.ID, "", "")
	orgOwnedB := mk(ocB, core.OwnerOrg, u.ID, "", "")
	projC := mk(ocC, core.OwnerProject, v.ID, pC.ID, "ci")
	orgOwnedC := mk(ocC, core.OwnerOrg, v.ID, "", "")

	ids := func(us []store.UsableConnection) []string {
		out := []string{}
		for _, x := range us {
			out = append(out, x.Connection.ID)
		}
		return out
	}
	got, err := s.UsableConnections(ctx(t), u.ID)
	upOK(t, "UsableConnections(u)", err)
	upSameIDs(t, "u", ids(got), []string{ownA.ID, ownB.ID, projA.ID, orgOwnedA.ID, orgOwnedB.ID})
	for _, x := range got {
		if x.Connection.ID == ownA.ID {
			upSameConn(t, "u's own connection", x.Connection, ownA)
			if x.Kind != ocA.Kind || x.HTTPURL != ocA.HTTPURL || x.APIURL != ocA.APIURL || x.Slug != ocA.Slug {
				t.Errorf("client fields: %+v, want those of %+v", x, ocA)
			}
		}
	}
	got, err = s.UsableConnections(ctx(t), v.ID)
	upOK(t, "UsableConnections(v)", err)
	upSameIDs(t, "v", ids(got), []string{vOwnA.ID, projA.ID, projC.ID, orgOwnedA.ID, orgOwnedC.ID})

	// Leaving an organization takes its connections away, the user's own included.
	upOK(t, "DeleteMembership", s.DeleteMembership(ctx(t), orgA.ID, u.ID))
	got, err = s.UsableConnections(ctx(t), u.ID)
	upOK(t, "UsableConnections(u) after leaving", err)
	upSameIDs(t, "u after leaving A", ids(got), []string{ownB.ID, orgOwnedB.ID})

	got, err = s.UsableConnections(ctx(t), "user-nobody")
	upOK(t, "UsableConnections(unknown)", err)
	if len(got) != 0 {
		t.Errorf("an unknown user may use %v", ids(got))
	}
}
