package servicestage_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/akskauth"
	"github.com/vcsauth/vcsauth/internal/api/servicestage/servicestagetest"
)

// signedRequest is a request signed over signBody at at, then changed by tamper,
// and sent with sendBody.
type signedRequest struct {
	method, target     string
	signBody, sendBody string
	ak, sk             string
	at                 time.Time
	before             func(r *http.Request) // before signing
	tamper             func(r *http.Request) // after signing
}

func (e *env) sendSigned(t *testing.T, s signedRequest) response {
	t.Helper()
	req, err := http.NewRequest(s.method, e.URL+s.target, strings.NewReader(s.sendBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", "prj-web")
	if s.before != nil {
		s.before(req)
	}
	if err := akskauth.Sign(req, []byte(s.signBody), s.ak, s.sk, s.at); err != nil {
		t.Fatal(err)
	}
	if s.tamper != nil {
		s.tamper(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// TestSignatureRefusals: every way a signature can be wrong is a 401 in the
// dialect's format, and a refused create stores nothing.
func TestSignatureRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{})
	ak, sk := e.AccessKey(t, e.Alice)
	outAK, outSK := e.AccessKey(t, e.Outsider)
	token := e.gitlab.IssueToken().AccessToken
	body := `{"name":"signed","token":"` + token + `"}`
	post := func(mod func(*signedRequest)) signedRequest {
		s := signedRequest{method: "POST", target: base + "/gitlab/personal", signBody: body, sendBody: body, ak: ak, sk: sk, at: time.Now()}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	get := func(mod func(*signedRequest)) signedRequest {
		s := signedRequest{method: "GET", target: base + "?tag=intl", ak: ak, sk: sk, at: time.Now()}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		req    signedRequest
		status int
		code   string
	}{
		{"wrong_sk", post(func(s *signedRequest) { s.sk = "vcsk_not-the-secret" }), 401, "SVCSTG.REPO.0410"},
		{"unknown_ak", post(func(s *signedRequest) { s.ak = "UNKNOWNACCESSKEY0000" }), 401, "SVCSTG.REPO.0410"},
		{"tampered_body", post(func(s *signedRequest) { s.sendBody = strings.Replace(body, "signed", "swapped", 1) }), 401, "SVCSTG.REPO.0410"},
		{"tampered_query", get(func(s *signedRequest) {
			s.tamper = func(r *http.Request) { r.URL.RawQuery = "tag=cn" }
		}), 401, "SVCSTG.REPO.0410"},
		{"tampered_header", post(func(s *signedRequest) {
			s.tamper = func(r *http.Request) { r.Header.Set("X-Project-Id", "prj-api") }
		}), 401, "SVCSTG.REPO.0410"},
		{"tampered_path", post(func(s *signedRequest) {
			s.tamper = func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "prj-web", "prj-api", 1) }
		}), 401, "SVCSTG.REPO.0410"},
		{"tampered_method", get(func(s *signedRequest) {
			s.target = base + "/signed"
			s.tamper = func(r *http.Request) { r.Method = "DELETE" }
		}), 401, "SVCSTG.REPO.0410"},
		{"skew_past", post(func(s *signedRequest) { s.at = time.Now().Add(-16 * time.Minute) }), 401, "SVCSTG.REPO.0411"},
		{"skew_future", get(func(s *signedRequest) { s.at = time.Now().Add(16 * time.Minute) }), 401, "SVCSTG.REPO.0411"},
		{"malformed_header", post(func(s *signedRequest) {
			s.tamper = func(r *http.Request) { r.Header.Set("Authorization", "SDK-HMAC-SHA256 Access="+ak) }
		}), 401, "SVCSTG.REPO.0410"},
		{"malformed_date", get(func(s *signedRequest) {
			s.tamper = func(r *http.Request) { r.Header.Set("X-Sdk-Date", "yesterday") }
		}), 401, "SVCSTG.REPO.0410"},
		{"unsupported_algorithm", get(func(s *signedRequest) {
			s.tamper = func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SDK-HMAC-SHA256", "SDK-HMAC-SM3", 1))
			}
		}), 401, "SVCSTG.REPO.0410"},
		{"unsigned_payload", post(func(s *signedRequest) {
			s.before = func(r *http.Request) { r.Header.Set("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD") }
		}), 401, "SVCSTG.REPO.0410"},
		{"signature_and_token", get(func(s *signedRequest) {
			s.tamper = func(r *http.Request) { r.Header.Set("X-Auth-Token", "vcp_whatever") }
		}), 401, "SVCSTG.REPO.0410"},
		{"non_member_key", get(func(s *signedRequest) { s.ak, s.sk = outAK, outSK }), 404, "SVCSTG.REPO.0440"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.sendSigned(t, tc.req)
			expect(t, r, tc.status, tc.code)
			e.golden(t, "error_signature_"+tc.name, r.body)
			if got := connNames(e.Connections(t, e.Project.ID)); len(got) != 0 {
				t.Fatalf("stored %v", got)
			}
		})
	}

	// A state-changing request is accepted once; its replay within the window is
	// refused and stores nothing more. Reads may be repeated.
	t.Run("replay", func(t *testing.T) {
		s := post(nil)
		s.signBody = `{"name":"once","token":"` + token + `"}`
		s.sendBody = s.signBody
		expect(t, e.sendSigned(t, s), http.StatusOK, "")
		r := e.sendSigned(t, s)
		expect(t, r, http.StatusUnauthorized, "SVCSTG.REPO.0412")
		e.golden(t, "error_signature_replayed", r.body)
		if got := connNames(e.Connections(t, e.Project.ID)); !slices.Equal(got, []string{"once"}) {
			t.Fatalf("stored %v", got)
		}
		g := get(nil)
		for range 2 {
			expect(t, e.sendSigned(t, g), http.StatusOK, "")
		}
	})
}

// TestSignedBodyReachesHandler: the verifier reads the body to hash it; the handler
// must still decode the very bytes that were signed, however large within the limit.
func TestSignedBodyReachesHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, servicestagetest.Options{})
	ak, sk := e.AccessKey(t, e.Bob)
	body := []byte(`{"name":"padded","token":"` + e.gitlab.IssueToken().AccessToken + `","pad":"` + strings.Repeat("p", 60<<10) + `"}`)
	r := e.sendSigned(t, signedRequest{method: "POST", target: base + "/gitlab/personal", signBody: string(body), sendBody: string(body), ak: ak, sk: sk, at: time.Now()})
	expect(t, r, http.StatusOK, "")
	if !bytes.Contains(r.body, []byte(`"name":"padded"`)) {
		t.Fatalf("answer %s", r.body)
	}
	big := []byte(`{"name":"big","pad":"` + strings.Repeat("p", 70<<10) + `"}`)
	r = e.sendSigned(t, signedRequest{method: "POST", target: base + "/gitlab/personal", signBody: string(big), sendBody: string(big), ak: ak, sk: sk, at: time.Now()})
	expect(t, r, http.StatusBadRequest, "SVCSTG.REPO.0400")
}
