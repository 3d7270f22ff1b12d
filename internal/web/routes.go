package web

import (
	"net/http"

	"github.com/vcsauth/vcsauth/internal/core"
)

// route is one console route. Every route goes through Pages (session, security
// headers, the CSRF check of every POST); the table is also what the tests walk,
// so a route added here is covered by the CSRF and not-found tests at once.
type route struct {
	pattern string // "METHOD /path"
	handler func(*Site, http.ResponseWriter, *http.Request)
	// needs says which engine the route needs: "" (Identity only), "accounts",
	// "apps" or "upstream".
	needs string
	// admin: "site" or "org" — the route is 404 to anyone who does not
	// administer the site or the {org} of the path.
	admin string
}

// routes lists the site's pages. Patterns must not overlap with those of
// oauthhttp (/oauth/…, /device, /.well-known/…) and api/native (/auth/…,
// /external-auth/{id}/callback, /api/v1/…).
var routes = []route{
	{"GET /{$}", (*Site).home, "", ""},
	{"GET /login", (*Site).loginForm, "", ""},
	{"POST /login", (*Site).login, "", ""},
	{"POST /logout", (*Site).logout, "", ""},

	// The person's account.
	{"GET /account", (*Site).account, "accounts", ""},
	{"POST /account/password", (*Site).changePassword, "accounts", ""},
	{"GET /account/totp", (*Site).totpForm, "accounts", ""},
	{"POST /account/totp", (*Site).enrollTOTP, "accounts", ""},
	{"POST /account/totp/remove", (*Site).removeTOTP, "accounts", ""},

	// Personal access tokens and the applications that act for the person.
	{"GET /tokens", (*Site).tokens, "accounts", ""},
	{"POST /tokens", (*Site).createToken, "accounts", ""},
	{"GET /tokens/created", (*Site).tokenCreated, "accounts", ""},
	{"POST /tokens/{id}/revoke", (*Site).revokeToken, "accounts", ""},
	{"GET /grants", (*Site).grants, "apps", ""},
	{"POST /grants/{id}/revoke", (*Site).revokeGrant, "apps", ""},

	// Git provider connections.
	{"GET /connections", (*Site).connections, "upstream", ""},
	{"GET /external-auth/{id}", (*Site).externalAuth, "upstream", ""},
	{"POST /connections/{oc}/device", (*Site).startDevice, "upstream", ""},
	{"POST /connections/{oc}/device/poll", (*Site).pollDevice, "upstream", ""},
	{"POST /connections/{id}/check", (*Site).checkConnection, "upstream", ""},
	{"POST /connections/{id}/unlink", (*Site).unlink, "upstream", ""},

	// Organizations.
	{"GET /orgs", (*Site).orgs, "accounts", ""},
	{"GET /orgs/{org}", (*Site).orgHome, "accounts", "org"},
	{"GET /orgs/{org}/projects", (*Site).projects, "accounts", "org"},
	{"POST /orgs/{org}/projects", (*Site).createProject, "accounts", "org"},
	{"POST /orgs/{org}/projects/{id}", (*Site).updateProject, "accounts", "org"},
	{"POST /orgs/{org}/projects/{id}/delete", (*Site).deleteProject, "accounts", "org"},
	{"GET /orgs/{org}/members", (*Site).members, "accounts", "org"},
	{"POST /orgs/{org}/members", (*Site).putMember, "accounts", "org"},
	{"POST /orgs/{org}/members/{username}/remove", (*Site).removeMember, "accounts", "org"},
	{"GET /orgs/{org}/audit", (*Site).orgAudit, "accounts", "org"},
	{"GET /orgs/{org}/clients", (*Site).clients, "upstream", "org"},
	{"GET /orgs/{org}/clients/new", (*Site).newClient, "upstream", "org"},
	{"POST /orgs/{org}/clients", (*Site).createClient, "upstream", "org"},
	{"GET /orgs/{org}/clients/{oc}", (*Site).client, "upstream", "org"},
	{"POST /orgs/{org}/clients/{oc}", (*Site).updateClient, "upstream", "org"},
	{"POST /orgs/{org}/clients/{oc}/delete", (*Site).deleteClient, "upstream", "org"},
	{"POST /orgs/{org}/clients/{oc}/connections/{id}/check", (*Site).checkOrgConnection, "upstream", "org"},
	{"POST /orgs/{org}/clients/{oc}/connections/{id}/delete", (*Site).deleteOrgConnection, "upstream", "org"},

	// Site administration.
	{"GET /admin", (*Site).adminHome, "accounts", "site"},
	{"GET /admin/users", (*Site).users, "accounts", "site"},
	{"POST /admin/users", (*Site).createUser, "accounts", "site"},
	{"GET /admin/orgs", (*Site).adminOrgs, "accounts", "site"},
	{"POST /admin/orgs", (*Site).createOrg, "accounts", "site"},
	{"GET /admin/audit", (*Site).audit, "accounts", "site"},
	{"GET /admin/applications", (*Site).applications, "apps", "site"},
	{"POST /admin/applications", (*Site).createApplication, "apps", "site"},
	{"GET /admin/applications/created", (*Site).applicationCreated, "apps", "site"},
	{"POST /admin/applications/{id}/secret", (*Site).renewSecret, "apps", "site"},
	{"POST /admin/applications/{id}/delete", (*Site).deleteApplication, "apps", "site"},
}

// enabled reports whether the engine a route needs was given.
func (s *Site) enabled(rt route) bool {
	switch rt.needs {
	case "accounts":
		return s.acc != nil
	case "apps":
		return s.acc != nil && s.apps != nil
	case "upstream":
		return s.acc != nil && s.up != nil
	}
	return true
}

// Register adds the site's routes to mux: the sign-in pages and the stylesheet
// always, the console's pages for the engines given in Options.
func (s *Site) Register(mux *http.ServeMux) {
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.Pages(s.guard(rt)))
	}
	mux.HandleFunc("GET /static/{name}", s.serveStatic)
}

// routes returns the routes Register adds (but /static), in order.
func (s *Site) routes() []route {
	out := make([]route, 0, len(routes))
	for _, rt := range routes {
		if s.enabled(rt) {
			out = append(out, rt)
		}
	}
	return out
}

// guard applies the route's admin rule before its handler: the site admin pages
// need a site admin, the organization pages an admin of that organization. Anyone
// else — signed in or not — learns nothing: a person who is not signed in is sent
// to sign in (as for every console page), anyone else gets "not found".
func (s *Site) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.needs != "" || rt.admin != "" {
			p, ok := s.RequireSession(w, r)
			if !ok {
				return
			}
			switch rt.admin {
			case "site":
				if !core.CanAdminSite(p) {
					s.notFound(w, r)
					return
				}
			case "org":
				o, role, err := s.acc.AdminOrg(r.Context(), p, r.PathValue("org"))
				if err != nil {
					s.fail(w, r, notFoundIfForbidden(err))
					return
				}
				r = withOrg(r, o, role)
			}
		}
		rt.handler(s, w, r)
	})
}

// Patterns returns the mux patterns Register adds for this Site's engines (but
// /static), for tests that walk every page or every form.
func (s *Site) Patterns() []string {
	rs := s.routes()
	out := make([]string, len(rs))
	for i, rt := range rs {
		out[i] = rt.pattern
	}
	return out
}

// AdminPatterns returns the patterns of the pages only administrators reach
// ("site" or "org" admins), which are "not found" to everyone else.
func (s *Site) AdminPatterns(kind string) []string {
	var out []string
	for _, rt := range s.routes() {
		if rt.admin == kind {
			out = append(out, rt.pattern)
		}
	}
	return out
}
