package gitee_test

import (
	"context"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/forge/gitee"
)

var (
	_ forge.Forge       = (*gitee.Provider)(nil)
	_ forge.BrowserFlow = (*gitee.Provider)(nil)
	_ forge.Refresher   = (*gitee.Provider)(nil)
	_ forge.UserLookup  = (*gitee.Provider)(nil)
	_ forge.Validator   = (*gitee.Provider)(nil)
)

// Gitee's API takes the token as the access_token query parameter; the fake
// refuses it anywhere else.
func TestTokenInQuery(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitee)
	p, err := gitee.New(srv.HTTPURL(), srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	if id, err := p.User(context.Background(), nil, srv.IssueToken().AccessToken); err != nil || id.Login != "octo" {
		t.Errorf("user: %+v %v", id, err)
	}
	if p.Endpoints().APIURL != srv.URL+"/api/v5" {
		t.Errorf("api %s", p.Endpoints().APIURL)
	}
}
