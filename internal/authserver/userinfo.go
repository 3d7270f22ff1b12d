package authserver

import "github.com/vcsauth/vcsauth/internal/core"

// UserInfo returns the caller's own profile, which is how an application checks
// whose a token is (GitLab's GET /user, OpenID Connect's userinfo). It needs
// read_user, which read_api and api imply.
func (e *Engine) UserInfo(p core.Principal) (core.User, error) {
	if !core.CanReadProfile(p) {
		return core.User{}, core.ErrForbidden
	}
	return p.User, nil
}
