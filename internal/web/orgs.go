package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// OrgRow is an organization the person belongs to.
type OrgRow struct {
	Org   core.Organization
	Role  core.Role
	Admin bool
}

// OrgsPage lists the person's organizations (every one, for a site admin).
type OrgsPage struct {
	Orgs  []OrgRow
	Pager Pager
}

func (s *Site) orgs(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	all, err := s.acc.ListOrgs(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := pageOf(r)
	page := OrgsPage{Pager: newPager(r, pg, len(all))}
	for _, o := range slicePage(all, pg) {
		role, err := s.acc.Role(r.Context(), o.ID, p.User.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page.Orgs = append(page.Orgs, OrgRow{Org: o, Role: role, Admin: core.CanAdminOrg(p, role)})
	}
	s.Render(w, r, http.StatusOK, "orgs", page)
}

// OrgNav is what every organization page shows above its content.
type OrgNav struct {
	Org       core.Organization
	Tab       string
	Clients   bool // the OAuth client pages exist
	CanManage bool // may change members (owners, site admins)
}

func (s *Site) orgNav(r *http.Request, tab string) OrgNav {
	return OrgNav{Org: orgOf(r), Tab: tab, Clients: s.up != nil, CanManage: core.CanManageMembers(principal(r), roleOf(r))}
}

func orgPath(o core.Organization, rest string) string {
	return "/orgs/" + url.PathEscape(o.Name) + rest
}

func (s *Site) orgHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, orgPath(orgOf(r), "/projects"), http.StatusSeeOther)
}

// ProjectsPage lists an organization's projects, creates, renames and deletes
// them.
type ProjectsPage struct {
	OrgNav
	Projects    []core.Project
	Pager       Pager
	Name        string
	Description string
	Error       string
	// EditID is the project whose rename failed (Error is about it then).
	EditID string
}

func (s *Site) projectsPage(r *http.Request, page *ProjectsPage) error {
	pg := pageOf(r)
	page.OrgNav = s.orgNav(r, "projects")
	list, total, err := s.acc.ListProjects(r.Context(), principal(r), page.Org.Name, pg)
	if err != nil {
		return err
	}
	page.Projects, page.Pager = list, newPager(r, pg, total)
	return nil
}

func (s *Site) projects(w http.ResponseWriter, r *http.Request) {
	var page ProjectsPage
	if err := s.projectsPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "projects", page)
}

func (s *Site) projectFormError(w http.ResponseWriter, r *http.Request, page ProjectsPage, err error) {
	msg, status, ok := formError(err)
	if !ok {
		s.fail(w, r, err)
		return
	}
	page.Error = msg
	if err := s.projectsPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, status, "projects", page)
}

func (s *Site) createProject(w http.ResponseWriter, r *http.Request) {
	o, f := orgOf(r), r.PostForm
	page := ProjectsPage{Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description"))}
	if _, err := s.acc.CreateProject(actorContext(r), principal(r), o.Name, page.Name, page.Description); err != nil {
		s.projectFormError(w, r, page, err)
		return
	}
	done(w, r, orgPath(o, "/projects"), "project-created")
}

// orgProject is the project of the path, when it belongs to the organization of
// the path.
func (s *Site) orgProject(r *http.Request) (core.Project, error) {
	prj, _, err := s.acc.Project(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return prj, err
	}
	if prj.OrgID != orgOf(r).ID {
		return prj, core.ErrNotFound
	}
	return prj, nil
}

func (s *Site) updateProject(w http.ResponseWriter, r *http.Request) {
	prj, err := s.orgProject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := r.PostForm
	name, desc := strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("description"))
	var np, dp *string
	if name != "" && name != prj.Name {
		np = &name
	}
	if _, ok := f["description"]; ok && desc != prj.Description {
		dp = &desc
	}
	if np != nil || dp != nil {
		if _, err := s.acc.UpdateProject(actorContext(r), principal(r), prj.ID, np, dp); err != nil {
			s.projectFormError(w, r, ProjectsPage{EditID: prj.ID}, err)
			return
		}
	}
	done(w, r, orgPath(orgOf(r), "/projects"), "project-updated")
}

func (s *Site) deleteProject(w http.ResponseWriter, r *http.Request) {
	prj, err := s.orgProject(r)
	if err == nil {
		err = s.acc.DeleteProject(actorContext(r), principal(r), prj.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, orgPath(orgOf(r), "/projects"), "project-deleted")
}

// MemberRow is a member of an organization.
type MemberRow struct {
	Username, Email string
	Role            core.Role
	Since           string
}

// MembersPage lists an organization's members; owners add, change and remove
// them.
type MembersPage struct {
	OrgNav
	Members  []MemberRow
	Pager    Pager
	Roles    []core.Role
	Username string
	Role     core.Role
	Error    string
}

func (s *Site) membersPage(r *http.Request, page *MembersPage) error {
	page.OrgNav = s.orgNav(r, "members")
	page.Roles = []core.Role{core.RoleMember, core.RoleAdmin, core.RoleOwner}
	if page.Role == "" {
		page.Role = core.RoleMember
	}
	ms, err := s.acc.ListMembers(r.Context(), principal(r), page.Org.Name)
	if err != nil {
		return err
	}
	pg := pageOf(r)
	page.Pager = newPager(r, pg, len(ms))
	for _, m := range slicePage(ms, pg) {
		u, err := s.acc.User(r.Context(), m.UserID)
		if err != nil {
			return err
		}
		page.Members = append(page.Members, MemberRow{Username: u.Username, Email: u.Email, Role: m.Role, Since: formatTime(m.CreatedAt)})
	}
	return nil
}

func (s *Site) members(w http.ResponseWriter, r *http.Request) {
	var page MembersPage
	if err := s.membersPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "members", page)
}

func (s *Site) putMember(w http.ResponseWriter, r *http.Request) {
	o, f := orgOf(r), r.PostForm
	page := MembersPage{Username: strings.TrimSpace(f.Get("username")), Role: core.Role(f.Get("role"))}
	if err := s.acc.AddMember(actorContext(r), principal(r), o.Name, page.Username, page.Role); err != nil {
		s.memberFormError(w, r, page, err)
		return
	}
	done(w, r, orgPath(o, "/members"), "member-saved")
}

func (s *Site) removeMember(w http.ResponseWriter, r *http.Request) {
	o := orgOf(r)
	if err := s.acc.RemoveMember(actorContext(r), principal(r), o.Name, r.PathValue("username")); err != nil {
		s.memberFormError(w, r, MembersPage{}, err)
		return
	}
	done(w, r, orgPath(o, "/members"), "member-removed")
}

func (s *Site) memberFormError(w http.ResponseWriter, r *http.Request, page MembersPage, err error) {
	msg, status, ok := formError(err)
	if !ok {
		s.fail(w, r, err)
		return
	}
	if status == http.StatusForbidden {
		msg = "Only owners of the organization change its members."
	}
	page.Error = msg
	if err := s.membersPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, status, "members", page)
}

func (s *Site) orgAudit(w http.ResponseWriter, r *http.Request) {
	o := orgOf(r)
	s.renderAudit(w, r, AuditPage{OrgNav: s.orgNav(r, "audit"), Path: orgPath(o, "/audit")}, store.AuditFilter{OrgID: o.ID})
}
