package tfe

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

// TestRenderError: what Recover answers after a panic is a JSON:API error without
// the error's text.
func TestRenderError(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	renderError(w, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusInternalServerError, errors.New("secret internals"))
	if w.Code != 500 || w.Header().Get("Content-Type") != MediaType ||
		strings.TrimSpace(w.Body.String()) != `{"errors":[{"status":"500","title":"internal server error"}]}` {
		t.Errorf("%d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestValidationPointers(t *testing.T) {
	t.Parallel()
	for field, want := range map[string]string{
		"":                    "/data",
		"kind":                "/data/attributes/service-provider",
		"http_url":            "/data/attributes/http-url",
		"api_url":             "/data/attributes/api-url",
		"rsa_public_key":      "/data/attributes/rsa-public-key",
		"oauth_token_string":  "/data/attributes/oauth-token-string",
		"organization_scoped": "/data/attributes/organization-scoped",
		"projects":            "/data/relationships/projects",
		"agent_pool_id":       "/data/relationships/agent-pool",
		"ssh_key":             "/data/attributes/ssh-key",
	} {
		if got := attributePointer(field); got != want {
			t.Errorf("%q: %q, want %q", field, got, want)
		}
	}
}

// jsonapiUser is the users resource tagged for jsonapi, as go-tfe's tfe.User is.
type jsonapiUser struct {
	ID               string          `jsonapi:"primary,users"`
	Username         string          `jsonapi:"attr,username"`
	Email            *string         `jsonapi:"attr,email"`
	AvatarURL        *string         `jsonapi:"attr,avatar-url"`
	IsServiceAccount bool            `jsonapi:"attr,is-service-account"`
	TwoFactor        *jsonapiTwo     `jsonapi:"attr,two-factor"`
	UnconfirmedEmail *string         `jsonapi:"attr,unconfirmed-email"`
	V2Only           bool            `jsonapi:"attr,v2-only"`
	IsSiteAdmin      bool            `jsonapi:"attr,is-site-admin"`
	IsAdmin          bool            `jsonapi:"attr,is-admin"`
	IsSSOLogin       bool            `jsonapi:"attr,is-sso-login"`
	Permissions      *jsonapiPermits `jsonapi:"attr,permissions"`
}

type jsonapiTwo struct {
	Enabled  bool `jsonapi:"attr,enabled"`
	Verified bool `jsonapi:"attr,verified"`
}

type jsonapiPermits struct {
	CanCreateOrganizations bool `jsonapi:"attr,can-create-organizations"`
	CanChangeEmail         bool `jsonapi:"attr,can-change-email"`
	CanChangeUsername      bool `jsonapi:"attr,can-change-username"`
	CanManageUserTokens    bool `jsonapi:"attr,can-manage-user-tokens"`
	CanView2FaSettings     bool `jsonapi:"attr,can-view2fa-settings"`
	CanManageHcpAccount    bool `jsonapi:"attr,can-manage-hcp-account"`
}

// The users document, encoded without jsonapi for speed, is the document jsonapi
// makes of the same resource.
func TestUserDocumentIsJSONAPI(t *testing.T) {
	for _, p := range []core.Principal{
		{User: core.User{ID: "user-a", Username: "alice", Email: "alice@example.com", SiteAdmin: true, TOTPSecret: "sealed"}, Scopes: []string{core.ScopeAPI}},
		{User: core.User{ID: "user-b", Username: "bob"}, Scopes: []string{core.ScopeCredentials}},
	} {
		doc := userOf(p)
		a := doc.Data.Attributes
		want := &jsonapiUser{ID: doc.Data.ID, Username: a.Username, Email: a.Email, AvatarURL: a.AvatarURL,
			IsServiceAccount: a.IsServiceAccount, TwoFactor: &jsonapiTwo{a.TwoFactor.Enabled, a.TwoFactor.Verified},
			UnconfirmedEmail: a.UnconfirmedEmail, V2Only: a.V2Only, IsSiteAdmin: a.IsSiteAdmin, IsAdmin: a.IsAdmin,
			IsSSOLogin: a.IsSSOLogin, Permissions: &jsonapiPermits{a.Permissions.CanCreateOrganizations,
				a.Permissions.CanChangeEmail, a.Permissions.CanChangeUsername, a.Permissions.CanManageUserTokens,
				a.Permissions.CanView2FaSettings, a.Permissions.CanManageHcpAccount}}
		viaJSONAPI := httptest.NewRecorder()
		if err := writeOne(viaJSONAPI, http.StatusOK, want, nil); err != nil {
			t.Fatal(err)
		}
		direct := httptest.NewRecorder()
		if err := writeDoc(direct, http.StatusOK, doc); err != nil {
			t.Fatal(err)
		}
		var got, exp any
		if err := json.Unmarshal(direct.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(viaJSONAPI.Body.Bytes(), &exp); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s:\n direct  %s\n jsonapi %s", p.User.Username, direct.Body, viaJSONAPI.Body)
		}
	}
}
