package sdktest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	ss "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/servicestage/v2"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/servicestage/v2/model"

	"github.com/vcsauth/vcsauth/internal/akskauth"
	"github.com/vcsauth/vcsauth/internal/api/servicestage/servicestagetest"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

// client is the SDK's ServiceStage client on srv, signing with ak/sk for project:
// built as the SDK's documentation builds it, with an endpoint instead of a region,
// so that it makes no identity-service call.
func client(t *testing.T, endpoint, ak, sk, project string) *ss.ServiceStageClient {
	t.Helper()
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(project).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := ss.ServiceStageClientBuilder().
		WithEndpoint(endpoint).
		WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithTimeout(10 * time.Second)).
		SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return ss.NewServiceStageClient(hc)
}

// serviceError unwraps the SDK's error for a non-2xx answer.
func serviceError(t *testing.T, err error) *sdkerr.ServiceResponseError {
	t.Helper()
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) {
		t.Fatalf("want a service error, got %T %v", err, err)
	}
	return se
}

func expectError(t *testing.T, err error, status int, code string) {
	t.Helper()
	se := serviceError(t, err)
	if se.StatusCode != status || se.ErrorCode != code || se.ErrorMessage == "" {
		t.Fatalf("error %d %s %q, want %d %s", se.StatusCode, se.ErrorCode, se.ErrorMessage, status, code)
	}
}

// TestSDK drives every operation of the dialect with the real SDK, signed with an
// access key, against a whole vcsauth with fake providers.
func TestSDK(t *testing.T) {
	t.Parallel()
	s := servicestagetest.Start(t, servicestagetest.Options{})
	gh := forgetest.New(t, core.ProviderGitHub)
	gl := forgetest.New(t, core.ProviderGitLabHosted)
	bb := forgetest.New(t, core.ProviderBitbucketHosted)
	gt := forgetest.New(t, core.ProviderGitea)
	for _, f := range []*forgetest.Server{gh, gl, bb, gt} {
		s.Client(t, f, nil)
	}
	ak, sk := s.AccessKey(t, s.Alice)
	c := client(t, s.URL, ak, sk, s.Project.ID)

	list, err := c.ListAuthorizations(&model.ListAuthorizationsRequest{})
	if err != nil {
		t.Fatalf("ListAuthorizations: %v", err)
	}
	if list.Count == nil || *list.Count != 0 || list.Authorizations == nil || len(*list.Authorizations) != 0 {
		t.Fatalf("empty list: %v", list)
	}

	tag := "intl"
	red, err := c.ShowRedirectUrl(&model.ShowRedirectUrlRequest{RepoType: model.GetShowRedirectUrlRequestRepoTypeEnum().GITHUB, Tag: &tag})
	if err != nil {
		t.Fatalf("ShowRedirectUrl: %v", err)
	}
	if red.Url == nil || !strings.HasPrefix(*red.Url, gh.URL+"/") {
		t.Fatalf("redirect URL %v", red.Url)
	}
	// The browser: the fake provider approves, our callback page hands back code
	// and state.
	code, state := s.HandBack(t, *red.Url)

	oauth, err := c.CreateOAuth(&model.CreateOAuthRequest{RepoType: model.GetCreateOAuthRequestRepoTypeEnum().GITHUB, Tag: &tag,
		Body: &model.OAuth{Name: "gh-oauth", Code: code, State: state}})
	if err != nil {
		t.Fatalf("CreateOAuth: %v", err)
	}
	if a := oauth.Authorization; a == nil || a.Name != "gh-oauth" || a.RepoType != "github" || a.TokenType != "oauth" ||
		a.RepoUser != "octo" || a.Avartar != forgetest.DefaultUser.AvatarURL || a.RepoHost != gh.HTTPURL() || a.Status != 0 ||
		time.Since(time.UnixMilli(a.CreateTime)) > time.Minute || a.UpdateTime < a.CreateTime {
		t.Fatalf("CreateOAuth: %v", oauth.Authorization)
	}
	// The same state again: refused, in the dialect's words.
	_, err = c.CreateOAuth(&model.CreateOAuthRequest{RepoType: model.GetCreateOAuthRequestRepoTypeEnum().GITHUB,
		Body: &model.OAuth{Name: "again", Code: code, State: state}})
	expectError(t, err, 400, "SVCSTG.REPO.0402")

	host := gl.HTTPURL()
	personal, err := c.CreatePersonalAuth(&model.CreatePersonalAuthRequest{RepoType: model.GetCreatePersonalAuthRequestRepoTypeEnum().GITLAB,
		Body: &model.AccessToken{Name: "gl-token", Token: gl.IssueToken().AccessToken, Host: &host}})
	if err != nil {
		t.Fatalf("CreatePersonalAuth: %v", err)
	}
	if a := personal.Authorization; a == nil || a.Name != "gl-token" || a.RepoType != "gitlab" || a.TokenType != "personal" {
		t.Fatalf("CreatePersonalAuth: %v", personal.Authorization)
	}
	_, err = c.CreatePersonalAuth(&model.CreatePersonalAuthRequest{RepoType: model.GetCreatePersonalAuthRequestRepoTypeEnum().GITLAB,
		Body: &model.AccessToken{Name: "rejected", Token: "glpat-rejected"}})
	expectError(t, err, 400, "SVCSTG.REPO.0404")

	password, err := c.CreatePasswordAuth(&model.CreatePasswordAuthRequest{RepoType: model.GetCreatePasswordAuthRequestRepoTypeEnum().BITBUCKET,
		Body: &model.AccessPassword{Name: "bb-password", User: "octo", Password: "app-password"}})
	if err != nil {
		t.Fatalf("CreatePasswordAuth: %v", err)
	}
	if a := password.Authorization; a == nil || a.Name != "bb-password" || a.RepoType != "bitbucket" || a.TokenType != "password" {
		t.Fatalf("CreatePasswordAuth: %v", password.Authorization)
	}
	_, err = c.CreatePasswordAuth(&model.CreatePasswordAuthRequest{RepoType: model.GetCreatePasswordAuthRequestRepoTypeEnum().DEVCLOUD,
		Body: &model.AccessPassword{Name: "dc", User: "octo", Password: "p"}})
	expectError(t, err, 400, "SVCSTG.REPO.0401")

	// gitea, our extension, is not in the SDK's enums; its JSON form sets it.
	var giteaType model.CreatePersonalAuthRequestRepoType
	if err := json.Unmarshal([]byte(`"gitea"`), &giteaType); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePersonalAuth(&model.CreatePersonalAuthRequest{RepoType: giteaType,
		Body: &model.AccessToken{Name: "gt-token", Token: gt.IssueToken().AccessToken}}); err != nil {
		t.Fatalf("CreatePersonalAuth gitea: %v", err)
	}

	list, err = c.ListAuthorizations(&model.ListAuthorizationsRequest{})
	if err != nil {
		t.Fatalf("ListAuthorizations: %v", err)
	}
	var names []string
	for _, a := range *list.Authorizations {
		names = append(names, a.Name)
		if a.Tag != "" || a.Avartar == "" || a.CreateTime == 0 {
			t.Errorf("listed %v", a)
		}
	}
	if *list.Count != 4 || !slices.Equal(names, []string{"gh-oauth", "gl-token", "bb-password", "gt-token"}) {
		t.Fatalf("listed %d: %v", *list.Count, names)
	}

	for _, name := range names {
		del, err := c.DeleteAuthorize(&model.DeleteAuthorizeRequest{Name: name})
		if err != nil {
			t.Fatalf("DeleteAuthorize %s: %v", name, err)
		}
		if del.HttpStatusCode != http.StatusNoContent {
			t.Fatalf("DeleteAuthorize %s: status %d", name, del.HttpStatusCode)
		}
	}
	// (Not "gh-oauth" again: the same DELETE signed within the same second is a
	// replay to the server, and refused as one — see akskauth.)
	_, err = c.DeleteAuthorize(&model.DeleteAuthorizeRequest{Name: "never-made"})
	expectError(t, err, 404, "SVCSTG.REPO.0441")
	if cs := s.Connections(t, s.Project.ID); len(cs) != 0 {
		t.Fatalf("left behind %d connections", len(cs))
	}
}

// TestSDKRefusals: credentials the server must refuse, from the SDK.
func TestSDKRefusals(t *testing.T) {
	t.Parallel()
	s := servicestagetest.Start(t, servicestagetest.Options{})
	ak, sk := s.AccessKey(t, s.Alice)
	outAK, outSK := s.AccessKey(t, s.Outsider)
	for _, tc := range []struct {
		name            string
		ak, sk, project string
		status          int
		code            string
	}{
		{"wrong secret key", ak, "vcsk_wrong", s.Project.ID, 401, "SVCSTG.REPO.0410"},
		{"unknown access key", "UNKNOWNACCESSKEY0000", sk, s.Project.ID, 401, "SVCSTG.REPO.0410"},
		{"not a member", outAK, outSK, s.Project.ID, 404, "SVCSTG.REPO.0440"},
		{"unknown project", ak, sk, "prj-nope", 404, "SVCSTG.REPO.0440"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := client(t, s.URL, tc.ak, tc.sk, tc.project).ListAuthorizations(&model.ListAuthorizationsRequest{})
			expectError(t, err, tc.status, tc.code)
		})
	}
}

// TestSignerAgreement signs requests with the SDK's own signer, sends them over
// HTTP, and verifies them with akskauth on the other side: paths, queries, headers
// and bodies that need escaping, sorting and trimming.
func TestSignerAgreement(t *testing.T) {
	t.Parallel()
	s := servicestagetest.Start(t, servicestagetest.Options{})
	ak, sk := s.AccessKey(t, s.Alice)
	verify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok, err := s.Verifier.Verify(r); !ok || err != nil {
			http.Error(w, "refused: "+errText(err), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(verify.Close)

	type body struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		query   map[string]any
		headers map[string]string
		body    any
		refused error // nil: verifies
	}{
		{name: "plain GET", method: "GET", path: "/v1/prj-web/git/auths"},
		{name: "root", method: "GET", path: "/"},
		{name: "trailing slash", method: "GET", path: "/v1/prj-web/git/auths/"},
		{name: "escaped path", method: "DELETE", path: "/v1/prj-web/git/auths/a b+c~d.e_f-g(h)%é"},
		{name: "query to sort and escape", method: "GET", path: "/v1/p",
			query: map[string]any{"tag": "intl", "limit": 1, "enable": true, "test": "一 (&=?!#%.*)", "path": "/tmp/123", "multi": []int{3, 1, 2}, "empty": ""}},
		{name: "headers to trim", method: "GET", path: "/v1/p", headers: map[string]string{"X-Custom": "  spaced  value ", "X-Other": "b", "X_Unsigned": "u"}},
		{name: "JSON body", method: "POST", path: "/v1/prj-web/git/auths/gitlab/personal",
			headers: map[string]string{"Content-Type": "application/json"}, body: &body{Name: "n", Token: "t <&> \u2028"}},
		{name: "unsigned payload without a body", method: "DELETE", path: "/v1/prj-web/git/auths/x",
			headers: map[string]string{"Content-Type": "text/plain"}},
		{name: "unsigned payload with a body", method: "POST", path: "/v1/p",
			headers: map[string]string{"Content-Type": "text/plain"}, body: "raw text", refused: akskauth.ErrUnsignedPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := request.NewHttpRequestBuilder().WithEndpoint(verify.URL).WithMethod(tc.method).WithPath(tc.path)
			for k, v := range tc.query {
				b.AddQueryParam(k, reflect.ValueOf(v))
			}
			b.AddHeaderParam("User-Agent", "huaweicloud-usdk-go/3.0")
			b.AddHeaderParam("X-Project-Id", "prj-web")
			for k, v := range tc.headers {
				b.AddHeaderParam(k, v)
			}
			if tc.body != nil {
				b.WithBody("body", tc.body)
			}
			req := b.Build()
			added, err := signer.Signer{}.Sign(req, ak, sk)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range added {
				req.AddHeaderParam(k, v)
			}
			hr, err := req.ConvertRequest()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			var msg strings.Builder
			_, _ = io.Copy(&msg, resp.Body)
			resp.Body.Close()
			switch {
			case tc.refused == nil && resp.StatusCode != http.StatusNoContent:
				t.Fatalf("the SDK's signature did not verify: %s %s (sent %s)", resp.Status, msg.String(), hr.URL)
			case tc.refused != nil && (resp.StatusCode != http.StatusUnauthorized || !strings.Contains(msg.String(), errText(tc.refused))):
				t.Fatalf("want refused with %v, got %s %s", tc.refused, resp.Status, msg.String())
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
