package gitlab_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vcsauth/vcsauth/internal/api/apitest"
	"github.com/vcsauth/vcsauth/internal/app/apptest"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

type fixture struct {
	vcs *apptest.Server
	st  *sqlstore.Store
	id  *identity.Service
	eng *authserver.Engine
	srv *httptest.Server

	admin, alice         core.User
	adminToken, aliceTok string
	// narrowAdmin is a site admin's token without the admin scope.
	narrowAdmin string
}

// newFixture serves the whole vcsauth as `vcsauth serve` wires it (apptest).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := apptest.Start(t, apptest.Options{})
	f := &fixture{vcs: s, st: s.Store, id: s.Identity, eng: s.Auth, srv: s.HTTP}
	mk := func(name string, admin bool) (core.User, string) {
		u := s.CreateUser(t, identity.NewUser{Username: name, Password: "correct horse " + name, Email: name + "@example.com", SiteAdmin: admin})
		return u, f.token(t, u, core.ScopeAPI)
	}
	f.admin, f.adminToken = mk("root", true)
	f.alice, f.aliceTok = mk("alice", false)
	f.narrowAdmin = f.token(t, f.admin, core.ScopeReadAPI)
	return f
}

func (f *fixture) token(t *testing.T, u core.User, scopes ...string) string {
	t.Helper()
	return f.vcs.Token(t, u.ID, "test", scopes...)
}

// client is gitlab client-go with token, recording every exchange.
func (f *fixture) client(t *testing.T, token string) (*gl.Client, *recorder) {
	t.Helper()
	rec := &apitest.Recorder{}
	c, err := gl.NewClient(token, gl.WithBaseURL(f.srv.URL+"/api/v4"), gl.WithHTTPClient(&http.Client{Transport: rec}), gl.WithoutRetries())
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// apps lists the applications in the store, for checking that nothing was stored.
func (f *fixture) apps(t *testing.T) []core.Application {
	t.Helper()
	as, _, err := f.eng.ListApplications(context.Background(), identity.System(), store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

type (
	exchange = apitest.Exchange
	recorder = apitest.Recorder
)

// raw sends a request with header set and records it.
func (f *fixture) raw(t *testing.T, header http.Header, method, path, contentType, body string) exchange {
	t.Helper()
	return apitest.Raw(t, f.srv.URL, header, method, path, contentType, body)
}

func privateToken(tok string) http.Header { return http.Header{"Private-Token": {tok}} }

// ---- golden files ----

// golden compares the exchange's status, client-visible headers and body, with the
// volatile values normalised, to testdata/name.golden.json (rewritten with -update).
func (f *fixture) golden(t *testing.T, name string, ex exchange) {
	t.Helper()
	apitest.Shape{
		Headers: []string{"Content-Type", "Link", "X-Next-Page", "X-Page", "X-Per-Page", "X-Prev-Page", "X-Total", "X-Total-Pages"},
		Text:    func(v string) string { return strings.ReplaceAll(v, f.srv.URL, "{base}") },
		Value:   f.normalise,
	}.Golden(t, name, ex)
}

var (
	clientIDRE = regexp.MustCompile(`^[0-9a-z]{20}$`)
	secretRE   = regexp.MustCompile(`^vcas_[0-9A-Za-z]{38}$`)
	timeRE     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// normalise replaces a value that changes from run to run with a placeholder, but
// only when it has the expected form: a value of another type or format stays,
// so that a change of wire format shows in the diff.
func (f *fixture) normalise(key string, v any) any {
	switch v := v.(type) {
	case json.Number:
		if key == "id" {
			if _, err := v.Int64(); err == nil {
				return "<int>"
			}
		}
	case string:
		switch {
		case key == "application_id" && clientIDRE.MatchString(v):
			return "<client_id>"
		case key == "secret" && secretRE.MatchString(v):
			return "<secret>"
		case strings.HasSuffix(key, "_at") && timeRE.MatchString(v):
			return "<time>"
		}
	}
	return v
}
