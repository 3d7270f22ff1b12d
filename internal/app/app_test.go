package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/app/apptest"
)

// One request to a route of every part, through the handler app.New builds: a
// part whose Register is missing answers 404, and overlapping patterns of two
// dialects would have panicked in app.New.
func TestEveryPartIsRouted(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	for _, tt := range []struct {
		part, method, path string
		want               int
	}{
		{"health", "GET", "/healthz", 200},
		{"health", "GET", "/readyz", 200},
		{"metrics", "GET", "/metrics", 200},
		{"web", "GET", "/login", 200},
		{"oauthhttp", "GET", "/.well-known/oauth-authorization-server", 200},
		{"native", "POST", "/api/v1/git/credential", 401},
		{"native (flows)", "GET", "/auth/oc-nope", 303},
		{"coder", "GET", "/api/v2/external-auth", 401},
		{"tfe", "GET", "/api/v2/ping", 204},
		{"tfe", "GET", "/api/v2/organizations", 401},
		{"servicestage", "GET", "/v1/prj-x/git/auths", 401},
		{"gitlab", "GET", "/api/v4/applications", 401},
		{"github", "GET", "/api/v3/authorizations", 401},
		{"nothing", "GET", "/nope", 404},
	} {
		req, err := http.NewRequest(tt.method, s.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %s %s: %d, want %d", tt.part, tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

// The background jobs run until their context ends, and then return, so that
// serve's shutdown does not leave them behind.
func TestRunBackgroundStops(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, apptest.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		s.RunBackground(ctx)
		close(done)
	}()
	s.Sweep(t.Context())
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunBackground did not return after its context ended")
	}
}
