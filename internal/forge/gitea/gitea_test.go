package gitea_test

import (
	"context"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/forge/gitea"
)

var (
	_ forge.Forge        = (*gitea.Provider)(nil)
	_ forge.BrowserFlow  = (*gitea.Provider)(nil)
	_ forge.Refresher    = (*gitea.Provider)(nil)
	_ forge.UserLookup   = (*gitea.Provider)(nil)
	_ forge.Validator    = (*gitea.Provider)(nil)
	_ forge.PasswordAuth = (*gitea.Provider)(nil)
)

// The git credential we hand out passes Gitea's basic-auth rule (the token as the
// user name, "x-oauth-basic" as the password).
func TestGitCredentialAuthenticates(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitea)
	p, err := gitea.New(srv.HTTPURL(), "")
	if err != nil {
		t.Fatal(err)
	}
	user, pass := p.GitCredential("octo", srv.IssueToken().AccessToken)
	if id, err := p.PasswordUser(context.Background(), nil, user, pass); err != nil || id.Login != "octo" {
		t.Errorf("basic auth with the git credential: %+v %v", id, err)
	}
	if _, err := gitea.New("", ""); err == nil {
		t.Errorf("gitea without a URL")
	}
}
