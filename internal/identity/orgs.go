package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

func validateOrgName(n string) error {
	if n == "" {
		return core.Missing("name")
	}
	if !orgNameRE.MatchString(n) {
		return core.Invalid("name", "must be 1 to 40 characters: letters, digits, '_' or '-', starting with a letter or digit")
	}
	return nil
}

// CreateOrg creates an organization with owner as its first owner. Site admins only.
func (s *Service) CreateOrg(ctx context.Context, actor core.Principal, name, ownerUsername string) (core.Organization, error) {
	if !core.CanAdminSite(actor) {
		return core.Organization{}, core.ErrForbidden
	}
	if err := validateOrgName(name); err != nil {
		return core.Organization{}, err
	}
	owner, err := s.UserByUsername(ctx, ownerUsername)
	if err != nil {
		return core.Organization{}, unknownRef(err, "owner", "user", ownerUsername)
	}
	id, err := s.newID("org")
	if err != nil {
		return core.Organization{}, err
	}
	now := s.Now()
	o := core.Organization{ID: id, Name: name, CreatedAt: now, UpdatedAt: now}
	if err := s.st.CreateOrg(ctx, o); err != nil {
		if errors.Is(err, core.ErrConflict) {
			return core.Organization{}, &core.ValidationError{Field: "name", Code: "taken", Message: fmt.Sprintf("organization %q exists", name)}
		}
		return core.Organization{}, err
	}
	if err := s.st.PutMembership(ctx, core.Membership{OrgID: o.ID, UserID: owner.ID, Role: core.RoleOwner, CreatedAt: now}); err != nil {
		// Without an owner nobody could manage it: take the organization back.
		_ = s.st.DeleteOrg(context.WithoutCancel(ctx), o.ID)
		return core.Organization{}, err
	}
	s.Audit(ctx, &actor, "org.create", "organization", o.ID, o.ID, "name="+name+" owner="+owner.Username)
	return o, nil
}

// Role returns the user's role in the organization, or "" when not a member.
func (s *Service) Role(ctx context.Context, orgID, userID string) (core.Role, error) {
	m, err := s.st.Membership(ctx, orgID, userID)
	if errors.Is(err, core.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return m.Role, nil
}

// Org returns the organization named name if the principal may see it; otherwise
// ErrNotFound, so nobody learns which names exist in other tenants. It also
// returns the principal's role there.
// It is one read of the store, on the path of every organization-scoped request.
func (s *Service) Org(ctx context.Context, p core.Principal, name string) (core.Organization, core.Role, error) {
	o, role, err := s.st.OrgByNameWithRole(ctx, name, p.User.ID)
	return visibleOrg(p, o, role, err)
}

// OrgByID is Org by id.
func (s *Service) OrgByID(ctx context.Context, p core.Principal, id string) (core.Organization, core.Role, error) {
	o, role, err := s.st.OrgWithRole(ctx, id, p.User.ID)
	return visibleOrg(p, o, role, err)
}

// visibleOrg passes on an organization read with p's role there if p may see it.
func visibleOrg(p core.Principal, o core.Organization, role core.Role, err error) (core.Organization, core.Role, error) {
	if err != nil {
		return core.Organization{}, "", err
	}
	if !core.CanSeeOrg(p, role) || !p.Allows(core.ScopeReadAPI) {
		return core.Organization{}, "", core.ErrNotFound
	}
	return o, role, nil
}

// AdminOrg is Org for operations that need an org admin: a member who is not an
// admin gets ErrForbidden (they may see it), anyone else ErrNotFound.
// It also returns the principal's role there ("" for a site admin who is no member).
func (s *Service) AdminOrg(ctx context.Context, p core.Principal, name string) (core.Organization, core.Role, error) {
	o, role, err := s.Org(ctx, p, name)
	if err != nil {
		return core.Organization{}, "", err
	}
	if !core.CanAdminOrg(p, role) {
		return core.Organization{}, "", core.ErrForbidden
	}
	return o, role, nil
}

// ListOrgs lists the organizations the principal belongs to (all, for site admins).
func (s *Service) ListOrgs(ctx context.Context, p core.Principal) ([]core.Organization, error) {
	if !p.Allows(core.ScopeReadAPI) {
		return nil, core.ErrForbidden
	}
	if p.User.SiteAdmin {
		orgs, _, err := s.st.ListOrgs(ctx, store.Page{})
		return orgs, err
	}
	ms, err := s.st.ListMemberships(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	orgs := make([]core.Organization, 0, len(ms))
	for _, m := range ms {
		o, err := s.st.Org(ctx, m.OrgID)
		if err != nil {
			return nil, err
		}
		orgs = append(orgs, o)
	}
	return orgs, nil
}

// AddMember adds a user to an organization, or changes their role. Owners (and site
// admins) only.
func (s *Service) AddMember(ctx context.Context, actor core.Principal, orgName, username string, role core.Role) error {
	if !role.Valid() {
		return core.Invalid("role", "must be owner, admin or member")
	}
	o, myRole, err := s.Org(ctx, actor, orgName)
	if err != nil {
		return err
	}
	if !core.CanManageMembers(actor, myRole) {
		return core.ErrForbidden
	}
	u, err := s.UserByUsername(ctx, username)
	if err != nil {
		return unknownRef(err, "username", "user", username)
	}
	if err := s.st.PutMembership(ctx, core.Membership{OrgID: o.ID, UserID: u.ID, Role: role, CreatedAt: s.Now()}); err != nil {
		return err
	}
	s.Audit(ctx, &actor, "org.member_put", "user", u.ID, o.ID, "role="+string(role))
	return nil
}

// RemoveMember removes a user from an organization. The last owner cannot leave.
func (s *Service) RemoveMember(ctx context.Context, actor core.Principal, orgName, username string) error {
	o, myRole, err := s.Org(ctx, actor, orgName)
	if err != nil {
		return err
	}
	if !core.CanManageMembers(actor, myRole) {
		return core.ErrForbidden
	}
	u, err := s.UserByUsername(ctx, username)
	if err != nil {
		return err
	}
	ms, err := s.st.ListMembers(ctx, o.ID)
	if err != nil {
		return err
	}
	owners, isOwner := 0, false
	for _, m := range ms {
		if m.Role == core.RoleOwner {
			owners++
			isOwner = isOwner || m.UserID == u.ID
		}
	}
	if isOwner && owners == 1 {
		return core.Invalid("username", "is the last owner; make someone else owner first")
	}
	if err := s.st.DeleteMembership(ctx, o.ID, u.ID); err != nil {
		return err
	}
	s.Audit(ctx, &actor, "org.member_remove", "user", u.ID, o.ID, "")
	return nil
}

// ListMembers lists an organization's members, to anyone who may see it.
func (s *Service) ListMembers(ctx context.Context, p core.Principal, orgName string) ([]core.Membership, error) {
	o, _, err := s.Org(ctx, p, orgName)
	if err != nil {
		return nil, err
	}
	return s.st.ListMembers(ctx, o.ID)
}

func validateProjectName(n string) error {
	n = strings.TrimSpace(n)
	if n == "" {
		return core.Missing("name")
	}
	if len(n) > 40 || strings.ContainsAny(n, "\x00\r\n\t") {
		return core.Invalid("name", "must be 1 to 40 characters on one line")
	}
	return nil
}

// CreateProject creates a project in an organization; org admins only.
func (s *Service) CreateProject(ctx context.Context, actor core.Principal, orgName, name, description string) (core.Project, error) {
	o, _, err := s.AdminOrg(ctx, actor, orgName)
	if err != nil {
		return core.Project{}, err
	}
	if err := validateProjectName(name); err != nil {
		return core.Project{}, err
	}
	if len(description) > 2000 {
		return core.Project{}, core.Invalid("description", "must be at most 2000 characters")
	}
	id, err := s.newID("prj")
	if err != nil {
		return core.Project{}, err
	}
	now := s.Now()
	p := core.Project{ID: id, OrgID: o.ID, Name: strings.TrimSpace(name), Description: description, CreatedAt: now, UpdatedAt: now}
	if err := s.st.CreateProject(ctx, p); err != nil {
		if errors.Is(err, core.ErrConflict) {
			return core.Project{}, &core.ValidationError{Field: "name", Code: "taken", Message: fmt.Sprintf("project %q exists in %s", p.Name, o.Name)}
		}
		return core.Project{}, err
	}
	s.Audit(ctx, &actor, "project.create", "project", p.ID, o.ID, "name="+p.Name)
	return p, nil
}

// Project returns a project the principal may see (a member of its organization),
// with the principal's role in that organization.
func (s *Service) Project(ctx context.Context, p core.Principal, id string) (core.Project, core.Role, error) {
	prj, err := s.st.Project(ctx, id)
	if err != nil {
		return core.Project{}, "", err
	}
	_, role, err := s.OrgByID(ctx, p, prj.OrgID)
	if err != nil {
		return core.Project{}, "", err
	}
	return prj, role, nil
}

// ListProjects lists an organization's projects.
func (s *Service) ListProjects(ctx context.Context, p core.Principal, orgName string, page store.Page) ([]core.Project, int, error) {
	o, _, err := s.Org(ctx, p, orgName)
	if err != nil {
		return nil, 0, err
	}
	return s.st.ListProjects(ctx, o.ID, page)
}

// UpdateProject renames or re-describes a project; org admins only. Empty fields
// keep their value.
func (s *Service) UpdateProject(ctx context.Context, actor core.Principal, id string, name, description *string) (core.Project, error) {
	prj, role, err := s.Project(ctx, actor, id)
	if err != nil {
		return core.Project{}, err
	}
	if !core.CanAdminOrg(actor, role) {
		return core.Project{}, core.ErrForbidden
	}
	if name != nil {
		if err := validateProjectName(*name); err != nil {
			return core.Project{}, err
		}
	}
	if description != nil && len(*description) > 2000 {
		return core.Project{}, core.Invalid("description", "must be at most 2000 characters")
	}
	out, err := s.st.UpdateProject(ctx, prj.ID, func(p core.Project) (core.Project, error) {
		if name != nil {
			p.Name = strings.TrimSpace(*name)
		}
		if description != nil {
			p.Description = *description
		}
		p.UpdatedAt = s.Now()
		return p, nil
	})
	if errors.Is(err, core.ErrConflict) {
		return core.Project{}, &core.ValidationError{Field: "name", Code: "taken", Message: "a project of that name exists"}
	}
	if err == nil {
		s.Audit(ctx, &actor, "project.update", "project", prj.ID, prj.OrgID, "")
	}
	return out, err
}

// DeleteProject deletes a project and the connections it owns; org admins only.
func (s *Service) DeleteProject(ctx context.Context, actor core.Principal, id string) error {
	prj, role, err := s.Project(ctx, actor, id)
	if err != nil {
		return err
	}
	if !core.CanAdminOrg(actor, role) {
		return core.ErrForbidden
	}
	if err := s.st.DeleteProject(ctx, prj.ID); err != nil {
		return err
	}
	s.Audit(ctx, &actor, "project.delete", "project", prj.ID, prj.OrgID, "name="+prj.Name)
	return nil
}
