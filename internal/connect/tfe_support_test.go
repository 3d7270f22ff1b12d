package connect_test

import (
	"slices"
	"testing"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

// TestOrgConnections: the Terraform dialect's oauth-tokens are the organization's
// connections only; members see them, admins change them, others find nothing.
func TestOrgConnections(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub)
	v := newEnv(t, envOpt{})
	ctx := t.Context()
	oc := v.mkClient(t, srv, func(in *connect.ClientInput) { in.OAuthTokenString = ptr(srv.IssueToken().AccessToken) })
	orgConns := must[[]core.Connection](t, "ClientConnections")(v.e.ClientConnections(ctx, v.admin, oc.ID))
	if len(orgConns) != 1 {
		t.Fatalf("organization connections: %v", orgConns)
	}
	id := orgConns[0].ID
	own := must[core.Connection](t, "ImportToken")(v.e.ImportToken(ctx, v.alice, connect.Target{OAuthClient: oc.ID}, srv.IssueToken().AccessToken))

	if c := must[core.Connection](t, "OrgConnection(member)")(v.e.OrgConnection(ctx, v.alice, id)); c.AccessToken != connect.Redacted {
		t.Errorf("a member reads the token: %+v", c)
	}
	wantIs(t, "OrgConnection(outsider)", tfeErr(v.e.OrgConnection(ctx, v.outsider, id)), core.ErrNotFound)
	wantIs(t, "OrgConnection(a person's own)", tfeErr(v.e.OrgConnection(ctx, v.alice, own.ID)), core.ErrNotFound)
	wantIs(t, "OrgConnection(unknown)", tfeErr(v.e.OrgConnection(ctx, v.admin, "ot-nope")), core.ErrNotFound)

	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
	wantIs(t, "SetOrgConnectionSSHKey(member)", tfeErr(v.e.SetOrgConnectionSSHKey(ctx, v.alice, id, key)), core.ErrForbidden)
	wantIs(t, "SetOrgConnectionSSHKey(outsider)", tfeErr(v.e.SetOrgConnectionSSHKey(ctx, v.outsider, id, key)), core.ErrNotFound)
	wantIs(t, "SetOrgConnectionSSHKey(a person's own)", tfeErr(v.e.SetOrgConnectionSSHKey(ctx, v.alice, own.ID, key)), core.ErrNotFound)
	if c := must[core.Connection](t, "SetOrgConnectionSSHKey")(v.e.SetOrgConnectionSSHKey(ctx, v.admin, id, key)); c.SSHKey != connect.Redacted {
		t.Errorf("after setting the key: %+v", c)
	}

	wantIs(t, "DeleteOrgConnection(member)", tfeErr(v.e.DeleteOrgConnection(ctx, v.alice, id)), core.ErrForbidden)
	wantIs(t, "DeleteOrgConnection(outsider)", tfeErr(v.e.DeleteOrgConnection(ctx, v.outsider, id)), core.ErrNotFound)
	wantIs(t, "DeleteOrgConnection(a person's own)", tfeErr(v.e.DeleteOrgConnection(ctx, v.alice, own.ID)), core.ErrNotFound)
	must[connect.DeleteResult](t, "DeleteOrgConnection")(v.e.DeleteOrgConnection(ctx, v.admin, id))
	wantIs(t, "after delete", tfeErr(v.e.OrgConnection(ctx, v.admin, id)), core.ErrNotFound)
	must[core.Connection](t, "a person's own connection stays")(v.e.Connection(ctx, v.alice, own.ID))
}

// TestDetachClientProjects names unknown and foreign projects instead of ignoring
// them, and changes nothing then.
func TestDetachClientProjects(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub)
	v := newEnv(t, envOpt{})
	ctx := t.Context()
	oc := v.mkClient(t, srv, func(in *connect.ClientInput) { in.ProjectIDs = &[]string{v.prj.ID} })
	for _, ids := range [][]string{{"prj-nope"}, {"prj-foreign"}, {v.prj.ID, "prj-nope"}} {
		ve := wantErr[*core.ValidationError](t, "DetachClientProjects", tfeErr(v.e.DetachClientProjects(ctx, v.admin, oc.ID, ids)))
		if ve.Field != "projects" {
			t.Errorf("%v: field %q", ids, ve.Field)
		}
	}
	ve := wantErr[*core.ValidationError](t, "DetachClientProjects(none)", tfeErr(v.e.DetachClientProjects(ctx, v.admin, oc.ID, nil)))
	if ve.Field != "projects" || ve.Code != "missing" {
		t.Errorf("no projects: %+v", ve)
	}
	wantIs(t, "DetachClientProjects(member)", tfeErr(v.e.DetachClientProjects(ctx, v.alice, oc.ID, []string{v.prj.ID})), core.ErrForbidden)
	wantIs(t, "DetachClientProjects(outsider)", tfeErr(v.e.DetachClientProjects(ctx, v.outsider, oc.ID, []string{v.prj.ID})), core.ErrNotFound)
	if got := must[core.OAuthClient](t, "Client")(v.e.Client(ctx, v.admin, oc.ID)); !slices.Equal(got.ProjectIDs, []string{v.prj.ID}) {
		t.Fatalf("refusals changed the projects: %v", got.ProjectIDs)
	}
	got := must[core.OAuthClient](t, "DetachClientProjects")(v.e.DetachClientProjects(ctx, v.admin, oc.ID, []string{v.prj.ID}))
	if len(got.ProjectIDs) != 0 {
		t.Fatalf("after detaching: %v", got.ProjectIDs)
	}
	// Detaching a project of the organization that is not on the list is done.
	must[core.OAuthClient](t, "DetachClientProjects again")(v.e.DetachClientProjects(ctx, v.admin, oc.ID, []string{v.prj.ID}))
}

func tfeErr[T any](_ T, err error) error { return err }
