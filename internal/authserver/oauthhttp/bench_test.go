package oauthhttp_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Each benchmark runs a "baseline" sub-benchmark — a bare net/http handler that
// hashes the presented token with SHA-256, looks it up in a map and writes a small
// JSON body, the least any token check can do — and then vcsauth's endpoint, with the
// same request shape, the same keep-alive client and SQLite underneath. The
// "x-baseline" metric is vcsauth's time per request over the baseline's, measured
// in the same run so machine load affects both.
//
//	go test -run XXX -bench . ./internal/authserver/oauthhttp/

type bench struct {
	f      *fixture
	base   *httptest.Server
	client *http.Client
}

func newBench(b *testing.B) *bench {
	b.Helper()
	f := newFixture(b, onSQLite)
	known := map[[32]byte]string{}
	base := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.Method == http.MethodPost {
			r.ParseForm()
			tok = r.PostForm.Get("token") + r.PostForm.Get("code") + r.PostForm.Get("refresh_token")
		}
		user, ok := known[sha256.Sum256([]byte(tok))]
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"active": ok, "username": user})
	}))
	b.Cleanup(base.Close)
	// One keep-alive client for both servers.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	b.Cleanup(tr.CloseIdleConnections)
	return &bench{f: f, base: base, client: &http.Client{Transport: tr}}
}

// do sends req and drains the answer; anything but want fails the benchmark.
func (bn *bench) do(b *testing.B, req *http.Request, want int) []byte {
	resp, err := bn.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return body
}

func postReq(target string, form url.Values, id, secret string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	return req
}

// pair runs the baseline, then the subject, and reports the ratio.
func pair(b *testing.B, baseline, subject func(b *testing.B)) {
	var baseNs float64
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		baseline(b)
		baseNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("vcsauth", func(b *testing.B) {
		b.ReportAllocs()
		subject(b)
		if ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N); baseNs > 0 {
			b.ReportMetric(ns/baseNs, "x-baseline")
		}
	})
}

// tokens runs a code flow for alice and returns the tokens.
func (bn *bench) tokens(b *testing.B, app core.Application, secret string) map[string]any {
	f := bn.f
	code := f.code(b, f.alice, app, "https://app.example/cb", "", "")
	status, body := f.exchange(b, app, secret, code, "https://app.example/cb", "")
	if status != 200 {
		b.Fatalf("exchange: %d %v", status, body)
	}
	return body
}

func BenchmarkIntrospect(b *testing.B) {
	bn := newBench(b)
	app, sec := bn.f.app(b, true, []string{"https://app.example/cb"})
	at := bn.tokens(b, app, sec)["access_token"].(string)
	form := url.Values{"token": {at}}
	pair(b, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			bn.do(b, postReq(bn.base.URL+"/introspect", form, app.ClientID, sec), 200)
		}
	}, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			body := bn.do(b, postReq(bn.f.srv.URL+authserver.PathIntrospect, form, app.ClientID, sec), 200)
			if i == 0 && !strings.Contains(string(body), `"active":true`) {
				b.Fatalf("introspection: %s", body)
			}
		}
	})
}

func BenchmarkBearerCheck(b *testing.B) {
	bn := newBench(b)
	app, sec := bn.f.app(b, true, []string{"https://app.example/cb"})
	at := bn.tokens(b, app, sec)["access_token"].(string)
	get := func(base string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		return req
	}
	pair(b, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			bn.do(b, get(bn.base.URL), 200)
		}
	}, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			bn.do(b, get(bn.f.srv.URL), 200)
		}
	})
}

// BenchmarkCodeExchange: a public client redeeming a code with PKCE. The codes are
// issued before the timer starts.
func BenchmarkCodeExchange(b *testing.B) {
	bn := newBench(b)
	const cb = "https://app.example/cb"
	app, _ := bn.f.app(b, false, []string{cb})
	verifier := oauth2.GenerateVerifier()
	form := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cb},
			"client_id": {app.ClientID}, "code_verifier": {verifier}}
	}
	pair(b, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			bn.do(b, postReq(bn.base.URL+"/token", form("vcac_x"), "", ""), 200)
		}
	}, func(b *testing.B) {
		codes := make([]string, b.N)
		for i := range codes {
			codes[i] = bn.f.code(b, bn.f.alice, app, cb, verifier, "")
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bn.do(b, postReq(bn.f.srv.URL+authserver.PathToken, form(codes[i]), "", ""), 200)
			if i%50 == 49 {
				// Keep the grant at a realistic size, as in life (the exchange
				// no longer reads the grant's tokens, but consent and listings do).
				b.StopTimer()
				if _, err := bn.f.st.RevokeTokens(context.Background(), store.TokenFilter{UserID: bn.f.alice.ID}, bn.f.clock.Now()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		}
	})
}

// BenchmarkRefresh: a confidential client refreshing; every refresh rotates, so each
// request presents the refresh token the previous one returned.
func BenchmarkRefresh(b *testing.B) {
	bn := newBench(b)
	app, sec := bn.f.app(b, true, []string{"https://app.example/cb"})
	pair(b, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			bn.do(b, postReq(bn.base.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"vcr_x"}}, app.ClientID, sec), 200)
		}
	}, func(b *testing.B) {
		rt := bn.tokens(b, app, sec)["refresh_token"].(string)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			body := bn.do(b, postReq(bn.f.srv.URL+authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, app.ClientID, sec), 200)
			var tr authserver.TokenResponse
			if err := json.Unmarshal(body, &tr); err != nil || tr.RefreshToken == "" {
				b.Fatalf("refresh: %s", body)
			}
			rt = tr.RefreshToken
		}
	})
}
