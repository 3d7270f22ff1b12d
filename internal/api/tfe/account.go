package tfe

import (
	"fmt"
	"net/http"

	"github.com/vcsauth/vcsauth/internal/core"
)

// GET /account/details: the caller, as `terraform login` and go-tfe's
// Users.ReadCurrent ask for it to check a token.
//
// Scopes: any valid token may ask, whatever its scopes. TFE's user tokens have no
// scopes and every one of them may read its own account; the answer names only the
// token's own person, and its email and two-factor state only to a token allowed
// read_user (core.CanReadProfile), as in every dialect.
func (h *handlers) accountDetails(w http.ResponseWriter, r *http.Request, p core.Principal) {
	if err := writeDoc(w, http.StatusOK, userOf(p)); err != nil {
		h.fail(w, r, fmt.Errorf("tfe: encoding: %w", err), nil)
	}
}
