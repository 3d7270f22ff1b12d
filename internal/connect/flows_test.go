package connect_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
)

func userConns(t *testing.T, v *env, p core.Principal) []core.Connection {
	t.Helper()
	cs, _, err := v.st.ListConnections(context.Background(), store.ConnectionFilter{OwnerKind: core.OwnerUser, OwnerUserID: p.User.ID}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestCallbackRefusals: forged, reused and expired states, another person's flow,
// a refusal at the provider, and a provider that answers garbage or hangs — each
// refused with a clear error, with no connection created and none corrupted.
func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient, p core.Principal) (string, string) {
		t.Helper()
		u, err := v.e.StartBrowser(t.Context(), p, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}})
		if err != nil {
			t.Fatal(err)
		}
		return authorize(t, srv, u)
	}
	forged, _ := secret.Mint(secret.PrefixFlowState, nil)
	for _, tc := range []struct {
		name string
		// run does the bad callback and returns its error; the fixture's alice must
		// end with as many connections as before.
		run  func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error
		want func(t *testing.T, err error)
	}{
		{"forged state", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			_, code := start(t, v, srv, oc, v.alice)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: forged, Code: code})
			return err
		}, isErr(connect.ErrFlowInvalid)},
		{"malformed state", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, code := start(t, v, srv, oc, v.alice)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state[:len(state)-1] + "x", Code: code})
			return err
		}, isErr(connect.ErrFlowInvalid)},
		{"no state", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			_, code := start(t, v, srv, oc, v.alice)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, Code: code})
			return err
		}, isErr(connect.ErrFlowInvalid)},
		{"reused state", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, code := start(t, v, srv, oc, v.bob)
			if _, err := v.e.Callback(t.Context(), &v.bob, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code}); err != nil {
				t.Fatalf("first callback: %v", err)
			}
			_, err := v.e.Callback(t.Context(), &v.bob, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			return err
		}, isErr(connect.ErrFlowInvalid)},
		{"expired state", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, code := start(t, v, srv, oc, v.alice)
			srv.Advance(connect.DefaultFlowLifetime + time.Second)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			return err
		}, isErr(connect.ErrFlowInvalid)},
		{"state of another client", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			other := v.mkClient(t, forgetest.New(t, core.ProviderGitLabHosted), nil)
			state, code := start(t, v, srv, oc, v.alice)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: other.ID, State: state, Code: code})
			return err
		}, isErr(connect.ErrFlowInvalid)},
		{"another person's flow, which its owner still finishes", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, code := start(t, v, srv, oc, v.bob)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			// Not consumed by alice: bob completes it.
			res, berr := v.e.Callback(t.Context(), &v.bob, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			if berr != nil || res.Connection.OwnerUserID != v.bob.User.ID {
				t.Fatalf("bob after alice's attempt: %+v, %v", res, berr)
			}
			return err
		}, isErr(connect.ErrFlowNotYours)},
		{"nobody signed in", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, code := start(t, v, srv, oc, v.alice)
			_, err := v.e.Callback(t.Context(), nil, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			return err
		}, isErr(core.ErrUnauthenticated)},
		{"consent denied", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, _ := start(t, v, srv, oc, v.alice)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Error: "access_denied"})
			if ce := new(connect.ConsentError); !errors.As(err, &ce) || ce.Code != "access_denied" {
				t.Fatalf("denied: %v", err)
			}
			// The flow is over.
			_, err = v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: "x"})
			wantIs(t, "callback after a denial", err, connect.ErrFlowInvalid)
			return &connect.ConsentError{Code: "access_denied"}
		}, func(t *testing.T, err error) { wantErr[*connect.ConsentError](t, "denied", err) }},
		{"code refused by the provider", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, _ := start(t, v, srv, oc, v.alice)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: "made-up"})
			return err
		}, func(t *testing.T, err error) {
			pe := wantErr[*connect.ProviderError](t, "made-up code", err)
			if !errors.Is(pe, forge.ErrInvalidGrant) {
				t.Errorf("made-up code: %v", pe)
			}
		}},
		{"garbage from the token endpoint", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, code := start(t, v, srv, oc, v.alice)
			srv.GarbageNext(1)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			return err
		}, func(t *testing.T, err error) {
			pe := wantErr[*connect.ProviderError](t, "garbage", err)
			if !forge.IsTransient(pe.Err) || !errors.Is(pe, forge.ErrMalformed) {
				t.Errorf("garbage: %v", pe)
			}
		}},
		{"the token endpoint hangs", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, code := start(t, v, srv, oc, v.alice)
			srv.HangNext(1)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			return err
		}, func(t *testing.T, err error) {
			pe := wantErr[*connect.ProviderError](t, "hang", err)
			if !errors.Is(pe, context.DeadlineExceeded) {
				t.Errorf("hang: %v", pe)
			}
		}},
		{"a 503 from the token endpoint", func(t *testing.T, v *env, srv *forgetest.Server, oc core.OAuthClient) error {
			state, code := start(t, v, srv, oc, v.alice)
			srv.FailNext(1, http.StatusServiceUnavailable)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			return err
		}, func(t *testing.T, err error) { wantErr[*connect.ProviderError](t, "503", err) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := forgetest.New(t, core.ProviderGitLabHosted)
			v := newEnv(t, envOpt{now: srv.Now, opts: connect.Options{ProviderTimeout: 300 * time.Millisecond}})
			oc := v.mkClient(t, srv, nil)
			// alice has a connection already: a failed relink must leave it alone.
			existing := v.link(t, srv, v.e, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}).Connection
			before, at, rt := v.tokens(t, existing.ID)
			tc.want(t, tc.run(t, v, srv, oc))
			cs := userConns(t, v, v.alice)
			if len(cs) != 1 || cs[0].ID != existing.ID {
				t.Fatalf("alice's connections after a refused callback: %v", cs)
			}
			after, at2, rt2 := v.tokens(t, existing.ID)
			if after.Version != before.Version || at2 != at || rt2 != rt || after.Health != core.HealthHealthy {
				t.Errorf("the existing connection changed: %+v", after)
			}
		})
	}
}

func isErr(target error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		wantIs(t, "callback", err, target)
	}
}

// TestUserLookupFailure: when the provider gives a token but its user API fails,
// nothing is stored and the token is revoked.
func TestUserLookupFailure(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"garbage", "hang"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := forgetest.New(t, core.ProviderGitLabHosted)
			hc := &http.Client{Transport: faultTransport{
				match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/api/v4/user") },
				do: func(r *http.Request) (*http.Response, error) {
					if mode == "hang" {
						<-r.Context().Done()
						return nil, r.Context().Err()
					}
					return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/html"}},
						Body: io.NopCloser(strings.NewReader("<html>sign in</html>")), Request: r}, nil
				}}}
			v := newEnv(t, envOpt{now: srv.Now, opts: connect.Options{ProviderTimeout: 300 * time.Millisecond,
				HTTPClient: func() *http.Client { return hc }}})
			oc := v.mkClient(t, srv, nil)
			u := must[string](t, "StartBrowser")(v.e.StartBrowser(t.Context(), v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}))
			state, code := authorize(t, srv, u)
			_, err := v.e.Callback(t.Context(), &v.alice, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
			pe := wantErr[*connect.ProviderError](t, "lookup failure", err)
			if pe.Op != "user lookup" {
				t.Errorf("op %q", pe.Op)
			}
			if cs := userConns(t, v, v.alice); len(cs) != 0 {
				t.Errorf("a connection was stored: %v", cs)
			}
			if srv.Revocations() != 1 {
				t.Errorf("the unkept token was not revoked: %d revocations", srv.Revocations())
			}
		})
	}
}

// TestServiceStageHandBack: a flow started by the ServiceStage dialect is not
// exchanged at the callback; the platform POSTs code and state, which must match
// the project, repository type and person.
func TestServiceStageHandBack(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub)
	v := newEnv(t, envOpt{now: srv.Now})
	oc := v.mkClient(t, srv, nil)
	ctx := t.Context()
	got, err := v.e.ProjectClientOfKind(ctx, v.alice, v.prj.ID, core.ProviderGitHub, core.ProviderGitHubEnterprise)
	if err != nil || got.ID != oc.ID {
		t.Fatalf("ProjectClientOfKind: %v %v", got.ID, err)
	}
	u, err := v.e.StartBrowser(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID,
		OwnerKind: core.OwnerProject, ProjectID: v.prj.ID}, Origin: connect.OriginServiceStage, RepoType: "github"})
	if err != nil {
		t.Fatalf("StartBrowser: %v", err)
	}
	state, code := authorize(t, srv, u)
	// The browser arrives with nobody signed in: it gets the code back.
	res, err := v.e.Callback(ctx, nil, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
	if err != nil || res.HandBack == nil || res.HandBack.Code != code || res.HandBack.State != state {
		t.Fatalf("hand-back: %+v, %v", res, err)
	}
	if srv.TokenRequests("authorization_code") != 0 {
		t.Fatal("the callback exchanged a ServiceStage code")
	}
	for _, tc := range []struct {
		name string
		p    core.Principal
		in   connect.HandBackCompletion
	}{
		{"another project", v.alice, connect.HandBackCompletion{State: state, Code: code, ProjectID: "prj-foreign", RepoType: "github", Name: "a"}},
		{"another repo type", v.alice, connect.HandBackCompletion{State: state, Code: code, ProjectID: v.prj.ID, RepoType: "gitlab", Name: "a"}},
		{"another person", v.bob, connect.HandBackCompletion{State: state, Code: code, ProjectID: v.prj.ID, RepoType: "github", Name: "a"}},
		{"a forged state", v.alice, connect.HandBackCompletion{State: "vcst_forged", Code: code, ProjectID: v.prj.ID, RepoType: "github", Name: "a"}},
	} {
		_, err := v.e.CompleteHandBack(ctx, tc.p, tc.in)
		if ve, ok := core.AsValidation(err); !ok || ve.Field != "state" {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	_, err = v.e.CompleteHandBack(ctx, v.alice, connect.HandBackCompletion{State: state, Code: code, ProjectID: v.prj.ID, RepoType: "github", Name: "bad name!"})
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "name" {
		t.Errorf("bad name: %v", err)
	}
	c, err := v.e.CompleteHandBack(ctx, v.alice, connect.HandBackCompletion{State: state, Code: code, ProjectID: v.prj.ID, RepoType: "github", Name: "deploy"})
	if err != nil || c.OwnerKind != core.OwnerProject || c.OwnerProjectID != v.prj.ID || c.Name != "deploy" || c.UpstreamLogin != srv.User().Login {
		t.Fatalf("CompleteHandBack: %+v, %v", c, err)
	}
	_, err = v.e.CompleteHandBack(ctx, v.alice, connect.HandBackCompletion{State: state, Code: code, ProjectID: v.prj.ID, RepoType: "github", Name: "again"})
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "state" {
		t.Errorf("reused state: %v", err)
	}
	if got := must[core.Connection](t, "ProjectConnection")(v.e.ProjectConnection(ctx, v.bob, v.prj.ID, "deploy")); got.ID != c.ID {
		t.Errorf("ProjectConnection: %+v", got)
	}
	// A second authorization of that name is refused.
	_, err = v.e.ImportToken(ctx, v.alice, connect.Target{OAuthClient: oc.ID, OwnerKind: core.OwnerProject, ProjectID: v.prj.ID, Name: "deploy"}, srv.IssueToken().AccessToken)
	if ve, ok := core.AsValidation(err); !ok || ve.Code != "taken" {
		t.Errorf("a taken name: %v", err)
	}
	// A browser flow of the native origin for a project carries its name along.
	u, err = v.e.StartBrowser(ctx, v.bob, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID,
		OwnerKind: core.OwnerProject, ProjectID: v.prj.ID, Name: "ci"}})
	if err != nil {
		t.Fatal(err)
	}
	state, code = authorize(t, srv, u)
	res, err = v.e.Callback(ctx, &v.bob, connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code})
	if err != nil || res.Connection.Name != "ci" || res.Connection.OwnerProjectID != v.prj.ID {
		t.Fatalf("project flow: %+v, %v", res, err)
	}
	// A return address elsewhere is refused, except a ServiceStage platform's.
	_, err = v.e.StartBrowser(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}, ReturnTo: "https://evil.example/"})
	if ve, ok := core.AsValidation(err); !ok || ve.Field != "return_to" {
		t.Errorf("open redirect: %v", err)
	}
	for _, bad := range []string{"//evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		if _, err := v.e.StartBrowser(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}, ReturnTo: bad}); err == nil {
			t.Errorf("return_to %q accepted", bad)
		}
	}
}

// TestDeviceSlowDownFromProvider: when the provider asks to slow down, its new
// interval is kept, and polls faster than it are answered here.
func TestDeviceSlowDownFromProvider(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub, forgetest.DeviceInterval(5*time.Second))
	// Make us believe the interval is 1 s, so we poll before the provider's 5 s.
	hc := &http.Client{Transport: faultTransport{
		match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/login/device/code") },
		do: func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			b = bytes.Replace(b, []byte(`"interval":5`), []byte(`"interval":1`), 1)
			resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			resp.Header.Del("Content-Length")
			return resp, nil
		}}}
	v := newEnv(t, envOpt{now: srv.Now, opts: connect.Options{HTTPClient: func() *http.Client { return hc }}})
	oc := v.mkClient(t, srv, nil)
	ctx := t.Context()
	ds := must[connect.DeviceStart](t, "StartDevice")(v.e.StartDevice(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}))
	if ds.Interval != time.Second {
		t.Fatalf("interval %v", ds.Interval)
	}
	srv.Advance(2 * time.Second)
	_, err := v.e.PollDevice(ctx, v.alice, oc.ID, ds.DeviceCode)
	de := wantErr[*connect.DeviceError](t, "poll", err)
	if de.Code != "slow_down" || de.Interval != 10*time.Second || srv.TokenRequests("device_code") != 1 {
		t.Fatalf("provider's slow_down: %+v after %d polls", de, srv.TokenRequests("device_code"))
	}
	srv.Advance(3 * time.Second)
	_, err = v.e.PollDevice(ctx, v.alice, oc.ID, ds.DeviceCode)
	wantIs(t, "poll before the new interval", err, connect.ErrSlowDown)
	if n := srv.TokenRequests("device_code"); n != 1 {
		t.Fatalf("the provider saw %d polls; the early one should have stayed here", n)
	}
	if err := srv.DenyDevice(ds.UserCode); err != nil {
		t.Fatal(err)
	}
	srv.Advance(time.Minute)
	_, err = v.e.PollDevice(ctx, v.alice, oc.ID, ds.DeviceCode)
	wantIs(t, "denied", err, connect.ErrAccessDenied)
	_, err = v.e.PollDevice(ctx, v.alice, oc.ID, ds.DeviceCode)
	wantIs(t, "after denial", err, connect.ErrExpiredToken)
	if cs := userConns(t, v, v.alice); len(cs) != 0 {
		t.Errorf("a denied flow made %v", cs)
	}
	// Turned off by the admin.
	must[core.OAuthClient](t, "SetDeviceFlow")(v.e.SetDeviceFlow(ctx, v.admin, oc.ID, false))
	_, err = v.e.StartDevice(ctx, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}})
	wantIs(t, "device flow off", err, connect.ErrDeviceUnsupported)
}

// Two first links of one person through one client, completed at the same moment
// (two browser tabs, a double click): both succeed and the person ends with one
// connection, the later link renewing the first.
func TestConcurrentFirstLinks(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			if dialect == "postgres" {
				storetest.PostgresURL(t)
			}
			v := newEnv(t, envOpt{dialect: dialect})
			srv := forgetest.New(t, core.ProviderGitLabHosted)
			for round := range 5 {
				oc := v.mkClient(t, srv, func(in *connect.ClientInput) { in.Name = ptr(fmt.Sprintf("gitlab %d", round)) })
				req := connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}
				var inputs [2]connect.CallbackInput
				for i := range inputs {
					u, err := v.e.StartBrowser(t.Context(), v.alice, req)
					if err != nil {
						t.Fatal(err)
					}
					state, code := authorize(t, srv, u)
					inputs[i] = connect.CallbackInput{OAuthClient: oc.ID, State: state, Code: code}
				}
				var wg sync.WaitGroup
				errs := make([]error, len(inputs))
				for i, in := range inputs {
					wg.Go(func() {
						p := v.alice
						_, errs[i] = v.e.Callback(t.Context(), &p, in)
					})
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("round %d: callback %d: %v", round, i, err)
					}
				}
				cs, _, err := v.st.ListConnections(t.Context(), store.ConnectionFilter{OAuthClientID: oc.ID, OwnerKind: core.OwnerUser, OwnerUserID: v.alice.User.ID}, store.Page{})
				if err != nil {
					t.Fatal(err)
				}
				if len(cs) != 1 {
					t.Fatalf("round %d: %d connections of alice through one client, want 1", round, len(cs))
				}
			}
		})
	}
}

// A flow that names the organization it acts for (TFE's connect-path) finds only
// that organization's clients.
func TestStartBrowserNamedOrganization(t *testing.T) {
	t.Parallel()
	v := newEnv(t, envOpt{})
	srv := forgetest.New(t, core.ProviderGitLabHosted)
	oc := v.mkClient(t, srv, nil)
	for org, wantErr := range map[string]bool{v.org.ID: false, "org-other": true, "": false} {
		_, err := v.e.StartBrowser(t.Context(), v.admin, connect.FlowRequest{
			Target: connect.Target{OAuthClient: oc.ID, OwnerKind: core.OwnerOrg, OrgID: org}})
		if wantErr {
			wantIs(t, "another organization named", err, core.ErrNotFound)
		} else if err != nil {
			t.Errorf("organization %q: %v", org, err)
		}
	}
}
