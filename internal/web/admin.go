package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store"
)

func (s *Site) adminHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}

// UsersPage lists users and creates one.
type UsersPage struct {
	Users     []core.User
	Pager     Pager
	Username  string
	Email     string
	SiteAdmin bool
	Error     string
}

func (s *Site) usersPage(r *http.Request, page *UsersPage) error {
	pg := pageOf(r)
	list, total, err := s.acc.ListUsers(r.Context(), principal(r), pg)
	if err != nil {
		return err
	}
	page.Users, page.Pager = list, newPager(r, pg, total)
	return nil
}

func (s *Site) users(w http.ResponseWriter, r *http.Request) {
	var page UsersPage
	if err := s.usersPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "users", page)
}

func (s *Site) createUser(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	page := UsersPage{Username: strings.TrimSpace(f.Get("username")), Email: strings.TrimSpace(f.Get("email")), SiteAdmin: f.Get("site_admin") == "on"}
	_, err := s.acc.CreateUser(actorContext(r), principal(r), identity.NewUser{Username: page.Username, Email: page.Email,
		Password: f.Get("password"), SiteAdmin: page.SiteAdmin})
	if err != nil {
		msg, status, ok := formError(err)
		if !ok {
			s.fail(w, r, err)
			return
		}
		if errors.Is(err, core.ErrConflict) {
			msg = "That username is taken."
		}
		page.Error = msg
		if err := s.usersPage(r, &page); err != nil {
			s.fail(w, r, err)
			return
		}
		s.Render(w, r, status, "users", page)
		return
	}
	done(w, r, "/admin/users", "user-created")
}

// AdminOrgsPage lists every organization and creates one.
type AdminOrgsPage struct {
	Orgs  []core.Organization
	Pager Pager
	Name  string
	Owner string
	Error string
}

func (s *Site) adminOrgsPage(r *http.Request, page *AdminOrgsPage) error {
	all, err := s.acc.ListOrgs(r.Context(), principal(r))
	if err != nil {
		return err
	}
	pg := pageOf(r)
	page.Orgs, page.Pager = slicePage(all, pg), newPager(r, pg, len(all))
	return nil
}

func (s *Site) adminOrgs(w http.ResponseWriter, r *http.Request) {
	var page AdminOrgsPage
	if err := s.adminOrgsPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "admin_orgs", page)
}

func (s *Site) createOrg(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	page := AdminOrgsPage{Name: strings.TrimSpace(f.Get("name")), Owner: strings.TrimSpace(f.Get("owner"))}
	if _, err := s.acc.CreateOrg(actorContext(r), principal(r), page.Name, page.Owner); err != nil {
		msg, status, ok := formError(err)
		if !ok {
			s.fail(w, r, err)
			return
		}
		page.Error = msg
		if err := s.adminOrgsPage(r, &page); err != nil {
			s.fail(w, r, err)
			return
		}
		s.Render(w, r, status, "admin_orgs", page)
		return
	}
	done(w, r, "/admin/orgs", "org-created")
}

// AuditPage is the audit log with its filters: the whole site's for site admins,
// one organization's for its admins (OrgNav set).
type AuditPage struct {
	OrgNav
	// Path is where the filter form goes (the page itself).
	Path   string
	Events []core.AuditEvent
	Pager  Pager
	// The filters as entered.
	Actor, ActionPrefix, TargetType, TargetID, Since, Until string
	Error                                                   string
}

// auditTimeLayouts are what the filter's time fields take (UTC).
var auditTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02", time.RFC3339}

func parseAuditTime(v string) (time.Time, bool) {
	for _, l := range auditTimeLayouts {
		if t, err := time.ParseInLocation(l, v, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Site) audit(w http.ResponseWriter, r *http.Request) {
	s.renderAudit(w, r, AuditPage{Path: "/admin/audit"}, store.AuditFilter{})
}

// renderAudit applies the query's filters on top of base and renders the page.
func (s *Site) renderAudit(w http.ResponseWriter, r *http.Request, page AuditPage, f store.AuditFilter) {
	q := r.URL.Query()
	page.Actor, page.ActionPrefix = strings.TrimSpace(q.Get("actor")), strings.TrimSpace(q.Get("action"))
	page.TargetType, page.TargetID = strings.TrimSpace(q.Get("target_type")), strings.TrimSpace(q.Get("target_id"))
	page.Since, page.Until = strings.TrimSpace(q.Get("since")), strings.TrimSpace(q.Get("until"))
	f.Action, f.TargetType, f.TargetID = page.ActionPrefix, page.TargetType, page.TargetID
	// "token" means every token action: a prefix is a name ending in ".".
	if f.Action != "" && !strings.Contains(f.Action, ".") {
		f.Action += "."
	}
	var bad []string
	if page.Since != "" {
		t, ok := parseAuditTime(page.Since)
		if !ok {
			bad = append(bad, "From")
		}
		f.Since = t
	}
	if page.Until != "" {
		t, ok := parseAuditTime(page.Until)
		if !ok {
			bad = append(bad, "Until")
		}
		f.Until = t
	}
	status := http.StatusOK
	if len(bad) > 0 {
		page.Error = strings.Join(bad, " and ") + ": use a date and time like 2026-01-31T18:00 (UTC)."
		status = http.StatusBadRequest
	}
	if page.Actor != "" && page.Error == "" {
		u, err := s.acc.UserByUsername(r.Context(), page.Actor)
		switch {
		case errors.Is(err, core.ErrNotFound):
			page.Error = "There is no user " + strconvQuote(page.Actor) + "."
			status = http.StatusOK
		case err != nil:
			s.fail(w, r, err)
			return
		default:
			f.ActorID = u.ID
		}
	}
	pg := pageOf(r)
	page.Pager = newPager(r, pg, 0)
	if page.Error == "" {
		list, total, err := s.acc.ListAudit(r.Context(), principal(r), f, pg)
		if err != nil {
			s.fail(w, r, notFoundIfForbidden(err))
			return
		}
		page.Events, page.Pager = list, newPager(r, pg, total)
	}
	s.Render(w, r, status, "audit", page)
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// ApplicationsPage lists the downstream applications and registers one.
type ApplicationsPage struct {
	Apps         []core.Application
	Pager        Pager
	Name         string
	RedirectURIs string
	Scopes       []string
	Confidential bool
	Error        string
	Choices      []ScopeText
}

func (s *Site) applicationsPage(r *http.Request, page *ApplicationsPage) error {
	pg := pageOf(r)
	list, total, err := s.apps.ListApplications(r.Context(), principal(r), pg)
	if err != nil {
		return err
	}
	page.Apps, page.Pager, page.Choices = list, newPager(r, pg, total), DescribeScopes(core.Scopes)
	return nil
}

func (s *Site) applications(w http.ResponseWriter, r *http.Request) {
	page := ApplicationsPage{Confidential: true}
	if err := s.applicationsPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "applications", page)
}

func (s *Site) createApplication(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	page := ApplicationsPage{Name: strings.TrimSpace(f.Get("name")), RedirectURIs: strings.TrimSpace(f.Get("redirect_uris")),
		Scopes: f["scopes"], Confidential: f.Get("confidential") == "on"}
	in := authserver.NewApplication{Name: page.Name, RedirectURIs: strings.Fields(page.RedirectURIs), Scopes: page.Scopes, Confidential: page.Confidential}
	app, secretText, err := s.apps.CreateApplication(actorContext(r), principal(r), in)
	if err != nil {
		msg, status, ok := formError(err)
		if !ok {
			s.fail(w, r, err)
			return
		}
		page.Error = msg
		if err := s.applicationsPage(r, &page); err != nil {
			s.fail(w, r, err)
			return
		}
		s.Render(w, r, status, "applications", page)
		return
	}
	s.showOnce(w, r, "/admin/applications/created", "application", map[string]string{
		"name": app.Name, "client_id": app.ClientID, "secret": secretText, "renewed": ""})
}

func (s *Site) applicationCreated(w http.ResponseWriter, r *http.Request) {
	page := SecretPage{Title: "Application registered", Back: "/admin/applications"}
	f, ok := s.takeOnce(w, r, "application")
	switch {
	case !ok:
		page.Gone = true
	case f["renewed"] != "":
		page.Title = "New client secret"
		page.Value = f["secret"]
		page.Fields = []Field{{"Application", f["name"]}, {"Client ID", f["client_id"]}}
	default:
		page.Value = f["secret"]
		page.Fields = []Field{{"Application", f["name"]}, {"Client ID", f["client_id"]}}
		if page.Value == "" {
			page.Fields = append(page.Fields, Field{"Client secret", "none: a public client authenticates with PKCE"})
		}
	}
	s.Render(w, r, http.StatusOK, "secret", page)
}

func (s *Site) renewSecret(w http.ResponseWriter, r *http.Request) {
	id, ok := idParam(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	app, text, err := s.apps.RenewSecret(actorContext(r), principal(r), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showOnce(w, r, "/admin/applications/created", "application", map[string]string{
		"name": app.Name, "client_id": app.ClientID, "secret": text, "renewed": "yes"})
}

func (s *Site) deleteApplication(w http.ResponseWriter, r *http.Request) {
	id, ok := idParam(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if err := s.apps.DeleteApplication(actorContext(r), principal(r), id); err != nil {
		if errors.Is(err, core.ErrForbidden) {
			s.Error(w, r, http.StatusForbidden, "The built-in CLI application cannot be deleted.")
			return
		}
		s.fail(w, r, err)
		return
	}
	done(w, r, "/admin/applications", "app-deleted")
}
