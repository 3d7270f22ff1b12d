package tfe

import (
	"net/http"

	"github.com/vcsauth/vcsauth/internal/core"
)

// GET /oauth-clients/{id}/oauth-tokens
func (h *handlers) clientTokens(w http.ResponseWriter, r *http.Request, p core.Principal) {
	pg, err := parsePage(r.URL.Query())
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	cs, err := h.e.ClientConnections(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.writeTokens(w, r, window(cs, pg), pg, len(cs))
}

// GET /organizations/{org}/oauth-tokens: what go-tfe's OAuthTokens.List calls.
func (h *handlers) orgTokens(w http.ResponseWriter, r *http.Request, p core.Principal) {
	pg, err := parsePage(r.URL.Query())
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	cs, total, err := h.e.OrgConnections(r.Context(), p, r.PathValue("org"), pg.store())
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.writeTokens(w, r, cs, pg, total)
}

func (h *handlers) writeTokens(w http.ResponseWriter, r *http.Request, cs []core.Connection, pg page, total int) {
	models := make([]*tokenModel, 0, len(cs))
	for _, c := range cs {
		models = append(models, tokenOf(c))
	}
	h.writeList(w, r, models, nil, pg, total)
}

// GET /oauth-tokens/{id}
func (h *handlers) showToken(w http.ResponseWriter, r *http.Request, p core.Principal) {
	c, err := h.e.OrgConnection(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.write(w, r, http.StatusOK, tokenOf(c), nil)
}

// PATCH /oauth-tokens/{id}: ssh-key, a private key stored sealed and never returned
// (has-ssh-key says whether there is one); null or "" removes it.
func (h *handlers) updateToken(w http.ResponseWriter, r *http.Request, p core.Principal) {
	id := r.PathValue("id")
	res, err := readResource(r, typeOAuthTokens)
	if err == nil {
		err = res.checkID(id)
	}
	var key *string
	if err == nil {
		key, err = res.str("ssh-key")
	}
	if err == nil && key == nil {
		err = core.Missing("ssh_key")
	}
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	c, err := h.e.SetOrgConnectionSSHKey(r.Context(), p, id, *key)
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	h.write(w, r, http.StatusOK, tokenOf(c), nil)
}

// DELETE /oauth-tokens/{id}
func (h *handlers) deleteToken(w http.ResponseWriter, r *http.Request, p core.Principal) {
	res, err := h.e.DeleteOrgConnection(r.Context(), p, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err, nil)
		return
	}
	if !res.Revoked && res.RevocationError != "" {
		h.log.InfoContext(r.Context(), "tfe: oauth-token deleted without revocation at the provider", "reason", res.RevocationError)
	}
	w.WriteHeader(http.StatusNoContent)
}
