package forgetest_test

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

func post(t *testing.T, u string, form url.Values, h ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func mediaType(resp *http.Response) string {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt
}

func code(t *testing.T, srv *forgetest.Server, challenge string) string {
	t.Helper()
	loc, err := srv.Authorize(srv.ClientID, srv.RedirectURI, "s", challenge)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	return u.Query().Get("code")
}

// GitHub answers form-encoded bodies unless asked for JSON, and errors with 200.
func TestGitHubEncoding(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub)
	tokenURL := srv.URL + "/login/oauth/access_token"
	form := url.Values{"client_id": {srv.ClientID}, "client_secret": {srv.ClientSecret}, "code": {code(t, srv, "")},
		"grant_type": {"authorization_code"}}
	resp, body := post(t, tokenURL, form)
	v, err := url.ParseQuery(body)
	if resp.StatusCode != 200 || mediaType(resp) != "application/x-www-form-urlencoded" || err != nil ||
		!strings.HasPrefix(v.Get("access_token"), "gho_") || v.Get("token_type") != "bearer" || v.Get("refresh_token") != "" {
		t.Errorf("form answer: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	form.Set("code", code(t, srv, ""))
	resp, body = post(t, tokenURL, form, "Accept", "application/json")
	var tok map[string]any
	if mediaType(resp) != "application/json" || json.Unmarshal([]byte(body), &tok) != nil || tok["access_token"] == nil {
		t.Errorf("json answer: %s %q", resp.Header.Get("Content-Type"), body)
	}
	// The code is used: an error, with status 200.
	resp, body = post(t, tokenURL, form)
	if v, _ := url.ParseQuery(body); resp.StatusCode != 200 || v.Get("error") != "bad_verification_code" {
		t.Errorf("reused code: %d %q", resp.StatusCode, body)
	}
	// Device codes, form-encoded too.
	resp, body = post(t, srv.URL+"/login/device/code", url.Values{"client_id": {srv.ClientID}, "scope": {"repo"}})
	if v, _ := url.ParseQuery(body); v.Get("device_code") == "" || v.Get("interval") != "5" || v.Get("expires_in") != "900" ||
		v.Get("verification_uri") != srv.URL+"/login/device" || len(v.Get("user_code")) != 9 {
		t.Errorf("device code: %d %q", resp.StatusCode, body)
	}
}

func TestGitHubApp(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub, forgetest.GitHubApp())
	_, body := post(t, srv.URL+"/login/oauth/access_token", url.Values{"client_id": {srv.ClientID},
		"client_secret": {srv.ClientSecret}, "code": {code(t, srv, "")}, "grant_type": {"authorization_code"}},
		"Accept", "application/json")
	var tok struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		RTExpiresIn  int64  `json:"refresh_token_expires_in"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || !strings.HasPrefix(tok.AccessToken, "ghu_") ||
		tok.ExpiresIn != 28800 || tok.RefreshToken == "" || tok.RTExpiresIn != 15897600 {
		t.Errorf("GitHub App token: %q", body)
	}
}

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind          core.ProviderKind
		tokenPath     string
		basic, params bool // which the kind accepts
	}{
		{core.ProviderBitbucketHosted, "/site/oauth2/access_token", true, false},
		{core.ProviderGitee, "/oauth/token", false, true},
		{core.ProviderGitLabHosted, "/oauth/token", true, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			srv := forgetest.New(t, tt.kind)
			try := func(basic bool) int {
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code(t, srv, "")}, "redirect_uri": {srv.RedirectURI}}
				var h []string
				if basic {
					req, _ := http.NewRequest("POST", "/", nil)
					req.SetBasicAuth(srv.ClientID, srv.ClientSecret)
					h = []string{"Authorization", req.Header.Get("Authorization")}
				} else {
					form.Set("client_id", srv.ClientID)
					form.Set("client_secret", srv.ClientSecret)
				}
				resp, _ := post(t, srv.URL+tt.tokenPath, form, h...)
				return resp.StatusCode
			}
			if got := try(true) == 200; got != tt.basic {
				t.Errorf("basic accepted = %v, want %v", got, tt.basic)
			}
			if got := try(false) == 200; got != tt.params {
				t.Errorf("params accepted = %v, want %v", got, tt.params)
			}
		})
	}
}

func TestAuthorizeEndpoint(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitLabHosted)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(q url.Values) *http.Response {
		resp, err := client.Get(srv.URL + "/oauth/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	base := func() url.Values {
		return url.Values{"client_id": {srv.ClientID}, "redirect_uri": {srv.RedirectURI}, "response_type": {"code"}, "state": {"st"}}
	}
	if r := get(base()); r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), srv.RedirectURI+"?") {
		t.Errorf("plain authorize: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	q := base()
	q.Set("redirect_uri", srv.RedirectURI+"/")
	if r := get(q); r.StatusCode != http.StatusBadRequest {
		t.Errorf("near-miss redirect URI: %d, want 400 without a redirect", r.StatusCode)
	}
	q = base()
	q.Set("client_id", "other")
	if r := get(q); r.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown client: %d", r.StatusCode)
	}
	q = base()
	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
	q.Set("code_challenge_method", "plain")
	r := get(q)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st" {
		t.Errorf("plain PKCE: %s", r.Header.Get("Location"))
	}
	// The PKCE challenge is checked at the token endpoint.
	verifier := oauth2.GenerateVerifier()
	c := code(t, srv, oauth2.S256ChallengeFromVerifier(verifier))
	form := url.Values{"client_id": {srv.ClientID}, "client_secret": {srv.ClientSecret}, "grant_type": {"authorization_code"},
		"code": {c}, "redirect_uri": {srv.RedirectURI}}
	if resp, body := post(t, srv.URL+"/oauth/token", form); resp.StatusCode != 400 || !strings.Contains(body, "invalid_grant") {
		t.Errorf("exchange without verifier: %d %s", resp.StatusCode, body)
	}
}

func TestDeviceIntervalEnforcement(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitLabHosted, forgetest.DeviceInterval(time.Second))
	_, body := post(t, srv.URL+"/oauth/authorize_device", url.Values{"client_id": {srv.ClientID}})
	var da struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
		Complete   string `json:"verification_uri_complete"`
		Interval   int    `json:"interval"`
	}
	if err := json.Unmarshal([]byte(body), &da); err != nil || da.Interval != 1 || !strings.Contains(da.Complete, da.UserCode) {
		t.Fatalf("device authorization: %q", body)
	}
	poll := func() map[string]any {
		_, body := post(t, srv.URL+"/oauth/token", url.Values{"client_id": {srv.ClientID}, "device_code": {da.DeviceCode},
			"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}})
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return m
	}
	// Too fast, twice: the interval grows by 5 s each time.
	if m := poll(); m["error"] != "slow_down" || m["interval"] != float64(6) {
		t.Errorf("first fast poll: %v", m)
	}
	if m := poll(); m["error"] != "slow_down" || m["interval"] != float64(11) {
		t.Errorf("second fast poll: %v", m)
	}
	srv.Advance(11 * time.Second)
	if m := poll(); m["error"] != "authorization_pending" {
		t.Errorf("poll at the interval: %v", m)
	}
	if err := srv.ApproveDevice(strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))); err != nil {
		t.Errorf("approve with a normalised code: %v", err)
	}
	srv.Advance(11 * time.Second)
	if m := poll(); m["access_token"] == nil {
		t.Errorf("poll after approval: %v", m)
	}
	srv.Advance(11 * time.Second)
	if m := poll(); m["error"] != "invalid_grant" {
		t.Errorf("poll of a used device code: %v", m)
	}
	if got := srv.Counts(); got.TokenRequests["device_code"] != 5 || got.DeviceStarts != 1 {
		t.Errorf("counts %+v", got)
	}
}

func TestAzureDevOpsAssertion(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderAzureDevOpsServices)
	tokenURL := srv.APIURL() + "/oauth2/token"
	c := code(t, srv, "")
	// RFC 6749 style is refused: this endpoint wants assertions.
	resp, _ := post(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {c},
		"client_id": {srv.ClientID}, "client_secret": {srv.ClientSecret}})
	if resp.StatusCode != 400 {
		t.Errorf("RFC 6749 exchange: %d", resp.StatusCode)
	}
	resp, body := post(t, tokenURL, url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {srv.ClientSecret}, "grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion": {c}, "redirect_uri": {srv.RedirectURI}})
	if resp.StatusCode != 200 || !strings.Contains(body, "refresh_token") {
		t.Errorf("assertion exchange: %d %q", resp.StatusCode, body)
	}
	resp, body = post(t, tokenURL, url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {srv.ClientSecret}, "grant_type": {"refresh_token"}, "assertion": {"nope"}})
	if resp.StatusCode != 400 || !strings.Contains(body, `"Error":"invalid_grant"`) {
		t.Errorf("bad refresh: %d %q", resp.StatusCode, body)
	}
}

func TestIssueAndControls(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitea, forgetest.AccessTokenLifetime(time.Minute), forgetest.RefreshTokenLifetime(time.Hour))
	tok := srv.IssueToken()
	if !srv.TokenLive(tok.AccessToken) || !srv.TokenLive(tok.RefreshToken) || tok.Expiry.Sub(srv.Now()) > time.Minute {
		t.Fatalf("issued %+v", tok)
	}
	srv.Advance(2 * time.Minute)
	if srv.TokenLive(tok.AccessToken) || !srv.TokenLive(tok.RefreshToken) {
		t.Errorf("after 2 minutes: access live %v, refresh live %v", srv.TokenLive(tok.AccessToken), srv.TokenLive(tok.RefreshToken))
	}
	srv.RevokeToken(tok.RefreshToken)
	if srv.TokenLive(tok.RefreshToken) {
		t.Errorf("revoked refresh token still live")
	}
	if err := srv.ApproveDevice("NOPE-NOPE"); err == nil {
		t.Errorf("approving an unknown user code worked")
	}
}
