package bitbucket_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/bitbucket"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

var (
	_ forge.Forge        = (*bitbucket.Cloud)(nil)
	_ forge.BrowserFlow  = (*bitbucket.Cloud)(nil)
	_ forge.Refresher    = (*bitbucket.Cloud)(nil)
	_ forge.UserLookup   = (*bitbucket.Cloud)(nil)
	_ forge.Validator    = (*bitbucket.Cloud)(nil)
	_ forge.PasswordAuth = (*bitbucket.Cloud)(nil)
	_ forge.Forge        = (*bitbucket.DataCenter)(nil)
	_ forge.BrowserFlow  = (*bitbucket.DataCenter)(nil)
	_ forge.Refresher    = (*bitbucket.DataCenter)(nil)
	_ forge.UserLookup   = (*bitbucket.DataCenter)(nil)
	_ forge.Validator    = (*bitbucket.DataCenter)(nil)
	_ forge.PasswordAuth = (*bitbucket.DataCenter)(nil)
)

func TestDataCenterUser(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderBitbucketDataCenter)
	p, err := bitbucket.NewDataCenter(core.ProviderBitbucketDataCenter, srv.HTTPURL(), "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.User(context.Background(), nil, srv.IssueToken().AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// The avatar URL Bitbucket answers is relative to the installation.
	if id.Login != "octo" || id.ID != "1001" || !strings.HasPrefix(id.AvatarURL, srv.URL+"/users/octo/avatar.png") || id.ProfileURL == "" {
		t.Errorf("identity %+v", id)
	}
}

func TestCloudUser(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderBitbucketHosted)
	p, err := bitbucket.NewCloud(srv.HTTPURL(), srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.User(context.Background(), nil, srv.IssueToken().AccessToken)
	if err != nil || id.ID != "{1001}" || id.Login != "octo" || id.Name != "Octo Cat" || id.AvatarURL == "" {
		t.Errorf("identity %+v %v", id, err)
	}
	if u, pw := p.GitCredential(id.Login, "T"); u != "x-token-auth" || pw != "T" {
		t.Errorf("git credential %q %q", u, pw)
	}
}
