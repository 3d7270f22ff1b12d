package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// tokenCheckRoute is one authenticated GET of a dialect. A dialect is one line in
// the tables below; a route the server does not serve (yet) is reported as skipped.
type tokenCheckRoute struct {
	dialect string
	path    string
	header  string // the header that carries the token
	prefix  string // before the token in that header ("Bearer ", "token ")
}

// tokenCheckRoutes are what scenario 1 measures: in each dialect, the call its
// clients make to check a token (who am I), which reads nothing but the token.
// ServiceStage's API has no such call.
var tokenCheckRoutes = []tokenCheckRoute{
	{"gitlab", "/api/v4/user", "PRIVATE-TOKEN", ""},
	{"github", "/api/v3/user", "Authorization", "token "},
	{"tfe", "/api/v2/account/details", "Authorization", "Bearer "},
	{"coder", "/api/v2/users/me", "Coder-Session-Token", ""},
}

// readRoutes are, per dialect, a cheap GET that reads data besides the token: the
// token check plus one or more queries. They have no target; they show what a read
// costs on top of the token check.
var readRoutes = []tokenCheckRoute{
	{"github", "/api/v3/authorizations?per_page=1", "Authorization", "token "},
	{"tfe", "/api/v2/organizations/" + loadOrg, "Authorization", "Bearer "},
	{"coder", "/api/v2/external-auth", "Coder-Session-Token", ""},
	{"servicestage", "/v1/{project}/git/auths", "X-Auth-Token", ""},
}

// Scenario keys, as -scenarios takes them.
const (
	scTokenCheck = "token"
	scIntrospect = "introspect"
	scCredential = "credential"
	scStorm      = "storm"
	scCode       = "code"
	scRefresh    = "refresh"
)

var allScenarios = []string{scTokenCheck, scIntrospect, scCredential, scStorm, scCode, scRefresh}

// largeScenarios are the ones the -large passes run again (1–3 of the issue).
var largeScenarios = []string{scTokenCheck, scIntrospect, scCredential}

// scenario is one timed load with how to judge it.
type scenario struct {
	key  string // one of the sc… constants
	load load
	// minRatio is the target as a ratio to the baseline's requests/s (0: none).
	minRatio float64
	// minRPS is the target in requests/s on SQLite (0: none).
	minRPS float64
	note   string
}

// scenarios builds the timed scenarios of a pass against addr.
func scenarios(addr string, s *seed, o options, want map[string]bool) []scenario {
	var out []scenario
	if want[scTokenCheck] && s.large == nil {
		// The floor: vcsauth's whole middleware chain (request id, security headers,
		// access log, metrics, recovery) around a handler that does nothing, with no
		// token. The token checks below cannot be faster; the gap between them and
		// this is what the token check costs.
		req := encodeRequest(addr, http.MethodGet, "/healthz", nil, nil)
		out = append(out, scenario{key: scTokenCheck, note: "diagnostic: no target",
			load: load{name: "floor: GET /healthz (middleware chain, no token)", want: http.StatusOK,
				next: func(int) ([]byte, bool) { return req, true }}})
	}
	if want[scTokenCheck] {
		for _, rt := range tokenCheckRoutes {
			req := encodeRequest(addr, http.MethodGet, rt.path, []header{{rt.header, rt.prefix + s.token}}, nil)
			out = append(out, scenario{key: scTokenCheck, minRatio: 0.6,
				load: load{name: fmt.Sprintf("token check: %s GET %s", rt.dialect, rt.path), want: http.StatusOK,
					next: func(int) ([]byte, bool) { return req, true }}})
		}
		for _, rt := range readRoutes {
			path := strings.ReplaceAll(rt.path, "{project}", s.project)
			req := encodeRequest(addr, http.MethodGet, path, []header{{rt.header, rt.prefix + s.token}}, nil)
			out = append(out, scenario{key: scTokenCheck, note: "diagnostic: no target",
				load: load{name: fmt.Sprintf("read: %s GET %s", rt.dialect, rt.path), want: http.StatusOK,
					next: func(int) ([]byte, bool) { return req, true }}})
		}
	}
	if want[scIntrospect] {
		body := []byte(url.Values{"token": {s.accessToken}}.Encode())
		req := encodeRequest(addr, http.MethodPost, "/oauth/introspect", []header{
			{"Authorization", basic(s.confID, s.confSecret)},
			{"Content-Type", "application/x-www-form-urlencoded"}}, body)
		out = append(out, scenario{key: scIntrospect, minRatio: 0.6,
			load: load{name: "introspection: POST /oauth/introspect (confidential client, Basic)", want: http.StatusOK,
				next: func(int) ([]byte, bool) { return req, true }}})
	}
	if want[scCredential] {
		out = append(out, credentialScenario(addr, "git credential (fresh): POST /api/v1/git/credential", s.credTokens, s.remote))
		if s.large != nil {
			sc := credentialScenario(addr, "git credential (fresh), asker's org holds 1,000 connections", []string{s.large.crowdToken}, s.remote)
			sc.minRatio, sc.note = 0, "no target of its own; see BENCHMARKS.md"
			out = append(out, sc)
			cold := credentialScenario(addr, fmt.Sprintf("git credential (cold): %d people in turn, nothing in memory", len(s.large.coldTokens)), s.large.coldTokens, s.remote)
			var turn atomic.Int64
			reqs := cold.load.next
			cold.load.next = func(int) ([]byte, bool) { return reqs(int(turn.Add(1))) }
			cold.minRatio, cold.note = 0, "diagnostic: what a lookup costs when neither the token nor the credentials are cached"
			out = append(out, cold)
		}
	}
	if want[scCode] {
		var next atomic.Int64
		form := url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {redirectURI},
			"client_id": {s.publicID}, "code_verifier": {s.verifier}}
		hdr := []header{{"Content-Type", "application/x-www-form-urlencoded"}}
		out = append(out, scenario{key: scCode, minRPS: 2000,
			load: load{name: "code exchange with PKCE: POST /oauth/token (public client)", want: http.StatusOK,
				next: func(int) ([]byte, bool) {
					i := int(next.Add(1)) - 1
					if i >= len(s.codes) {
						return nil, false
					}
					f := url.Values{"code": {s.codes[i]}}
					return encodeRequest(addr, http.MethodPost, "/oauth/token", hdr, []byte(form.Encode()+"&"+f.Encode())), true
				}}})
	}
	if want[scRefresh] {
		chains := append([]string(nil), s.refreshTokens...)
		hdr := []header{{"Authorization", basic(s.confID, s.confSecret)}, {"Content-Type", "application/x-www-form-urlencoded"}}
		out = append(out, scenario{key: scRefresh, minRPS: 2000,
			load: load{name: "refresh grant with rotation: POST /oauth/token (confidential client)", want: http.StatusOK,
				next: func(w int) ([]byte, bool) {
					body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {chains[w]}}.Encode()
					return encodeRequest(addr, http.MethodPost, "/oauth/token", hdr, []byte(body)), true
				},
				seen: func(w int, body []byte) error {
					var tr struct {
						RefreshToken string `json:"refresh_token"`
					}
					if err := json.Unmarshal(body, &tr); err != nil || tr.RefreshToken == "" {
						return fmt.Errorf("%w: refresh answer without a refresh token: %s", errFatal, snippet(body))
					}
					chains[w] = tr.RefreshToken
					return nil
				}}})
	}
	return out
}

// credentialScenario asks for the remote's credentials, worker w with token
// w mod len(tokens).
func credentialScenario(addr, name string, tokens []string, remote string) scenario {
	body, _ := json.Marshal(map[string]string{"url": remote})
	reqs := make([][]byte, len(tokens))
	for i, t := range tokens {
		reqs[i] = encodeRequest(addr, http.MethodPost, "/api/v1/git/credential", []header{
			{"Authorization", "Bearer " + t}, {"Content-Type", "application/json"}}, body)
	}
	return scenario{key: scCredential, minRatio: 0.5,
		load: load{name: name, want: http.StatusOK, next: func(w int) ([]byte, bool) { return reqs[w%len(reqs)], true }}}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// probe sends one request of l and says whether the route exists. ServeMux answers
// a route nobody registered with a plain-text "404 page not found"; every API answers
// in JSON. Any other unexpected answer is an error: the scenario would only measure
// failures.
func probe(ctx context.Context, addr string, l load) error {
	req, ok := l.next(0)
	if !ok {
		return fmt.Errorf("%w: no input", errSkip)
	}
	c := &conn{addr: addr}
	defer c.close()
	status, body, err := c.do(ctx, req, l.want, true)
	if err != nil {
		return err
	}
	if status == http.StatusNotFound && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return fmt.Errorf("%w: the route is not wired in this build of serve", errSkip)
	}
	if status != l.want {
		return fmt.Errorf("probe: status %d: %s", status, snippet(body))
	}
	if l.seen != nil {
		return l.seen(0, body)
	}
	if strings.Contains(string(body), `"active":false`) {
		return fmt.Errorf("probe: the token is inactive: %s", snippet(body))
	}
	return nil
}

// runStorm expires stormuser's connection and has o.storm callers ask for its
// credentials at once; the fake provider answers the refresh after o.latency.
func runStorm(ctx context.Context, addr string, s *seed, st *sqlstore.Store, prov *provider, o options) Result {
	r := Result{Scenario: fmt.Sprintf("refresh storm: %d callers, expired connection, provider refresh takes %v", o.storm, o.latency),
		Conns: o.storm, Target: fmt.Sprintf("exactly 1 upstream refresh; every caller answered within %v", o.latency+100*time.Millisecond)}
	body, _ := json.Marshal(map[string]string{"url": s.remote})
	req := encodeRequest(addr, http.MethodPost, "/api/v1/git/credential", []header{
		{"Authorization", "Bearer " + s.stormToken}, {"Content-Type", "application/json"}}, body)
	warm := encodeRequest(addr, http.MethodGet, "/healthz", nil, nil)
	if err := expireConnection(ctx, st, s.stormConn); err != nil {
		r.Skipped = "could not expire the connection: " + err.Error()
		return r
	}
	before := prov.refreshes.Load()
	t0 := time.Now()
	sr, err := storm(ctx, addr, o.storm, warm, req, http.StatusOK)
	if err != nil {
		r.Skipped = err.Error()
		return r
	}
	n := int(prov.refreshes.Load() - before)
	sum := summarize(sr.lat)
	r.Requests, r.Errors, r.Elapsed = sr.ok, sr.errors, Dur(time.Since(t0))
	r.P50, r.P99, r.Max = Dur(sum.p50), Dur(sum.p99), Dur(sum.max)
	r.UpstreamRefreshes = &n
	met := n == 1 && sr.errors == 0 && sum.max <= o.latency+100*time.Millisecond
	r.Met = &met
	if sr.firstErr != "" {
		r.Note = "first error: " + sr.firstErr
	}
	return r
}
