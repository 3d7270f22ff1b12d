package connect_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

// gitlabTTL is the fake GitLab's access-token lifetime.
const gitlabTTL = 7200 * time.Second

// linked is a fixture: a GitLab fake, an installation, and alice's connection.
func linked(t *testing.T, dialect string, opts connect.Options, fopts ...forgetest.Option) (*forgetest.Server, *env, core.OAuthClient, core.Connection, string) {
	t.Helper()
	srv := forgetest.New(t, core.ProviderGitLabHosted, fopts...)
	v := newEnv(t, envOpt{dialect: dialect, now: srv.Now, opts: opts})
	oc := v.mkClient(t, srv, nil)
	c := v.link(t, srv, v.e, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}}).Connection
	return srv, v, oc, c, srv.HTTPURL() + "/group/repo.git"
}

var dialects = []string{"sqlite", "postgres"}

// TestRefreshStorm: many concurrent credential requests for an expired token — in
// one process on SQLite, and through two engines sharing one PostgreSQL database —
// make exactly one refresh at the provider, and every caller gets the new token.
func TestRefreshStorm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dialect  string
		replicas int
	}{{"sqlite", 1}, {"postgres", 2}} {
		t.Run(tc.dialect, func(t *testing.T) {
			t.Parallel()
			srv, v, _, c, remote := linked(t, tc.dialect, connect.Options{})
			engines := []*connect.Engine{v.e}
			for i := 1; i < tc.replicas; i++ {
				engines = append(engines, v.replica(t, "replica-b"))
			}
			_, old, _ := v.tokens(t, c.ID)
			srv.Advance(gitlabTTL + time.Second)
			// Keep the refresh in flight long enough for the callers to pile up on it.
			srv.SetLatency(50 * time.Millisecond)
			before := srv.TokenRequests("refresh_token")
			const n = 200
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				got   = make([]string, n)
				errs  = make([]error, n)
			)
			for i := range n {
				wg.Go(func() {
					<-start
					cred, err := engines[i%len(engines)].Credential(t.Context(), v.alice, remote)
					got[i], errs[i] = cred.Password, err
				})
			}
			close(start)
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("caller %d: %v", i, errs[i])
				}
				if got[i] != got[0] {
					t.Fatalf("caller %d got another token than caller 0", i)
				}
			}
			if got[0] == old || !srv.TokenLive(got[0]) {
				t.Fatalf("the callers got the old or a dead token")
			}
			if r := srv.TokenRequests("refresh_token") - before; r != 1 || srv.Refreshes() != 1 {
				t.Fatalf("%d refresh requests (%d successful) at the provider; want exactly 1", r, srv.Refreshes())
			}
			row, at, _ := v.tokens(t, c.ID)
			if at != got[0] || row.RefreshLeaseOwner != "" || row.Health != core.HealthHealthy {
				t.Errorf("stored after the storm: %+v", row)
			}
		})
	}
}

// TestRefreshFailures: transient failures keep the refresh token and serve a token
// that still works; a dead grant asks the person to authorize again.
func TestRefreshFailures(t *testing.T) {
	t.Parallel()
	srv, v, _, c, remote := linked(t, "sqlite", connect.Options{})
	ctx := t.Context()
	_, old, oldRT := v.tokens(t, c.ID)

	// Within the margin, not expired: a 503 is recorded, the old token served.
	srv.Advance(gitlabTTL - 2*time.Minute)
	srv.FailNext(1, http.StatusServiceUnavailable)
	cred := must[connect.Credential](t, "Credential during a 503")(v.e.Credential(ctx, v.alice, remote))
	row, _, rt := v.tokens(t, c.ID)
	if cred.AccessToken != old || row.Health != core.HealthRefreshFailing || !strings.Contains(row.HealthReason, "503") || rt != oldRT || row.RefreshLeaseOwner != "" {
		t.Fatalf("after a 503: token changed %v, row %+v", cred.AccessToken != old, row)
	}
	// Backing off: the next request does not ask the provider again.
	reqs := srv.TokenRequests("refresh_token")
	cred = must[connect.Credential](t, "Credential in backoff")(v.e.Credential(ctx, v.alice, remote))
	if cred.AccessToken != old || srv.TokenRequests("refresh_token") != reqs {
		t.Fatalf("in backoff the provider was asked again")
	}

	// Expired: always tried; a rate limit keeps the refresh token too.
	srv.Advance(3 * time.Minute)
	srv.RateLimitNext(1)
	_, err := v.e.Credential(ctx, v.alice, remote)
	re := wantErr[*connect.RefreshError](t, "Credential of an expired token, rate limited", err)
	if re.Health != core.HealthRefreshFailing {
		t.Errorf("rate limited: %+v", re)
	}
	if _, _, rt := v.tokens(t, c.ID); rt != oldRT {
		t.Fatal("a rate limit lost the refresh token")
	}

	// It recovers.
	cred = must[connect.Credential](t, "Credential after recovery")(v.e.Credential(ctx, v.alice, remote))
	row, _, _ = v.tokens(t, c.ID)
	if cred.AccessToken == old || row.Health != core.HealthHealthy || row.HealthReason != "" {
		t.Fatalf("after recovery: %+v", row)
	}

	// The grant dies at the provider: invalid_grant means re-authorize.
	_, _, rt = v.tokens(t, c.ID)
	srv.RevokeToken(rt)
	v.expire(t, c.ID)
	_, err = v.e.Credential(ctx, v.alice, remote)
	nl := wantErr[*connect.NotLinkedError](t, "Credential after invalid_grant", err)
	if nl.Health != core.HealthNeedsReauth || !strings.Contains(nl.Reason, "invalid_grant") || !strings.HasPrefix(nl.LinkURL, external+"/external-auth/") {
		t.Errorf("not linked: %+v", nl)
	}
	row, _, rt2 := v.tokens(t, c.ID)
	if row.Health != core.HealthNeedsReauth || rt2 != rt {
		t.Errorf("after invalid_grant: %+v", row)
	}
	// Nothing hammers a dead grant.
	reqs = srv.TokenRequests("refresh_token")
	if st, err := v.e.RefreshDue(ctx); err != nil || st.Due != 0 {
		t.Errorf("RefreshDue on a dead grant: %+v, %v", st, err)
	}
	if _, err := v.e.Credential(ctx, v.alice, remote); err == nil || srv.TokenRequests("refresh_token") != reqs {
		t.Errorf("a dead grant was refreshed again")
	}
}

// TestCrashMidRefresh: the provider rotates the refresh token, and the process
// stops before it saves the answer. The rotated-away token cannot be recovered; on
// restart the lease is found abandoned, the next refresh gets invalid_grant, and
// the connection is reported as needing re-authorization with that reason, until
// the person re-links. Providers that do not rotate lose nothing.
func TestCrashMidRefresh(t *testing.T) {
	t.Parallel()
	errKilled := errors.New("process killed")
	for _, dialect := range dialects {
		for _, rotate := range []bool{true, false} {
			name := dialect + "/rotating"
			var fopts []forgetest.Option
			if !rotate {
				name, fopts = dialect+"/non-rotating", []forgetest.Option{forgetest.KeepRefreshTokens()}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv, v, oc, c, remote := linked(t, dialect, connect.Options{ProviderTimeout: 2 * time.Second}, fopts...)
				ctx := t.Context()
				connect.SetAfterRefreshAnswer(v.e, func(string) error { return errKilled })
				srv.Advance(gitlabTTL + time.Second)
				_, err := v.e.Credential(ctx, v.alice, remote)
				wantIs(t, "the refresh that dies", err, errKilled)
				row, _, oldRT := v.tokens(t, c.ID)
				if srv.Refreshes() != 1 || !strings.HasPrefix(row.RefreshLeaseOwner, "replica-a#") || srv.TokenLive(oldRT) != !rotate {
					t.Fatalf("after the crash: %d refreshes, lease %q, old refresh token live %v", srv.Refreshes(), row.RefreshLeaseOwner, srv.TokenLive(oldRT))
				}

				// The restarted process. While the dead lease lasts, it waits rather
				// than refreshing beside a holder that might still be alive.
				b := v.replica(t, "replica-b")
				wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				_, err = b.Credential(wctx, v.alice, remote)
				cancel()
				wantIs(t, "during the lease", err, context.DeadlineExceeded)
				if srv.TokenRequests("refresh_token") != 1 {
					t.Fatal("a refresh ran beside a live lease")
				}

				// The lease lapses (2 × ProviderTimeout + 10 s).
				srv.Advance(15 * time.Second)
				cred, err := b.Credential(ctx, v.alice, remote)
				row, _, _ = v.tokens(t, c.ID)
				if !rotate {
					if err != nil || !srv.TokenLive(cred.AccessToken) || row.Health != core.HealthHealthy {
						t.Fatalf("non-rotating provider after the crash: %v, %+v", err, row)
					}
					return
				}
				nl := wantErr[*connect.NotLinkedError](t, "after the lease lapsed", err)
				if nl.Reason != connect.ReasonInterrupted || nl.Health != core.HealthNeedsReauth || nl.LinkURL != external+"/external-auth/"+oc.ID {
					t.Errorf("not linked: %+v", nl)
				}
				if row.Health != core.HealthNeedsReauth || row.HealthReason != connect.ReasonInterrupted || row.RefreshLeaseOwner != "" ||
					row.UpstreamLogin != c.UpstreamLogin {
					t.Errorf("stored after the crash was detected: %+v", row)
				}
				if srv.Refreshes() != 1 {
					t.Errorf("%d successful refreshes; the dead token cannot have refreshed", srv.Refreshes())
				}
				// Re-linking renews the connection in place.
				res := v.link(t, srv, b, v.alice, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}})
				if !res.Relinked || res.Connection.ID != c.ID {
					t.Fatalf("relink: %+v", res)
				}
				if _, err := b.Credential(ctx, v.alice, remote); err != nil {
					t.Fatalf("after relinking: %v", err)
				}
			})
		}
	}
}

// TestRefreshSurvivesCancelledCaller: a caller that gives up between the provider's
// answer and the save does not lose the rotated token.
func TestRefreshSurvivesCancelledCaller(t *testing.T) {
	t.Parallel()
	srv, v, _, c, remote := linked(t, "sqlite", connect.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	connect.SetAfterRefreshAnswer(v.e, func(string) error {
		cancel()
		return nil
	})
	srv.Advance(gitlabTTL + time.Second)
	_, err := v.e.Credential(ctx, v.alice, remote)
	wantIs(t, "cancelled caller", err, context.Canceled)
	connect.SetAfterRefreshAnswer(v.e, nil)
	// The save ran anyway: the next caller joins it or reads it, with no second
	// refresh.
	cred := must[connect.Credential](t, "Credential")(v.e.Credential(t.Context(), v.alice, remote))
	if !srv.TokenLive(cred.AccessToken) || srv.TokenRequests("refresh_token") != 1 {
		t.Fatalf("token live %v after %d refresh requests", srv.TokenLive(cred.AccessToken), srv.TokenRequests("refresh_token"))
	}
	if _, at, _ := v.tokens(t, c.ID); at != cred.AccessToken {
		t.Fatal("the refreshed token was not stored")
	}
}

// TestBackgroundRefresh: RefreshDue renews what is due, backs off after a transient
// failure, and RunRefresher runs passes until its context ends.
func TestBackgroundRefresh(t *testing.T) {
	t.Parallel()
	srv, v, oc, _, _ := linked(t, "sqlite", connect.Options{BackoffBase: time.Minute, BackoffMax: 10 * time.Minute, RefreshEvery: 20 * time.Millisecond})
	ctx := t.Context()
	v.link(t, srv, v.e, v.bob, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}})
	if st := must[connect.RefreshStats](t, "RefreshDue")(v.e.RefreshDue(ctx)); st.Due != 0 {
		t.Fatalf("fresh tokens were due: %+v", st)
	}
	srv.Advance(gitlabTTL - time.Minute)
	if st := must[connect.RefreshStats](t, "RefreshDue")(v.e.RefreshDue(ctx)); st.Due != 2 || st.Refreshed != 2 || srv.Refreshes() != 2 {
		t.Fatalf("first pass: %+v, %d refreshes", st, srv.Refreshes())
	}
	srv.Advance(gitlabTTL - time.Minute)
	srv.FailNext(1, http.StatusBadGateway)
	if st := must[connect.RefreshStats](t, "RefreshDue")(v.e.RefreshDue(ctx)); st.Due != 2 || st.Refreshed != 1 || st.Failed != 1 {
		t.Fatalf("pass with a 502: %+v", st)
	}
	reqs := srv.TokenRequests("refresh_token")
	if st := must[connect.RefreshStats](t, "RefreshDue")(v.e.RefreshDue(ctx)); st.Due != 1 || st.Skipped != 1 || srv.TokenRequests("refresh_token") != reqs {
		t.Fatalf("pass in backoff: %+v", st)
	}
	srv.Advance(10 * time.Minute)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.e.RunRefresher(rctx) }()
	for srv.Refreshes() < 4 {
		select {
		case <-ctx.Done():
			t.Fatal("the background refresher never retried")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunRefresher: %v", err)
	}
}
