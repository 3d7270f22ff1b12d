package tfe

import (
	"context"
	"net/http"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// clientIncludes are what an oauth-client can include (go-tfe's names).
var clientIncludes = map[string]string{"oauth_tokens": typeOAuthTokens, "projects": typeProjects}

// clientInput reads an oauth-clients resource into the engine's input. Absent
// attributes stay nil: a create takes the defaults, an update keeps the values.
func clientInput(res *resource) (connect.ClientInput, error) {
	var (
		in  connect.ClientInput
		err error
	)
	kind, err := res.optional("service-provider")
	if err != nil {
		return in, err
	}
	if kind != nil {
		k := core.ProviderKind(*kind)
		in.Kind = &k
	}
	for _, f := range []struct {
		name string
		dst  **string
		read func(string) (*string, error)
	}{
		{"name", &in.Name, res.str},
		{"http-url", &in.HTTPURL, res.str},
		{"api-url", &in.APIURL, res.str},
		{"key", &in.Key, res.str},
		{"secret", &in.Secret, res.optional},
		{"rsa-public-key", &in.RSAPublicKey, res.str},
		{"private-key", &in.PrivateKey, res.optional},
		{"oauth-token-string", &in.OAuthTokenString, res.optional},
		{"slug", &in.Slug, res.str},
	} {
		if *f.dst, err = f.read(f.name); err != nil {
			return in, err
		}
	}
	if in.OrganizationScoped, err = res.boolean("organization-scoped"); err != nil {
		return in, err
	}
	device, err := res.boolean("device-flow")
	if err != nil {
		return in, err
	}
	if device != nil {
		disabled := !*device
		in.DeviceFlowDisabled = &disabled
	}
	if in.ProjectIDs, err = res.toMany("projects", typeProjects); err != nil {
		return in, err
	}
	if in.AgentPoolID, err = res.toOne("agent-pool", typeAgentPools); err != nil {
		return in, err
	}
	return in, nil
}

// clientModelFor builds the resource of one client with its tokens, and with its
// projects described when they are to be included.
func (h *handlers) clientModelFor(ctx context.Context, p core.Principal, oc core.OAuthClient, inc includes) (*clientModel, error) {
	org, _, err := h.id.OrgByID(ctx, p, oc.OrgID)
	if err != nil {
		return nil, err
	}
	tokens, err := h.e.ClientConnections(ctx, p, oc.ID)
	if err != nil {
		return nil, err
	}
	var projects map[string]core.Project
	if inc[typeProjects] && len(oc.ProjectIDs) > 0 {
		if projects, err = h.projectsByID(ctx, p, org.Name); err != nil {
			return nil, err
		}
	}
	return h.clientOf(oc, org.Name, tokens, projects), nil
}

func (h *handlers) projectsByID(ctx context.Context, p core.Principal, orgName string) (map[string]core.Project, error) {
	prjs, _, err := h.id.ListProjects(ctx, p, orgName, store.Page{})
	if err != nil {
		return nil, err
	}
	m := make(map[string]core.Project, len(prjs))
	for _, prj := range prjs {
		m[prj.ID] = prj
	}
	return m, nil
}

// GET /organizations/{org}/oauth-clients
func (h *handlers) listClients(w http.ResponseWriter, r *http.Request, p core.Principal) {
	ctx, q, orgName := r.Context(), r.URL.Query(), r.PathValue("org")
	pg, err := parsePage(q)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	inc, err := parseIncludes(q, clientIncludes)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	cs, total, err := h.e.ListClients(ctx, p, orgName, pg.store())
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	// One query for the tokens of every client, one for the projects.
	var (
		tokens   []core.Connection
		projects map[string]core.Project
	)
	if len(cs) > 0 {
		if tokens, _, err = h.e.OrgConnections(ctx, p, orgName, store.Page{}); err != nil {
			h.fail(w, r, err, nil)
			return
		}
		if inc[typeProjects] {
			if projects, err = h.projectsByID(ctx, p, orgName); err != nil {
				h.fail(w, r, err, nil)
				return
			}
		}
	}
	models := make([]*clientModel, 0, len(cs))
	for _, oc := range cs {
		models = append(models, h.clientOf(oc, orgName, tokens, projects))
	}
	h.writeList(w, r, models, inc, pg, total)
}

// GET /oauth-clients/{id}
func (h *handlers) showClient(w http.ResponseWriter, r *http.Request, p core.Principal) {
	inc, err := parseIncludes(r.URL.Query(), clientIncludes)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	oc, err := h.e.Client(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.answerClient(w, r, p, http.StatusOK, oc, inc)
}

func (h *handlers) answerClient(w http.ResponseWriter, r *http.Request, p core.Principal, status int, oc core.OAuthClient, inc includes) {
	m, err := h.clientModelFor(r.Context(), p, oc, inc)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.write(w, r, status, m, inc)
}

// POST /organizations/{org}/oauth-clients
func (h *handlers) createClient(w http.ResponseWriter, r *http.Request, p core.Principal) {
	res, err := readResource(r, typeOAuthClients)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	in, err := clientInput(res)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	oc, err := h.e.CreateClient(r.Context(), p, r.PathValue("org"), in)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.answerClient(w, r, p, http.StatusCreated, oc, nil)
}

// PATCH /oauth-clients/{id}: absent attributes keep their values.
func (h *handlers) updateClient(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id := r.PathValue("id")
	res, err := readResource(r, typeOAuthClients)
	if err == nil {
		err = res.checkID(id)
	}
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	in, err := clientInput(res)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	oc, err := h.e.UpdateClient(r.Context(), p, id, in)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.answerClient(w, r, p, http.StatusOK, oc, nil)
}

// DELETE /oauth-clients/{id}: its oauth-tokens go with it.
func (h *handlers) deleteClient(w http.ResponseWriter, r *http.Request, p core.Principal) {
	if err := h.e.DeleteClient(r.Context(), p, r.PathValue("id")); err != nil {
		h.fail(w, r, err, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// projectsPointer: the body of the relationship endpoints is the list itself.
func projectsPointer(field string) string {
	if field == "projects" {
		return "/data"
	}
	return attributePointer(field)
}

// POST /oauth-clients/{id}/relationships/projects
func (h *handlers) attachProjects(w http.ResponseWriter, r *http.Request, p core.Principal) {
	h.changeProjects(w, r, p, h.e.AttachProjects)
}

// DELETE /oauth-clients/{id}/relationships/projects
func (h *handlers) detachProjects(w http.ResponseWriter, r *http.Request, p core.Principal) {
	h.changeProjects(w, r, p, h.e.DetachClientProjects)
}

func (h *handlers) changeProjects(w http.ResponseWriter, r *http.Request, p core.Principal,
	change func(context.Context, core.Principal, string, []string) (core.OAuthClient, error)) {
	data, err := readData(r)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	ids, err := identifiers(data, typeProjects, "/data")
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	if _, err := change(r.Context(), p, r.PathValue("id"), ids); err != nil {
		h.fail(w, r, err, projectsPointer)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readResource reads a request document whose primary data is one resource of
// type want.
func readResource(r *http.Request, want string) (*resource, error) {
	data, err := readData(r)
	if err != nil {
		return nil, err
	}
	return decodeResource(data, want)
}
