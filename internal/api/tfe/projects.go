package tfe

import (
	"net/http"
	"slices"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// GET /organizations/{org}/projects, with go-tfe's filters: filter[names] (exact
// names, comma-separated) and q (part of a name, any case).
func (h *handlers) listProjects(w http.ResponseWriter, r *http.Request, p core.Principal) {
	ctx, q, orgName := r.Context(), r.URL.Query(), r.PathValue("org")
	pg, err := parsePage(q)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	var names []string
	for _, n := range strings.Split(q.Get("filter[names]"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	search := strings.ToLower(strings.TrimSpace(q.Get("q")))
	filtered := len(names) > 0 || search != ""
	sp := pg.store()
	if filtered {
		sp = store.Page{}
	}
	prjs, total, err := h.id.ListProjects(ctx, p, orgName, sp)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	if filtered {
		prjs = slices.DeleteFunc(prjs, func(prj core.Project) bool {
			return (len(names) > 0 && !slices.Contains(names, prj.Name)) ||
				(search != "" && !strings.Contains(strings.ToLower(prj.Name), search))
		})
		total = len(prjs)
		prjs = window(prjs, pg)
	}
	models := make([]*projectModel, 0, len(prjs))
	for _, prj := range prjs {
		models = append(models, projectOf(prj, orgName))
	}
	h.writeList(w, r, models, nil, pg, total)
}

// POST /organizations/{org}/projects
func (h *handlers) createProject(w http.ResponseWriter, r *http.Request, p core.Principal) {
	res, err := readResource(r, typeProjects)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	name, err := res.str("name")
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	desc, err := res.str("description")
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	orgName := r.PathValue("org")
	prj, err := h.id.CreateProject(r.Context(), p, orgName, deref(name), deref(desc))
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.write(w, r, http.StatusCreated, projectOf(prj, orgName), nil)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// GET /projects/{id}
func (h *handlers) showProject(w http.ResponseWriter, r *http.Request, p core.Principal) {
	prj, _, err := h.id.Project(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.answerProject(w, r, p, prj)
}

func (h *handlers) answerProject(w http.ResponseWriter, r *http.Request, p core.Principal, prj core.Project) {
	org, _, err := h.id.OrgByID(r.Context(), p, prj.OrgID)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.write(w, r, http.StatusOK, projectOf(prj, org.Name), nil)
}

// PATCH /projects/{id}: name and description; absent ones keep their values.
func (h *handlers) updateProject(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id := r.PathValue("id")
	res, err := readResource(r, typeProjects)
	if err == nil {
		err = res.checkID(id)
	}
	var name, desc *string
	if err == nil {
		name, err = res.str("name")
	}
	if err == nil {
		desc, err = res.str("description")
	}
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	prj, err := h.id.UpdateProject(r.Context(), p, id, name, desc)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.answerProject(w, r, p, prj)
}

// DELETE /projects/{id}: its connections go with it, and OAuth clients forget it.
func (h *handlers) deleteProject(w http.ResponseWriter, r *http.Request, p core.Principal) {
	if err := h.id.DeleteProject(r.Context(), p, r.PathValue("id")); err != nil {
		h.fail(w, r, err, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /organizations: the caller's organizations (every one, for a site admin).
func (h *handlers) listOrgs(w http.ResponseWriter, r *http.Request, p core.Principal) {
	pg, err := parsePage(r.URL.Query())
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	orgs, err := h.id.ListOrgs(r.Context(), p)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	slices.SortFunc(orgs, func(a, b core.Organization) int { return strings.Compare(a.Name, b.Name) })
	models := make([]*orgModel, 0, len(orgs))
	for _, o := range window(orgs, pg) {
		models = append(models, orgOf(o))
	}
	h.writeList(w, r, models, nil, pg, len(orgs))
}

// GET /organizations/{org}
func (h *handlers) showOrg(w http.ResponseWriter, r *http.Request, p core.Principal) {
	o, _, err := h.id.Org(r.Context(), p, r.PathValue("org"))
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.write(w, r, http.StatusOK, orgOf(o), nil)
}
