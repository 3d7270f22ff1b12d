package connect

import (
	"context"
	"fmt"

	"github.com/vcsauth/vcsauth/internal/core"
)

// The Terraform dialect's oauth-tokens are exactly the organization-owned
// connections: a person's own connection, or a project's, is not one, and through
// that dialect it does not exist (core.ErrNotFound) — not even to its owner, who
// reaches it through the dialects that speak of it.

// requireOrgOwned returns core.ErrNotFound unless connection id exists and is
// organization-owned. Visibility and permission are checked by the caller's next
// step (the owner kind of a connection never changes in between).
func (e *Engine) requireOrgOwned(ctx context.Context, id string) error {
	c, err := e.st.Connection(ctx, id)
	if err != nil {
		return err
	}
	if c.OwnerKind != core.OwnerOrg {
		return fmt.Errorf("connect: connection %s is not an organization's: %w", id, core.ErrNotFound)
	}
	return nil
}

// OrgConnection returns an organization-owned connection to a member of its
// organization; tokens and keys come back Redacted. Other connections, and those of
// organizations p does not belong to, are core.ErrNotFound.
func (e *Engine) OrgConnection(ctx context.Context, p core.Principal, id string) (core.Connection, error) {
	if err := e.requireOrgOwned(ctx, id); err != nil {
		return core.Connection{}, err
	}
	return e.Connection(ctx, p, id)
}

// SetOrgConnectionSSHKey is SetSSHKey for an organization-owned connection: its
// org admins only (members get core.ErrForbidden), anything else core.ErrNotFound.
func (e *Engine) SetOrgConnectionSSHKey(ctx context.Context, p core.Principal, id, key string) (core.Connection, error) {
	if err := e.requireOrgOwned(ctx, id); err != nil {
		return core.Connection{}, err
	}
	return e.SetSSHKey(ctx, p, id, key)
}

// DeleteOrgConnection is DeleteConnection for an organization-owned connection: its
// org admins only (members get core.ErrForbidden), anything else core.ErrNotFound.
func (e *Engine) DeleteOrgConnection(ctx context.Context, p core.Principal, id string) (DeleteResult, error) {
	if err := e.requireOrgOwned(ctx, id); err != nil {
		return DeleteResult{}, err
	}
	return e.DeleteConnection(ctx, p, id)
}

// DetachClientProjects is DetachProjects that names bad input instead of ignoring
// it: every id must be a project of the client's organization (a
// *core.ValidationError on "projects" otherwise, and nothing changes). A project of
// the organization that is not on the client's list is still ignored: removing what
// is not there is done.
func (e *Engine) DetachClientProjects(ctx context.Context, p core.Principal, ref string, projectIDs []string) (core.OAuthClient, error) {
	oc, err := e.adminClient(ctx, p, ref)
	if err != nil {
		return core.OAuthClient{}, err
	}
	if len(projectIDs) == 0 {
		return core.OAuthClient{}, core.Missing("projects")
	}
	if err := e.checkProjects(ctx, p, oc.OrgID, projectIDs); err != nil {
		return core.OAuthClient{}, err
	}
	return e.DetachProjects(ctx, p, oc.ID, projectIDs)
}
