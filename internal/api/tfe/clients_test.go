package tfe_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gotfe "github.com/hashicorp/go-tfe"

	"github.com/vcsauth/vcsauth/internal/api/tfe"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/store"
)

const rsaPublicKey = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtest\n-----END PUBLIC KEY-----"

const sshKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUtc2VjcmV0LXNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----"

// kindCase is one service provider and what a create needs for it.
type kindCase struct {
	kind core.ProviderKind
	// oauth: the kind's people authorize with OAuth, so the client needs key and secret.
	oauth bool
	// selfHosted: the kind has no hosted default and needs an http-url.
	selfHosted bool
	// rsa: Bitbucket Data Center's application link key, sent with the secret.
	rsa bool
	// privateKey: Azure DevOps Server's private key.
	privateKey bool
}

var kindCases = []kindCase{
	{kind: core.ProviderGitHub, oauth: true},
	{kind: core.ProviderGitHubEnterprise, oauth: true, selfHosted: true},
	{kind: core.ProviderGitLabHosted, oauth: true},
	{kind: core.ProviderGitLabCommunityEdition, oauth: true, selfHosted: true},
	{kind: core.ProviderGitLabEnterpriseEdition, oauth: true, selfHosted: true},
	{kind: core.ProviderAzureDevOpsServer, selfHosted: true, privateKey: true},
	{kind: core.ProviderAzureDevOpsServices, oauth: true},
	{kind: core.ProviderBitbucketHosted, oauth: true},
	{kind: core.ProviderBitbucketServer, oauth: true, selfHosted: true},
	{kind: core.ProviderBitbucketDataCenter, oauth: true, selfHosted: true, rsa: true},
	{kind: core.ProviderGitea, oauth: true, selfHosted: true},
	{kind: core.ProviderGitee, oauth: true},
}

func TestKindCasesCoverEveryProvider(t *testing.T) {
	t.Parallel()
	for _, k := range core.ProviderKinds {
		if !slices.ContainsFunc(kindCases, func(kc kindCase) bool { return kc.kind == k }) {
			t.Errorf("no create test for service provider %s", k)
		}
	}
}

// upstreamLogin is the login recorded for a fake's user: Azure DevOps Services has
// no user names, so its login is the e-mail address.
func upstreamLogin(kind core.ProviderKind, login, email string) string {
	if kind == core.ProviderAzureDevOpsServices {
		return email
	}
	return login
}

// TestCreateEveryProvider creates a client of every service provider with go-tfe,
// with an oauth-token-string that the provider (a fake) must accept, and reads it
// and its one oauth-token back. Then a client of each with only what the kind
// requires, through the raw API, takes the hosted defaults.
func TestCreateEveryProvider(t *testing.T) {
	t.Parallel()
	v := newEnv(t, "sqlite")
	c := v.client(t, v.adminTok)
	for _, kc := range kindCases {
		t.Run(string(kc.kind), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			f := fake(t, kc.kind)
			tok := f.IssueToken().AccessToken
			opts := gotfe.OAuthClientCreateOptions{
				Name:            ptr("vcs " + string(kc.kind)),
				ServiceProvider: ptr(gotfe.ServiceProviderType(kc.kind)),
				HTTPURL:         ptr(f.HTTPURL()),
				APIURL:          ptr(f.APIURL()),
				OAuthToken:      ptr(tok),
			}
			if kc.oauth {
				opts.Key, opts.Secret = ptr(f.ClientID), ptr(f.ClientSecret)
			}
			if kc.rsa {
				opts.RSAPublicKey = ptr(rsaPublicKey)
			}
			pk := "-----BEGIN PRIVATE KEY-----\nado-server-" + string(kc.kind) + "\n-----END PRIVATE KEY-----"
			if kc.privateKey {
				opts.PrivateKey = ptr(pk)
			}
			oc, err := c.OAuthClients.Create(ctx, v.org.Name, opts)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			want := &gotfe.OAuthClient{ID: oc.ID, Name: opts.Name, ServiceProvider: gotfe.ServiceProviderType(kc.kind),
				HTTPURL: f.HTTPURL(), APIURL: f.APIURL(), CallbackURL: v.URL + "/auth/" + oc.ID + "/callback",
				ConnectPath: "/auth/" + oc.ID + "?organization_id=" + v.org.ID, OrganizationScoped: ptr(true)}
			if kc.oauth {
				want.Key = f.ClientID
			}
			if kc.rsa {
				want.RSAPublicKey = rsaPublicKey
			}
			checkClient(t, oc, want)
			if len(oc.OAuthTokens) != 1 {
				t.Fatalf("create with oauth-token-string: %d oauth-tokens, want exactly 1", len(oc.OAuthTokens))
			}
			got, err := c.OAuthClients.Read(ctx, oc.ID)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkClient(t, got, want)
			if len(got.OAuthTokens) != 1 || got.OAuthTokens[0].ID != oc.OAuthTokens[0].ID {
				t.Fatalf("read back: oauth-tokens %v", got.OAuthTokens)
			}
			ot, err := c.OAuthTokens.Read(ctx, oc.OAuthTokens[0].ID)
			if err != nil {
				t.Fatalf("OAuthTokens.Read: %v", err)
			}
			u := f.User()
			if ot.ServiceProviderUser != upstreamLogin(kc.kind, u.Login, u.Email) || ot.HasSSHKey || ot.OAuthClient == nil ||
				ot.OAuthClient.ID != oc.ID || ot.UID == "" || time.Since(ot.CreatedAt) > time.Minute {
				t.Errorf("the imported oauth-token: %+v", ot)
			}
			// The token is the provider's, checked there, and stored sealed.
			if access, _ := v.connectionTokens(t, ot.ID); access != tok {
				t.Errorf("stored token is not the one handed over")
			}
			v.noSecrets(t, tok, f.ClientSecret, pk)
		})
	}

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		for _, kc := range kindCases {
			if !kc.oauth {
				continue // Azure DevOps Server needs a token, checked at a provider: above
			}
			attrs := map[string]any{"service-provider": string(kc.kind), "key": "k-" + string(kc.kind), "secret": "s3cr3t-" + string(kc.kind)}
			if kc.selfHosted {
				attrs["http-url"] = "https://git.example.com/"
			}
			resp := v.do(t, http.MethodPost, "/organizations/acme/oauth-clients", v.adminTok, doc("oauth-clients", attrs, nil))
			if resp.status != http.StatusCreated {
				t.Fatalf("%s: create with what it requires: %d %s", kc.kind, resp.status, resp.body)
			}
			a := resp.doc(t)["data"].(map[string]any)["attributes"].(map[string]any)
			wantHTTP, wantAPI := forge.Defaults(kc.kind)
			if kc.selfHosted {
				wantHTTP = "https://git.example.com"
			}
			if a["http-url"] != wantHTTP || (wantAPI != "" && a["api-url"] != wantAPI) || a["name"] != nil ||
				a["organization-scoped"] != true || a["key"] != "k-"+string(kc.kind) {
				t.Errorf("%s: defaults: %v", kc.kind, a)
			}
			if _, ok := a["secret"]; ok {
				t.Errorf("%s: the secret attribute is in the answer", kc.kind)
			}
			v.noSecrets(t, "s3cr3t-"+string(kc.kind))
		}
	})
}

// checkClient compares what the client read with want, plus what every client has.
func checkClient(t *testing.T, got, want *gotfe.OAuthClient) {
	t.Helper()
	if got.ID != want.ID || *got.Name != *want.Name || got.ServiceProvider != want.ServiceProvider || got.HTTPURL != want.HTTPURL ||
		got.APIURL != want.APIURL || got.CallbackURL != want.CallbackURL || got.ConnectPath != want.ConnectPath ||
		*got.OrganizationScoped != *want.OrganizationScoped || got.Key != want.Key || got.RSAPublicKey != want.RSAPublicKey {
		t.Errorf("oauth client:\n got %+v\nwant %+v", got, want)
	}
	if got.Secret != "" || got.ServiceProviderName == "" || got.Organization == nil || got.Organization.Name != "acme" ||
		time.Since(got.CreatedAt) > time.Minute || got.CreatedAt.Location() != time.UTC {
		t.Errorf("oauth client: secret %q, display name %q, organization %+v, created %v",
			got.Secret, got.ServiceProviderName, got.Organization, got.CreatedAt)
	}
}

// connectionTokens opens a connection's stored tokens.
func (v *env) connectionTokens(t *testing.T, id string) (access, sshKey string) {
	t.Helper()
	c, err := v.st.Connection(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	open := func(s core.Sealed) string {
		if s == "" {
			return ""
		}
		p, err := keys.OpenString(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return open(c.AccessToken), open(c.SSHKey)
}

// doc builds a request document with one resource.
func doc(typ string, attrs map[string]any, rels map[string]any) map[string]any {
	data := map[string]any{"type": typ}
	if attrs != nil {
		data["attributes"] = attrs
	}
	if rels != nil {
		data["relationships"] = rels
	}
	return map[string]any{"data": data}
}

func projectRefs(ids ...string) map[string]any {
	data := []any{}
	for _, id := range ids {
		data = append(data, map[string]any{"type": "projects", "id": id})
	}
	return map[string]any{"data": data}
}

// TestLifecycle drives every oauth-client, oauth-token, project and organization
// endpoint with go-tfe, on each database.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, dialect)
			testLifecycle(t, v)
		})
	}
}

func testLifecycle(t *testing.T, v *env) {
	ctx := t.Context()
	c := v.client(t, v.adminTok)
	if c.RemoteAPIVersion() != tfe.APIVersion || c.RemoteTFEVersion() != "v202601-1" {
		t.Errorf("ping: API version %q, TFE version %q", c.RemoteAPIVersion(), c.RemoteTFEVersion())
	}

	// Organizations.
	org, err := c.Organizations.Read(ctx, "acme")
	if err != nil || org.Name != "acme" || org.ExternalID != v.org.ID || org.Email != "acme@example.com" {
		t.Fatalf("Organizations.Read: %+v, %v", org, err)
	}
	orgs, err := c.Organizations.List(ctx, nil)
	if err != nil || len(orgs.Items) != 1 || orgs.Items[0].Name != "acme" || orgs.TotalCount != 1 {
		t.Fatalf("Organizations.List: %+v, %v", orgs, err)
	}

	// Projects.
	api, err := c.Projects.Create(ctx, "acme", gotfe.ProjectCreateOptions{Name: "api", Description: ptr("the API")})
	if err != nil || api.Name != "api" || api.Description != "the API" || api.Organization == nil || api.Organization.Name != "acme" {
		t.Fatalf("Projects.Create: %+v, %v", api, err)
	}
	ops, err := c.Projects.Create(ctx, "acme", gotfe.ProjectCreateOptions{Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if api, err = c.Projects.Update(ctx, api.ID, gotfe.ProjectUpdateOptions{Description: ptr("the public API")}); err != nil ||
		api.Name != "api" || api.Description != "the public API" {
		t.Fatalf("Projects.Update keeps the name: %+v, %v", api, err)
	}
	if got, err := c.Projects.Read(ctx, api.ID); err != nil || got.Name != "api" || got.Description != "the public API" {
		t.Fatalf("Projects.Read: %+v, %v", got, err)
	}
	pl, err := c.Projects.List(ctx, "acme", &gotfe.ProjectListOptions{Name: "api,ops"})
	if err != nil || len(pl.Items) != 2 || pl.TotalCount != 2 {
		t.Fatalf("Projects.List filter[names]: %+v, %v", pl, err)
	}
	if pl, err = c.Projects.List(ctx, "acme", &gotfe.ProjectListOptions{Query: "WE"}); err != nil || len(pl.Items) != 1 || pl.Items[0].ID != v.project.ID {
		t.Fatalf("Projects.List q: %+v, %v", pl, err)
	}
	if pl, err = c.Projects.List(ctx, "acme", nil); err != nil || len(pl.Items) != 3 || pl.TotalCount != 3 {
		t.Fatalf("Projects.List: %+v, %v", pl, err)
	}

	// An OAuth client for some projects, with a token.
	gh := fake(t, core.ProviderGitHubEnterprise)
	tok := gh.IssueToken().AccessToken
	oc, err := c.OAuthClients.Create(ctx, "acme", gotfe.OAuthClientCreateOptions{
		Name: ptr("GitHub Enterprise"), ServiceProvider: ptr(gotfe.ServiceProviderGithubEE),
		HTTPURL: ptr(gh.HTTPURL()), APIURL: ptr(gh.APIURL()), Key: ptr(gh.ClientID), Secret: ptr(gh.ClientSecret),
		OAuthToken: ptr(tok), OrganizationScoped: ptr(false), Projects: []*gotfe.Project{{ID: api.ID}},
	})
	if err != nil {
		t.Fatalf("OAuthClients.Create: %v", err)
	}
	if *oc.OrganizationScoped || len(oc.Projects) != 1 || oc.Projects[0].ID != api.ID || len(oc.OAuthTokens) != 1 || oc.AgentPool != nil {
		t.Fatalf("created: scoped %v projects %v tokens %v agent pool %v", *oc.OrganizationScoped, oc.Projects, oc.OAuthTokens, oc.AgentPool)
	}
	otID := oc.OAuthTokens[0].ID

	// Attach, detach.
	if err := c.OAuthClients.AddProjects(ctx, oc.ID, gotfe.OAuthClientAddProjectsOptions{Projects: []*gotfe.Project{ops, {ID: v.project.ID}}}); err != nil {
		t.Fatalf("AddProjects: %v", err)
	}
	if got := readProjects(t, c, oc.ID); !slices.Equal(got, sorted(api.ID, ops.ID, v.project.ID)) {
		t.Fatalf("after AddProjects: %v", got)
	}
	if err := c.OAuthClients.RemoveProjects(ctx, oc.ID, gotfe.OAuthClientRemoveProjectsOptions{Projects: []*gotfe.Project{api}}); err != nil {
		t.Fatalf("RemoveProjects: %v", err)
	}
	if got := readProjects(t, c, oc.ID); !slices.Equal(got, sorted(ops.ID, v.project.ID)) {
		t.Fatalf("after RemoveProjects: %v", got)
	}

	// Update keeps what is absent.
	before := v.storedClient(t, oc.ID)
	up, err := c.OAuthClients.Update(ctx, oc.ID, gotfe.OAuthClientUpdateOptions{Name: ptr("GHE")})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	after := v.storedClient(t, oc.ID)
	if *up.Name != "GHE" || up.Key != gh.ClientID || up.HTTPURL != gh.HTTPURL() || *up.OrganizationScoped ||
		len(up.Projects) != 2 || len(up.OAuthTokens) != 1 {
		t.Fatalf("update of the name only: %+v", up)
	}
	if after.Secret != before.Secret || after.Key != before.Key || after.APIURL != before.APIURL || !slices.Equal(after.ProjectIDs, before.ProjectIDs) {
		t.Fatalf("update of the name changed more:\nbefore %+v\n after %+v", before, after)
	}
	if up, err = c.OAuthClients.Update(ctx, oc.ID, gotfe.OAuthClientUpdateOptions{OrganizationScoped: ptr(true), Secret: ptr("new-secret")}); err != nil ||
		!*up.OrganizationScoped || *up.Name != "GHE" {
		t.Fatalf("Update organization-scoped: %+v, %v", up, err)
	}
	if s, _ := keys.OpenString(v.storedClient(t, oc.ID).Secret); s != "new-secret" {
		t.Errorf("the secret was not replaced")
	}
	// projects: [] clears (go-tfe's update options have no projects; the raw API does).
	resp := v.do(t, http.MethodPatch, "/oauth-clients/"+oc.ID, v.adminTok, doc("oauth-clients", nil, map[string]any{"projects": map[string]any{"data": []any{}}}))
	if resp.status != http.StatusOK {
		t.Fatalf("PATCH projects []: %d %s", resp.status, resp.body)
	}
	if got := readProjects(t, c, oc.ID); len(got) != 0 {
		t.Fatalf("projects [] did not clear: %v", got)
	}
	if n := v.storedClient(t, oc.ID); n.Name != "GHE" || !n.OrganizationScoped {
		t.Fatalf("clearing projects changed more: %+v", n)
	}

	// Include, on read and on list.
	if err := c.OAuthClients.AddProjects(ctx, oc.ID, gotfe.OAuthClientAddProjectsOptions{Projects: []*gotfe.Project{api}}); err != nil {
		t.Fatal(err)
	}
	full, err := c.OAuthClients.ReadWithOptions(ctx, oc.ID, &gotfe.OAuthClientReadOptions{Include: []gotfe.OAuthClientIncludeOpt{gotfe.OauthClientOauthTokens, gotfe.OauthClientProjects}})
	if err != nil || len(full.OAuthTokens) != 1 || full.OAuthTokens[0].ServiceProviderUser != gh.User().Login ||
		len(full.Projects) != 1 || full.Projects[0].Name != "api" {
		t.Fatalf("ReadWithOptions include: %+v, %v", full, err)
	}
	list, err := c.OAuthClients.List(ctx, "acme", &gotfe.OAuthClientListOptions{Include: []gotfe.OAuthClientIncludeOpt{gotfe.OauthClientOauthTokens}})
	if err != nil || len(list.Items) != 1 || len(list.Items[0].OAuthTokens) != 1 || list.Items[0].OAuthTokens[0].ServiceProviderUser != gh.User().Login {
		t.Fatalf("List include oauth_tokens: %+v, %v", list, err)
	}
	if _, err := c.OAuthClients.List(ctx, "acme", &gotfe.OAuthClientListOptions{Include: []gotfe.OAuthClientIncludeOpt{"workspaces"}}); !errors.Is(err, gotfe.ErrInvalidIncludeValue) {
		t.Fatalf("List include=workspaces: %v, want ErrInvalidIncludeValue", err)
	}

	// oauth-tokens: list per organization, read, SSH key.
	tl, err := c.OAuthTokens.List(ctx, "acme", nil)
	if err != nil || len(tl.Items) != 1 || tl.Items[0].ID != otID || tl.TotalCount != 1 {
		t.Fatalf("OAuthTokens.List: %+v, %v", tl, err)
	}
	ot, err := c.OAuthTokens.Update(ctx, otID, gotfe.OAuthTokenUpdateOptions{PrivateSSHKey: ptr(sshKey)})
	if err != nil || !ot.HasSSHKey || ot.ServiceProviderUser != gh.User().Login {
		t.Fatalf("OAuthTokens.Update ssh-key: %+v, %v", ot, err)
	}
	if ot, err = c.OAuthTokens.Read(ctx, otID); err != nil || !ot.HasSSHKey {
		t.Fatalf("after the SSH key: %+v, %v", ot, err)
	}
	if _, stored := v.connectionTokens(t, otID); strings.TrimSpace(stored) != sshKey {
		t.Errorf("the SSH key was not stored as sent")
	}
	if raw, _ := v.st.Connection(context.Background(), otID); strings.Contains(string(raw.SSHKey), "OPENSSH") {
		t.Errorf("the SSH key is stored in clear")
	}

	// A second token through oauth-token-string on update: one more token.
	tok2 := gh.IssueToken().AccessToken
	if up, err = c.OAuthClients.Update(ctx, oc.ID, gotfe.OAuthClientUpdateOptions{OAuthToken: ptr(tok2)}); err != nil {
		t.Fatalf("Update oauth-token-string: %v", err)
	}
	// The same upstream account renews the organization's token in place.
	if len(up.OAuthTokens) != 1 || up.OAuthTokens[0].ID != otID {
		t.Fatalf("a token of the same account: tokens %v", up.OAuthTokens)
	}
	if access, _ := v.connectionTokens(t, otID); access != tok2 {
		t.Errorf("the organization's token was not renewed")
	}

	// Delete a token, then the client with its tokens.
	third := v.clientFor(t, gh, nil)
	if _, err := v.e.UpdateClient(ctx, v.admin, third.ID, connect.ClientInput{OAuthTokenString: ptr(gh.IssueToken().AccessToken)}); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.OAuthTokens.List(ctx, "acme", &gotfe.OAuthTokenListOptions{ListOptions: gotfe.ListOptions{PageSize: 1, PageNumber: 2}})
	if err != nil || len(ttl.Items) != 1 || ttl.TotalCount != 2 || ttl.TotalPages != 2 || ttl.CurrentPage != 2 || ttl.PreviousPage != 1 || ttl.NextPage != 0 {
		t.Fatalf("OAuthTokens.List page 2 of 2: %+v, %v", ttl, err)
	}
	if err := c.OAuthTokens.Delete(ctx, otID); err != nil {
		t.Fatalf("OAuthTokens.Delete: %v", err)
	}
	if _, err := c.OAuthTokens.Read(ctx, otID); !errors.Is(err, gotfe.ErrResourceNotFound) {
		t.Fatalf("a deleted token: %v", err)
	}
	thirdTokens, _, _ := v.st.ListConnections(ctx, store.ConnectionFilter{OAuthClientID: third.ID}, store.Page{})
	if len(thirdTokens) != 1 {
		t.Fatalf("third client's tokens: %v", thirdTokens)
	}
	if err := c.OAuthClients.Delete(ctx, third.ID); err != nil {
		t.Fatalf("OAuthClients.Delete: %v", err)
	}
	if _, err := c.OAuthTokens.Read(ctx, thirdTokens[0].ID); !errors.Is(err, gotfe.ErrResourceNotFound) {
		t.Fatalf("a token of a deleted client: %v", err)
	}
	if _, err := v.st.Connection(ctx, thirdTokens[0].ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the deleted client's token is still stored: %v", err)
	}
	if _, err := c.OAuthClients.Read(ctx, third.ID); !errors.Is(err, gotfe.ErrResourceNotFound) {
		t.Fatalf("a deleted client: %v", err)
	}

	// Delete a project: the client forgets it.
	if err := c.Projects.Delete(ctx, api.ID); err != nil {
		t.Fatalf("Projects.Delete: %v", err)
	}
	if _, err := c.Projects.Read(ctx, api.ID); !errors.Is(err, gotfe.ErrResourceNotFound) {
		t.Fatalf("a deleted project: %v", err)
	}
	if got := readProjects(t, c, oc.ID); len(got) != 0 {
		t.Fatalf("the client still lists a deleted project: %v", got)
	}

	v.noSecrets(t, tok, tok2, gh.ClientSecret, "new-secret", sshKey, "OPENSSH PRIVATE KEY")
}

func readProjects(t *testing.T, c *gotfe.Client, id string) []string {
	t.Helper()
	oc, err := c.OAuthClients.Read(t.Context(), id)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	var ids []string
	for _, p := range oc.Projects {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func (v *env) storedClient(t *testing.T, id string) core.OAuthClient {
	t.Helper()
	oc, err := v.st.OAuthClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return oc
}

// TestPagination lists 25 clients ten at a time, past the end, all at once and
// with percent-encoded brackets.
func TestPagination(t *testing.T) {
	t.Parallel()
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			testPagination(t, newEnv(t, dialect))
		})
	}
}

func testPagination(t *testing.T, v *env) {
	ctx := t.Context()
	var want []string
	for i := range 25 {
		oc, err := v.e.CreateClient(ctx, v.admin, "acme", connect.ClientInput{Kind: ptr(core.ProviderGitHub), Name: ptr(fmt.Sprintf("c%02d", i)),
			Key: ptr("key"), Secret: ptr("secret")})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, oc.ID)
	}
	c := v.client(t, v.memberTok) // a member may list
	var got []string
	for _, pc := range []struct{ page, items, prev, next int }{{1, 10, 0, 2}, {2, 10, 1, 3}, {3, 5, 2, 0}, {4, 0, 3, 0}} {
		l, err := c.OAuthClients.List(ctx, "acme", &gotfe.OAuthClientListOptions{ListOptions: gotfe.ListOptions{PageNumber: pc.page, PageSize: 10}})
		if err != nil {
			t.Fatalf("page %d: %v", pc.page, err)
		}
		if len(l.Items) != pc.items || l.CurrentPage != pc.page || l.PreviousPage != pc.prev || l.NextPage != pc.next ||
			l.TotalPages != 3 || l.TotalCount != 25 {
			t.Errorf("page %d: %d items, meta %+v", pc.page, len(l.Items), *l.Pagination)
		}
		for _, oc := range l.Items {
			got = append(got, oc.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("three pages, in order:\n got %v\nwant %v", got, want)
	}

	meta := func(r response) map[string]any {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return r.doc(t)["meta"].(map[string]any)["pagination"].(map[string]any)
	}
	count := func(r response) int { return len(r.doc(t)["data"].([]any)) }
	cases := []struct {
		name, query string
		items       int
		meta        map[string]any
	}{
		{"everything", "", 25, map[string]any{"current-page": 1.0, "prev-page": nil, "next-page": nil, "total-pages": 1.0, "total-count": 25.0}},
		{"percent-encoded", "?page%5Bnumber%5D=2&page%5Bsize%5D=10", 10, map[string]any{"current-page": 2.0, "prev-page": 1.0, "next-page": 3.0, "total-pages": 3.0, "total-count": 25.0}},
		{"size only", "?page[size]=7", 7, map[string]any{"current-page": 1.0, "prev-page": nil, "next-page": 2.0, "total-pages": 4.0, "total-count": 25.0}},
		{"number only: 20 a page", "?page[number]=2", 5, map[string]any{"current-page": 2.0, "prev-page": 1.0, "next-page": nil, "total-pages": 2.0, "total-count": 25.0}},
		{"at most 100", "?page[size]=1000", 25, map[string]any{"current-page": 1.0, "prev-page": nil, "next-page": nil, "total-pages": 1.0, "total-count": 25.0}},
		{"past the end", "?page[number]=9&page[size]=10", 0, map[string]any{"current-page": 9.0, "prev-page": 8.0, "next-page": nil, "total-pages": 3.0, "total-count": 25.0}},
	}
	for _, tc := range cases {
		r := v.do(t, http.MethodGet, "/organizations/acme/oauth-clients"+tc.query, v.memberTok, nil)
		if m := meta(r); fmt.Sprint(m) != fmt.Sprint(tc.meta) || count(r) != tc.items {
			t.Errorf("%s: %d items, meta %v; want %d, %v", tc.name, count(r), m, tc.items, tc.meta)
		}
		if data := r.doc(t)["data"]; data == nil {
			t.Errorf("%s: data is null, want []", tc.name)
		}
	}
	for _, q := range []string{"?page[size]=abc", "?page[size]=0", "?page[number]=-1", "?page[number]=99999999999"} {
		r := v.do(t, http.MethodGet, "/organizations/acme/oauth-clients"+q, v.memberTok, nil)
		errs := errorsOf(t, r, http.StatusBadRequest)
		if src, _ := errs[0]["source"].(map[string]any); src["parameter"] == nil {
			t.Errorf("%s: error without its parameter: %v", q, errs)
		}
	}
}
