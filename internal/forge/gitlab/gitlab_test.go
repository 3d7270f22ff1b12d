package gitlab_test

import (
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/gitlab"
)

var (
	_ forge.Forge       = (*gitlab.Provider)(nil)
	_ forge.BrowserFlow = (*gitlab.Provider)(nil)
	_ forge.DeviceFlow  = (*gitlab.Provider)(nil)
	_ forge.Refresher   = (*gitlab.Provider)(nil)
	_ forge.Revoker     = (*gitlab.Provider)(nil)
	_ forge.UserLookup  = (*gitlab.Provider)(nil)
	_ forge.Validator   = (*gitlab.Provider)(nil)
)

func TestSelfManagedUnderAPath(t *testing.T) {
	t.Parallel()
	p, err := gitlab.New(core.ProviderGitLabCommunityEdition, "https://example.com/gitlab/", "")
	if err != nil {
		t.Fatal(err)
	}
	e := p.Endpoints()
	if e.AuthURL != "https://example.com/gitlab/oauth/authorize" || e.DeviceAuthURL != "https://example.com/gitlab/oauth/authorize_device" ||
		e.RevokeURL != "https://example.com/gitlab/oauth/revoke" || e.APIURL != "https://example.com/gitlab/api/v4" {
		t.Errorf("endpoints %+v", e)
	}
	if _, err := gitlab.New(core.ProviderGitLabEnterpriseEdition, "", ""); err == nil {
		t.Errorf("self-managed without a URL")
	}
	if u, p := p.GitCredential("octo", "T"); u != "oauth2" || p != "T" {
		t.Errorf("git credential %q %q", u, p)
	}
}
