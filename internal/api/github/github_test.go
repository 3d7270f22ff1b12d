package github_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	gh "github.com/google/go-github/v29/github"

	"github.com/vcsauth/vcsauth/internal/api/github"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

// checkWire asserts what must hold of every answer of the dialect: never 202 (which
// go-github reads as an error), and never X-RateLimit-Remaining: 0 (which makes it
// stop calling until a reset that never comes).
func checkWire(t *testing.T, recs ...*recorder) {
	t.Helper()
	for _, rec := range recs {
		for _, ex := range rec.All() {
			if ex.Status == http.StatusAccepted || ex.Header.Get("X-RateLimit-Remaining") == "0" {
				t.Errorf("%s %s: %d %v", ex.Method, ex.Path, ex.Status, ex.Header)
			}
		}
	}
}

// onlyIn asserts that the text of a token appears in the body of the answer that
// created it and in no other.
func onlyIn(t *testing.T, rec *recorder, text string, createdBy int) {
	t.Helper()
	for i, ex := range rec.All() {
		if bytes.Contains(ex.Body, []byte(text)) != (i == createdBy) {
			t.Errorf("exchange %d (%s %s): token shown %t: %s", i, ex.Method, ex.Path, i != createdBy, ex.Body)
		}
	}
}

func scopes(s ...string) []gh.Scope {
	out := make([]gh.Scope, len(s))
	for i, x := range s {
		out[i] = gh.Scope(x)
	}
	return out
}

func TestPersonalAuthorizations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c, rec := f.basic(t, f.alice, "")

	a, resp, err := c.Authorizations.Create(ctx, &gh.AuthorizationRequest{Note: gh.String("laptop"),
		NoteURL: gh.String("https://laptop.example/"), Scopes: scopes("read_api", "credentials")})
	if err != nil {
		t.Fatal(err)
	}
	text := a.GetToken()
	sum := sha256.Sum256([]byte(text))
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(text, "vcp_") || a.GetHashedToken() != hex.EncodeToString(sum[:]) ||
		a.GetTokenLastEight() != text[len(text)-8:] || a.GetApp().GetName() != "laptop" || a.GetApp().GetClientID() != "00000000000000000000" ||
		a.Fingerprint != nil || a.GetUser().GetLogin() != "alice" || a.GetURL() != fmt.Sprintf("%s/api/v3/authorizations/%d", f.srv.URL, a.GetID()) ||
		!slices.Equal(a.Scopes, scopes("credentials", "read_api")) || a.GetCreatedAt().IsZero() {
		t.Fatalf("created %d %+v", resp.StatusCode, a)
	}
	created := len(rec.All()) - 1
	f.golden(t, "create_authorization", rec.Last(t))
	if p, err := f.id.AuthenticateToken(ctx, text); err != nil || p.User.ID != f.alice.ID {
		t.Fatalf("the token does not authenticate: %v", err)
	}

	list, _, err := c.Authorizations.List(ctx, nil)
	if err != nil || len(list) != 1 || list[0].GetID() != a.GetID() || list[0].GetToken() != "" || list[0].GetHashedToken() != a.GetHashedToken() {
		t.Fatalf("list: %+v %v", list, err)
	}
	f.golden(t, "list_authorizations", rec.Last(t))
	got, _, err := c.Authorizations.Get(ctx, a.GetID())
	if err != nil || got.GetToken() != "" || got.GetNote() != "laptop" || got.GetNoteURL() != "https://laptop.example/" {
		t.Fatalf("get: %+v %v", got, err)
	}
	f.golden(t, "get_authorization", rec.Last(t))

	for _, tc := range []struct {
		name   string
		in     gh.AuthorizationUpdateRequest
		scopes []string
		note   string
	}{
		{"replace scopes", gh.AuthorizationUpdateRequest{Scopes: []string{"api"}}, []string{"api"}, "laptop"},
		{"add scopes", gh.AuthorizationUpdateRequest{AddScopes: []string{"admin", "read_user"}}, []string{"admin", "api", "read_user"}, "laptop"},
		{"remove scopes", gh.AuthorizationUpdateRequest{RemoveScopes: []string{"api"}}, []string{"admin", "read_user"}, "laptop"},
		{"note", gh.AuthorizationUpdateRequest{Note: gh.String("desk"), Fingerprint: gh.String("desk-1")}, []string{"admin", "read_user"}, "desk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, resp, err := c.Authorizations.Edit(ctx, a.GetID(), &tc.in)
			if err != nil || resp.StatusCode != http.StatusOK || !slices.Equal(got.Scopes, scopes(tc.scopes...)) || got.GetNote() != tc.note ||
				got.GetApp().GetName() != tc.note || got.GetToken() != "" || got.GetID() != a.GetID() {
				t.Fatalf("%+v %v", got, err)
			}
			if tc.name == "replace scopes" {
				f.golden(t, "edit_authorization", rec.Last(t))
			}
		})
	}
	if got, _, _ := c.Authorizations.Get(ctx, a.GetID()); got.GetFingerprint() != "desk-1" {
		t.Fatalf("fingerprint: %+v", got)
	}

	resp, err = c.Authorizations.Delete(ctx, a.GetID())
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", resp, err)
	}
	var er *gh.ErrorResponse
	if _, _, err := c.Authorizations.Get(ctx, a.GetID()); !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound || er.Message != "Not Found" {
		t.Fatalf("get deleted: %v", err)
	}
	f.golden(t, "not_found", rec.Last(t))
	if _, err := c.Authorizations.Delete(ctx, a.GetID()); !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := f.id.AuthenticateToken(ctx, text); err == nil {
		t.Fatal("a deleted authorization's token still works")
	}
	onlyIn(t, rec, text, created)
	checkWire(t, rec)
}

func TestAppAuthorizationsAndGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	app, sec := f.app(t, "CI", "read_api", "credentials")
	c, rec := f.basic(t, f.alice, "")

	// Get-or-create: 201 with the token, then 200 with the same authorization and no
	// token; per fingerprint, another one.
	ids := map[string]int64{}
	for _, fp := range []string{"", "laptop"} {
		in := &gh.AuthorizationRequest{ClientSecret: gh.String(sec), Scopes: scopes("read_api"), Note: gh.String("ci")}
		if fp != "" {
			in.Fingerprint = gh.String(fp)
		}
		a, resp, err := c.Authorizations.GetOrCreateForApp(ctx, app.ClientID, in)
		if err != nil || resp.StatusCode != http.StatusCreated || !strings.HasPrefix(a.GetToken(), "vco_") || a.GetFingerprint() != fp ||
			a.GetApp().GetClientID() != app.ClientID || a.GetApp().GetName() != "CI" || a.GetApp().GetURL() != "https://ci.example" {
			t.Fatalf("fingerprint %q, first: %v %+v %v", fp, resp, a, err)
		}
		if fp == "" {
			f.golden(t, "get_or_create_created", rec.Last(t))
		}
		created, text := len(rec.All())-1, a.GetToken()
		again, resp, err := c.Authorizations.GetOrCreateForApp(ctx, app.ClientID, in)
		if err != nil || resp.StatusCode != http.StatusOK || again.GetID() != a.GetID() || again.GetToken() != "" {
			t.Fatalf("fingerprint %q, again: %v %+v %v", fp, resp, again, err)
		}
		if fp == "" {
			f.golden(t, "get_or_create_existing", rec.Last(t))
		}
		onlyIn(t, rec, text, created)
		ids[fp] = a.GetID()
	}
	if ids[""] == ids["laptop"] {
		t.Fatal("one authorization for two fingerprints")
	}
	a, resp, err := c.Authorizations.Create(ctx, &gh.AuthorizationRequest{ClientID: gh.String(app.ClientID), ClientSecret: gh.String(sec),
		Scopes: scopes("credentials"), Fingerprint: gh.String("desk")})
	if err != nil || resp.StatusCode != http.StatusCreated || a.GetApp().GetClientID() != app.ClientID || a.GetNote() != "" {
		t.Fatalf("create for the app: %v %+v %v", resp, a, err)
	}
	f.golden(t, "create_app_authorization", rec.Last(t))
	if list, _, err := c.Authorizations.List(ctx, nil); err != nil || len(list) != 3 {
		t.Fatalf("list: %d %v", len(list), err)
	}

	grants, _, err := c.Authorizations.ListGrants(ctx, nil)
	if err != nil || len(grants) != 1 || grants[0].GetApp().GetClientID() != app.ClientID || !slices.Equal(grants[0].Scopes, []string{"credentials", "read_api"}) ||
		grants[0].GetURL() != fmt.Sprintf("%s/api/v3/applications/grants/%d", f.srv.URL, grants[0].GetID()) {
		t.Fatalf("grants: %+v %v", grants, err)
	}
	f.golden(t, "list_grants", rec.Last(t))
	g, _, err := c.Authorizations.GetGrant(ctx, grants[0].GetID())
	if err != nil || g.GetID() != grants[0].GetID() {
		t.Fatalf("grant: %+v %v", g, err)
	}
	f.golden(t, "get_grant", rec.Last(t))

	// Bob sees none of it and changes none of it.
	bc, brec := f.basic(t, f.bob, "")
	var er *gh.ErrorResponse
	notFound := func(what string, err error) {
		t.Helper()
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound {
			t.Errorf("bob, %s: %v", what, err)
		}
	}
	_, _, err = bc.Authorizations.GetGrant(ctx, g.GetID())
	notFound("get grant", err)
	_, err = bc.Authorizations.DeleteGrant(ctx, g.GetID())
	notFound("delete grant", err)
	_, _, err = bc.Authorizations.Get(ctx, a.GetID())
	notFound("get authorization", err)
	_, _, err = bc.Authorizations.Edit(ctx, a.GetID(), &gh.AuthorizationUpdateRequest{Scopes: []string{"read_api"}})
	notFound("edit authorization", err)
	_, err = bc.Authorizations.Delete(ctx, a.GetID())
	notFound("delete authorization", err)
	if l, _, err := bc.Authorizations.List(ctx, nil); err != nil || len(l) != 0 {
		t.Fatalf("bob's list: %+v %v", l, err)
	}
	if l, _, err := bc.Authorizations.ListGrants(ctx, nil); err != nil || len(l) != 0 {
		t.Fatalf("bob's grants: %+v %v", l, err)
	}
	if n := f.liveTokens(t, f.alice); n != 3 {
		t.Fatalf("alice has %d tokens after bob's attempts, want 3", n)
	}

	// Deleting the grant revokes every token of the application for alice.
	if resp, err := c.Authorizations.DeleteGrant(ctx, g.GetID()); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete grant: %v %v", resp, err)
	}
	if n := f.liveTokens(t, f.alice); n != 0 {
		t.Fatalf("alice has %d tokens after deleting the grant", n)
	}
	for _, id := range []int64{ids[""], ids["laptop"], a.GetID()} {
		_, _, err := c.Authorizations.Get(ctx, id)
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound {
			t.Errorf("authorization %d after its grant was deleted: %v", id, err)
		}
	}
	if l, _, err := c.Authorizations.ListGrants(ctx, nil); err != nil || len(l) != 0 {
		t.Fatalf("grants after delete: %+v %v", l, err)
	}
	checkWire(t, rec, brec)
}

func TestTwoFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	code := f.otp()
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+5)%10
	for _, tc := range []struct{ name, otp string }{{"no code", ""}, {"wrong code", string(wrong)}} {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := f.basic(t, f.carol, tc.otp)
			_, _, err := c.Authorizations.List(ctx, nil)
			var tfa *gh.TwoFactorAuthError
			if !errors.As(err, &tfa) || tfa.Message != "Must specify two-factor authentication OTP code." {
				t.Fatalf("err = %#v", err)
			}
			ex := rec.Last(t)
			if ex.Status != http.StatusUnauthorized || ex.Header.Get("X-GitHub-OTP") != "required; app" {
				t.Fatalf("%d %v", ex.Status, ex.Header)
			}
			if tc.otp == "" {
				f.golden(t, "otp_required", ex)
			}
		})
	}
	c, rec := f.basic(t, f.carol, f.otp())
	a, resp, err := c.Authorizations.Create(ctx, &gh.AuthorizationRequest{Note: gh.String("2fa"), Scopes: scopes("read_user")})
	if err != nil || resp.StatusCode != http.StatusCreated || a.GetUser().GetLogin() != "carol" {
		t.Fatalf("with the code: %v %v", resp, err)
	}
	// A code is good once: the same client sends it again.
	var tfa *gh.TwoFactorAuthError
	if _, _, err := c.Authorizations.List(ctx, nil); !errors.As(err, &tfa) {
		t.Fatalf("a replayed code: %v", err)
	}
	checkWire(t, rec)
}

func TestThrottledLogins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{maxLoginFailures: 3})
	ctx := context.Background()
	bad := f.ghClient(t, (&gh.BasicAuthTransport{Username: "alice", Password: "not the password"}).Client())
	var er *gh.ErrorResponse
	for i := range 2 {
		if _, _, err := bad.Authorizations.List(ctx, nil); !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnauthorized || er.Message != "Bad credentials" {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// The third failure reaches the limit; from then on even the right password is
	// refused until the window passes.
	if _, _, err := bad.Authorizations.List(ctx, nil); !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden {
		t.Fatalf("third failure: %v", err)
	}
	c, rec := f.basic(t, f.alice, "")
	_, _, err := c.Authorizations.List(ctx, nil)
	var rle *gh.RateLimitError
	var arle *gh.AbuseRateLimitError
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden || errors.As(err, &rle) || errors.As(err, &arle) ||
		!strings.Contains(er.Message, "login attempts") {
		t.Fatalf("the right password while throttled: %#v", err)
	}
	f.golden(t, "throttled", rec.Last(t))
	// Tokens are not throttled.
	tc, trec := f.withToken(t, f.token(t, f.alice, "read_user"))
	if _, _, err := tc.Authorizations.List(ctx, nil); err != nil {
		t.Fatalf("a token while the password is throttled: %v", err)
	}
	checkWire(t, rec, trec)
}

func TestTokenAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	app, sec := f.app(t, "CI", "read_api")
	tok := f.token(t, f.alice, "api")
	c, rec := f.withToken(t, tok)

	list, _, err := c.Authorizations.List(ctx, nil)
	if err != nil || len(list) != 1 || list[0].GetApp().GetName() != "test token" {
		t.Fatalf("list with a token: %+v %v", list, err)
	}
	if _, _, err := c.Authorizations.Get(ctx, list[0].GetID()); err != nil {
		t.Fatalf("get with a token: %v", err)
	}
	if _, _, err := c.Authorizations.ListGrants(ctx, nil); err != nil {
		t.Fatalf("grants with a token: %v", err)
	}
	before := f.liveTokens(t, f.alice)
	var er *gh.ErrorResponse
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"create", func() error {
			_, _, err := c.Authorizations.Create(ctx, &gh.AuthorizationRequest{Note: gh.String("x"), Scopes: scopes("read_user")})
			return err
		}},
		{"get or create", func() error {
			_, _, err := c.Authorizations.GetOrCreateForApp(ctx, app.ClientID, &gh.AuthorizationRequest{ClientSecret: gh.String(sec)})
			return err
		}},
		{"edit", func() error {
			_, _, err := c.Authorizations.Edit(ctx, list[0].GetID(), &gh.AuthorizationUpdateRequest{AddScopes: []string{"admin"}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden || !strings.Contains(er.Message, "Basic Auth") {
				t.Fatalf("%v", err)
			}
			if tc.name == "create" {
				f.golden(t, "token_cannot_create", rec.Last(t))
			}
		})
	}
	if n := f.liveTokens(t, f.alice); n != before {
		t.Fatalf("refused calls made tokens: %d, want %d", n, before)
	}

	narrow := f.token(t, f.alice, "read_user")
	nc, nrec := f.withToken(t, narrow)
	if _, err := nc.Authorizations.Delete(ctx, list[0].GetID()); !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden {
		t.Fatalf("delete with read_user: %v", err)
	}
	cc, crec := f.withToken(t, f.token(t, f.alice, "credentials"))
	if _, _, err := cc.Authorizations.List(ctx, nil); !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden {
		t.Fatalf("list with credentials: %v", err)
	}
	// Deleting is not creating: a token that may do everything may delete.
	if resp, err := c.Authorizations.Delete(ctx, list[0].GetID()); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete with api: %v %v", resp, err)
	}

	for _, tc := range []struct {
		name, golden string
		header       http.Header
		status       int
		message      string
	}{
		{"no credentials", "requires_authentication", nil, http.StatusUnauthorized, "Requires authentication"},
		{"unknown token", "bad_credentials", http.Header{"Authorization": {"token vcp_0000000000000000000000000000000000000"}}, http.StatusUnauthorized, "Bad credentials"},
		{"revoked token", "", http.Header{"Authorization": {"token " + tok}}, http.StatusUnauthorized, "Bad credentials"},
		{"wrong password", "", http.Header{"Authorization": {"Basic " + "YWxpY2U6bm9wZQ=="}}, http.StatusUnauthorized, "Bad credentials"},
		{"Bearer", "", http.Header{"Authorization": {"Bearer " + narrow}}, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := f.raw(t, tc.header, http.MethodGet, "/api/v3/authorizations", "", "")
			if ex.Status != tc.status || (tc.message != "" && !bytes.Contains(ex.Body, []byte(`"message":"`+tc.message+`"`))) {
				t.Fatalf("%d %s", ex.Status, ex.Body)
			}
			if tc.golden != "" {
				f.golden(t, tc.golden, ex)
			}
		})
	}
	checkWire(t, rec, nrec, crec)
}

func TestValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	app, sec := f.app(t, "CI", "read_api")
	c, rec := f.basic(t, f.alice, "")
	a, _, err := c.Authorizations.Create(ctx, &gh.AuthorizationRequest{Note: gh.String("a"), Fingerprint: gh.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Authorizations.Create(ctx, &gh.AuthorizationRequest{Note: gh.String("b"), Fingerprint: gh.String("b")}); err != nil {
		t.Fatal(err)
	}
	before := f.liveTokens(t, f.alice)
	create := func(in gh.AuthorizationRequest) func() error {
		return func() error { _, _, err := c.Authorizations.Create(ctx, &in); return err }
	}
	edit := func(in gh.AuthorizationUpdateRequest) func() error {
		return func() error { _, _, err := c.Authorizations.Edit(ctx, a.GetID(), &in); return err }
	}
	getOrCreate := func(in gh.AuthorizationRequest) func() error {
		return func() error { _, _, err := c.Authorizations.GetOrCreateForApp(ctx, app.ClientID, &in); return err }
	}
	for _, tc := range []struct {
		name, field, code, golden string
		call                      func() error
	}{
		{"a GitHub scope name", "scopes", "invalid", "validation_unknown_scope", create(gh.AuthorizationRequest{Note: gh.String("x"), Scopes: scopes("repo")})},
		{"no note for a personal token", "note", "missing_field", "", create(gh.AuthorizationRequest{Scopes: scopes("api")})},
		{"client_id without client_secret", "client_secret", "missing_field", "", create(gh.AuthorizationRequest{ClientID: gh.String(app.ClientID), Scopes: scopes("read_api")})},
		{"client_secret without client_id", "client_id", "missing_field", "", create(gh.AuthorizationRequest{ClientSecret: gh.String(sec)})},
		{"a wrong client_secret", "client_secret", "invalid", "validation_wrong_secret", create(gh.AuthorizationRequest{ClientID: gh.String(app.ClientID), ClientSecret: gh.String(sec + "x")})},
		{"an unknown client_id", "client_secret", "invalid", "", create(gh.AuthorizationRequest{ClientID: gh.String("aaaaaaaaaaaaaaaaaaaa"), ClientSecret: gh.String(sec)})},
		{"scopes beyond the application's", "scopes", "invalid", "", create(gh.AuthorizationRequest{ClientID: gh.String(app.ClientID), ClientSecret: gh.String(sec), Scopes: scopes("api")})},
		{"a note_url that is no URL", "note_url", "invalid", "", create(gh.AuthorizationRequest{Note: gh.String("x"), NoteURL: gh.String("javascript:alert(1)")})},
		{"a taken fingerprint", "fingerprint", "already_exists", "", create(gh.AuthorizationRequest{Note: gh.String("x"), Fingerprint: gh.String("a")})},
		{"get-or-create without client_secret", "client_secret", "missing_field", "", getOrCreate(gh.AuthorizationRequest{Scopes: scopes("read_api")})},
		{"get-or-create with a wrong client_secret", "client_secret", "invalid", "", getOrCreate(gh.AuthorizationRequest{ClientSecret: gh.String("vcas_nope")})},
		{"get-or-create with a GitHub scope", "scopes", "invalid", "", getOrCreate(gh.AuthorizationRequest{ClientSecret: gh.String(sec), Scopes: scopes("user")})},
		{"scopes and add_scopes", "scopes", "invalid", "validation_two_scope_fields", edit(gh.AuthorizationUpdateRequest{Scopes: []string{"api"}, AddScopes: []string{"admin"}})},
		{"add_scopes and remove_scopes", "scopes", "invalid", "", edit(gh.AuthorizationUpdateRequest{AddScopes: []string{"api"}, RemoveScopes: []string{"admin"}})},
		{"an unknown scope to add", "add_scopes", "invalid", "", edit(gh.AuthorizationUpdateRequest{AddScopes: []string{"gist"}})},
		{"an unknown scope to remove", "remove_scopes", "invalid", "", edit(gh.AuthorizationUpdateRequest{RemoveScopes: []string{"repo"}})},
		{"an edit to a taken fingerprint", "fingerprint", "already_exists", "", edit(gh.AuthorizationUpdateRequest{Fingerprint: gh.String("b")})},
		{"a personal token without a note", "note", "missing_field", "", edit(gh.AuthorizationUpdateRequest{Note: gh.String(" ")})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var er *gh.ErrorResponse
			err := tc.call()
			if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity || er.Message != "Validation Failed" || len(er.Errors) != 1 ||
				er.Errors[0].Resource != "OauthAccess" || er.Errors[0].Field != tc.field || er.Errors[0].Code != tc.code || er.DocumentationURL == "" {
				t.Fatalf("%#v", err)
			}
			if tc.golden != "" {
				f.golden(t, tc.golden, rec.Last(t))
			}
		})
	}
	if n := f.liveTokens(t, f.alice); n != before {
		t.Fatalf("refused calls made tokens: %d, want %d", n, before)
	}
	if g, _, _ := c.Authorizations.ListGrants(ctx, nil); len(g) != 0 {
		t.Fatalf("refused calls made a grant: %+v", g)
	}
	if got, _, err := c.Authorizations.Get(ctx, a.GetID()); err != nil || len(got.Scopes) != 0 || got.GetFingerprint() != "a" || got.GetNote() != "a" {
		t.Fatalf("refused edits changed the authorization: %+v %v", got, err)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		message    string
		golden     string
	}{
		{"malformed JSON", `{"note":`, http.StatusBadRequest, "Problems parsing JSON", "bad_json"},
		{"scopes not an array", `{"note":"x","scopes":"api"}`, http.StatusBadRequest, "Problems parsing JSON", ""},
		{"too large", `{"note":"` + strings.Repeat("x", github.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, "Request body too large", ""},
		{"empty body: an empty object", ``, http.StatusUnprocessableEntity, "Validation Failed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := f.raw(t, basicHeader(f.alice), http.MethodPost, "/api/v3/authorizations", "application/json", tc.body)
			if ex.Status != tc.status || !bytes.Contains(ex.Body, []byte(`"message":"`+tc.message+`"`)) {
				t.Fatalf("%d %s", ex.Status, ex.Body)
			}
			if tc.golden != "" {
				f.golden(t, tc.golden, ex)
			}
		})
	}
	if n := f.liveTokens(t, f.alice); n != before {
		t.Fatalf("refused bodies made tokens: %d, want %d", n, before)
	}
	checkWire(t, rec)
}

func TestPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for i := range 35 {
		if _, _, err := f.id.CreatePersonalToken(ctx, identity.System(), f.alice.ID, identity.NewToken{Note: fmt.Sprintf("n%02d", i), Scopes: []string{"read_user"}}); err != nil {
			t.Fatal(err)
		}
	}
	c, rec := f.withToken(t, f.token(t, f.alice, "read_user")) // the 36th
	for _, tc := range []struct {
		name                    string
		opt                     *gh.ListOptions
		items                   int
		next, last, first, prev int
	}{
		{"defaults", nil, 30, 2, 2, 0, 0},
		{"second page", &gh.ListOptions{Page: 2}, 6, 0, 0, 1, 1},
		{"middle", &gh.ListOptions{Page: 3, PerPage: 2}, 2, 4, 18, 1, 2},
		{"per_page capped at 100", &gh.ListOptions{PerPage: 500}, 36, 0, 0, 0, 0},
		{"past the end", &gh.ListOptions{Page: 9, PerPage: 10}, 0, 0, 0, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, resp, err := c.Authorizations.List(ctx, tc.opt)
			if err != nil || len(list) != tc.items || resp.NextPage != tc.next || resp.LastPage != tc.last || resp.FirstPage != tc.first || resp.PrevPage != tc.prev {
				t.Fatalf("%d items, next %d last %d first %d prev %d, Link %q: %v", len(list), resp.NextPage, resp.LastPage, resp.FirstPage, resp.PrevPage, resp.Header.Get("Link"), err)
			}
			if tc.name == "middle" {
				f.golden(t, "list_authorizations_page", rec.Last(t))
			}
		})
	}
	seen := map[int64]bool{}
	opt := &gh.ListOptions{PerPage: 7}
	for {
		list, resp, err := c.Authorizations.List(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if seen[a.GetID()] {
				t.Fatalf("authorization %d on two pages", a.GetID())
			}
			seen[a.GetID()] = true
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if len(seen) != 36 {
		t.Fatalf("walked %d authorizations, want 36", len(seen))
	}

	// Grants page the same way.
	p := core.Principal{User: f.alice, Method: core.AuthPassword, Scopes: []string{"api"}}
	for _, name := range []string{"one", "two", "three"} {
		app, _ := f.app(t, name, "read_user")
		if _, _, err := f.eng.IssueToken(ctx, p, app, identity.NewToken{Scopes: []string{"read_user"}}); err != nil {
			t.Fatal(err)
		}
	}
	grants, resp, err := c.Authorizations.ListGrants(ctx, &gh.ListOptions{PerPage: 2})
	if err != nil || len(grants) != 2 || resp.NextPage != 2 || resp.LastPage != 2 {
		t.Fatalf("grants page 1: %d %v %v", len(grants), resp, err)
	}
	grants, resp, err = c.Authorizations.ListGrants(ctx, &gh.ListOptions{PerPage: 2, Page: 2})
	if err != nil || len(grants) != 1 || resp.NextPage != 0 || resp.PrevPage != 1 || !strings.Contains(resp.Header.Get("Link"), f.srv.URL+"/api/v3/applications/grants?") {
		t.Fatalf("grants page 2: %d %v %v", len(grants), resp.Header, err)
	}
	checkWire(t, rec)
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.token(t, f.alice, "api")
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v3/users/alice"},
		{http.MethodGet, "/api/v3/user/emails"},
		{http.MethodPatch, "/api/v3/user"},
		{http.MethodGet, "/api/v3/authorizations/abc"},
		{http.MethodDelete, "/api/v3/applications/grants/0"},
		{http.MethodPost, "/api/v3/applications/grants"},
		{http.MethodGet, "/api/v3/authorizations/clients/x"},
	} {
		ex := f.raw(t, http.Header{"Authorization": {"token " + tok}}, tc.method, tc.path, "", "")
		if ex.Status != http.StatusNotFound || strings.TrimSpace(string(ex.Body)) != `{"message":"Not Found"}` {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, ex.Status, ex.Body)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	github.Render(w, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusInternalServerError, errors.New("database password is hunter2"))
	if w.Code != http.StatusInternalServerError || bytes.Contains(w.Body.Bytes(), []byte("hunter2")) ||
		!bytes.Contains(w.Body.Bytes(), []byte(`"message":"Internal Server Error"`)) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
