package connect_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/store"
)

// countingStore counts every Upstream call the engine makes.
type countingStore struct {
	store.Upstream
	calls atomic.Int64
}

func (c *countingStore) UsableConnections(ctx context.Context, userID string) ([]store.UsableConnection, error) {
	c.calls.Add(1)
	return c.Upstream.UsableConnections(ctx, userID)
}
func (c *countingStore) Connection(ctx context.Context, id string) (core.Connection, error) {
	c.calls.Add(1)
	return c.Upstream.Connection(ctx, id)
}
func (c *countingStore) ListConnections(ctx context.Context, f store.ConnectionFilter, p store.Page) ([]core.Connection, int, error) {
	c.calls.Add(1)
	return c.Upstream.ListConnections(ctx, f, p)
}
func (c *countingStore) OAuthClient(ctx context.Context, id string) (core.OAuthClient, error) {
	c.calls.Add(1)
	return c.Upstream.OAuthClient(ctx, id)
}
func (c *countingStore) ListOAuthClients(ctx context.Context, f store.OAuthClientFilter, p store.Page) ([]core.OAuthClient, int, error) {
	c.calls.Add(1)
	return c.Upstream.ListOAuthClients(ctx, f, p)
}
func (c *countingStore) UpdateConnection(ctx context.Context, id string, fn func(core.Connection) (core.Connection, error)) (core.Connection, error) {
	c.calls.Add(1)
	return c.Upstream.UpdateConnection(ctx, id, fn)
}

// TestCredentialChoice: the caller's own connection first, then their projects',
// then their organization's; only connections of the caller's organizations; and
// scope credentials is needed.
func TestCredentialChoice(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitLabHosted)
	var cs *countingStore
	v := newEnv(t, envOpt{now: srv.Now, wrap: func(u store.Upstream) store.Upstream {
		cs = &countingStore{Upstream: u}
		return cs
	}})
	oc := v.mkClient(t, srv, func(in *connect.ClientInput) { in.Slug = ptr("gitlab") })
	ctx := t.Context()
	remote := srv.HTTPURL() + "/group/sub/repo.git"
	orgC := must[core.Connection](t, "org")(v.e.ImportToken(ctx, v.admin, connect.Target{OAuthClient: "gitlab", OwnerKind: core.OwnerOrg}, srv.IssueToken().AccessToken))
	prjC := must[core.Connection](t, "project")(v.e.ImportToken(ctx, v.bob, connect.Target{OAuthClient: oc.ID, OwnerKind: core.OwnerProject, ProjectID: v.prj.ID, Name: "ci"}, srv.IssueToken().AccessToken))
	own := v.link(t, srv, v.e, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: "gitlab"}}).Connection

	for _, step := range []struct {
		name   string
		delete string
		want   string
	}{{"own first", "", own.ID}, {"then the project's", own.ID, prjC.ID}, {"then the organization's", prjC.ID, orgC.ID}} {
		if step.delete != "" {
			if _, err := v.st.UpdateConnection(ctx, step.delete, func(c core.Connection) (core.Connection, error) {
				c.Health = core.HealthRevoked
				return c, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		cred, err := v.e.Credential(ctx, v.alice, remote)
		if err != nil || cred.ConnectionID != step.want || cred.Username != "oauth2" || !srv.TokenLive(cred.Password) {
			t.Fatalf("%s: %+v, %v", step.name, cred, err)
		}
	}
	// The hot path: one query when the token is fresh.
	before := cs.calls.Load()
	if _, err := v.e.Credential(ctx, v.alice, remote); err != nil {
		t.Fatal(err)
	}
	if n := cs.calls.Load() - before; n != 1 {
		t.Errorf("a fresh credential took %d store calls, want 1", n)
	}
	// Remote forms git and people use.
	for _, r := range []string{srv.HTTPURL() + "/group/repo", "ssh://git@" + srv.HTTPURL()[len("http://"):] + "/group/repo.git"} {
		if _, err := v.e.Credential(ctx, v.alice, r); err != nil {
			t.Errorf("remote %s: %v", r, err)
		}
	}
	// Scope.
	for _, tc := range []struct {
		scopes []string
		ok     bool
	}{{[]string{core.ScopeCredentials}, true}, {[]string{core.ScopeReadAPI}, false}, {[]string{core.ScopeConnections}, false}} {
		p := v.alice
		p.Scopes = tc.scopes
		_, err := v.e.Credential(ctx, p, remote)
		if (err == nil) != tc.ok {
			t.Errorf("scopes %v: %v", tc.scopes, err)
		}
		if !tc.ok {
			wantIs(t, "scope", err, core.ErrForbidden)
		}
	}
	// Someone of another organization gets nothing from acme's connections.
	_, err := v.e.Credential(ctx, v.outsider, remote)
	wantIs(t, "outsider", err, core.ErrNotFound)
	// A remote no client serves.
	_, err = v.e.Credential(ctx, v.alice, "https://elsewhere.example/x.git")
	wantIs(t, "unknown host", err, core.ErrNotFound)
	if _, ok := err.(*connect.NotLinkedError); ok {
		t.Error("a remote no client serves offered a link")
	}
	// By provider id (the Coder dialect's id=): only the caller's own link.
	_, err = v.e.CredentialForProvider(ctx, v.bob, "gitlab")
	nl := wantErr[*connect.NotLinkedError](t, "bob by provider", err)
	if nl.LinkURL != external+"/external-auth/gitlab" {
		t.Errorf("link URL %s", nl.LinkURL)
	}
}

// TestCredentialWait: a request for an unlinked remote waits for the link — woken at
// once by a link in this process, and by polling for a link made through another
// replica.
func TestCredentialWait(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"same process", "another replica"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			srv := forgetest.New(t, core.ProviderGitHub)
			v := newEnv(t, envOpt{now: srv.Now})
			oc := v.mkClient(t, srv, nil)
			remote := srv.HTTPURL() + "/octo/repo"
			ctx := t.Context()
			_, err := v.e.Credential(ctx, v.alice, remote)
			nl := wantErr[*connect.NotLinkedError](t, "before linking", err)
			if nl.LinkURL != external+"/external-auth/"+oc.ID || nl.Reason != "" {
				t.Fatalf("not linked: %+v", nl)
			}
			// A short wait with no link ends with the same answer.
			_, err = v.e.Wait(ctx, v.alice, remote, 50*time.Millisecond)
			wantErr[*connect.NotLinkedError](t, "short wait", err)

			linker := v.e
			if where == "another replica" {
				linker = v.replica(t, "replica-b")
			}
			type result struct {
				cred connect.Credential
				err  error
			}
			done := make(chan result, 1)
			go func() {
				cred, err := v.e.Wait(ctx, v.alice, remote, connect.MaxWait)
				done <- result{cred, err}
			}()
			c := v.link(t, srv, linker, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}).Connection
			r := <-done
			if r.err != nil || r.cred.ConnectionID != c.ID {
				t.Fatalf("wait: %+v, %v", r.cred, r.err)
			}
			// A cancelled wait answers with what it had.
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := v.e.Wait(cctx, v.bob, "https://elsewhere.example/x", time.Second); err == nil {
				t.Error("a cancelled wait found credentials")
			}
		})
	}
}

// TestDialectViews: what the Coder and ServiceStage dialects read.
func TestDialectViews(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitLabHosted)
	v := newEnv(t, envOpt{now: srv.Now})
	ctx := t.Context()
	oc := v.mkClient(t, srv, func(in *connect.ClientInput) { in.Slug = ptr("gl") })
	if cs := must[[]core.OAuthClient](t, "UsableClients")(v.e.UsableClients(ctx, v.alice)); len(cs) != 1 || cs[0].ID != oc.ID || cs[0].Secret != connect.Redacted {
		t.Errorf("alice's providers: %+v", cs)
	}
	if cs := must[[]core.OAuthClient](t, "UsableClients")(v.e.UsableClients(ctx, v.outsider)); len(cs) != 0 {
		t.Errorf("outsider's providers: %+v", cs)
	}
	if got := must[core.OAuthClient](t, "UsableClient")(v.e.UsableClient(ctx, v.alice, "gl")); got.ID != oc.ID {
		t.Errorf("by slug: %+v", got)
	}
	_, err := v.e.UsableClient(ctx, v.outsider, "gl")
	wantIs(t, "outsider by slug", err, core.ErrNotFound)

	// A project's authorizations.
	pc := must[core.Connection](t, "import")(v.e.ImportToken(ctx, v.alice, connect.Target{OAuthClient: "gl", OwnerKind: core.OwnerProject, ProjectID: v.prj.ID, Name: "ci"}, srv.IssueToken().AccessToken))
	if cs := must[[]core.Connection](t, "ProjectConnections")(v.e.ProjectConnections(ctx, v.bob, v.prj.ID)); len(cs) != 1 || cs[0].ID != pc.ID {
		t.Errorf("project connections: %+v", cs)
	}
	_, err = v.e.ProjectConnections(ctx, v.outsider, v.prj.ID)
	wantIs(t, "outsider's view of the project", err, core.ErrNotFound)
	_, err = v.e.ImportToken(ctx, v.outsider, connect.Target{OAuthClient: "gl", OwnerKind: core.OwnerProject, ProjectID: v.prj.ID, Name: "x"}, "t")
	wantIs(t, "outsider imports into the project", err, core.ErrNotFound)

	// Refresh on request, and the wait by provider id.
	done := make(chan error, 1)
	go func() {
		cred, err := v.e.WaitProvider(ctx, v.bob, "gl", connect.MaxWait)
		if err == nil && cred.Username != "oauth2" {
			err = context.Canceled
		}
		done <- err
	}()
	c := v.link(t, srv, v.e, v.bob, connect.FlowRequest{Target: connect.Target{OAuthClient: "gl"}, Origin: connect.OriginCoder}).Connection
	if err := <-done; err != nil {
		t.Fatalf("WaitProvider: %v", err)
	}
	if got := must[core.Connection](t, "RefreshConnection")(v.e.RefreshConnection(ctx, v.bob, c.ID)); srv.Refreshes() != 0 || got.ID != c.ID {
		t.Errorf("a fresh token was refreshed on request")
	}
	srv.Advance(gitlabTTL - time.Minute)
	if got := must[core.Connection](t, "RefreshConnection")(v.e.RefreshConnection(ctx, v.bob, c.ID)); srv.Refreshes() != 1 || got.LastRefreshAt.IsZero() {
		t.Errorf("RefreshConnection: %+v", got)
	}
	_, err = v.e.RefreshConnection(ctx, v.alice, c.ID)
	wantIs(t, "alice refreshes bob's", err, core.ErrNotFound)
}
