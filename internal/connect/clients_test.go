package connect_test

import (
	"errors"
	"testing"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/store"
)

func TestClientValidation(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub)
	v := newEnv(t, envOpt{now: srv.Now})
	ctx := t.Context()
	taken := v.mkClient(t, srv, func(in *connect.ClientInput) { in.Slug = ptr("taken") })
	kind := func(k core.ProviderKind) *core.ProviderKind { return &k }
	base := func(mod func(*connect.ClientInput)) connect.ClientInput {
		in := clientInput(srv)
		mod(&in)
		return in
	}
	for _, tc := range []struct {
		name  string
		in    connect.ClientInput
		field string
	}{
		{"no kind", base(func(in *connect.ClientInput) { in.Kind = nil }), "kind"},
		{"unknown kind", base(func(in *connect.ClientInput) { in.Kind = kind("sourcehut") }), "kind"},
		{"bad http url", base(func(in *connect.ClientInput) { in.HTTPURL = ptr("ftp://x") }), "http_url"},
		{"bad api url", base(func(in *connect.ClientInput) { in.APIURL = ptr("not a url") }), "api_url"},
		{"self-hosted without url", base(func(in *connect.ClientInput) {
			in.Kind, in.HTTPURL, in.APIURL = kind(core.ProviderGitea), nil, nil
		}), "http_url"},
		{"no key", base(func(in *connect.ClientInput) { in.Key = nil }), "key"},
		{"no secret", base(func(in *connect.ClientInput) { in.Secret = ptr("") }), "secret"},
		{"key with spaces", base(func(in *connect.ClientInput) { in.Key = ptr("a b") }), "key"},
		{"rsa key on github", base(func(in *connect.ClientInput) { in.RSAPublicKey = ptr("ssh-rsa AAAA") }), "rsa_public_key"},
		{"rsa key without secret", base(func(in *connect.ClientInput) {
			in.Kind, in.HTTPURL, in.APIURL = kind(core.ProviderBitbucketDataCenter), ptr("https://bb.example"), nil
			in.RSAPublicKey, in.Secret = ptr("-----BEGIN PUBLIC KEY-----"), nil
		}), "secret"},
		{"private key on github", base(func(in *connect.ClientInput) { in.PrivateKey = ptr("-----BEGIN PRIVATE KEY-----") }), "private_key"},
		{"slug upper case", base(func(in *connect.ClientInput) { in.Slug = ptr("GitHub") }), "slug"},
		{"slug oc-", base(func(in *connect.ClientInput) { in.Slug = ptr("oc-github") }), "slug"},
		{"slug taken", base(func(in *connect.ClientInput) { in.Slug = ptr("taken") }), "slug"},
		{"scope with space", base(func(in *connect.ClientInput) { in.Scopes = &[]string{"read user"} }), "scopes"},
		{"foreign project", base(func(in *connect.ClientInput) { in.ProjectIDs = &[]string{"prj-foreign"} }), "projects"},
		{"unknown project", base(func(in *connect.ClientInput) { in.ProjectIDs = &[]string{"prj-nope"} }), "projects"},
		{"name on two lines", base(func(in *connect.ClientInput) { in.Name = ptr("a\nb") }), "name"},
		{"a token the provider refuses", base(func(in *connect.ClientInput) { in.OAuthTokenString = ptr("gho_nope") }), "oauth_token_string"},
	} {
		_, err := v.e.CreateClient(ctx, v.admin, v.org.Name, tc.in)
		if ve, ok := core.AsValidation(err); !ok || ve.Field != tc.field {
			t.Errorf("%s: %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
	if cs, n, _ := v.e.ListClients(ctx, v.alice, v.org.Name, store.Page{}); n != 1 || cs[0].ID != taken.ID {
		t.Errorf("refused clients were stored: %v", cs)
	}
	// Defaults: hosted URLs, organization-scoped, secrets never returned.
	oc := must[core.OAuthClient](t, "CreateClient")(v.e.CreateClient(ctx, v.admin, v.org.Name, connect.ClientInput{
		Kind: kind(core.ProviderGitLabHosted), Key: ptr("k"), Secret: ptr("s3cret")}))
	if oc.HTTPURL != "https://gitlab.com" || oc.APIURL != "https://gitlab.com/api/v4" || !oc.OrganizationScoped || oc.Secret != connect.Redacted {
		t.Errorf("defaults: %+v", oc)
	}
	if v.e.CallbackURL(oc) != external+"/auth/"+oc.ID+"/callback" || v.e.ConnectPath(oc) != "/auth/"+oc.ID+"?organization_id="+v.org.ID {
		t.Errorf("callback %s, connect path %s", v.e.CallbackURL(oc), v.e.ConnectPath(oc))
	}
	stored, _ := v.st.OAuthClient(ctx, oc.ID)
	if s, err := testKeys.OpenString(stored.Secret); err != nil || s != "s3cret" {
		t.Errorf("the stored secret is not the sealed one: %v", err)
	}
	// A self-hosted kind shows the API address it derives.
	ghe := must[core.OAuthClient](t, "GHE")(v.e.CreateClient(ctx, v.admin, v.org.Name, connect.ClientInput{
		Kind: kind(core.ProviderGitHubEnterprise), HTTPURL: ptr("https://ghe.example/"), Key: ptr("k"), Secret: ptr("s")}))
	if ghe.HTTPURL != "https://ghe.example" || ghe.APIURL != "https://ghe.example/api/v3" {
		t.Errorf("GHE URLs: %s %s", ghe.HTTPURL, ghe.APIURL)
	}
}

func TestClientPermissions(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub)
	v := newEnv(t, envOpt{now: srv.Now})
	ctx := t.Context()
	in := clientInput(srv)
	_, err := v.e.CreateClient(ctx, v.alice, v.org.Name, in)
	wantIs(t, "a member creates", err, core.ErrForbidden)
	_, err = v.e.CreateClient(ctx, v.outsider, v.org.Name, in)
	wantIs(t, "an outsider creates", err, core.ErrNotFound)
	noAdmin := v.admin
	noAdmin.Scopes = []string{core.ScopeReadAPI}
	_, err = v.e.CreateClient(ctx, noAdmin, v.org.Name, in)
	wantIs(t, "an admin's token without scope admin", err, core.ErrForbidden)

	oc := v.mkClient(t, srv, nil)
	if got := must[core.OAuthClient](t, "member reads")(v.e.Client(ctx, v.alice, oc.ID)); got.ID != oc.ID || got.Secret != connect.Redacted {
		t.Errorf("member reads: %+v", got)
	}
	for name, call := range map[string]func(p core.Principal) error{
		"read": func(p core.Principal) error { _, err := v.e.Client(ctx, p, oc.ID); return err },
		"update": func(p core.Principal) error {
			_, err := v.e.UpdateClient(ctx, p, oc.ID, connect.ClientInput{Name: ptr("x")})
			return err
		},
		"delete": func(p core.Principal) error { return v.e.DeleteClient(ctx, p, oc.ID) },
		"attach": func(p core.Principal) error {
			_, err := v.e.AttachProjects(ctx, p, oc.ID, []string{v.prj.ID})
			return err
		},
		"list connections": func(p core.Principal) error {
			_, err := v.e.ClientConnections(ctx, p, oc.ID)
			return err
		},
		"start a flow": func(p core.Principal) error {
			_, err := v.e.StartBrowser(ctx, p, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}})
			return err
		},
	} {
		wantIs(t, "outsider "+name, call(v.outsider), core.ErrNotFound)
	}
	_, err = v.e.UpdateClient(ctx, v.alice, oc.ID, connect.ClientInput{Name: ptr("x")})
	wantIs(t, "member updates", err, core.ErrForbidden)
	_, err = v.e.StartBrowser(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID, OwnerKind: core.OwnerOrg}})
	wantIs(t, "member starts an org flow", err, core.ErrForbidden)

	// Updates keep what they do not name; the kind cannot change.
	up := must[core.OAuthClient](t, "update")(v.e.UpdateClient(ctx, v.admin, oc.ID, connect.ClientInput{Name: ptr("renamed"), Slug: ptr("gh")}))
	if up.Name != "renamed" || up.Slug != "gh" || up.Key != oc.Key || up.HTTPURL != oc.HTTPURL || up.Secret != connect.Redacted {
		t.Errorf("update: %+v", up)
	}
	_, err = v.e.UpdateClient(ctx, v.admin, oc.ID, connect.ClientInput{Kind: ptr(core.ProviderGitLabHosted)})
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "kind" {
		t.Errorf("kind change: %v", err)
	}
	// Projects: attach, detach, replace with an empty list.
	up = must[core.OAuthClient](t, "attach")(v.e.AttachProjects(ctx, v.admin, "gh", []string{v.prj.ID}))
	if len(up.ProjectIDs) != 1 {
		t.Errorf("attach: %v", up.ProjectIDs)
	}
	_, err = v.e.AttachProjects(ctx, v.admin, "gh", []string{"prj-foreign"})
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "projects" {
		t.Errorf("attach a foreign project: %v", err)
	}
	up = must[core.OAuthClient](t, "detach")(v.e.DetachProjects(ctx, v.admin, "gh", []string{v.prj.ID}))
	if len(up.ProjectIDs) != 0 {
		t.Errorf("detach: %v", up.ProjectIDs)
	}
	// A client limited to projects serves only those, and nobody's own links once
	// it serves none.
	up = must[core.OAuthClient](t, "limit")(v.e.UpdateClient(ctx, v.admin, "gh", connect.ClientInput{OrganizationScoped: ptr(false), ProjectIDs: &[]string{}}))
	_, err = v.e.StartBrowser(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: "gh"}})
	wantIs(t, "a client serving nothing", err, core.ErrNotFound)
	if cs := must[[]core.OAuthClient](t, "ProjectClients")(v.e.ProjectClients(ctx, v.alice, v.prj.ID)); len(cs) != 0 {
		t.Errorf("project clients: %v", cs)
	}
	_ = up

	// Audit: every change is recorded, never with a secret.
	evs, _, err := v.id.ListAudit(ctx, v.admin, store.AuditFilter{OrgID: v.org.ID, Action: "oauth_client."}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.Action]++
		if e.ActorID != v.admin.User.ID {
			t.Errorf("event %s by %s", e.Action, e.ActorID)
		}
	}
	for _, a := range []string{"oauth_client.create", "oauth_client.update", "oauth_client.attach_projects", "oauth_client.detach_projects"} {
		if seen[a] == 0 {
			t.Errorf("no %s event in %v", a, seen)
		}
	}
	if err := v.e.DeleteClient(ctx, v.admin, "gh"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Client(ctx, v.admin, oc.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

// TestConnectionPermissions: who may see, change and delete each owner's
// connections, and the SSH key.
func TestConnectionPermissions(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitLabHosted)
	v := newEnv(t, envOpt{now: srv.Now})
	ctx := t.Context()
	oc := v.mkClient(t, srv, nil)
	own := v.link(t, srv, v.e, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}).Connection
	orgC := v.link(t, srv, v.e, v.admin, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID, OwnerKind: core.OwnerOrg}, Origin: connect.OriginTFE}).Connection
	if orgC.OwnerKind != core.OwnerOrg || orgC.OwnerOrgID != v.org.ID {
		t.Fatalf("org connection: %+v", orgC)
	}
	for _, tc := range []struct {
		name string
		p    core.Principal
		id   string
		see  error
		edit error
	}{
		{"alice, own", v.alice, own.ID, nil, nil},
		{"bob, alice's", v.bob, own.ID, core.ErrNotFound, core.ErrNotFound},
		{"admin, alice's", v.admin, own.ID, core.ErrNotFound, core.ErrNotFound},
		{"bob, the org's", v.bob, orgC.ID, nil, core.ErrForbidden},
		{"admin, the org's", v.admin, orgC.ID, nil, nil},
		{"outsider, the org's", v.outsider, orgC.ID, core.ErrNotFound, core.ErrNotFound},
	} {
		if _, err := v.e.Connection(ctx, tc.p, tc.id); !errors.Is(err, tc.see) && (err != nil || tc.see != nil) {
			t.Errorf("%s: see: %v, want %v", tc.name, err, tc.see)
		}
		if _, err := v.e.SetSSHKey(ctx, tc.p, tc.id, ""); !errors.Is(err, tc.edit) && (err != nil || tc.edit != nil) {
			t.Errorf("%s: change: %v, want %v", tc.name, err, tc.edit)
		}
	}
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----"
	c := must[core.Connection](t, "SetSSHKey")(v.e.SetSSHKey(ctx, v.admin, orgC.ID, key))
	if c.SSHKey != connect.Redacted {
		t.Errorf("ssh key returned: %q", c.SSHKey)
	}
	stored, _ := v.st.Connection(ctx, orgC.ID)
	if got, err := testKeys.OpenString(stored.SSHKey); err != nil || got != key+"\n" {
		t.Errorf("ssh key stored: %q %v", got, err)
	}
	if _, err := v.e.SetSSHKey(ctx, v.admin, orgC.ID, "not a key"); err == nil {
		t.Error("a non-key was stored")
	}
	if cs := must[[]core.Connection](t, "OrgConnections")(func() ([]core.Connection, error) {
		cs, _, err := v.e.OrgConnections(ctx, v.bob, v.org.Name, store.Page{})
		return cs, err
	}()); len(cs) != 1 || cs[0].ID != orgC.ID || cs[0].AccessToken != connect.Redacted {
		t.Errorf("org connections: %+v", cs)
	}
	if cs := must[[]core.Connection](t, "UserConnections")(v.e.UserConnections(ctx, v.alice)); len(cs) != 1 || cs[0].ID != own.ID {
		t.Errorf("alice's links: %+v", cs)
	}
	if got := must[core.Connection](t, "UserLink")(v.e.UserLink(ctx, v.alice, oc.ID)); got.ID != own.ID {
		t.Errorf("UserLink: %+v", got)
	}
	// Import of a token the provider refuses stores nothing.
	_, err := v.e.ImportToken(ctx, v.bob, connect.Target{OAuthClient: oc.ID}, "glpat-nope")
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "token" {
		t.Errorf("refused token: %v", err)
	}
	if cs := must[[]core.Connection](t, "UserConnections")(v.e.UserConnections(ctx, v.bob)); len(cs) != 0 {
		t.Errorf("bob got %v", cs)
	}
	evs, _, _ := v.id.ListAudit(ctx, v.admin, store.AuditFilter{OrgID: v.org.ID, Action: "connection."}, store.Page{})
	if len(evs) < 3 {
		t.Errorf("connection events: %d", len(evs))
	}
}
