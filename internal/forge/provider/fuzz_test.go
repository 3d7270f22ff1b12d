package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzTokenAnswer: whatever a token endpoint answers, the device poll (our parser)
// and the refresh (x/oauth2's) return a token or a classified error, never panic.
func FuzzTokenAnswer(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"a","expires_in":3600,"refresh_token":"r"}`))
	f.Add(200, "application/x-www-form-urlencoded", []byte(`access_token=a&token_type=bearer`))
	f.Add(200, "application/x-www-form-urlencoded", []byte(`error=slow_down&interval=10`))
	f.Add(400, "application/json", []byte(`{"error":"invalid_grant"}`))
	f.Add(200, "text/html", []byte(`<!DOCTYPE html><html>`))
	f.Add(200, "application/json", []byte(`{"access_token":"tru`))
	f.Add(503, "", []byte(``))
	f.Add(429, "application/json", []byte(`{"Error":"x","ErrorDescription":"y"}`))
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			if ct != "" {
				h.Set("Content-Type", ct)
			}
			h.Set("Retry-After", strconv.Itoa(len(body)))
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		s := &Spec{ProviderKind: "fuzz", URLs: Endpoints{TokenURL: "http://fuzz.invalid/token"},
			RateLimit: RateLimitHeaders{Remaining: "X-RateLimit-Remaining", Reset: "X-RateLimit-Reset"}}
		c := Client{ID: "id", Secret: "secret"}
		check := func(what string, ok bool, err error) {
			if ok == (err != nil) {
				t.Fatalf("%s: token and error both or neither: %v", what, err)
			}
			if err == nil {
				return
			}
			var oe *OAuthError
			var te *TransientError
			var rl *RateLimitError
			if !errors.As(err, &oe) && !errors.As(err, &te) && !errors.As(err, &rl) {
				t.Fatalf("%s: unclassified error %T: %v", what, err, err)
			}
		}
		tok, err := s.PollDeviceToken(context.Background(), hc, c, "dc")
		check("poll", tok != nil && tok.AccessToken != "", err)
		r, err := s.RefreshToken(context.Background(), hc, c, "rt")
		check("refresh", r != nil && r.Token != nil && r.Token.AccessToken != "", err)
	})
}
