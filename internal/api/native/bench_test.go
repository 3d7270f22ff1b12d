package native_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/api/native"
	"github.com/vcsauth/vcsauth/internal/api/native/nativetest"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
)

// BenchmarkCredentialEndpoint measures POST /api/v1/git/credential (token lookup,
// one query for the candidates, one decryption, JSON) against a bare net/http
// handler doing the least such an endpoint can (SHA-256 of the token, a map lookup,
// a small JSON answer), both over httptest with one keep-alive client, in the same
// run. Metrics: ns/op of each, and their ratio.
func BenchmarkCredentialEndpoint(b *testing.B) {
	fake := forgetest.New(b, core.ProviderGitLabHosted)
	s := nativetest.Start(b, nativetest.Options{Now: fake.Now})
	oc := s.Client(b, fake, nil)
	s.Link(b, fake, s.Alice, oc)
	tok := s.Token(b, s.Alice, core.ScopeCredentials)
	body := []byte(`{"protocol":"http","host":"` + strings.TrimPrefix(fake.HTTPURL(), "http://") + `","path":"group/repo.git"}`)

	sum := sha256.Sum256([]byte(tok))
	creds := map[[32]byte]native.CredentialResponse{sum: {Username: "oauth2", Password: "glpat-0123456789abcdef", PasswordExpiryUTC: 1}}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req native.CredentialRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		c, ok := creds[sha256.Sum256([]byte(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")))]
		if !ok {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	}))
	b.Cleanup(bare.Close)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	do := func(url string) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", url, resp.StatusCode)
		}
	}
	measure := func(url string) time.Duration {
		do(url) // warm the connection
		start := time.Now()
		for range b.N {
			do(url)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	base := measure(bare.URL + native.PathCredential)
	ours := measure(s.URL + native.PathCredential)
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "vcsauth-ns/op")
	b.ReportMetric(float64(ours)/float64(base), "ratio")
}
