package azuredevops_test

import (
	"context"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/azuredevops"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

var (
	_ forge.Forge        = (*azuredevops.Services)(nil)
	_ forge.BrowserFlow  = (*azuredevops.Services)(nil)
	_ forge.Refresher    = (*azuredevops.Services)(nil)
	_ forge.UserLookup   = (*azuredevops.Services)(nil)
	_ forge.Validator    = (*azuredevops.Services)(nil)
	_ forge.Forge        = (*azuredevops.Entra)(nil)
	_ forge.BrowserFlow  = (*azuredevops.Entra)(nil)
	_ forge.DeviceFlow   = (*azuredevops.Entra)(nil)
	_ forge.Refresher    = (*azuredevops.Entra)(nil)
	_ forge.UserLookup   = (*azuredevops.Entra)(nil)
	_ forge.Validator    = (*azuredevops.Entra)(nil)
	_ forge.Forge        = (*azuredevops.Server)(nil)
	_ forge.UserLookup   = (*azuredevops.Server)(nil)
	_ forge.Validator    = (*azuredevops.Server)(nil)
	_ forge.PasswordAuth = (*azuredevops.Server)(nil)
)

func TestIsEntraAuthority(t *testing.T) {
	t.Parallel()
	for u, want := range map[string]bool{
		"https://login.microsoftonline.com/contoso.onmicrosoft.com": true,
		"https://LOGIN.microsoftonline.us/tenant":                   true,
		"https://login.chinacloudapi.cn/tenant":                     true,
		"https://app.vssps.visualstudio.com":                        false,
		"https://login.microsoftonline.com.evil.example/t":          false,
		"::": false,
	} {
		if got := azuredevops.IsEntraAuthority(u); got != want {
			t.Errorf("IsEntraAuthority(%q) = %v", u, got)
		}
	}
}

func TestServicesAuthorizeURL(t *testing.T) {
	t.Parallel()
	p, err := azuredevops.NewServices("", "")
	if err != nil {
		t.Fatal(err)
	}
	u := p.AuthCodeURL(forge.Client{ID: "app", RedirectURL: "https://cb.example/cb"}, "st", "verifier-ignored")
	want := "https://app.vssps.visualstudio.com/oauth2/authorize?client_id=app&redirect_uri=https%3A%2F%2Fcb.example%2Fcb&response_type=Assertion&scope=vso.code_write+vso.profile&state=st"
	if u != want {
		t.Errorf("authorize URL\n got %s\nwant %s", u, want)
	}
}

func TestServerPAT(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderAzureDevOpsServer)
	f, err := forge.New(core.ProviderAzureDevOpsServer, srv.HTTPURL(), "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.(forge.UserLookup).User(context.Background(), nil, srv.IssueToken().AccessToken)
	if err != nil || id.Login != "octo" || id.ID != "1001" {
		t.Errorf("PAT user: %+v %v", id, err)
	}
	if _, ok := f.(forge.BrowserFlow); ok {
		t.Errorf("Azure DevOps Server has no OAuth")
	}
}
