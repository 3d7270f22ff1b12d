package akskauth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/akskauth"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/secret"
)

var keyring = func() *secret.Keyring {
	kr, err := secret.ParseKeys("k1:"+strings.Repeat("A", 43)+"=", nil)
	if err != nil {
		panic(err)
	}
	return kr
}()

// keys is a KeyStore and UserStore in memory.
type keys struct {
	mu    sync.Mutex
	keys  map[string]core.AccessKey
	users map[string]core.User
	fail  error
}

func newKeys(t *testing.T, pairs ...string) *keys {
	t.Helper()
	k := &keys{keys: map[string]core.AccessKey{}, users: map[string]core.User{"user-alice": {ID: "user-alice", Username: "alice"}}}
	for i := 0; i+1 < len(pairs); i += 2 {
		sealed, err := keyring.SealString(pairs[i+1])
		if err != nil {
			t.Fatal(err)
		}
		k.keys[pairs[i]] = core.AccessKey{ID: pairs[i], UserID: "user-alice", Secret: sealed}
	}
	return k
}

func (k *keys) AccessKey(_ context.Context, id string) (core.AccessKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return core.AccessKey{}, k.fail
	}
	a, ok := k.keys[id]
	if !ok {
		return core.AccessKey{}, core.ErrNotFound
	}
	return a, nil
}

func (k *keys) User(_ context.Context, id string) (core.User, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	u, ok := k.users[id]
	if !ok {
		return core.User{}, core.ErrNotFound
	}
	return u, nil
}

var sdkDate = time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)

func verifierAt(t *testing.T, k *keys, now time.Time) *akskauth.Verifier {
	t.Helper()
	v, err := akskauth.New(akskauth.Options{Keys: k, Keyring: keyring, Users: k, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The SDK's own test vectors (core/auth/signer/signer_test.go, TestSigner_Sign):
// requests it signed with AK "AccessKey" and SK "SecretKey", rebuilt as they arrive.
func TestVerifySDKVectors(t *testing.T) {
	t.Parallel()
	k := newKeys(t, "AccessKey", "SecretKey")
	v := verifierAt(t, k, sdkDate.Add(time.Minute))
	tests := []struct {
		name, method, target, body, contentType, auth string
	}{
		{"GET with a query", "GET", "https://example.huaweicloud.com/path?limit=1", "", "",
			"SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"},
		{"POST with a JSON body", "POST", "https://example.huaweicloud.com/path?key=value", `{"Name":"test","Id":1}` + "\n", "application/json",
			"SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			r.Header.Set("X-Sdk-Date", "20060102T150405Z")
			r.Header.Set("TEST_UNDERSCORE", "TEST_VALUE")
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			r.Header.Set("Authorization", tc.auth)
			p, ok, err := v.Verify(r)
			if err != nil || !ok {
				t.Fatalf("Verify = %v, %v", ok, err)
			}
			if p.User.Username != "alice" || p.Method != core.AuthAccessKey || !p.Allows(core.ScopeAPI) {
				t.Fatalf("principal %+v", p)
			}
			b, _ := io.ReadAll(r.Body)
			if string(b) != tc.body {
				t.Fatalf("body after Verify = %q, want %q", b, tc.body)
			}
		})
	}
}

// signed returns a request signed at sdkDate with AK1/SK1, after mod changed it
// before signing.
func signed(t *testing.T, method, target, body string, mod func(*http.Request)) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "huaweicloud-usdk-go/3.0")
	r.Header.Set("X-Project-Id", "prj-1")
	if mod != nil {
		mod(r)
	}
	if err := akskauth.Sign(r, []byte(body), "AK1", "SK1", sdkDate); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const target = "http://vcsauth.test/v1/prj-1/git/auths/github/personal?tag=intl"
	const body = `{"name":"a","token":"t"}`
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		now    time.Time
		want   error // nil: verifies
		absent bool  // no signature at all
	}{
		{name: "valid", req: func(t *testing.T) *http.Request { return signed(t, "POST", target, body, nil) }},
		{name: "valid at the edge of the window", now: sdkDate.Add(15 * time.Minute),
			req: func(t *testing.T) *http.Request { return signed(t, "POST", target, body, nil) }},
		{name: "valid from a fast clock", now: sdkDate.Add(-15 * time.Minute),
			req: func(t *testing.T) *http.Request { return signed(t, "POST", target, body, nil) }},
		{name: "too old", now: sdkDate.Add(15*time.Minute + time.Second), want: akskauth.ErrExpired,
			req: func(t *testing.T) *http.Request { return signed(t, "POST", target, body, nil) }},
		{name: "from the future", now: sdkDate.Add(-16 * time.Minute), want: akskauth.ErrExpired,
			req: func(t *testing.T) *http.Request { return signed(t, "POST", target, body, nil) }},
		{name: "no signature", absent: true,
			req: func(t *testing.T) *http.Request { return httptest.NewRequest("GET", target, nil) }},
		{name: "a bearer token is not ours", absent: true, req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("GET", target, nil)
			r.Header.Set("Authorization", "Bearer vcp_x")
			return r
		}},
		{name: "wrong secret key", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("POST", target, strings.NewReader(body))
			if err := akskauth.Sign(r, []byte(body), "AK1", "not-SK1", sdkDate); err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{name: "unknown access key", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("POST", target, strings.NewReader(body))
			if err := akskauth.Sign(r, []byte(body), "AK-unknown", "SK1", sdkDate); err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{name: "key of a deleted user", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("POST", target, strings.NewReader(body))
			if err := akskauth.Sign(r, []byte(body), "AK-orphan", "SK2", sdkDate); err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{name: "tampered body", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Body = io.NopCloser(strings.NewReader(`{"name":"b","token":"t"}`))
			return r
		}},
		{name: "tampered query", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.URL.RawQuery = "tag=cn"
			return r
		}},
		{name: "query added", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.URL.RawQuery += "&x=1"
			return r
		}},
		{name: "tampered path", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.URL.Path = strings.Replace(r.URL.Path, "prj-1", "prj-2", 1)
			return r
		}},
		{name: "tampered method", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Method = "PUT"
			return r
		}},
		{name: "tampered signed header", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Set("X-Project-Id", "prj-2")
			return r
		}},
		{name: "tampered date", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Set("X-Sdk-Date", "20060102T150406Z")
			return r
		}},
		{name: "unsigned header may change", req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}},
		{name: "malformed header", want: akskauth.ErrMalformed, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Set("Authorization", "SDK-HMAC-SHA256 Access=AK1, Signature=00")
			return r
		}},
		{name: "other algorithm", want: akskauth.ErrUnsupportedAlgorithm, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SDK-HMAC-SHA256", "SDK-HMAC-SM3", 1))
			return r
		}},
		{name: "no date", want: akskauth.ErrMalformed, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Del("X-Sdk-Date")
			return r
		}},
		{name: "bad date", want: akskauth.ErrMalformed, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Set("X-Sdk-Date", "2006-01-02T15:04:05Z")
			return r
		}},
		{name: "two authorization headers", want: akskauth.ErrMalformed, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Add("Authorization", "Bearer vcp_x")
			return r
		}},
		{name: "a token as well", want: akskauth.ErrMalformed, req: func(t *testing.T) *http.Request {
			r := signed(t, "POST", target, body, nil)
			r.Header.Set("X-Auth-Token", "vcp_x")
			return r
		}},
		{name: "unsigned payload without a body", req: func(t *testing.T) *http.Request {
			return signed(t, "DELETE", "http://vcsauth.test/v1/prj-1/git/auths/a", "", func(r *http.Request) {
				r.Header.Set("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")
			})
		}},
		{name: "unsigned payload with a body", want: akskauth.ErrUnsignedPayload, req: func(t *testing.T) *http.Request {
			return signed(t, "POST", target, body, func(r *http.Request) {
				r.Header.Set("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")
			})
		}},
		{name: "declared hash of the body", req: func(t *testing.T) *http.Request {
			return signed(t, "POST", target, body, func(r *http.Request) {
				r.Header.Set("X-Sdk-Content-Sha256", akskauth.PayloadHash([]byte(body)))
			})
		}},
		{name: "declared hash of another body", want: akskauth.ErrBadSignature, req: func(t *testing.T) *http.Request {
			return signed(t, "POST", target, body, func(r *http.Request) {
				r.Header.Set("X-Sdk-Content-Sha256", akskauth.PayloadHash([]byte("{}")))
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := newKeys(t, "AK1", "SK1", "AK-orphan", "SK2")
			k.keys["AK-orphan"] = core.AccessKey{ID: "AK-orphan", UserID: "user-gone", Secret: k.keys["AK-orphan"].Secret}
			now := tc.now
			if now.IsZero() {
				now = sdkDate.Add(3 * time.Second)
			}
			v := verifierAt(t, k, now)
			r := tc.req(t)
			p, ok, err := v.Verify(r)
			switch {
			case tc.absent:
				if ok || err != nil {
					t.Fatalf("Verify = %v, %v; want no credentials", ok, err)
				}
			case tc.want == nil:
				if err != nil || !ok || p.User.ID != "user-alice" {
					t.Fatalf("Verify = %+v, %v, %v", p, ok, err)
				}
			default:
				if ok || !errors.Is(err, tc.want) || !errors.Is(err, core.ErrUnauthenticated) {
					t.Fatalf("Verify = %v, %v; want %v", ok, err, tc.want)
				}
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	t.Parallel()
	k := newKeys(t, "AK1", "SK1")
	now := sdkDate.Add(time.Minute)
	v := verifierAt(t, k, now)
	post := signed(t, "POST", "http://vcsauth.test/v1/prj-1/git/auths/github/personal", `{"name":"a"}`, nil)
	again := post.Clone(context.Background())
	again.Body = io.NopCloser(strings.NewReader(`{"name":"a"}`))
	if _, ok, err := v.Verify(post); !ok || err != nil {
		t.Fatalf("first: %v %v", ok, err)
	}
	if _, _, err := v.Verify(again); !errors.Is(err, akskauth.ErrReplayed) {
		t.Fatalf("replayed POST: %v", err)
	}
	get := signed(t, "GET", "http://vcsauth.test/v1/prj-1/git/auths", "", nil)
	for i := range 3 {
		if _, ok, err := v.Verify(get.Clone(context.Background())); !ok || err != nil {
			t.Fatalf("GET #%d: %v %v", i, ok, err)
		}
	}
	// Past the window the signature is refused for its age, whatever the guard says.
	late := verifierAt(t, k, sdkDate.Add(16*time.Minute))
	if _, _, err := late.Verify(signed(t, "GET", "http://vcsauth.test/v1/prj-1/git/auths", "", nil)); !errors.Is(err, akskauth.ErrExpired) {
		t.Fatalf("replay after the window: %v", err)
	}
}

func TestVerifyBody(t *testing.T) {
	t.Parallel()
	k := newKeys(t, "AK1", "SK1")
	big := `{"name":"` + strings.Repeat("x", 200) + `"}`
	r := signed(t, "POST", "http://vcsauth.test/v1/p/git/auths/github/personal", big, nil)
	v, err := akskauth.New(akskauth.Options{Keys: k, Keyring: keyring, Users: k, MaxBody: 100,
		Now: func() time.Time { return sdkDate }})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Verify(r); !errors.Is(err, httpx.ErrBodyTooLarge) {
		t.Fatalf("oversized body: %v", err)
	}
	// Behind LimitBody, the MaxBytesReader's error is the same answer.
	r = signed(t, "POST", "http://vcsauth.test/v1/p/git/auths/github/personal", big, nil)
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 50)
	if _, _, err := verifierAt(t, k, sdkDate).Verify(r); !errors.Is(err, httpx.ErrBodyTooLarge) {
		t.Fatalf("body over LimitBody: %v", err)
	}
}

func TestVerifyStoreFailure(t *testing.T) {
	t.Parallel()
	k := newKeys(t, "AK1", "SK1")
	k.fail = errors.New("database is down")
	_, ok, err := verifierAt(t, k, sdkDate).Verify(signed(t, "GET", "http://vcsauth.test/x", "", nil))
	if ok || err == nil || errors.Is(err, core.ErrUnauthenticated) {
		t.Fatalf("store failure = %v, %v; want an internal error, not a 401", ok, err)
	}
}

func TestResolverPutsBodyBack(t *testing.T) {
	t.Parallel()
	k := newKeys(t, "AK1", "SK1")
	v := verifierAt(t, k, sdkDate)
	body := `{"name":"a"}`
	var got []byte
	var p core.Principal
	h := httpx.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		p, _ = httpx.PrincipalFrom(r.Context())
	}), httpx.LimitBody(1<<10), httpx.Resolve(v.Resolver()))
	h.ServeHTTP(httptest.NewRecorder(), signed(t, "POST", "http://vcsauth.test/x", body, nil))
	if !bytes.Equal(got, []byte(body)) || p.User.ID != "user-alice" {
		t.Fatalf("handler saw body %q and principal %+v", got, p)
	}
}

func TestMemoryGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := akskauth.NewMemoryGuard(3)
	t0 := sdkDate
	seen := func(key string, exp, now time.Time) bool {
		s, err := g.Seen(ctx, key, exp, now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if seen("a", t0.Add(time.Minute), t0) || !seen("a", t0.Add(time.Minute), t0.Add(time.Second)) {
		t.Fatal("a is not remembered")
	}
	if seen("a", t0.Add(3*time.Minute), t0.Add(2*time.Minute)) {
		t.Fatal("an expired entry still counts")
	}
	for _, k := range []string{"b", "c", "d"} {
		if seen(k, t0.Add(time.Hour), t0.Add(2*time.Minute)) {
			t.Fatalf("%s seen before", k)
		}
	}
	if g.Len() != 3 {
		t.Fatalf("Len = %d, want the bound 3", g.Len())
	}
	// The oldest live entry ("a" again) was evicted to make room.
	if seen("a", t0.Add(time.Hour), t0.Add(2*time.Minute)) {
		t.Fatal("the evicted entry is still remembered")
	}
	if !seen("d", t0.Add(time.Hour), t0.Add(2*time.Minute)) {
		t.Fatal("the newest entry is forgotten")
	}
}
