package connect_test

import (
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

type kindCase struct {
	name string
	kind core.ProviderKind
	opts []forgetest.Option
	// What the provider does, as the engine should use it.
	browser, device, refresh, revoke, password bool
}

// kindCases covers every provider kind. Azure DevOps Services with an Entra ID
// authority is left out here: forge.New gives its profile API no address but the
// real one (see the forge package's own tests for that flow).
var kindCases = []kindCase{
	{name: "github_oauth_app", kind: core.ProviderGitHub, browser: true, device: true, revoke: true},
	{name: "github_app", kind: core.ProviderGitHub, opts: []forgetest.Option{forgetest.GitHubApp()},
		browser: true, device: true, refresh: true, revoke: true},
	{name: "github_enterprise", kind: core.ProviderGitHubEnterprise, opts: []forgetest.Option{forgetest.GitHubApp()},
		browser: true, device: true, refresh: true, revoke: true},
	{name: "gitlab_hosted", kind: core.ProviderGitLabHosted, browser: true, device: true, refresh: true, revoke: true},
	{name: "gitlab_community_edition", kind: core.ProviderGitLabCommunityEdition, browser: true, device: true, refresh: true, revoke: true},
	{name: "gitlab_enterprise_edition", kind: core.ProviderGitLabEnterpriseEdition, browser: true, device: true, refresh: true, revoke: true},
	{name: "bitbucket_hosted", kind: core.ProviderBitbucketHosted, browser: true, refresh: true, password: true},
	{name: "bitbucket_server", kind: core.ProviderBitbucketServer, browser: true, refresh: true, password: true},
	{name: "bitbucket_data_center", kind: core.ProviderBitbucketDataCenter, browser: true, refresh: true, password: true},
	{name: "ado_services", kind: core.ProviderAzureDevOpsServices, browser: true, refresh: true},
	{name: "ado_server", kind: core.ProviderAzureDevOpsServer, password: true},
	{name: "gitea", kind: core.ProviderGitea, browser: true, refresh: true, password: true},
	{name: "gitee", kind: core.ProviderGitee, browser: true, refresh: true},
}

func TestKindCasesCoverEveryKind(t *testing.T) {
	t.Parallel()
	seen := map[core.ProviderKind]bool{}
	for _, kc := range kindCases {
		seen[kc.kind] = true
	}
	for _, k := range core.ProviderKinds {
		if !seen[k] {
			t.Errorf("no flow test for kind %s", k)
		}
	}
}

// wantLogin is the login the engine records for the fake's user: Azure DevOps
// Services has no user names, so its login is the e-mail address.
func wantLogin(kind core.ProviderKind, u forgetest.User) string {
	if kind == core.ProviderAzureDevOpsServices {
		return u.Email
	}
	return u.Login
}

// TestKinds runs every flow a kind has through the engine against its fake: browser
// flow, device flow, refresh with rotation, validation, username and password,
// revocation at the provider, and what git gets.
func TestKinds(t *testing.T) {
	t.Parallel()
	for _, kc := range kindCases {
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			srv := forgetest.New(t, kc.kind, kc.opts...)
			v := newEnv(t, envOpt{now: srv.Now})
			ctx := t.Context()
			remote := srv.HTTPURL() + "/octo/repo.git"
			f := forgeOf(t, srv)
			user := srv.User()

			if !kc.browser {
				testTokenOnlyKind(t, v, srv, kc)
				return
			}
			oc := v.mkClient(t, srv, nil)
			if info, err := v.e.Describe(oc); err != nil || info.Device != kc.device || info.Revoke != kc.revoke || info.PasswordAuth != kc.password {
				t.Errorf("Describe = %+v, %v", info, err)
			}

			// Browser flow.
			res := v.link(t, srv, v.e, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}})
			c := res.Connection
			if c.OwnerKind != core.OwnerUser || c.OwnerUserID != v.alice.User.ID || c.Health != core.HealthHealthy ||
				c.UpstreamLogin != wantLogin(kc.kind, user) || c.CredentialKind != core.CredentialOAuth || c.AccessToken != connect.Redacted || res.Relinked {
				t.Fatalf("connection after the browser flow: %+v", c)
			}
			if (c.RefreshToken != "") != kc.refresh {
				t.Errorf("refresh token stored: %v, want %v", c.RefreshToken != "", kc.refresh)
			}

			// Git credentials, in the provider's convention.
			cred := must[connect.Credential](t, "Credential")(v.e.Credential(ctx, v.alice, remote))
			if !srv.TokenLive(cred.AccessToken) || cred.ConnectionID != c.ID {
				t.Fatalf("credential %+v: token not live at the provider", cred)
			}
			if u, p := f.GitCredential(c.UpstreamLogin, cred.AccessToken); cred.Username != u || cred.Password != p {
				t.Errorf("git credential %q/%q, want %q/%q", cred.Username, cred.Password, u, p)
			}

			// Refresh with rotation, when the token ages.
			if kc.refresh {
				_, _, oldRT := v.tokens(t, c.ID)
				before := srv.Refreshes()
				srv.Advance(time.Until(cred.ExpiresAt) + time.Second)
				fresh := must[connect.Credential](t, "Credential after expiry")(v.e.Credential(ctx, v.alice, remote))
				if fresh.AccessToken == cred.AccessToken || !srv.TokenLive(fresh.AccessToken) || srv.Refreshes() != before+1 {
					t.Fatalf("after expiry: token changed %v, live %v, refreshes %d (was %d)",
						fresh.AccessToken != cred.AccessToken, srv.TokenLive(fresh.AccessToken), srv.Refreshes(), before)
				}
				row, _, newRT := v.tokens(t, c.ID)
				if newRT == oldRT || srv.TokenLive(oldRT) || row.LastRefreshAt.IsZero() || row.RefreshLeaseOwner != "" {
					t.Errorf("after refresh: rotated %v, old still live %v, row %+v", newRT != oldRT, srv.TokenLive(oldRT), row)
				}
				again := must[connect.Credential](t, "Credential again")(v.e.Credential(ctx, v.alice, remote))
				if again.AccessToken != fresh.AccessToken || srv.Refreshes() != before+1 {
					t.Errorf("a fresh token was refreshed again")
				}
				cred = fresh
			}

			// Validation on demand.
			vc := must[core.Connection](t, "Validate")(v.e.Validate(ctx, v.alice, c.ID))
			if vc.Health != core.HealthHealthy || vc.LastSuccessAt.IsZero() {
				t.Errorf("after validation: %+v", vc)
			}

			// Device flow, which renews alice's connection rather than adding one.
			if kc.device {
				testDeviceFlow(t, v, srv, oc, c.ID)
			} else if _, err := v.e.StartDevice(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}); err != connect.ErrDeviceUnsupported {
				t.Errorf("StartDevice without a device flow: %v", err)
			}

			// Username and password, where the provider takes them.
			if kc.password {
				bc := must[core.Connection](t, "LinkPassword")(v.e.LinkPassword(ctx, v.bob, connect.Target{OAuthClient: oc.ID}, user.Login, user.Password))
				bcred := must[connect.Credential](t, "Credential(bob)")(v.e.Credential(ctx, v.bob, remote))
				if bc.CredentialKind != core.CredentialPassword || bcred.Username != user.Login || bcred.Password != user.Password {
					t.Errorf("password connection %+v gives %q/%q", bc, bcred.Username, bcred.Password)
				}
				_, err := v.e.LinkPassword(ctx, v.bob, connect.Target{OAuthClient: oc.ID}, user.Login, "wrong")
				if ve, ok := core.AsValidation(err); !ok || ve.Field != "password" {
					t.Errorf("a wrong password: %v", err)
				}
			} else {
				_, err := v.e.LinkPassword(ctx, v.bob, connect.Target{OAuthClient: oc.ID}, "u", "p")
				if ve, ok := core.AsValidation(err); !ok || ve.Code != "unsupported" {
					t.Errorf("password on a provider without: %v", err)
				}
			}

			// The provider kills the grant: validation finds out, and git is sent to
			// re-link.
			_, at, rt := v.tokens(t, c.ID)
			srv.RevokeToken(at)
			if rt != "" {
				srv.RevokeToken(rt)
			}
			vc = must[core.Connection](t, "Validate after revocation")(v.e.Validate(ctx, v.alice, c.ID))
			want := core.HealthRevoked
			if kc.refresh {
				want = core.HealthNeedsReauth
			}
			if vc.Health != want || vc.HealthReason == "" {
				t.Errorf("after revocation at the provider: health %s (%q), want %s", vc.Health, vc.HealthReason, want)
			}
			_, err := v.e.Credential(ctx, v.alice, remote)
			nl := wantErr[*connect.NotLinkedError](t, "Credential of a dead connection", err)
			if nl.LinkURL != external+"/external-auth/"+oc.ID || nl.Reason == "" || nl.ConnectionID != c.ID {
				t.Errorf("not linked: %+v", nl)
			}

			// Re-linking renews the same connection; deleting revokes where it can.
			res = v.link(t, srv, v.e, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}})
			if !res.Relinked || res.Connection.ID != c.ID || res.Connection.Health != core.HealthHealthy {
				t.Fatalf("relink: %+v", res)
			}
			_, at, _ = v.tokens(t, c.ID)
			dr := must[connect.DeleteResult](t, "DeleteConnection")(v.e.DeleteConnection(ctx, v.alice, c.ID))
			if dr.Revoked != kc.revoke || dr.Revoked == (dr.RevocationError != "") || srv.TokenLive(at) == kc.revoke {
				t.Errorf("delete: %+v; token live %v", dr, srv.TokenLive(at))
			}
			if _, err := v.e.Connection(ctx, v.alice, c.ID); !errorsIsNotFound(err) {
				t.Errorf("deleted connection: %v", err)
			}
		})
	}
}

// testTokenOnlyKind: a provider without OAuth (Azure DevOps Server) is connected
// with a personal access token, or a username and password.
func testTokenOnlyKind(t *testing.T, v *env, srv *forgetest.Server, kc kindCase) {
	ctx := t.Context()
	remote := srv.HTTPURL() + "/octo/repo/_git/repo"
	user := srv.User()
	if _, err := v.e.CreateClient(ctx, v.admin, v.org.Name, connect.ClientInput{Kind: ptr(kc.kind), HTTPURL: ptr(srv.HTTPURL())}); err == nil {
		t.Fatal("a client without OAuth was created without a token")
	}
	_, err := v.e.CreateClient(ctx, v.admin, v.org.Name, connect.ClientInput{Kind: ptr(kc.kind), HTTPURL: ptr(srv.HTTPURL()),
		APIURL: ptr(srv.APIURL()), OAuthTokenString: ptr("not-a-token")})
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "oauth_token_string" {
		t.Fatalf("a refused token: %v", err)
	}
	if cs, _, _ := v.e.ListClients(ctx, v.admin, v.org.Name, store0); len(cs) != 0 {
		t.Fatalf("a client was left behind by a refused token: %v", cs)
	}
	pat := srv.IssueToken().AccessToken
	oc, err := v.e.CreateClient(ctx, v.admin, v.org.Name, connect.ClientInput{Kind: ptr(kc.kind), HTTPURL: ptr(srv.HTTPURL()),
		APIURL: ptr(srv.APIURL()), OAuthTokenString: ptr(pat)})
	if err != nil {
		t.Fatalf("CreateClient with a token: %v", err)
	}
	cs := must[[]core.Connection](t, "ClientConnections")(v.e.ClientConnections(ctx, v.alice, oc.ID))
	if len(cs) != 1 || cs[0].OwnerKind != core.OwnerOrg || cs[0].UpstreamLogin != user.Login || cs[0].CredentialKind != core.CredentialPersonal {
		t.Fatalf("the imported token: %+v", cs)
	}
	cred := must[connect.Credential](t, "Credential")(v.e.Credential(ctx, v.alice, remote))
	if cred.AccessToken != pat || cred.Password != pat || cred.ConnectionID != cs[0].ID {
		t.Errorf("alice's credential from the organization's token: %+v", cred)
	}
	bc := must[core.Connection](t, "LinkPassword")(v.e.LinkPassword(ctx, v.bob, connect.Target{OAuthClient: oc.ID}, user.Login, user.Password))
	bcred := must[connect.Credential](t, "Credential(bob)")(v.e.Credential(ctx, v.bob, remote))
	if bcred.ConnectionID != bc.ID || bcred.Username != user.Login || bcred.Password != user.Password {
		t.Errorf("bob's own password connection comes first: %+v", bcred)
	}
	if vc := must[core.Connection](t, "Validate")(v.e.Validate(ctx, v.bob, bc.ID)); vc.Health != core.HealthHealthy {
		t.Errorf("validate: %+v", vc)
	}
	if dr := must[connect.DeleteResult](t, "Delete")(v.e.DeleteConnection(ctx, v.bob, bc.ID)); dr.Revoked {
		t.Errorf("a password was 'revoked': %+v", dr)
	}
}

func testDeviceFlow(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient, connID string) {
	ctx := t.Context()
	ds, err := v.e.StartDevice(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}, Origin: connect.OriginCoder})
	if err != nil {
		t.Fatalf("StartDevice: %v", err)
	}
	if ds.UserCode == "" || ds.VerificationURI == "" || ds.Interval <= 0 || ds.DeviceCode == "" {
		t.Fatalf("device start: %+v", ds)
	}
	// Polling at once is faster than the interval: refused here, without asking
	// the provider.
	_, err = v.e.PollDevice(ctx, v.alice, oc.ID, ds.DeviceCode)
	if de := wantErr[*connect.DeviceError](t, "early poll", err); de.Code != "slow_down" || de.Interval <= ds.Interval {
		t.Errorf("early poll: %+v", de)
	}
	if n := srv.TokenRequests("device_code"); n != 0 {
		t.Errorf("the provider saw %d polls", n)
	}
	// Someone else's poll of alice's flow learns nothing.
	_, err = v.e.PollDevice(ctx, v.bob, oc.ID, ds.DeviceCode)
	wantIs(t, "bob polls alice's flow", err, connect.ErrExpiredToken)
	srv.Advance(ds.Interval + 5*time.Second + time.Second)
	_, err = v.e.PollDevice(ctx, v.alice, oc.ID, ds.DeviceCode)
	wantIs(t, "pending", err, connect.ErrAuthorizationPending)
	if err := srv.ApproveDevice(ds.UserCode); err != nil {
		t.Fatal(err)
	}
	srv.Advance(ds.Interval + 6*time.Second)
	c, err := v.e.PollDevice(ctx, v.alice, oc.ID, ds.DeviceCode)
	if err != nil {
		t.Fatalf("poll after approval: %v", err)
	}
	if c.ID != connID || c.Health != core.HealthHealthy {
		t.Errorf("device flow made %+v, want the renewal of %s", c, connID)
	}
	srv.Advance(time.Minute)
	_, err = v.e.PollDevice(ctx, v.alice, oc.ID, ds.DeviceCode)
	wantIs(t, "poll of a finished flow", err, connect.ErrExpiredToken)
}
