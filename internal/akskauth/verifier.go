package akskauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// DefaultMaxSkew is how far X-Sdk-Date may be from our clock, either way.
const DefaultMaxSkew = 15 * time.Minute

// KeyStore finds an access key by its id (the AK); core.ErrNotFound when there is
// none. The store (store.Identity) is one.
type KeyStore interface {
	AccessKey(ctx context.Context, id string) (core.AccessKey, error)
}

// UserStore finds the user an access key belongs to; core.ErrNotFound when gone.
// identity.Service is one.
type UserStore interface {
	User(ctx context.Context, id string) (core.User, error)
}

// Options configure a Verifier. Keys, Keyring and Users are required.
type Options struct {
	Keys    KeyStore
	Keyring *secret.Keyring // opens the sealed secret keys
	Users   UserStore
	Now     func() time.Time
	// MaxSkew bounds |our clock − X-Sdk-Date| (DefaultMaxSkew when 0 or less).
	MaxSkew time.Duration
	// MaxBody bounds the body read to hash it (httpx.DefaultMaxBodyBytes when 0 or
	// less). Put httpx.LimitBody outside the resolver for the dialect's own limit.
	MaxBody int64
	// Replay refuses repeated state-changing requests (NewMemoryGuard(0) when nil).
	Replay ReplayGuard
	Log    *slog.Logger
}

// Verifier checks SDK-HMAC-SHA256 signatures. It is safe for concurrent use.
type Verifier struct {
	keys    KeyStore
	keyring *secret.Keyring
	users   UserStore
	now     func() time.Time
	skew    time.Duration
	maxBody int64
	replay  ReplayGuard
	log     *slog.Logger
}

// New returns a Verifier.
func New(o Options) (*Verifier, error) {
	if o.Keys == nil || o.Keyring == nil || o.Users == nil {
		return nil, errors.New("akskauth: a key store, a keyring and a user store are required")
	}
	v := &Verifier{keys: o.Keys, keyring: o.Keyring, users: o.Users, now: o.Now, skew: o.MaxSkew,
		maxBody: o.MaxBody, replay: o.Replay, log: o.Log}
	if v.now == nil {
		v.now = time.Now
	}
	if v.skew <= 0 {
		v.skew = DefaultMaxSkew
	}
	if v.maxBody <= 0 {
		v.maxBody = httpx.DefaultMaxBodyBytes
	}
	if v.replay == nil {
		v.replay = NewMemoryGuard(0)
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Resolver is the Verifier as an httpx.Resolver: requests without an SDK signature
// are left to the other resolvers.
func (v *Verifier) Resolver() httpx.Resolver { return v.Verify }

// Verify answers as an httpx.Resolver does: (p, true, nil) for a request whose
// signature verifies, (_, false, nil) for one without an SDK signature, and an error
// wrapping core.ErrUnauthenticated (ErrMalformed, ErrBadSignature, ErrExpired, …)
// for one whose signature fails, or an internal error (the store failing). The body
// is read and put back.
func (v *Verifier) Verify(r *http.Request) (core.Principal, bool, error) {
	auths := r.Header.Values("Authorization")
	ours := false
	for _, a := range auths {
		if IsSignatureScheme(a) {
			ours = true
		}
	}
	if !ours {
		return core.Principal{}, false, nil
	}
	p, err := v.verify(r, auths)
	if err != nil {
		if errors.Is(err, core.ErrUnauthenticated) {
			v.log.InfoContext(r.Context(), "request signature refused", "err", err)
		}
		return core.Principal{}, false, err
	}
	return p, true, nil
}

// otherCredentials are the headers through which our tokens authenticate; a signed
// request must not carry them too.
var otherCredentials = []string{"X-Auth-Token", "Private-Token", "Coder-Session-Token"}

func (v *Verifier) verify(r *http.Request, auths []string) (core.Principal, error) {
	if len(auths) != 1 {
		return core.Principal{}, malformed("more than one Authorization header")
	}
	for _, h := range otherCredentials {
		for _, val := range r.Header.Values(h) {
			if strings.TrimSpace(val) != "" {
				return core.Principal{}, malformed("a signed request must not carry a token too")
			}
		}
	}
	a, err := ParseAuthorization(auths[0])
	if err != nil {
		return core.Principal{}, err
	}
	t, err := v.signedAt(r)
	if err != nil {
		return core.Principal{}, err
	}
	now := v.now()
	if d := now.Sub(t); d > v.skew || d < -v.skew {
		return core.Principal{}, ErrExpired
	}
	body, err := v.readBody(r)
	if err != nil {
		return core.Principal{}, err
	}
	payload, err := payloadHash(r, body)
	if err != nil {
		return core.Principal{}, err
	}
	cr, err := CanonicalRequest(r, a.SignedHeaders, payload)
	if err != nil {
		return core.Principal{}, err
	}
	key, err := v.keys.AccessKey(r.Context(), a.AccessKey)
	if errors.Is(err, core.ErrNotFound) {
		return core.Principal{}, ErrBadSignature
	}
	if err != nil {
		return core.Principal{}, fmt.Errorf("akskauth: access key lookup: %w", err)
	}
	sk, err := v.keyring.OpenString(key.Secret)
	if err != nil {
		return core.Principal{}, fmt.Errorf("akskauth: access key %s: secret: %w", key.ID, err)
	}
	if !hmac.Equal(Signature(sk, StringToSign(t, cr)), a.Signature) {
		return core.Principal{}, ErrBadSignature
	}
	if !safeMethod(r.Method) {
		seen, err := v.replay.Seen(r.Context(), a.AccessKey+":"+hex.EncodeToString(a.Signature), t.Add(v.skew), now)
		if err != nil {
			return core.Principal{}, fmt.Errorf("akskauth: replay guard: %w", err)
		}
		if seen {
			return core.Principal{}, ErrReplayed
		}
	}
	u, err := v.users.User(r.Context(), key.UserID)
	if errors.Is(err, core.ErrNotFound) {
		return core.Principal{}, ErrBadSignature
	}
	if err != nil {
		return core.Principal{}, fmt.Errorf("akskauth: user of access key %s: %w", key.ID, err)
	}
	return core.Principal{User: u, Method: core.AuthAccessKey, Scopes: []string{core.ScopeAPI}}, nil
}

// signedAt reads X-Sdk-Date.
func (v *Verifier) signedAt(r *http.Request) (time.Time, error) {
	ds := r.Header.Values(HeaderDate)
	if len(ds) != 1 {
		return time.Time{}, malformed("X-Sdk-Date must be sent once")
	}
	t, err := time.Parse(DateFormat, strings.TrimSpace(ds[0]))
	if err != nil {
		return time.Time{}, malformed("X-Sdk-Date is not in the form 20060102T150405Z")
	}
	return t, nil
}

// readBody reads the body (bounded) and puts back a reader of the same bytes.
func (v *Verifier) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, v.maxBody+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(b)) > v.maxBody {
		return nil, fmt.Errorf("akskauth: %w", httpx.ErrBodyTooLarge)
	}
	if err != nil {
		return nil, fmt.Errorf("akskauth: reading the body: %w", err)
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// payloadHash is the canonical request's last line: a declared hash, which must be
// the body's, or UNSIGNED-PAYLOAD for a request without a body, or the body's hash.
func payloadHash(r *http.Request, body []byte) (string, error) {
	declared := r.Header.Values(HeaderContentSHA256)
	switch {
	case len(declared) == 0:
		return PayloadHash(body), nil
	case len(declared) > 1:
		return "", malformed("X-Sdk-Content-Sha256 is repeated")
	}
	d := strings.TrimSpace(declared[0])
	if d == UnsignedPayload {
		if len(body) > 0 {
			return "", ErrUnsignedPayload
		}
		return d, nil
	}
	if !strings.EqualFold(d, PayloadHash(body)) {
		return "", ErrBadSignature
	}
	return d, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
