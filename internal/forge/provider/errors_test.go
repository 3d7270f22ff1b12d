package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func answer(status int, ct, body string, h ...string) *oauth2.RetrieveError {
	resp := &http.Response{StatusCode: status, Header: http.Header{}}
	if ct != "" {
		resp.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(h); i += 2 {
		resp.Header.Set(h[i], h[i+1])
	}
	vals, _, _ := parseBody(resp.Header, []byte(body))
	return retrieveError(resp, []byte(body), vals)
}

func TestClassifyToken(t *testing.T) {
	t.Parallel()
	s := &Spec{ProviderKind: "test", InvalidGrantCodes: []string{"bad_refresh_token"},
		InvalidClientCodes: []string{"incorrect_client_credentials"},
		ErrorAliases:       map[string]string{"token_expired": "expired_token"},
		RateLimit:          RateLimitHeaders{Remaining: "X-RateLimit-Remaining", Reset: "X-RateLimit-Reset"}}
	now := time.Unix(1_800_000_000, 0)
	s.Now = func() time.Time { return now }
	tests := []struct {
		name string
		err  error
		is   error
		kind string // "oauth", "transient", "ratelimit"
	}{
		{"invalid_grant", answer(400, "application/json", `{"error":"invalid_grant"}`), ErrInvalidGrant, "oauth"},
		{"provider grant code", answer(200, "application/x-www-form-urlencoded", "error=bad_refresh_token"), ErrInvalidGrant, "oauth"},
		{"invalid_client", answer(401, "application/json", `{"error":"invalid_client"}`), ErrInvalidClient, "oauth"},
		{"provider client code", answer(200, "application/json", `{"error":"incorrect_client_credentials"}`), ErrInvalidClient, "oauth"},
		{"401 without code", answer(401, "text/html", "<html>"), ErrInvalidClient, "oauth"},
		{"pending", answer(400, "application/json", `{"error":"authorization_pending"}`), ErrAuthorizationPending, "oauth"},
		{"slow_down", answer(400, "application/json", `{"error":"slow_down","interval":10}`), ErrSlowDown, "oauth"},
		{"alias", answer(400, "application/json", `{"error":"token_expired"}`), ErrExpiredToken, "oauth"},
		{"entra declined", answer(400, "application/json", `{"error":"authorization_declined"}`), ErrAccessDenied, "oauth"},
		{"denied", answer(400, "application/json", `{"error":"access_denied"}`), ErrAccessDenied, "oauth"},
		{"vssps capitals", answer(400, "application/json", `{"Error":"invalid_grant","ErrorDescription":"gone"}`), ErrInvalidGrant, "oauth"},
		{"5xx", answer(503, "text/html", "<html>"), nil, "transient"},
		{"server_error", answer(400, "application/json", `{"error":"server_error"}`), nil, "transient"},
		{"429", answer(429, "", "", "Retry-After", "7"), nil, "ratelimit"},
		{"403 spent", answer(403, "", "", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1800000030"), nil, "ratelimit"},
		{"403 plain", answer(403, "application/json", `{"error":"insufficient_scope"}`), nil, "oauth"},
		{"x/oauth2 parse error", fmt.Errorf("oauth2: cannot parse json: invalid character '<'"), ErrMalformed, "transient"},
		{"deadline", fmt.Errorf("Post: %w", context.DeadlineExceeded), context.DeadlineExceeded, "transient"},
	}
	for _, tt := range tests {
		err := s.classifyToken("op", tt.err)
		var oe *OAuthError
		var te *TransientError
		var rl *RateLimitError
		switch tt.kind {
		case "oauth":
			if !errors.As(err, &oe) {
				t.Errorf("%s: %v is not an *OAuthError", tt.name, err)
			}
		case "transient":
			if !errors.As(err, &te) {
				t.Errorf("%s: %v is not a *TransientError", tt.name, err)
			}
		case "ratelimit":
			if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
				t.Errorf("%s: %v is not a *RateLimitError with a wait", tt.name, err)
			}
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: %v is not %v", tt.name, err, tt.is)
		}
	}
	var oe *OAuthError
	if err := s.classifyToken("poll", answer(400, "application/json", `{"error":"slow_down","interval":10}`)); !errors.As(err, &oe) || oe.Interval != 10*time.Second {
		t.Errorf("slow_down interval: %v", err)
	}
	if err := s.classifyToken("poll", answer(200, "application/x-www-form-urlencoded", "error=slow_down&interval=15")); !errors.As(err, &oe) || oe.Interval != 15*time.Second {
		t.Errorf("slow_down interval, form: %v", err)
	}
	var rl *RateLimitError
	if err := s.classifyToken("x", answer(403, "", "", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1800000030")); !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Errorf("reset header: %v", err)
	}
	date := now.Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if err := s.classifyToken("x", answer(429, "", "", "Retry-After", date)); !errors.As(err, &rl) || rl.RetryAfter != 90*time.Second {
		t.Errorf("Retry-After date: %v", err)
	}
}

func TestGetJSONBoundsAndClassifies(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", MaxBody+10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"a":"%s"}`, big)
		case "/401":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprint(w, `{"message":"Bad credentials"}`)
		case "/404":
			w.WriteHeader(404)
			fmt.Fprint(w, `{"errors":[{"message":"no\nsuch user"}]}`)
		case "/ok":
			if r.Header.Get("Authorization") != "Bearer T" || r.Header.Get("X-Api") != "1" || r.Header.Get("User-Agent") != "ua" {
				w.WriteHeader(400)
				return
			}
			fmt.Fprint(w, `{"id":1}`)
		case "/query":
			if r.URL.Query().Get("access_token") != "T" || r.URL.Query().Get("keep") != "1" {
				w.WriteHeader(401)
				return
			}
			fmt.Fprint(w, `{"id":1}`)
		}
	}))
	defer srv.Close()
	s := &Spec{ProviderKind: "test", APIHeaders: map[string]string{"X-Api": "1"}, UserAgent: "ua"}
	ctx := context.Background()
	var out struct{ ID int }
	if _, err := s.GetJSON(ctx, nil, "ok", srv.URL+"/ok", s.TokenAuth("T"), &out); err != nil || out.ID != 1 {
		t.Errorf("ok: %v %+v", err, out)
	}
	if _, err := s.GetJSON(ctx, nil, "big", srv.URL+"/big", nil, &out); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized answer: %v", err)
	}
	_, err := s.GetJSON(ctx, nil, "401", srv.URL+"/401", nil, nil)
	var ae *APIError
	if !errors.Is(err, ErrTokenInvalid) || !errors.As(err, &ae) || ae.Message != "Bad credentials" {
		t.Errorf("401: %v", err)
	}
	_, err = s.GetJSON(ctx, nil, "404", srv.URL+"/404", nil, nil)
	if !errors.As(err, &ae) || errors.Is(err, ErrTokenInvalid) || ae.Message != "no such user" || IsTransient(err) {
		t.Errorf("404: %v", err)
	}
	q := &Spec{ProviderKind: "test", APIAuth: APIAuthQuery}
	if _, err := q.GetJSON(ctx, nil, "query", srv.URL+"/query?keep=1", q.TokenAuth("T"), nil); err != nil {
		t.Errorf("query auth: %v", err)
	}
}

func TestParseBody(t *testing.T) {
	t.Parallel()
	h := http.Header{"Content-Type": {"application/json"}}
	if v, _, err := parseBody(h, []byte(`{"access_token":"a","expires_in":"3600","n":1.5,"ok":true,"obj":{"x":1}}`)); err != nil ||
		v["access_token"] != "a" || v["expires_in"] != "3600" || v["n"] != "1.5" || v["ok"] != "true" || v["obj"] != "" {
		t.Errorf("json: %v %v", v, err)
	}
	for _, bad := range []string{`{"access_token":"a"`, `<html>`, `{"a":1} {"b":2}`, ``, `[1,2]`} {
		if _, _, err := parseBody(h, []byte(bad)); err == nil {
			t.Errorf("parseBody(%q) accepted", bad)
		}
	}
	if seconds("3600") != time.Hour || seconds(" 7200 ") != 2*time.Hour || seconds("-1") != 0 || seconds("x") != 0 || seconds("1e300") != 0 {
		t.Errorf("seconds")
	}
}

func TestTransportErrorsHideTokens(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Close() // nothing listens any more
	s := &Spec{ProviderKind: "test", APIAuth: APIAuthQuery}
	_, err := s.GetJSON(context.Background(), nil, "user lookup", srv.URL+"/user", s.TokenAuth("SECRET-TOKEN"), nil)
	if err == nil || strings.Contains(err.Error(), "SECRET-TOKEN") || !IsTransient(err) {
		t.Errorf("transport error %v", err)
	}
}
