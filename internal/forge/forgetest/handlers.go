package forgetest

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

type kv struct {
	k string
	v any
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	w := s.wire
	if w.oauth {
		mux.HandleFunc(w.authorize, s.handleAuthorize)
		mux.Handle(w.token, s.faulty(s.handleToken))
		if w.deviceFlow {
			mux.Handle(w.device, s.faulty(s.handleDeviceStart))
			mux.HandleFunc(w.verify, func(rw http.ResponseWriter, _ *http.Request) {
				rw.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprint(rw, "<!DOCTYPE html><title>Device activation</title><form><input name=user_code></form>")
			})
		}
		switch w.revokeStyle {
		case "rfc7009":
			mux.Handle(w.revoke, s.faulty(s.handleRevoke7009))
		case "github":
			mux.Handle("DELETE "+w.apiPrefix+"/applications/{client_id}/token", s.faulty(s.handleRevokeGitHub))
		}
	}
	switch s.Kind {
	case core.ProviderBitbucketServer, core.ProviderBitbucketDataCenter:
		mux.Handle("GET /rest/api/latest/application-properties", s.faulty(s.handleAppProperties))
		mux.Handle("GET /rest/api/latest/users/{slug}", s.faulty(s.handleUser))
	case core.ProviderAzureDevOpsServices:
		mux.Handle("GET "+w.profilePrefix+"/_apis/profile/profiles/me", s.faulty(s.handleUser))
	case core.ProviderAzureDevOpsServer:
		mux.Handle("GET "+w.apiPrefix+"/_apis/connectionData", s.faulty(s.handleUser))
	default:
		mux.Handle("GET "+w.apiPrefix+"/user", s.faulty(s.handleUser))
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		mux.ServeHTTP(rw, r)
	})
}

// faulty applies latency and injected faults before h.
func (s *Server) faulty(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		lat := s.latency
		var f *fault
		n := 0
		if len(s.faults) > 0 {
			next := s.faults[0]
			f = &next
			s.faults = s.faults[1:]
			if f.kind == faultGarbage {
				n = s.garbageN
				s.garbageN++
			}
		}
		s.mu.Unlock()
		if lat > 0 {
			t := time.NewTimer(lat)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.closing:
				t.Stop()
				return
			}
		}
		if f != nil {
			s.faultsServed.Add(1)
			s.serveFault(rw, r, *f, n)
			return
		}
		h(rw, r)
	})
}

func (s *Server) serveFault(rw http.ResponseWriter, r *http.Request, f fault, n int) {
	switch f.kind {
	case faultFail:
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.WriteHeader(f.status)
		fmt.Fprintf(rw, "<html><body><h1>%d %s</h1></body></html>", f.status, http.StatusText(f.status))
	case faultRateLimit:
		wait := s.cfg.rateLimitWait
		secs := int64(math.Ceil(wait.Seconds()))
		// Reset times are wall-clock: clients compare them with their own clock.
		reset := strconv.FormatInt(time.Now().Add(wait).Unix(), 10)
		h := rw.Header()
		switch s.wire.rateLimit {
		case rlGitHub:
			h.Set("X-RateLimit-Limit", "5000")
			h.Set("X-RateLimit-Remaining", "0")
			h.Set("X-RateLimit-Used", "5000")
			h.Set("X-RateLimit-Reset", reset)
			h.Set("Content-Type", "application/json; charset=utf-8")
			rw.WriteHeader(http.StatusForbidden)
			fmt.Fprint(rw, `{"message":"API rate limit exceeded for user ID 1001.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
		case rlGitLab:
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
			h.Set("RateLimit-Limit", "600")
			h.Set("RateLimit-Remaining", "0")
			h.Set("RateLimit-Reset", reset)
			h.Set("Content-Type", "text/plain; charset=utf-8")
			rw.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(rw, "Retry later\n")
		default:
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
			h.Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(rw, `{"message":"Too many requests"}`)
		}
	case faultGarbage:
		if n%2 == 0 {
			rw.Header().Set("Content-Type", "text/html; charset=utf-8")
			rw.WriteHeader(http.StatusOK)
			fmt.Fprint(rw, "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=/session></form></body></html>")
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusOK)
		fmt.Fprint(rw, `{"id": 1001, "access_token": "trunc`)
	case faultHang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	}
}

// --- browser authorization ---

func (s *Server) handleAuthorize(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	loc, status, msg := s.authorize(r.URL.Query())
	if status == http.StatusFound {
		http.Redirect(rw, r, loc, http.StatusFound)
		return
	}
	http.Error(rw, msg, status)
}

func (s *Server) authorize(q url.Values) (string, int, string) {
	if q.Get("client_id") != s.ClientID {
		return "", http.StatusBadRequest, "unknown client_id"
	}
	given := q.Get("redirect_uri")
	ru := given
	if ru == "" {
		if s.Kind != core.ProviderGitHub && s.Kind != core.ProviderGitHubEnterprise {
			return "", http.StatusBadRequest, "redirect_uri is required"
		}
		ru = s.RedirectURI // GitHub falls back to the registered callback URL
	}
	if ru != s.RedirectURI {
		// RFC 6749 §4.1.2.1: never redirect to an unverified URI.
		return "", http.StatusBadRequest, "redirect_uri does not match the registered callback URL"
	}
	target, err := url.Parse(ru)
	if err != nil {
		return "", http.StatusBadRequest, "bad redirect_uri"
	}
	rq := target.Query()
	if st := q.Get("state"); st != "" {
		rq.Set("state", st)
	}
	fail := func(code, desc string) (string, int, string) {
		rq.Set("error", code)
		rq.Set("error_description", desc)
		target.RawQuery = rq.Encode()
		return target.String(), http.StatusFound, ""
	}
	if q.Get("response_type") != s.wire.responseType {
		return fail("unsupported_response_type", "response_type must be "+s.wire.responseType)
	}
	challenge := q.Get("code_challenge")
	switch {
	case !s.wire.pkce:
		challenge = "" // this kind ignores PKCE parameters
	case challenge != "" && q.Get("code_challenge_method") != "S256":
		return fail("invalid_request", "code_challenge_method must be S256")
	case challenge != "" && len(challenge) != 43:
		return fail("invalid_request", "code_challenge must be a base64url SHA-256")
	}
	code := randomString("", 16)
	s.mu.Lock()
	s.codes[code] = &authCode{clientID: s.ClientID, redirectURI: given, challenge: challenge,
		scope: q.Get("scope"), expires: s.nowLocked().Add(10 * time.Minute)}
	s.mu.Unlock()
	rq.Set("code", code)
	target.RawQuery = rq.Encode()
	return target.String(), http.StatusFound, ""
}

// --- token endpoint ---

func (s *Server) handleToken(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.oauthError(rw, r, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	grant := r.Form.Get("grant_type")
	switch {
	case grant == "authorization_code" && s.wire.clientAuth != authAssertion,
		grant == provider.GrantJWTBearer && s.wire.clientAuth == authAssertion:
		s.countGrant("authorization_code")
		s.codeGrant(rw, r)
	case grant == "refresh_token":
		s.countGrant("refresh_token")
		s.refreshGrant(rw, r)
	case grant == provider.GrantDeviceCode && s.wire.deviceFlow:
		s.countGrant("device_code")
		s.deviceGrant(rw, r)
	default:
		s.oauthError(rw, r, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+grant+" is not supported")
	}
}

// checkClient authenticates the client the way the kind takes it.
func (s *Server) checkClient(r *http.Request, requireSecret bool) (string, bool) {
	if s.wire.clientAuth == authAssertion {
		if r.Form.Get("client_assertion_type") != provider.ClientAssertionType || r.Form.Get("client_assertion") != s.ClientSecret {
			return "", false
		}
		return s.ClientID, true
	}
	bid, bsecret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: form-urlencoded before Basic encoding (x/oauth2 does that).
		if v, err := url.QueryUnescape(bid); err == nil {
			bid = v
		}
		if v, err := url.QueryUnescape(bsecret); err == nil {
			bsecret = v
		}
	}
	fid, fsecret := r.Form.Get("client_id"), r.Form.Get("client_secret")
	var id, secret string
	switch s.wire.clientAuth {
	case authBasicOnly:
		if !basic || fsecret != "" {
			return "", false
		}
		id, secret = bid, bsecret
	case authParamsOnly:
		id, secret = fid, fsecret
	default:
		if basic {
			id, secret = bid, bsecret
		} else {
			id, secret = fid, fsecret
		}
	}
	if id != s.ClientID {
		return "", false
	}
	if secret == "" {
		return id, !requireSecret
	}
	return id, secret == s.ClientSecret
}

func (s *Server) clientError(rw http.ResponseWriter, r *http.Request) {
	code := "invalid_client"
	if s.wire.errorsWith200 {
		code = "incorrect_client_credentials"
	}
	s.oauthError(rw, r, http.StatusUnauthorized, code, "client authentication failed")
}

func (s *Server) codeGrant(rw http.ResponseWriter, r *http.Request) {
	clientID, ok := s.checkClient(r, true)
	if !ok {
		s.clientError(rw, r)
		return
	}
	code := r.Form.Get("code")
	if s.wire.clientAuth == authAssertion {
		code = r.Form.Get("assertion")
	}
	s.mu.Lock()
	c := s.codes[code]
	var errCode, desc string
	switch {
	case c == nil || c.used || !s.nowLocked().Before(c.expires):
		errCode, desc = s.wire.badCode, "the code is incorrect, used or expired"
	case c.clientID != clientID:
		errCode, desc = s.wire.badCode, "the code was issued to another client"
	case !s.redirectMatches(c, r.Form.Get("redirect_uri")):
		errCode, desc = "invalid_grant", "redirect_uri does not match the authorization request"
		if s.wire.errorsWith200 {
			errCode = "redirect_uri_mismatch"
		}
	case c.challenge != "" && s256(r.Form.Get("code_verifier")) != c.challenge:
		errCode, desc = s.wire.badCode, "code_verifier does not match the code_challenge"
	}
	if errCode != "" {
		if c != nil {
			c.used = true // a failed redemption burns the code too
		}
		s.mu.Unlock()
		s.oauthError(rw, r, http.StatusBadRequest, errCode, desc)
		return
	}
	c.used = true
	toks := s.issueLocked(clientID, c.scope)
	s.mu.Unlock()
	s.writeToken(rw, r, toks, c.scope)
}

// redirectMatches: RFC 6749 §4.1.3 wants the redirect_uri of the authorization
// request repeated, identical. GitHub only checks it when sent.
func (s *Server) redirectMatches(c *authCode, got string) bool {
	if got == "" {
		return c.redirectURI == "" || s.wire.errorsWith200
	}
	if c.redirectURI == "" {
		return got == s.RedirectURI
	}
	return got == c.redirectURI
}

func (s *Server) refreshGrant(rw http.ResponseWriter, r *http.Request) {
	// Gitee documents refresh without client credentials.
	clientID, ok := s.checkClient(r, s.Kind != core.ProviderGitee)
	if !ok {
		if s.Kind != core.ProviderGitee {
			s.clientError(rw, r)
			return
		}
		clientID = s.ClientID
	}
	if s.cfg.entraTenant != "" && r.Form.Get("scope") == "" {
		// Entra ID's refresh request lists scope as required.
		// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
		s.oauthError(rw, r, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'.")
		return
	}
	rt := r.Form.Get("refresh_token")
	if s.wire.clientAuth == authAssertion {
		rt = r.Form.Get("assertion")
	}
	s.mu.Lock()
	t := s.tokens[rt]
	if t == nil || !t.refresh || !s.liveLocked(t) || t.clientID != clientID {
		s.mu.Unlock()
		s.oauthError(rw, r, http.StatusBadRequest, s.wire.badRefresh, "the refresh token is incorrect, used, revoked or expired")
		return
	}
	var toks Tokens
	if s.cfg.keepRefresh {
		toks = s.issueLocked(clientID, t.scope)
		delete(s.tokens, toks.RefreshToken)
		s.tokens[toks.AccessToken].pair = rt
		t.pair = toks.AccessToken
		toks.RefreshToken = rt
	} else {
		t.revoked = true // single use
		if old := s.tokens[t.pair]; old != nil && s.wire.refreshKillsAccess {
			old.revoked = true
		}
		toks = s.issueLocked(clientID, t.scope)
	}
	s.mu.Unlock()
	s.refreshes.Add(1)
	s.writeToken(rw, r, toks, t.scope)
}

// --- device flow ---

func (s *Server) handleDeviceStart(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.oauthError(rw, r, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if r.Form.Get("client_id") != s.ClientID {
		s.clientError(rw, r)
		return
	}
	s.deviceStarts.Add(1)
	letters := strings.ToUpper(randomString("", 4))
	userCode := letters[:4] + "-" + letters[4:]
	s.mu.Lock()
	now := s.nowLocked()
	d := &device{code: randomString("", 20), userCode: userCode, clientID: s.ClientID, scope: r.Form.Get("scope"),
		expires: now.Add(s.wire.deviceTTL), last: now, interval: s.cfg.interval}
	s.devices[d.code] = d
	s.mu.Unlock()
	verify := s.URL + s.wire.verify
	fields := []kv{
		{"device_code", d.code}, {"user_code", userCode}, {"verification_uri", verify},
		{"expires_in", int64(s.wire.deviceTTL / time.Second)}, {"interval", wireSeconds(d.interval)},
	}
	switch s.Kind {
	case core.ProviderGitLabHosted, core.ProviderGitLabCommunityEdition, core.ProviderGitLabEnterpriseEdition:
		fields = append(fields, kv{"verification_uri_complete", verify + "?user_code=" + userCode})
	case core.ProviderAzureDevOpsServices:
		fields = append(fields, kv{"message", "To sign in, use a web browser to open the page " + verify + " and enter the code " + userCode + " to authenticate."})
	}
	s.writeFields(rw, r, http.StatusOK, fields)
}

func (s *Server) deviceGrant(rw http.ResponseWriter, r *http.Request) {
	clientID, ok := s.checkClient(r, false)
	if !ok {
		s.clientError(rw, r)
		return
	}
	s.mu.Lock()
	d := s.devices[r.Form.Get("device_code")]
	now := s.nowLocked()
	var errCode string
	var extra []kv
	switch {
	case d == nil || d.clientID != clientID || d.status == deviceUsed:
		errCode = s.wire.badDevice
	case !now.Before(d.expires):
		errCode = "expired_token"
	case now.Sub(d.last) < d.interval:
		// RFC 8628 §3.5: slow_down, and the interval grows by 5 seconds.
		d.interval += 5 * time.Second
		d.last = now
		errCode = "slow_down"
		extra = []kv{{"interval", wireSeconds(d.interval)}}
	default:
		d.last = now
		switch d.status {
		case devicePending:
			errCode = "authorization_pending"
		case deviceDenied:
			errCode = s.wire.denied
		}
	}
	if errCode != "" {
		s.mu.Unlock()
		s.oauthError(rw, r, http.StatusBadRequest, errCode, "", extra...)
		return
	}
	d.status = deviceUsed
	toks := s.issueLocked(clientID, d.scope)
	s.mu.Unlock()
	s.writeToken(rw, r, toks, d.scope)
}

func wireSeconds(d time.Duration) int64 { return max(int64(math.Ceil(d.Seconds())), 1) }

// --- revocation ---

func (s *Server) handleRevoke7009(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.oauthError(rw, r, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	clientID, ok := s.checkClient(r, true)
	if !ok {
		s.clientError(rw, r)
		return
	}
	s.revocations.Add(1)
	s.mu.Lock()
	if t := s.tokens[r.Form.Get("token")]; t != nil && t.clientID == clientID {
		t.revoked = true
	}
	s.mu.Unlock()
	rw.Header().Set("Content-Type", "application/json")
	fmt.Fprint(rw, "{}") // RFC 7009 §2.2: 200 whether or not the token was known
}

func (s *Server) handleRevokeGitHub(rw http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != s.ClientID || secret != s.ClientSecret || r.PathValue("client_id") != s.ClientID {
		writeJSON(rw, http.StatusUnauthorized, map[string]string{"message": "Requires authentication"})
		return
	}
	s.revocations.Add(1)
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 64<<10)).Decode(&body); err != nil || body.AccessToken == "" {
		writeJSON(rw, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	t := s.tokens[body.AccessToken]
	known := t != nil && !t.refresh && t.clientID == s.ClientID
	if known {
		t.revoked = true
	}
	s.mu.Unlock()
	if !known {
		writeJSON(rw, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

// --- REST API ---

// apiUser authenticates an API request the way the kind takes it.
func (s *Server) apiUser(r *http.Request) bool {
	var tok string
	switch s.wire.apiAuth {
	case apiQuery:
		tok = r.URL.Query().Get("access_token")
	case apiBasicPAT:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return false
		}
		if s.passwordOK(user, pass) {
			return true
		}
		tok = pass
	default:
		h := r.Header.Get("Authorization")
		if scheme, rest, ok := strings.Cut(h, " "); ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "token")) {
			tok = strings.TrimSpace(rest)
		} else if user, pass, ok := r.BasicAuth(); ok {
			if s.passwordOK(user, pass) {
				return true
			}
			if s.Kind == core.ProviderGitea && (pass == "" || pass == "x-oauth-basic") {
				tok = user
			} else {
				tok = pass
			}
		}
	}
	if tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	return t != nil && !t.refresh && s.liveLocked(t)
}

// passwordOK: user name and password, where the kind takes them.
func (s *Server) passwordOK(user, pass string) bool {
	switch s.Kind {
	case core.ProviderBitbucketHosted, core.ProviderBitbucketServer, core.ProviderBitbucketDataCenter,
		core.ProviderAzureDevOpsServer, core.ProviderGitea:
		return s.user.Password != "" && pass == s.user.Password && strings.EqualFold(user, s.user.Login)
	}
	return false
}

func (s *Server) unauthorized(rw http.ResponseWriter) {
	h := rw.Header()
	switch s.Kind {
	case core.ProviderGitHub, core.ProviderGitHubEnterprise:
		writeJSON(rw, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
	case core.ProviderGitLabHosted, core.ProviderGitLabCommunityEdition, core.ProviderGitLabEnterpriseEdition:
		h.Set("WWW-Authenticate", `Bearer realm="Protected by OAuth 2.0", error="invalid_token"`)
		writeJSON(rw, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
	case core.ProviderBitbucketHosted:
		writeJSON(rw, http.StatusUnauthorized, map[string]any{"type": "error", "error": map[string]string{"message": "Access token expired."}})
	case core.ProviderBitbucketServer, core.ProviderBitbucketDataCenter:
		writeJSON(rw, http.StatusUnauthorized, map[string]any{"errors": []map[string]string{{"message": "Authentication failed. Please check your credentials and try again."}}})
	case core.ProviderAzureDevOpsServices, core.ProviderAzureDevOpsServer:
		h.Set("WWW-Authenticate", "Bearer")
		h.Set("Content-Type", "text/html; charset=utf-8")
		rw.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(rw, "<html><head><title>Access Denied</title></head><body>401 - Unauthorized</body></html>")
	case core.ProviderGitee:
		writeJSON(rw, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized: Access token does not exist"})
	default:
		writeJSON(rw, http.StatusUnauthorized, map[string]string{"message": "token is required"})
	}
}

func (s *Server) handleUser(rw http.ResponseWriter, r *http.Request) {
	if r.PathValue("slug") == "" {
		s.userLookups.Add(1) // Bitbucket Data Center counts at application-properties
	}
	if !s.apiUser(r) {
		s.unauthorized(rw)
		return
	}
	if slug := r.PathValue("slug"); slug != "" && slug != s.user.Login {
		writeJSON(rw, http.StatusNotFound, map[string]any{"errors": []map[string]string{{"message": "User " + slug + " does not exist."}}})
		return
	}
	writeJSON(rw, http.StatusOK, s.userJSON())
}

func (s *Server) handleAppProperties(rw http.ResponseWriter, r *http.Request) {
	s.userLookups.Add(1)
	if !s.apiUser(r) {
		s.unauthorized(rw)
		return
	}
	rw.Header().Set("X-AUSERNAME", s.user.Login)
	rw.Header().Set("X-AUSERID", s.user.ID)
	writeJSON(rw, http.StatusOK, map[string]string{"version": "8.19.1", "buildNumber": "8019001", "displayName": "Bitbucket"})
}

// --- encoding ---

func acceptsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

// writeFields answers an OAuth endpoint: JSON, or form-encoded where the kind does
// that by default (GitHub, unless the client asks for JSON).
func (s *Server) writeFields(rw http.ResponseWriter, r *http.Request, status int, fields []kv) {
	rw.Header().Set("Cache-Control", "no-store")
	if s.wire.formUnlessJSON && !acceptsJSON(r) {
		v := url.Values{}
		for _, f := range fields {
			v.Set(f.k, fmt.Sprint(f.v))
		}
		rw.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		rw.WriteHeader(status)
		fmt.Fprint(rw, v.Encode())
		return
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		v, _ := json.Marshal(f.v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.WriteHeader(status)
	fmt.Fprint(rw, b.String())
}

func (s *Server) oauthError(rw http.ResponseWriter, r *http.Request, status int, code, desc string, extra ...kv) {
	if s.wire.errorsWith200 {
		status = http.StatusOK
	}
	if s.wire.capitalErrors {
		writeJSON(rw, status, map[string]string{"Error": code, "ErrorDescription": desc})
		return
	}
	fields := []kv{{"error", code}}
	if desc != "" {
		fields = append(fields, kv{"error_description", desc})
	}
	s.writeFields(rw, r, status, append(fields, extra...))
}

func (s *Server) writeToken(rw http.ResponseWriter, r *http.Request, t Tokens, scope string) {
	fields := []kv{{"access_token", t.AccessToken}, {"token_type", s.wire.tokenType}}
	if !t.Expiry.IsZero() {
		fields = append(fields, kv{"expires_in", int64(s.wire.accessTTL / time.Second)})
	}
	if t.RefreshToken != "" {
		fields = append(fields, kv{"refresh_token", t.RefreshToken})
		if s.cfg.githubApp && s.cfg.refreshTTL > 0 {
			fields = append(fields, kv{"refresh_token_expires_in", int64(s.cfg.refreshTTL / time.Second)})
		}
	}
	fields = append(fields, kv{"scope", scope})
	if s.wire.createdAt {
		fields = append(fields, kv{"created_at", s.Now().Unix()})
	}
	s.writeFields(rw, r, http.StatusOK, fields)
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write(b)
}
