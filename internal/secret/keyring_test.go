package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Test keys: bytes 0..31, and 32 bytes of 0xfb, in several encodings.
var (
	keySeq = func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}()
	keyB    = bytes.Repeat([]byte{0xfb}, 32) // encodes with + and / (std) or - and _ (url)
	seqStd  = base64.StdEncoding.EncodeToString(keySeq)
	bStd    = base64.StdEncoding.EncodeToString(keyB)
	bURLRaw = base64.RawURLEncoding.EncodeToString(keyB)
)

func mustKeys(t testing.TB, s string) *Keyring {
	t.Helper()
	kr, err := ParseKeys(s, newDetRand("keys:"+s))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		ids  []string
	}{
		{"std padded", "k1:" + seqStd, []string{"k1"}},
		{"std unpadded", "k1:" + strings.TrimRight(seqStd, "="), []string{"k1"}},
		{"std with + and /", "a:" + bStd, []string{"a"}},
		{"url unpadded", "a:" + bURLRaw, []string{"a"}},
		{"url padded", "a:" + base64.URLEncoding.EncodeToString(keyB), []string{"a"}},
		{"two keys", "new:" + bStd + ",old:" + seqStd, []string{"new", "old"}},
		{"white space and empty entries", "\n  new:" + bStd + " ,\t,old:" + seqStd + ",\r\n", []string{"new", "old"}},
		{"longest id", strings.Repeat("x", 32) + ":" + seqStd, []string{strings.Repeat("x", 32)}},
		{"id charset", "Az09_-:" + seqStd, []string{"Az09_-"}},
		{"same key under two ids", "a:" + seqStd + ",b:" + seqStd, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kr, err := ParseKeys(tc.in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := kr.KeyIDs(); strings.Join(got, ",") != strings.Join(tc.ids, ",") {
				t.Fatalf("KeyIDs = %v, want %v", got, tc.ids)
			}
			if kr.PrimaryID() != tc.ids[0] {
				t.Fatalf("PrimaryID = %q", kr.PrimaryID())
			}
		})
	}
}

func TestParseKeysErrors(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString(keySeq[:31])
	long := base64.StdEncoding.EncodeToString(append(keySeq, 1))
	hexKey := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	for _, tc := range []struct {
		name, in, want string
		secrets        []string // must not appear in the message
	}{
		{"empty", "", "no keys", nil},
		{"only separators", " ,\n, ", "no keys", nil},
		{"no colon", seqStd, "key 1 is not of the form kid:base64key", []string{seqStd}},
		{"empty id", ":" + seqStd, "key 1 has an invalid id", []string{seqStd}},
		{"id too long", strings.Repeat("x", 33) + ":" + seqStd, "key 1 has an invalid id", []string{seqStd}},
		{"id with dot", "k.1:" + seqStd, "invalid id", []string{seqStd, "k.1"}},
		{"key as id", seqStd + ":k1", "key 1 has an invalid id", []string{seqStd}},
		{"duplicate id", "k1:" + seqStd + ",k1:" + bStd, `key 2: id "k1" is used twice`, []string{seqStd, bStd}},
		{"short key", "k1:" + short, `key 1 ("k1"): key decodes to 31 bytes, want 32`, []string{short}},
		{"long key", "k1:" + seqStd + ",k2:" + long, `key 2 ("k2"): key decodes to 33 bytes`, []string{long, seqStd}},
		{"hex key", "k1:" + hexKey, "key decodes to 48 bytes", []string{hexKey}},
		{"not base64", "k1:" + strings.Repeat("!", 43), "not valid base64", nil},
		{"mixed alphabets", "k1:" + strings.Replace(bStd, "+", "-", 1), "mixes standard and URL-safe", []string{bStd[:20]}},
		{"padding inside", "k1:AAAA=AAA" + seqStd[8:], "not valid base64", []string{seqStd[8:]}},
		{"empty key", "k1:", "decodes to 0 bytes", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kr, err := ParseKeys(tc.in, nil)
			if err == nil {
				t.Fatalf("ParseKeys succeeded: %v", kr.KeyIDs())
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "secret: ") || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error %q, want a one-line message containing %q", msg, tc.want)
			}
			for _, s := range tc.secrets {
				if strings.Contains(msg, s) {
					t.Fatalf("error %q contains key material %q", msg, s)
				}
			}
		})
	}
}

var sealedRE = regexp.MustCompile(`^([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)$`)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	kr := mustKeys(t, "k1:"+seqStd)
	for _, n := range []int{1, 15, 16, 17, 100, 4096, 1 << 16} {
		pt := bytes.Repeat([]byte{'x', 0, 0xff}, n)[:n]
		s1, err := kr.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := kr.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		if s1 == s2 {
			t.Fatalf("two seals of the same value are equal: nonce reused")
		}
		m := sealedRE.FindStringSubmatch(string(s1))
		if m == nil || m[1] != "k1" {
			t.Fatalf("sealed value %.40q has the wrong form", s1)
		}
		if raw, _ := base64.RawURLEncoding.DecodeString(m[2]); len(raw) != 12+n+16 {
			t.Fatalf("raw length %d, want %d", len(raw), 12+n+16)
		}
		for _, s := range []core.Sealed{s1, s2} {
			got, err := kr.Open(s)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open(Seal(%d bytes)) = %d bytes, %v", n, len(got), err)
			}
		}
	}
	if s, err := kr.SealString("p@ss"); err != nil {
		t.Fatal(err)
	} else if got, err := kr.OpenString(s); err != nil || got != "p@ss" {
		t.Fatalf("OpenString = %q, %v", got, err)
	}
}

func TestSealEmpty(t *testing.T) {
	t.Parallel()
	kr := mustKeys(t, "k1:"+seqStd)
	for _, pt := range [][]byte{nil, {}} {
		if s, err := kr.Seal(pt); s != "" || err != nil {
			t.Fatalf("Seal(empty) = %q, %v", s, err)
		}
	}
	if pt, err := kr.Open(""); pt != nil || err != nil {
		t.Fatalf(`Open("") = %v, %v`, pt, err)
	}
	if s, err := kr.OpenString(""); s != "" || err != nil {
		t.Fatalf(`OpenString("") = %q, %v`, s, err)
	}
}

// TestSealKnownAnswer pins the format: this value was computed independently
// (Python's cryptography AESGCM, key 00..1f, nonce ab×12, associated data "k1").
// Values sealed today must open forever.
func TestSealKnownAnswer(t *testing.T) {
	t.Parallel()
	const golden = "k1.q6urq6urq6urq6urpL3YJcs0MY1BLCdeV_p4xb4pDbk48awV7bP1v-Vb"
	kr, err := ParseKeys("k1:"+seqStd, &bytesRand{b: []byte{0xab}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kr.SealString("hello, vcsauth")
	if err != nil || s != golden {
		t.Fatalf("Seal = %q, %v; want %q", s, err, golden)
	}
	if got, err := kr.OpenString(golden); err != nil || got != "hello, vcsauth" {
		t.Fatalf("Open(golden) = %q, %v", got, err)
	}
}

func TestOpenTampered(t *testing.T) {
	t.Parallel()
	kr := mustKeys(t, "k1:"+seqStd)
	s, err := kr.SealString("top secret")
	if err != nil {
		t.Fatal(err)
	}
	kid, b64, _ := strings.Cut(string(s), ".")
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(raw []byte) core.Sealed {
		return core.Sealed(kid + "." + base64.RawURLEncoding.EncodeToString(raw))
	}
	// Every bit of nonce, ciphertext and tag is authenticated.
	for i := range raw {
		for bit := range 8 {
			r := bytes.Clone(raw)
			r[i] ^= 1 << bit
			if _, err := kr.Open(seal(r)); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("flipping bit %d of byte %d: %v", bit, i, err)
			}
		}
	}
	for _, r := range [][]byte{raw[:len(raw)-1], raw[:28], append(bytes.Clone(raw), 0)} {
		if _, err := kr.Open(seal(r)); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("length %d: %v", len(r), err)
		}
	}
	if _, err := kr.Open(seal(raw[:27])); !errors.Is(err, ErrMalformed) {
		t.Fatalf("too short: %v", err)
	}
	if msg := ErrDecrypt.Error(); strings.Contains(msg, "top secret") {
		t.Fatal("error leaks plaintext")
	}
}

// TestOpenRelabelled: a value cannot be moved to another key id, even one that
// holds the very same key, because the id is authenticated.
func TestOpenRelabelled(t *testing.T) {
	t.Parallel()
	kr := mustKeys(t, "a:"+seqStd+",b:"+seqStd+",c:"+bStd)
	s, err := kr.SealString("value")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(s), ".")
	for _, kid := range []string{"b", "c"} {
		if _, err := kr.Open(core.Sealed(kid + "." + rest)); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("relabelled to %q: %v", kid, err)
		}
	}
}

func TestOpenUnknownKey(t *testing.T) {
	t.Parallel()
	old := mustKeys(t, "k2:"+bStd)
	s, err := old.SealString("x")
	if err != nil {
		t.Fatal(err)
	}
	kr := mustKeys(t, "k1:"+seqStd)
	_, err = kr.Open(s)
	if !errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrDecrypt) || errors.Is(err, ErrMalformed) {
		t.Fatalf("Open: %v", err)
	}
	if want := `secret: value is sealed with key "k2", which is not loaded`; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	var uk *UnknownKeyError
	if !errors.As(err, &uk) || uk.KeyID != "k2" {
		t.Fatalf("errors.As: %v", uk)
	}
}

func TestOpenMalformed(t *testing.T) {
	t.Parallel()
	kr := mustKeys(t, "k1:"+seqStd)
	good, err := kr.SealString("value")
	if err != nil {
		t.Fatal(err)
	}
	_, b64, _ := strings.Cut(string(good), ".")
	for _, in := range []string{
		"nodot",
		"." + b64,
		"k1.",
		"k1",
		"k1.AAAA",
		"k1." + b64 + "=",                  // padding
		"k1." + b64[:10] + "\n" + b64[10:], // the decoder would skip the newline
		"k1." + b64[:10] + "+" + b64[11:],  // standard alphabet
		"k1." + b64[:10] + "." + b64[11:],
		"k 1." + b64,
		"k.1." + b64,
		strings.Repeat("k", 33) + "." + b64,
		"k1." + b64[:len(b64)-3], // a length base64 cannot have
		"\x00." + b64,
		"ké." + b64,
	} {
		if _, err := kr.Open(core.Sealed(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Open(%.50q) = %v, want ErrMalformed", in, err)
		}
	}
	// Non-zero trailing bits: a second spelling of the same bytes is refused, so a
	// sealed value has exactly one text.
	raw, _ := base64.RawURLEncoding.DecodeString(b64)
	for n := len(raw); n < len(raw)+3; n++ {
		r := append(bytes.Clone(raw), make([]byte, n-len(raw))...)
		enc := base64.RawURLEncoding.EncodeToString(r)
		if len(r)%3 == 0 {
			continue
		}
		last := strings.IndexByte(base64URLAlphabet, enc[len(enc)-1])
		alt := enc[:len(enc)-1] + string(base64URLAlphabet[last|1])
		if _, err := kr.Open(core.Sealed("k1." + alt)); !errors.Is(err, ErrMalformed) {
			t.Errorf("non-canonical encoding: %v", err)
		}
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestReseal(t *testing.T) {
	t.Parallel()
	old := mustKeys(t, "old:"+seqStd)
	both := mustKeys(t, "new:"+bStd+",old:"+seqStd)
	onlyNew := mustKeys(t, "new:"+bStd)

	s, err := old.SealString("upstream token")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onlyNew.Open(s); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new key opened an old value: %v", err)
	}
	if got, err := both.OpenString(s); err != nil || got != "upstream token" {
		t.Fatalf("both keys: %q, %v", got, err)
	}
	r1, changed, err := both.Reseal(s)
	if err != nil || !changed || !strings.HasPrefix(string(r1), "new.") {
		t.Fatalf("Reseal = %q, %v, %v", r1, changed, err)
	}
	r2, changed, err := both.Reseal(r1)
	if err != nil || changed || r2 != r1 {
		t.Fatalf("second Reseal = %q, %v, %v; want unchanged", r2, changed, err)
	}
	if got, err := onlyNew.OpenString(r1); err != nil || got != "upstream token" {
		t.Fatalf("after rotation: %q, %v", got, err)
	}
	if r, changed, err := both.Reseal(""); r != "" || changed || err != nil {
		t.Fatalf(`Reseal("") = %q, %v, %v`, r, changed, err)
	}
	// A damaged value is reported, even under the primary key, not passed over.
	bad := r1[:len(r1)-2] + "AA"
	if bad == r1 {
		bad = r1[:len(r1)-2] + "BA"
	}
	if _, changed, err := both.Reseal(bad); err == nil || changed {
		t.Fatalf("Reseal of a damaged value: %v, %v", changed, err)
	}
	if _, _, err := onlyNew.Reseal(s); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Reseal with the old key gone: %v", err)
	}
}

func TestKeyIDsIsACopy(t *testing.T) {
	t.Parallel()
	kr := mustKeys(t, "a:"+seqStd+",b:"+bStd)
	ids := kr.KeyIDs()
	ids[0] = "zzz"
	if kr.PrimaryID() != "a" || kr.KeyIDs()[0] != "a" {
		t.Fatal("KeyIDs exposes the keyring's state")
	}
}

func TestSealRandomFailure(t *testing.T) {
	t.Parallel()
	kr, err := ParseKeys("k1:"+seqStd, failRand{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.SealString("x"); !errors.Is(err, errTestRand) {
		t.Fatalf("Seal: %v", err)
	}
}

func TestKeyringConcurrent(t *testing.T) {
	t.Parallel()
	kr := mustKeys(t, "a:"+seqStd+",b:"+bStd)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				pt := []byte{byte(g), byte(i), 'x'}
				s, err := kr.Seal(pt)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := kr.Open(s)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open = %v, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
