package gitlab_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vcsauth/vcsauth/internal/api/gitlab"
	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

func TestApplicationLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c, rec := f.client(t, f.adminToken)

	a, resp, err := c.Applications.CreateApplication(&gl.CreateApplicationOptions{Name: gl.Ptr("CI"),
		RedirectURI: gl.Ptr("https://ci.example/cb\nhttp://127.0.0.1/cb"), Scopes: gl.Ptr("read_api credentials")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || a.ApplicationName != "CI" || !a.Confidential || len(a.ApplicationID) != 20 ||
		!strings.HasPrefix(a.Secret, "vcas_") || a.CallbackURL != "https://ci.example/cb\nhttp://127.0.0.1/cb" ||
		!slices.Equal(a.Scopes, []string{"credentials", "read_api"}) {
		t.Fatalf("created %d %+v", resp.StatusCode, a)
	}
	f.golden(t, "create_application", rec.Last(t))
	first := a.Secret
	if _, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: a.ApplicationID, Secret: first}); err != nil {
		t.Fatalf("the secret does not authenticate: %v", err)
	}

	list, _, err := c.Applications.ListApplications(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ApplicationID != authserver.CLIClientID || list[1].ID != a.ID || list[1].Secret != "" {
		t.Fatalf("list: %+v", list)
	}
	f.golden(t, "list_applications", rec.Last(t))

	renewed, resp, err := c.Applications.RenewApplicationSecret(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || renewed.ID != a.ID || !strings.HasPrefix(renewed.Secret, "vcas_") || renewed.Secret == first {
		t.Fatalf("renewed %d %+v", resp.StatusCode, renewed)
	}
	f.golden(t, "renew_secret", rec.Last(t))
	if _, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: a.ApplicationID, Secret: first}); err == nil {
		t.Fatal("the old secret still works")
	}
	if _, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: a.ApplicationID, Secret: renewed.Secret}); err != nil {
		t.Fatalf("the new secret does not work: %v", err)
	}
	if _, _, err := c.Applications.ListApplications(nil); err != nil {
		t.Fatal(err)
	}

	// Deleting takes every grant and token of the application with it.
	text, _, err := f.eng.IssueToken(ctx, core.Principal{User: f.alice, Method: core.AuthPassword, Scopes: []string{"api"}},
		mustApp(t, f, a.ID), identity.NewToken{Scopes: []string{"read_api"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = c.Applications.DeleteApplication(a.ID); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", resp, err)
	}
	if _, err := f.id.AuthenticateToken(ctx, text); err == nil {
		t.Fatal("a token of the deleted application still works")
	}
	if _, err := c.Applications.DeleteApplication(a.ID); !errors.Is(err, gl.ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	f.golden(t, "delete_application_not_found", rec.Last(t))
	if _, _, err := c.Applications.RenewApplicationSecret(a.ID); !errors.Is(err, gl.ErrNotFound) {
		t.Fatalf("renew a deleted application: %v", err)
	}
	if !bytes.Equal(rec.Last(t).Body, []byte(`{"message":"404 Application Not Found"}`+"\n")) {
		t.Fatalf("404 body: %s", rec.Last(t).Body)
	}
	var er *gl.ErrorResponse
	if _, err := c.Applications.DeleteApplication(list[0].ID); !errors.As(err, &er) || er.StatusCode != http.StatusForbidden {
		t.Fatalf("delete the built-in application: %v", err)
	}

	// A secret is in the answer that made it and nowhere else.
	for _, ex := range rec.All() {
		made := ex.Method == http.MethodPost
		for _, s := range []string{first, renewed.Secret} {
			if bytes.Contains(ex.Body, []byte(s)) && !(made && bytes.Contains(ex.Body, []byte(`"secret":"`+s+`"`))) {
				t.Errorf("%s %s shows a secret: %s", ex.Method, ex.Path, ex.Body)
			}
		}
		if !made && bytes.Contains(ex.Body, []byte(`"secret"`)) {
			t.Errorf("%s %s has a secret field: %s", ex.Method, ex.Path, ex.Body)
		}
	}
}

func mustApp(t *testing.T, f *fixture, id int64) core.Application {
	t.Helper()
	a, err := f.eng.Application(context.Background(), identity.System(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestApplicationPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 24 {
		if _, _, err := f.eng.CreateApplication(context.Background(), identity.System(), authserver.NewApplication{
			Name: fmt.Sprintf("app %02d", i), RedirectURIs: []string{"https://a.example/cb"}, Scopes: []string{"api"}, Confidential: true}); err != nil {
			t.Fatal(err)
		}
	}
	// With the built-in application: 25.
	c, rec := f.client(t, f.adminToken)
	for _, tc := range []struct {
		name               string
		page, perPage      int64
		items              int
		xPage, xPer, pages string
		next, prev         string
		rels               []string
	}{
		{"defaults", 0, 0, 20, "1", "20", "2", "2", "", []string{"next", "first", "last"}},
		{"second page", 2, 0, 5, "2", "20", "2", "", "1", []string{"prev", "first", "last"}},
		{"middle", 2, 10, 10, "2", "10", "3", "3", "1", []string{"prev", "next", "first", "last"}},
		{"capped per_page", 1, 500, 25, "1", "100", "1", "", "", []string{"first", "last"}},
		{"past the end", 9, 10, 0, "9", "10", "3", "", "3", []string{"prev", "first", "last"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, resp, err := c.Applications.ListApplications(&gl.ListApplicationsOptions{ListOptions: gl.ListOptions{Page: tc.page, PerPage: tc.perPage}})
			if err != nil {
				t.Fatal(err)
			}
			h := resp.Header
			if len(list) != tc.items || h.Get("X-Total") != "25" || h.Get("X-Total-Pages") != tc.pages || h.Get("X-Page") != tc.xPage ||
				h.Get("X-Per-Page") != tc.xPer || h.Get("X-Next-Page") != tc.next || h.Get("X-Prev-Page") != tc.prev {
				t.Fatalf("%d items, headers %v", len(list), h)
			}
			if resp.TotalItems != 25 || strconv.FormatInt(resp.NextPage, 10) != orZero(tc.next) {
				t.Fatalf("the client read total %d, next %d", resp.TotalItems, resp.NextPage)
			}
			var rels []string
			for _, l := range strings.Split(h.Get("Link"), ", ") {
				target, rel, _ := strings.Cut(l, "; ")
				u, err := url.Parse(strings.Trim(target, "<>"))
				if err != nil || u.Query().Get("page") == "" || u.Query().Get("per_page") != tc.xPer || !strings.HasPrefix(u.String(), f.srv.URL+"/api/v4/applications?") {
					t.Fatalf("link %q", l)
				}
				rels = append(rels, strings.TrimSuffix(strings.TrimPrefix(rel, `rel="`), `"`))
			}
			if !slices.Equal(rels, tc.rels) {
				t.Fatalf("rels %v, want %v", rels, tc.rels)
			}
			if tc.name == "middle" {
				f.golden(t, "list_applications_page", rec.Last(t))
			}
		})
	}

	// The client walks every page by X-Next-Page and sees each application once.
	seen := map[int64]bool{}
	opt := &gl.ListApplicationsOptions{ListOptions: gl.ListOptions{PerPage: 7}}
	for {
		list, resp, err := c.Applications.ListApplications(opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if seen[a.ID] {
				t.Fatalf("application %d on two pages", a.ID)
			}
			seen[a.ID] = true
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if len(seen) != 25 {
		t.Fatalf("walked %d applications, want 25", len(seen))
	}
	// Garbage is the defaults.
	ex := f.raw(t, privateToken(f.adminToken), http.MethodGet, "/api/v4/applications?page=x&per_page=-3", "", "")
	if ex.Status != http.StatusOK || ex.Header.Get("X-Page") != "1" || ex.Header.Get("X-Per-Page") != "20" {
		t.Fatalf("garbage paging: %d %v", ex.Status, ex.Header)
	}
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func TestApplicationAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target, _, err := f.eng.CreateApplication(context.Background(), identity.System(), authserver.NewApplication{
		Name: "target", RedirectURIs: []string{"https://a.example/cb"}, Scopes: []string{"api"}, Confidential: true})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(target.ID, 10)
	endpoints := []struct{ method, path, body string }{
		{http.MethodPost, "/api/v4/applications", `{"name":"x","redirect_uri":"https://x.example/cb","scopes":"api"}`},
		{http.MethodGet, "/api/v4/applications", ""},
		{http.MethodDelete, "/api/v4/applications/" + id, ""},
		{http.MethodPost, "/api/v4/applications/" + id + "/renew-secret", ""},
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
		body   string
		golden string
	}{
		{"no token", nil, http.StatusUnauthorized, `{"message":"401 Unauthorized"}`, "unauthorized"},
		{"unknown token", privateToken("vcp_0000000000000000000000000000000000000"), http.StatusUnauthorized, `{"message":"401 Unauthorized"}`, ""},
		{"malformed header", http.Header{"Authorization": {"Bearer"}}, http.StatusUnauthorized, `{"message":"401 Unauthorized"}`, ""},
		{"not a site admin", privateToken(f.aliceTok), http.StatusForbidden, `{"message":"403 Forbidden"}`, "forbidden"},
		{"admin token without the admin scope", privateToken(f.narrowAdmin), http.StatusForbidden, `{"message":"403 Forbidden"}`, ""},
		{"not a site admin, Bearer", http.Header{"Authorization": {"Bearer " + f.aliceTok}}, http.StatusForbidden, `{"message":"403 Forbidden"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, e := range endpoints {
				ex := f.raw(t, tc.header, e.method, e.path, "application/json", e.body)
				if ex.Status != tc.status || strings.TrimSpace(string(ex.Body)) != tc.body {
					t.Errorf("%s %s: %d %s", e.method, e.path, ex.Status, ex.Body)
				}
				if tc.golden != "" && e.method == http.MethodGet {
					f.golden(t, tc.golden, ex)
				}
			}
		})
	}
	// The real client sees the same.
	c, _ := f.client(t, f.aliceTok)
	var er *gl.ErrorResponse
	if _, _, err := c.Applications.CreateApplication(&gl.CreateApplicationOptions{Name: gl.Ptr("x"), RedirectURI: gl.Ptr("https://x.example/cb"), Scopes: gl.Ptr("api")}); !errors.As(err, &er) || er.StatusCode != http.StatusForbidden {
		t.Fatalf("create as alice: %v", err)
	}
	if _, _, err := c.Applications.ListApplications(nil); !errors.As(err, &er) || er.StatusCode != http.StatusForbidden {
		t.Fatalf("list as alice: %v", err)
	}
	if _, err := c.Applications.DeleteApplication(target.ID); !errors.As(err, &er) || er.StatusCode != http.StatusForbidden {
		t.Fatalf("delete as alice: %v", err)
	}
	if _, _, err := c.Applications.RenewApplicationSecret(target.ID); !errors.As(err, &er) || er.StatusCode != http.StatusForbidden {
		t.Fatalf("renew as alice: %v", err)
	}
	// Nothing changed: the target keeps its secret, and nothing was created.
	as := f.apps(t)
	if len(as) != 2 || !bytes.Equal(as[1].SecretHash, target.SecretHash) {
		t.Fatalf("applications after refused calls: %+v", as)
	}
	// A site admin's token works in every header the dialect takes.
	for _, h := range []http.Header{privateToken(f.adminToken), {"PRIVATE-TOKEN": {f.adminToken}}, {"Authorization": {"Bearer " + f.adminToken}}} {
		if ex := f.raw(t, h, http.MethodGet, "/api/v4/applications", "", ""); ex.Status != http.StatusOK {
			t.Errorf("%v: %d %s", h, ex.Status, ex.Body)
		}
	}
}

func TestCreateApplicationValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const (
		js   = "application/json"
		form = "application/x-www-form-urlencoded"
	)
	for _, tc := range []struct {
		name, contentType, body string
		want                    string
		golden                  string
	}{
		{"missing name", js, `{"redirect_uri":"https://a.example/cb","scopes":"api"}`, `{"error":"name is missing"}`, "create_missing_name"},
		{"blank name", js, `{"name":"  ","redirect_uri":"https://a.example/cb","scopes":"api"}`, `{"error":"name is missing"}`, ""},
		{"missing redirect_uri", js, `{"name":"x","scopes":"api"}`, `{"error":"redirect_uri is missing"}`, ""},
		{"missing scopes", js, `{"name":"x","redirect_uri":"https://a.example/cb"}`, `{"error":"scopes is missing"}`, ""},
		{"relative redirect_uri", js, `{"name":"x","redirect_uri":"/cb","scopes":"api"}`, `{"message":{"redirect_uri":["must be an absolute URI."]}}`, "create_relative_redirect"},
		{"one of several relative", js, `{"name":"x","redirect_uri":"https://a.example/cb cb","scopes":"api"}`, `{"message":{"redirect_uri":["must be an absolute URI."]}}`, ""},
		{"fragment", js, `{"name":"x","redirect_uri":"https://a.example/cb#top","scopes":"api"}`, `{"message":{"redirect_uri":["must not contain a fragment"]}}`, ""},
		{"javascript scheme", js, `{"name":"x","redirect_uri":"javascript:alert(1)","scopes":"api"}`, `{"message":{"redirect_uri":["must use https, http on a loopback address, or a private-use scheme such as com.example.app:"]}}`, ""},
		{"unknown scope", js, `{"name":"x","redirect_uri":"https://a.example/cb","scopes":"api email"}`, `{"message":{"scopes":["unknown scope \"email\""]}}`, "create_unknown_scope"},
		{"comma-separated scopes", js, `{"name":"x","redirect_uri":"https://a.example/cb","scopes":"api,read_user"}`, `{"message":{"scopes":["unknown scope \"api,read_user\""]}}`, ""},
		{"confidential not a boolean", js, `{"name":"x","redirect_uri":"https://a.example/cb","scopes":"api","confidential":"maybe"}`, `{"error":"confidential is invalid"}`, ""},
		{"scopes not a string", js, `{"name":"x","redirect_uri":"https://a.example/cb","scopes":7}`, `{"error":"scopes is invalid"}`, ""},
		{"name not a string", js, `{"name":7,"redirect_uri":"https://a.example/cb","scopes":"api"}`, `{"error":"\"name\" in the request body must be a string, not number"}`, ""},
		{"malformed JSON", js, `{"name":`, `{"error":"request body is not valid JSON (it ends too early)"}`, "create_malformed_json"},
		{"form: missing name", form, `redirect_uri=https%3A%2F%2Fa.example%2Fcb&scopes=api`, `{"error":"name is missing"}`, ""},
		{"form: relative redirect_uri", form, `name=x&redirect_uri=cb&scopes=api`, `{"message":{"redirect_uri":["must be an absolute URI."]}}`, ""},
		{"form: unknown scope", form, `name=x&redirect_uri=https%3A%2F%2Fa.example%2Fcb&scopes=api+email`, `{"message":{"scopes":["unknown scope \"email\""]}}`, ""},
		{"form: confidential not a boolean", form, `name=x&redirect_uri=https%3A%2F%2Fa.example%2Fcb&scopes=api&confidential=maybe`, `{"error":"confidential is invalid"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := f.raw(t, privateToken(f.adminToken), http.MethodPost, "/api/v4/applications", tc.contentType, tc.body)
			if ex.Status != http.StatusBadRequest || strings.TrimSpace(string(ex.Body)) != tc.want {
				t.Fatalf("%d %s\nwant 400 %s", ex.Status, ex.Body, tc.want)
			}
			if tc.golden != "" {
				f.golden(t, tc.golden, ex)
			}
		})
	}
	// The real client gets an *ErrorResponse that says why.
	c, _ := f.client(t, f.adminToken)
	var er *gl.ErrorResponse
	_, _, err := c.Applications.CreateApplication(&gl.CreateApplicationOptions{Name: gl.Ptr("x"), RedirectURI: gl.Ptr("https://a.example/cb")})
	if !errors.As(err, &er) || er.StatusCode != http.StatusBadRequest || er.Message != "{error: scopes is missing}" {
		t.Fatalf("client: %v", err)
	}
	_, _, err = c.Applications.CreateApplication(&gl.CreateApplicationOptions{Name: gl.Ptr("x"), RedirectURI: gl.Ptr("/cb"), Scopes: gl.Ptr("api")})
	if !errors.As(err, &er) || er.StatusCode != http.StatusBadRequest || er.Message != "{message: {redirect_uri: [must be an absolute URI.]}}" {
		t.Fatalf("client: %v", err)
	}
	// Nothing was stored: the built-in application is the only one.
	if as := f.apps(t); len(as) != 1 || !as[0].BuiltIn {
		t.Fatalf("applications after refused creations: %+v", as)
	}
	// A body over the limit is 413.
	big := "name=" + strings.Repeat("x", gitlab.MaxBodyBytes+1)
	if ex := f.raw(t, privateToken(f.adminToken), http.MethodPost, "/api/v4/applications", form, big); ex.Status != http.StatusRequestEntityTooLarge ||
		strings.TrimSpace(string(ex.Body)) != `{"message":"413 Request Entity Too Large"}` {
		t.Fatalf("oversized: %d %s", ex.Status, ex.Body)
	}
}

func TestCreateApplicationBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for k, v := range map[string]string{"name": "multipart", "redirect_uri": "https://m.example/cb", "scopes": "read_user", "confidential": "0"} {
		_ = mw.WriteField(k, v)
	}
	mw.Close()
	for _, tc := range []struct {
		name, contentType, path, body string
		redirects, scopes             []string
		confidential                  bool
	}{
		{"form, several redirect URIs by newline, public", "application/x-www-form-urlencoded", "",
			url.Values{"name": {"form"}, "redirect_uri": {"https://a.example/cb\nhttps://b.example/cb"}, "scopes": {"api read_user"}, "confidential": {"false"}}.Encode(),
			[]string{"https://a.example/cb", "https://b.example/cb"}, []string{"api", "read_user"}, false},
		{"form, by space, confidential by default", "application/x-www-form-urlencoded", "",
			"name=spaces&redirect_uri=https%3A%2F%2Fa.example%2Fcb+com.example.app%3A%2Fcb&scopes=credentials",
			[]string{"https://a.example/cb", "com.example.app:/cb"}, []string{"credentials"}, true},
		{"query string", "", "?name=query&redirect_uri=https%3A%2F%2Fq.example%2Fcb&scopes=read_api&confidential=true", "",
			[]string{"https://q.example/cb"}, []string{"read_api"}, true},
		{"multipart", mw.FormDataContentType(), "", mp.String(),
			[]string{"https://m.example/cb"}, []string{"read_user"}, false},
		{"JSON arrays and a string boolean", "application/json", "",
			`{"name":"arrays","redirect_uri":["https://a.example/cb","https://b.example/cb"],"scopes":["api","admin"],"confidential":"false"}`,
			[]string{"https://a.example/cb", "https://b.example/cb"}, []string{"admin", "api"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := f.raw(t, privateToken(f.adminToken), http.MethodPost, "/api/v4/applications"+tc.path, tc.contentType, tc.body)
			if ex.Status != http.StatusCreated {
				t.Fatalf("%d %s", ex.Status, ex.Body)
			}
			hasSecret := bytes.Contains(ex.Body, []byte(`"secret":"vcas_`))
			if hasSecret != tc.confidential || !bytes.Contains(ex.Body, []byte(fmt.Sprintf(`"confidential":%t`, tc.confidential))) {
				t.Fatalf("confidential %t: %s", tc.confidential, ex.Body)
			}
			as := f.apps(t)
			a := as[len(as)-1]
			if !slices.Equal(a.RedirectURIs, tc.redirects) || !slices.Equal(a.Scopes, tc.scopes) || a.Confidential != tc.confidential {
				t.Fatalf("stored %+v", a)
			}
			if tc.name == "multipart" {
				f.golden(t, "create_public_application", ex)
			}
		})
	}
}

func TestCurrentUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, rec := f.client(t, f.aliceTok)
	u, _, err := c.Users.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice" || u.Email != "alice@example.com" || u.IsAdmin || u.State != "active" || u.CreatedAt == nil {
		t.Fatalf("user %+v", u)
	}
	f.golden(t, "current_user", rec.Last(t))
	if u, _, err := mustClient(t, f, f.adminToken).Users.CurrentUser(); err != nil || !u.IsAdmin {
		t.Fatalf("admin: %+v %v", u, err)
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"credentials scope", privateToken(f.token(t, f.alice, core.ScopeCredentials)), http.StatusForbidden},
		{"read_user scope", privateToken(f.token(t, f.alice, core.ScopeReadUser)), http.StatusOK},
		{"no token", nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ex := f.raw(t, tc.header, http.MethodGet, "/api/v4/user", "", ""); ex.Status != tc.status {
				t.Fatalf("%d %s", ex.Status, ex.Body)
			}
		})
	}
}

func mustClient(t *testing.T, f *fixture, token string) *gl.Client {
	c, _ := f.client(t, token)
	return c
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct{ method, path, want string }{
		{http.MethodGet, "/api/v4/projects", `{"error":"404 Not Found"}`},
		{http.MethodPut, "/api/v4/applications", `{"error":"404 Not Found"}`},
		{http.MethodDelete, "/api/v4/applications/abc", `{"message":"404 Application Not Found"}`},
		{http.MethodPost, "/api/v4/applications/0/renew-secret", `{"message":"404 Application Not Found"}`},
	} {
		ex := f.raw(t, privateToken(f.adminToken), tc.method, tc.path, "", "")
		if ex.Status != http.StatusNotFound || strings.TrimSpace(string(ex.Body)) != tc.want {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, ex.Status, ex.Body)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	gitlab.Render(w, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusInternalServerError, errors.New("database password is hunter2"))
	if w.Code != http.StatusInternalServerError || strings.TrimSpace(w.Body.String()) != `{"message":"500 Internal Server Error"}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// TestRoutesRegister registers the routes beside others on one mux: overlapping
// patterns would panic.
func TestRoutesRegister(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/authorizations", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/api/v2/", func(http.ResponseWriter, *http.Request) {})
	gitlab.Register(mux, f.eng, nil, gitlab.Options{})
}
