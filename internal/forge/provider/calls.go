package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Grant types and assertion types on the wire.
const (
	GrantDeviceCode     = "urn:ietf:params:oauth:grant-type:device_code" // RFC 8628 §3.4
	GrantJWTBearer      = "urn:ietf:params:oauth:grant-type:jwt-bearer"  // Azure DevOps code grant
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// AuthorizeURL is the browser authorization URL for an OAuth app at this provider.
// With a verifier, and when the provider takes PKCE, the URL carries its S256
// challenge (RFC 7636 §4.3).
func (s *Spec) AuthorizeURL(c Client, state, verifier string) string {
	var opts []oauth2.AuthCodeOption
	for _, k := range slices.Sorted(maps.Keys(s.AuthParams)) {
		opts = append(opts, oauth2.SetAuthURLParam(k, s.AuthParams[k]))
	}
	if verifier != "" && s.PKCE {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	return s.config(c).AuthCodeURL(state, opts...)
}

// ExchangeCode trades an authorization code for tokens. The verifier is sent when
// the provider takes PKCE.
func (s *Spec) ExchangeCode(ctx context.Context, hc *http.Client, c Client, code, verifier string) (*oauth2.Token, error) {
	const op = "code exchange"
	if s.ClientAuth == ClientAuthAssertion {
		// https://learn.microsoft.com/azure/devops/integrate/get-started/authentication/azure-devops-oauth#3-get-an-access-and-refresh-token-for-the-user
		return s.postToken(ctx, hc, op, s.URLs.TokenURL, url.Values{
			"client_assertion_type": {ClientAssertionType},
			"client_assertion":      {c.Secret},
			"grant_type":            {GrantJWTBearer},
			"assertion":             {code},
			"redirect_uri":          {c.RedirectURL},
		})
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" && s.PKCE {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := s.config(c).Exchange(s.tokenContext(ctx, hc), code, opts...)
	if err != nil {
		return nil, s.classifyToken(op, err)
	}
	return tok, nil
}

// RefreshToken exchanges a refresh token (RFC 6749 §6) and reports whether the
// provider rotated it.
func (s *Spec) RefreshToken(ctx context.Context, hc *http.Client, c Client, refreshToken string) (*Refreshed, error) {
	const op = "refresh"
	if refreshToken == "" {
		return nil, &OAuthError{Op: op, Provider: s.ProviderKind, Description: "no refresh token", kind: ErrInvalidGrant}
	}
	var tok *oauth2.Token
	var err error
	if s.ClientAuth == ClientAuthAssertion {
		tok, err = s.postToken(ctx, hc, op, s.URLs.TokenURL, url.Values{
			"client_assertion_type": {ClientAssertionType},
			"client_assertion":      {c.Secret},
			"grant_type":            {"refresh_token"},
			"assertion":             {refreshToken},
			"redirect_uri":          {c.RedirectURL},
		})
	} else if s.RefreshScope {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
		if sc := s.scopes(c); len(sc) > 0 {
			form.Set("scope", strings.Join(sc, " "))
		}
		tok, err = s.postClientToken(ctx, hc, op, c, form)
	} else {
		// x/oauth2 refreshes a token that has no access token at once. It keeps the
		// old refresh token when the answer has none, so "rotated" is "different".
		tok, err = s.config(c).TokenSource(s.tokenContext(ctx, hc), &oauth2.Token{RefreshToken: refreshToken}).Token()
		err = s.classifyToken(op, err)
	}
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return &Refreshed{Token: tok, Rotated: tok.RefreshToken != refreshToken}, nil
}

// RequestDeviceCode starts a device flow (RFC 8628 §3.1). Like the polls, it
// authenticates the client by its id alone: GitHub, GitLab and Entra ID all take the
// device flow as a public-client flow.
func (s *Spec) RequestDeviceCode(ctx context.Context, hc *http.Client, c Client) (*DeviceAuthorization, error) {
	const op = "device authorization"
	if s.URLs.DeviceAuthURL == "" {
		return nil, fmt.Errorf("forge: %s: %w", s.ProviderKind, ErrUnsupported)
	}
	form := url.Values{"client_id": {c.ID}}
	if sc := s.scopes(c); len(sc) > 0 {
		form.Set("scope", strings.Join(sc, " "))
	}
	resp, body, err := s.postForm(ctx, hc, op, s.URLs.DeviceAuthURL, form)
	if err != nil {
		return nil, err
	}
	vals, _, perr := parseBody(resp.Header, body)
	if resp.StatusCode/100 != 2 || vals["error"] != "" {
		return nil, s.classifyToken(op, retrieveError(resp, body, vals))
	}
	if perr != nil {
		return nil, &TransientError{Op: op, Provider: s.ProviderKind, Status: resp.StatusCode, Err: malformed("%s: %v", describeBody(resp.Header, body), perr)}
	}
	da := &DeviceAuthorization{
		DeviceCode:              vals["device_code"],
		UserCode:                vals["user_code"],
		VerificationURI:         vals["verification_uri"],
		VerificationURIComplete: vals["verification_uri_complete"],
		ExpiresIn:               seconds(vals["expires_in"]),
		Interval:                seconds(vals["interval"]),
	}
	if da.VerificationURI == "" {
		// The draft spelling, still sent by Entra ID's v1 endpoint and Google.
		da.VerificationURI = vals["verification_url"]
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, &TransientError{Op: op, Provider: s.ProviderKind, Status: resp.StatusCode,
			Err: malformed("device authorization without device_code, user_code or verification_uri (%s)", describeBody(resp.Header, body))}
	}
	if da.Interval <= 0 {
		da.Interval = 5 * time.Second // RFC 8628 §3.2: "If no value is provided, clients MUST use 5"
	}
	return da, nil
}

// PollDeviceToken makes one poll of the token endpoint for a device code (RFC 8628
// §3.4). Pending, slow_down, expired and denied come back as errors matching
// ErrAuthorizationPending, ErrSlowDown (with the new interval in *OAuthError, when
// sent), ErrExpiredToken and ErrAccessDenied.
func (s *Spec) PollDeviceToken(ctx context.Context, hc *http.Client, c Client, deviceCode string) (*oauth2.Token, error) {
	return s.postToken(ctx, hc, "device poll", s.URLs.TokenURL, url.Values{
		"grant_type":  {GrantDeviceCode},
		"device_code": {deviceCode},
		"client_id":   {c.ID},
	})
}

// RevokeRFC7009 revokes a token at an RFC 7009 endpoint. An unknown or already
// revoked token is not an error (RFC 7009 §2.2).
func (s *Spec) RevokeRFC7009(ctx context.Context, hc *http.Client, c Client, token string) error {
	const op = "revoke"
	if s.URLs.RevokeURL == "" {
		return fmt.Errorf("forge: %s: %w", s.ProviderKind, ErrUnsupported)
	}
	form := url.Values{"token": {token}}
	var req *http.Request
	var err error
	if s.ClientAuth == ClientAuthBasic {
		req, err = s.newFormRequest(ctx, s.URLs.RevokeURL, form)
		if err == nil {
			req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		}
	} else {
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
		req, err = s.newFormRequest(ctx, s.URLs.RevokeURL, form)
	}
	if err != nil {
		return err
	}
	resp, body, err := s.Do(hc, op, req)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 {
		return nil
	}
	vals, _, _ := parseBody(resp.Header, body)
	return s.classifyToken(op, retrieveError(resp, body, vals))
}

// TokenAuth returns a function that presents an access token on an API request, the
// way this provider's API takes it.
func (s *Spec) TokenAuth(token string) func(*http.Request) {
	return func(r *http.Request) {
		switch s.APIAuth {
		case APIAuthBasicPassword:
			r.SetBasicAuth("", token)
		case APIAuthQuery:
			q := r.URL.Query()
			q.Set("access_token", token)
			r.URL.RawQuery = q.Encode()
		default:
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
}

// BasicAuth returns a function that presents a user name and password.
func BasicAuth(username, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(username, password) }
}

// GetJSON GETs rawURL from the provider's API, authenticated by auth, and decodes
// the JSON answer into out (unless out is nil). It returns the answer's headers.
func (s *Spec) GetJSON(ctx context.Context, hc *http.Client, op, rawURL string, auth func(*http.Request), out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("forge: %s: %s: %w", s.ProviderKind, op, err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range s.APIHeaders {
		req.Header.Set(k, v)
	}
	if auth != nil {
		auth(req)
	}
	resp, body, err := s.Do(hc, op, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.Header, s.classifyAPI(op, resp, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return resp.Header, &TransientError{Op: op, Provider: s.ProviderKind, Status: resp.StatusCode,
				Err: malformed("%s: %v", describeBody(resp.Header, body), err)}
		}
	}
	return resp.Header, nil
}

// Do sends req (which carries its context) and reads at most MaxBody bytes of the
// answer. Errors are classified; a non-2xx answer is not an error here.
func (s *Spec) Do(hc *http.Client, op string, req *http.Request) (*http.Response, []byte, error) {
	if s.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", s.UserAgent)
	}
	resp, err := client(hc).Do(req)
	if err != nil {
		return nil, nil, s.transportError(op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, nil, s.transportError(op, err)
	}
	if len(body) > MaxBody {
		return nil, nil, &TransientError{Op: op, Provider: s.ProviderKind, Status: resp.StatusCode,
			Err: malformed("answer larger than %d bytes", MaxBody)}
	}
	return resp, body, nil
}

// redactURL drops the query from the URL a *url.Error quotes: Gitee's API takes
// the token as a query parameter, and errors end up in logs.
func redactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return &url.Error{Op: ue.Op, URL: "(unparseable URL)", Err: ue.Err}
	}
	if u.RawQuery == "" && u.User == nil {
		return err
	}
	u.RawQuery, u.User = "", nil
	return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
}

func (s *Spec) newFormRequest(ctx context.Context, rawURL string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("forge: %s: %w", s.ProviderKind, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

func (s *Spec) postForm(ctx context.Context, hc *http.Client, op, rawURL string, form url.Values) (*http.Response, []byte, error) {
	req, err := s.newFormRequest(ctx, rawURL, form)
	if err != nil {
		return nil, nil, err
	}
	return s.Do(hc, op, req)
}

// postToken posts to a token endpoint and reads a token response, in JSON or form
// encoding, the way x/oauth2 does (an "error" in a 200 answer is an error: GitHub
// answers that way), with our classification.
func (s *Spec) postToken(ctx context.Context, hc *http.Client, op, tokenURL string, form url.Values) (*oauth2.Token, error) {
	req, err := s.newFormRequest(ctx, tokenURL, form)
	if err != nil {
		return nil, err
	}
	return s.readToken(hc, op, req)
}

func (s *Spec) readToken(hc *http.Client, op string, req *http.Request) (*oauth2.Token, error) {
	resp, body, err := s.Do(hc, op, req)
	if err != nil {
		return nil, err
	}
	vals, raw, perr := parseBody(resp.Header, body)
	if resp.StatusCode/100 != 2 || vals["error"] != "" {
		return nil, s.classifyToken(op, retrieveError(resp, body, vals))
	}
	if perr != nil {
		return nil, &TransientError{Op: op, Provider: s.ProviderKind, Status: resp.StatusCode, Err: malformed("%s: %v", describeBody(resp.Header, body), perr)}
	}
	if vals["access_token"] == "" {
		return nil, &TransientError{Op: op, Provider: s.ProviderKind, Status: resp.StatusCode, Err: malformed("token response without access_token (%s)", describeBody(resp.Header, body))}
	}
	tok := &oauth2.Token{
		AccessToken:  vals["access_token"],
		TokenType:    vals["token_type"],
		RefreshToken: vals["refresh_token"],
	}
	if d := seconds(vals["expires_in"]); d > 0 {
		tok.ExpiresIn = int64(d / time.Second)
		tok.Expiry = s.now().Add(d)
	}
	return tok.WithExtra(raw), nil
}

// postClientToken is postToken with the client authenticated the provider's way.
func (s *Spec) postClientToken(ctx context.Context, hc *http.Client, op string, c Client, form url.Values) (*oauth2.Token, error) {
	if s.ClientAuth != ClientAuthBasic {
		form.Set("client_id", c.ID)
		if c.Secret != "" {
			form.Set("client_secret", c.Secret)
		}
		return s.postToken(ctx, hc, op, s.URLs.TokenURL, form)
	}
	req, err := s.newFormRequest(ctx, s.URLs.TokenURL, form)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	return s.readToken(hc, op, req)
}

func retrieveError(resp *http.Response, body []byte, vals map[string]string) *oauth2.RetrieveError {
	desc := vals["error_description"]
	if desc == "" {
		desc = vals["errordescription"] // Azure DevOps writes {"Error":…,"ErrorDescription":…}
	}
	return &oauth2.RetrieveError{Response: resp, Body: body, ErrorCode: vals["error"], ErrorDescription: desc, ErrorURI: vals["error_uri"]}
}

// parseBody reads a form- or JSON-encoded answer into its top-level scalar values,
// keyed in lower case, and the raw value for oauth2.Token.WithExtra.
func parseBody(h http.Header, body []byte) (map[string]string, any, error) {
	out := map[string]string{}
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" || ct == "text/plain" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return out, nil, err
		}
		for k := range v {
			out[strings.ToLower(k)] = v.Get(k)
		}
		return out, v, nil
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return out, nil, err
	}
	if dec.More() {
		return out, nil, fmt.Errorf("trailing data after the JSON object")
	}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			out[strings.ToLower(k)] = v
		case json.Number:
			out[strings.ToLower(k)] = v.String()
		case bool:
			out[strings.ToLower(k)] = strconv.FormatBool(v)
		}
	}
	return out, m, nil
}

// seconds reads an RFC 6749 "expires_in"-style count of seconds (a number, or a
// string holding one).
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f <= 0 || f > 10*365*24*3600 {
		return 0
	}
	return time.Duration(f) * time.Second
}

// tokenContext carries hc to x/oauth2, wrapped to send the provider's headers.
func (s *Spec) tokenContext(ctx context.Context, hc *http.Client) context.Context {
	h := map[string]string{}
	if s.TokenAcceptJSON {
		h["Accept"] = "application/json"
	}
	if s.UserAgent != "" {
		h["User-Agent"] = s.UserAgent
	}
	c := client(hc)
	if len(h) > 0 {
		cp := *c
		base := cp.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		cp.Transport = headerTransport{base: base, headers: h}
		c = &cp
	}
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.base.RoundTrip(r)
}
