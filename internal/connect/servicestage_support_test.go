package connect_test

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

func TestRepoTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		op   connect.RepoOp
		want []string
	}{
		{connect.RepoOpOAuth, []string{"github", "gitlab", "gitee", "bitbucket", "gitea"}},
		{connect.RepoOpPersonal, []string{"github", "gitlab", "gitee", "gitea"}},
		{connect.RepoOpPassword, []string{"github", "bitbucket", "gitea"}},
		{"other", nil},
	} {
		if got := connect.RepoTypes(tc.op); !slices.Equal(got, tc.want) {
			t.Errorf("RepoTypes(%s) = %v, want %v", tc.op, got, tc.want)
		}
	}
	for kind, want := range map[core.ProviderKind]string{
		core.ProviderGitHub: "github", core.ProviderGitHubEnterprise: "github",
		core.ProviderGitLabHosted: "gitlab", core.ProviderGitLabCommunityEdition: "gitlab", core.ProviderGitLabEnterpriseEdition: "gitlab",
		core.ProviderBitbucketHosted: "bitbucket", core.ProviderBitbucketServer: "bitbucket", core.ProviderBitbucketDataCenter: "bitbucket",
		core.ProviderGitee: "gitee", core.ProviderGitea: "gitea",
		core.ProviderAzureDevOpsServices: connect.RepoTypeAzureDevOps, core.ProviderAzureDevOpsServer: connect.RepoTypeAzureDevOps,
	} {
		if got := connect.RepoTypeOf(kind); got != want {
			t.Errorf("RepoTypeOf(%s) = %q, want %q", kind, got, want)
		}
	}
}

// TestProjectAuthorizationState: the state follows health and expiry.
func TestProjectAuthorizationState(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpt{})
	srv := forgetest.New(t, core.ProviderGitLabHosted)
	v.mkClient(t, srv, nil)
	a, err := v.e.ImportProjectToken(t.Context(), v.alice, connect.ProjectTokenInput{ProjectID: v.prj.ID, RepoType: "gitlab", Name: "t", Token: srv.IssueToken().AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	if a.State != connect.AuthNormal || a.RepoType != "gitlab" || a.RepoHost != srv.HTTPURL() || a.Connection.AccessToken != connect.Redacted {
		t.Fatalf("imported %+v", a)
	}
	past := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name    string
		health  core.Health
		expires time.Time
		refresh core.Sealed
		want    connect.AuthState
	}{
		{"healthy", core.HealthHealthy, time.Time{}, "", connect.AuthNormal},
		{"expired, refreshable", core.HealthHealthy, past, "k1.x", connect.AuthNormal},
		{"expired, nothing to refresh with", core.HealthHealthy, past, "", connect.AuthExpired},
		{"expired, refresh failing", core.HealthRefreshFailing, past, "k1.x", connect.AuthExpired},
		{"refresh failing, still valid", core.HealthRefreshFailing, time.Now().Add(time.Hour), "k1.x", connect.AuthNormal},
		{"needs reauth", core.HealthNeedsReauth, time.Time{}, "", connect.AuthExpired},
		{"revoked", core.HealthRevoked, time.Time{}, "", connect.AuthUnauthenticated},
	} {
		if _, err := v.st.UpdateConnection(t.Context(), a.Connection.ID, func(c core.Connection) (core.Connection, error) {
			c.Health, c.ExpiresAt, c.RefreshToken = tc.health, tc.expires, tc.refresh
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		as, err := v.e.ProjectAuthorizations(t.Context(), v.alice, v.prj.ID)
		if err != nil || len(as) != 1 {
			t.Fatalf("ProjectAuthorizations: %v %v", as, err)
		}
		if as[0].State != tc.want {
			t.Errorf("%s: state %d, want %d", tc.name, as[0].State, tc.want)
		}
	}
}

// TestProjectClientByHost: with two GitLab clients, host picks one; without it the
// oldest serves.
func TestProjectClientByHost(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpt{})
	first, second := forgetest.New(t, core.ProviderGitLabHosted), forgetest.New(t, core.ProviderGitLabCommunityEdition)
	oc1 := v.mkClient(t, first, nil)
	oc2 := v.mkClient(t, second, nil)
	host := func(s string) string { u, _ := url.Parse(s); return u.Host }
	for _, tc := range []struct {
		name, host, tok, want string
	}{
		{"by-default", "", first.IssueToken().AccessToken, oc1.ID},
		{"by-host", host(second.HTTPURL()), second.IssueToken().AccessToken, oc2.ID},
		{"by-url", second.HTTPURL(), second.IssueToken().AccessToken, oc2.ID},
	} {
		a, err := v.e.ImportProjectToken(t.Context(), v.alice, connect.ProjectTokenInput{ProjectID: v.prj.ID, RepoType: "gitlab",
			Name: tc.name, Token: tc.tok, Host: tc.host})
		if err != nil {
			t.Fatalf("host %q: %v", tc.host, err)
		}
		if a.Connection.OAuthClientID != tc.want {
			t.Errorf("host %q: client %s, want %s", tc.host, a.Connection.OAuthClientID, tc.want)
		}
	}
	_, err := v.e.ImportProjectToken(t.Context(), v.alice, connect.ProjectTokenInput{ProjectID: v.prj.ID, RepoType: "gitlab", Name: "nowhere", Token: "t", Host: "gitlab.nowhere.example"})
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "repo_type" || ve.Code != "not_configured" {
		t.Fatalf("unknown host: %v", err)
	}
}

// TestProjectPasswordRefused: the provider's no is ErrCredentialRefused and stores
// nothing; a malformed password is a plain validation error.
func TestProjectPasswordRefused(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpt{})
	srv := forgetest.New(t, core.ProviderBitbucketHosted)
	v.mkClient(t, srv, nil)
	in := connect.ProjectPasswordInput{ProjectID: v.prj.ID, RepoType: "bitbucket", Name: "bb", Username: "octo", Password: "wrong"}
	_, err := v.e.LinkProjectPassword(t.Context(), v.alice, in)
	if !errors.Is(err, connect.ErrCredentialRefused) {
		t.Fatalf("wrong password: %v", err)
	}
	in.Password = "two\nlines"
	_, err = v.e.LinkProjectPassword(t.Context(), v.alice, in)
	if ve, ok := core.AsValidation(err); !ok || errors.Is(err, connect.ErrCredentialRefused) || ve.Field != "password" {
		t.Fatalf("malformed password: %v", err)
	}
	if as, err := v.e.ProjectAuthorizations(t.Context(), v.alice, v.prj.ID); err != nil || len(as) != 0 {
		t.Fatalf("stored %v %v", as, err)
	}
	if _, err := v.e.DeleteProjectAuthorization(t.Context(), v.alice, v.prj.ID, "bb"); !errors.Is(err, connect.ErrNameNotFound) || !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete of nothing: %v", err)
	}
	if _, err := v.e.DeleteProjectAuthorization(t.Context(), v.outsider, v.prj.ID, "bb"); errors.Is(err, connect.ErrNameNotFound) || !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete by an outsider: %v", err)
	}
}
