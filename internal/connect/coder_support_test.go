package connect_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

func TestLinkStatusOf(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	v := newEnv(t, envOpt{now: func() time.Time { return now }})
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	for _, tc := range []struct {
		name string
		c    core.Connection
		auth bool
	}{
		{"healthy, no expiry", core.Connection{Health: core.HealthHealthy, CredentialKind: core.CredentialOAuth}, true},
		{"healthy, expires later", core.Connection{Health: core.HealthHealthy, CredentialKind: core.CredentialOAuth, ExpiresAt: future}, true},
		{"expired, refreshable", core.Connection{Health: core.HealthHealthy, CredentialKind: core.CredentialOAuth, ExpiresAt: past, RefreshToken: "x"}, true},
		{"expired, no refresh token", core.Connection{Health: core.HealthHealthy, CredentialKind: core.CredentialOAuth, ExpiresAt: past}, false},
		{"expired personal token", core.Connection{Health: core.HealthHealthy, CredentialKind: core.CredentialPersonal, ExpiresAt: past, RefreshToken: "x"}, false},
		{"expired, refresh failing", core.Connection{Health: core.HealthRefreshFailing, HealthReason: "503", CredentialKind: core.CredentialOAuth, ExpiresAt: past, RefreshToken: "x"}, false},
		{"refresh failing, still valid", core.Connection{Health: core.HealthRefreshFailing, CredentialKind: core.CredentialOAuth, ExpiresAt: future, RefreshToken: "x"}, true},
		{"needs reauth", core.Connection{Health: core.HealthNeedsReauth, HealthReason: "invalid_grant", CredentialKind: core.CredentialOAuth}, false},
		{"revoked", core.Connection{Health: core.HealthRevoked, CredentialKind: core.CredentialPersonal}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := v.e.LinkStatusOf(tc.c)
			if st.Authenticated != tc.auth || (st.Problem == "") != tc.auth {
				t.Errorf("%+v", st)
			}
		})
	}
}

func TestListExternalAuths(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpt{})
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	gh := forgetest.New(t, core.ProviderGitHub)
	glc := v.mkClient(t, gl, func(in *connect.ClientInput) { in.Slug = ptr("gitlab") })
	ghc := v.mkClient(t, gh, nil)
	v.link(t, gl, v.e, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: glc.ID}})
	v.link(t, gh, v.e, v.bob, connect.FlowRequest{Target: connect.Target{OAuthClient: ghc.ID}})

	all := must[connect.ExternalAuths](t, "list")(v.e.ListExternalAuths(t.Context(), v.alice))
	if len(all.Providers) != 2 || all.Providers[0].Info.ProviderID != "gitlab" || all.Providers[1].Info.ProviderID != ghc.ID {
		t.Fatalf("providers %+v", all.Providers)
	}
	if all.Providers[0].Client.Secret != connect.Redacted {
		t.Error("a client's secret is not redacted")
	}
	if len(all.Links) != 1 || all.Links[0].ProviderID != "gitlab" || !all.Links[0].Usable || !all.Links[0].Status.Authenticated ||
		all.Links[0].Connection.AccessToken != connect.Redacted {
		t.Fatalf("alice's links %+v", all.Links)
	}
	all = must[connect.ExternalAuths](t, "outsider")(v.e.ListExternalAuths(t.Context(), v.outsider))
	if len(all.Providers)+len(all.Links) != 0 {
		t.Fatalf("the outsider sees %+v", all)
	}
	_, err := v.e.ListExternalAuths(t.Context(), core.Principal{User: v.alice.User, Scopes: []string{core.ScopeCredentials}})
	wantIs(t, "credentials-only token", err, core.ErrForbidden)

	// Alice leaves acme: her link stays hers, named by the client's id.
	if err := v.st.DeleteMembership(t.Context(), v.org.ID, v.alice.User.ID); err != nil {
		t.Fatal(err)
	}
	all = must[connect.ExternalAuths](t, "after leaving")(v.e.ListExternalAuths(t.Context(), v.alice))
	if len(all.Providers) != 0 || len(all.Links) != 1 || all.Links[0].ProviderID != glc.ID || all.Links[0].Usable {
		t.Fatalf("after leaving: %+v", all)
	}
	res := must[connect.DeleteResult](t, "unlink after leaving")(v.e.UnlinkProvider(t.Context(), v.alice, glc.ID))
	if !res.Revoked {
		t.Errorf("unlink after leaving: %+v", res)
	}
}

func TestUnlinkProvider(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpt{})
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	oc := v.mkClient(t, gl, func(in *connect.ClientInput) { in.Slug = ptr("gitlab") })
	bobs := v.link(t, gl, v.e, v.bob, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}).Connection

	for _, tc := range []struct {
		name string
		p    core.Principal
		ref  string
		want error
	}{
		{"no link of her own", v.alice, "gitlab", core.ErrNotFound},
		{"unknown client", v.alice, "nope", core.ErrNotFound},
		{"another organization", v.outsider, "gitlab", core.ErrNotFound},
		{"a read-only token", core.Principal{User: v.bob.User, Scopes: []string{core.ScopeReadAPI}}, "gitlab", core.ErrForbidden},
		{"a credentials-only token", core.Principal{User: v.bob.User, Scopes: []string{core.ScopeCredentials}}, "gitlab", core.ErrNotFound},
	} {
		_, err := v.e.UnlinkProvider(t.Context(), tc.p, tc.ref)
		wantIs(t, tc.name, err, tc.want)
	}
	if _, err := v.st.Connection(t.Context(), bobs.ID); err != nil {
		t.Fatalf("bob's link: %v", err)
	}
	res := must[connect.DeleteResult](t, "bob unlinks")(v.e.UnlinkProvider(t.Context(), v.bob, oc.ID))
	if !res.Revoked {
		t.Errorf("%+v", res)
	}
}

func TestDevicePollFor(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpt{})
	bb := forgetest.New(t, core.ProviderBitbucketHosted)
	gh := forgetest.New(t, core.ProviderGitHub)
	bbc := v.mkClient(t, bb, nil)
	ghc := v.mkClient(t, gh, nil)
	_, err := v.e.DevicePollFor(t.Context(), v.alice, bbc.ID, "vcst_x")
	wantIs(t, "no device flow", err, connect.ErrDeviceUnsupported)
	_, err = v.e.DevicePollFor(t.Context(), v.alice, ghc.ID, " ")
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "device_code" {
		t.Errorf("empty device code: %v", err)
	}
	_, err = v.e.DevicePollFor(t.Context(), v.outsider, ghc.ID, "vcst_x")
	wantIs(t, "outsider", err, core.ErrNotFound)
	_, err = v.e.DevicePollFor(t.Context(), core.Principal{User: v.alice.User, Scopes: []string{core.ScopeReadAPI}}, ghc.ID, "vcst_x")
	wantIs(t, "read-only", err, core.ErrForbidden)
	_, err = v.e.DevicePollFor(t.Context(), v.alice, ghc.ID, "vcst_x")
	wantIs(t, "a handle we never issued", err, connect.ErrExpiredToken)
}

func TestCoderCredentialWait(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpt{})
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	oc := v.mkClient(t, gl, func(in *connect.ClientInput) { in.Slug = ptr("gitlab") })
	remote := gl.HTTPURL() + "/acme/app.git"

	// Not waiting: the link URL at once, by id and by remote.
	for _, ref := range []string{"gitlab", ""} {
		_, err := v.e.CredentialWait(t.Context(), v.alice, ref, remote, 0, nil)
		nl := wantErr[*connect.NotLinkedError](t, "no wait "+ref, err)
		if nl.LinkURL != external+"/external-auth/gitlab" {
			t.Errorf("link URL %q", nl.LinkURL)
		}
	}

	// The drain ends the wait with the answer we had.
	stop := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(stop) })
	begin := time.Now()
	_, err := v.e.CredentialWait(t.Context(), v.alice, "gitlab", "", 30*time.Second, stop)
	wantErr[*connect.NotLinkedError](t, "drained", err)
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("the drain took %v to end the wait", d)
	}

	// A link made while waiting ends it with the credential.
	type answer struct {
		cred connect.Credential
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		cred, err := v.e.CredentialWait(context.Background(), v.alice, "", remote, 30*time.Second, nil)
		done <- answer{cred, err}
	}()
	time.Sleep(100 * time.Millisecond)
	c := v.link(t, gl, v.e, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}).Connection
	select {
	case a := <-done:
		if a.err != nil || a.cred.ConnectionID != c.ID || a.cred.Username != "oauth2" {
			t.Fatalf("%+v %v", a.cred, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the link did not end the wait")
	}
	if _, err := v.e.CredentialWait(t.Context(), v.alice, "gitlab", "", time.Second, nil); errors.Is(err, core.ErrNotFound) {
		t.Fatalf("after linking: %v", err)
	}
}
