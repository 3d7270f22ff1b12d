package secret

import (
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
)

// refChecksum encodes the CRC32 of s in six base62 digits by a different route than
// the package: repeated division on the other end, then reversed.
func refChecksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	var out []byte
	for range TokenChecksumLen {
		out = append(out, base62[v%62])
		v /= 62
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

var tokenRE = regexp.MustCompile(`^(vc[pors]_)([0-9A-Za-z]{32})([0-9A-Za-z]{6})$`)

func TestMintTokenRoundTrip(t *testing.T) {
	t.Parallel()
	rnd := newDetRand("mint")
	for _, tc := range []struct {
		kind   core.TokenKind
		prefix string
	}{
		{core.TokenPersonal, "vcp_"},
		{core.TokenAccess, "vco_"},
		{core.TokenRefresh, "vcr_"},
		{core.TokenSession, "vcs_"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			if p, ok := TokenPrefix(tc.kind); !ok || p != tc.prefix {
				t.Fatalf("TokenPrefix(%q) = %q, %v", tc.kind, p, ok)
			}
			seen := map[string]bool{}
			for range 200 {
				tok, err := MintToken(tc.kind, rnd)
				if err != nil {
					t.Fatal(err)
				}
				m := tokenRE.FindStringSubmatch(tok)
				if m == nil || m[1] != tc.prefix || len(tok) != 42 {
					t.Fatalf("token %q has the wrong form", tok)
				}
				if want := refChecksum(m[1] + m[2]); m[3] != want {
					t.Fatalf("checksum of %q = %q, want %q", tok, m[3], want)
				}
				kind, err := ParseToken(tok)
				if err != nil || kind != tc.kind {
					t.Fatalf("ParseToken(%q) = %q, %v", tok, kind, err)
				}
				if err := CheckSecret(tok, tc.prefix); err != nil {
					t.Fatalf("CheckSecret(%q, %q) = %v", tok, tc.prefix, err)
				}
				if seen[tok] {
					t.Fatalf("duplicate token %q", tok)
				}
				seen[tok] = true
			}
		})
	}
}

func TestMintKnownAnswer(t *testing.T) {
	t.Parallel()
	// Zero bytes are all accepted and map to '0'.
	tok, err := Mint(PrefixPersonal, &bytesRand{b: []byte{0}})
	if err != nil {
		t.Fatal(err)
	}
	body := "vcp_" + strings.Repeat("0", 32)
	if want := body + refChecksum(body); tok != want {
		t.Fatalf("Mint = %q, want %q", tok, want)
	}
	// 248..255 would bias the result (256 is not a multiple of 62) and must be
	// skipped; 247 is accepted and is 247 % 62 = 61, 'z'.
	tok, err = Mint("x_", &bytesRand{b: []byte{255, 248, 252, 247}})
	if err != nil {
		t.Fatal(err)
	}
	body = "x_" + strings.Repeat("z", 32)
	if want := body + refChecksum(body); tok != want {
		t.Fatalf("Mint = %q, want %q", tok, want)
	}
	// Checksums are zero-padded to six digits; 2^32-1 is the largest.
	if got := string(appendChecksum(nil, 0)); got != "000000" {
		t.Fatalf("appendChecksum(0) = %q", got)
	}
	if got := string(appendChecksum(nil, math.MaxUint32)); got != "4gfFC3" {
		t.Fatalf("appendChecksum(max) = %q", got)
	}
}

func TestMintUniform(t *testing.T) {
	t.Parallel()
	// A chi-square test of the body characters. The source is seeded, so this is
	// deterministic; the bound is p ≈ 1e-6 for 61 degrees of freedom.
	rnd := newDetRand("uniform")
	var counts [62]int
	total := 0
	for range 10000 {
		tok, err := Mint(PrefixAccess, rnd)
		if err != nil {
			t.Fatal(err)
		}
		for i := 4; i < 4+TokenBodyLen; i++ {
			counts[strings.IndexByte(base62, tok[i])]++
			total++
		}
	}
	exp := float64(total) / 62
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - exp
		chi += d * d / exp
	}
	if chi > 125 {
		t.Fatalf("chi-square %.1f over 62 characters: not uniform (%v)", chi, counts)
	}
}

func TestMintErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "a-b", "vcp ", "ü_", strings.Repeat("x", 17), "a.b"} {
		if _, err := Mint(p, nil); err == nil {
			t.Errorf("Mint(%q) succeeded", p)
		}
	}
	if _, err := MintToken("bogus", nil); err == nil {
		t.Error("MintToken(bogus) succeeded")
	}
	if _, err := Mint(PrefixAccess, failRand{}); !errors.Is(err, errTestRand) {
		t.Errorf("Mint with a failing source: %v", err)
	}
	if _, err := Mint(PrefixAccess, &shortRand{n: 10}); err == nil {
		t.Error("Mint with a short source succeeded")
	}
	// nil means crypto/rand.
	tok, err := MintToken(core.TokenPersonal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseToken(tok); err != nil {
		t.Fatal(err)
	}
}

func TestParseTokenRejects(t *testing.T) {
	t.Parallel()
	good, err := MintToken(core.TokenAccess, newDetRand("reject"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := Mint(PrefixClientSecret, newDetRand("reject"))
	if err != nil {
		t.Fatal(err)
	}
	body := good[4:]
	for _, tc := range []struct{ name, text string }{
		{"empty", ""},
		{"prefix only", "vco_"},
		{"unknown prefix", "vcx_" + body},
		{"upper-case prefix", "VCO_" + body},
		{"other product", "ghp_" + body},
		{"client secret", secret},
		{"state prefix", "vcst_" + body[1:]},
		{"short", good[:len(good)-1]},
		{"long", good + "0"},
		{"trailing newline", good + "\n"},
		{"leading space", " " + good[:len(good)-1]},
		{"dash in body", good[:10] + "-" + good[11:]},
		{"NUL in body", good[:10] + "\x00" + good[11:]},
		{"high byte in body", good[:10] + "\xff" + good[11:]},
		{"non-ascii", good[:10] + "é" + good[12:]},
		{"checksum above 2^32", good[:36] + "zzzzzz"},
		{"checksum zeroed", good[:36] + "000000"},
		{"kind swapped", "vcr_" + body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if kind, err := ParseToken(tc.text); err != ErrMalformedToken || kind != "" {
				t.Fatalf("ParseToken(%q) = %q, %v; want ErrMalformedToken", tc.text, kind, err)
			}
		})
	}
}

// TestParseTokenDetectsTypos checks what CRC32 guarantees: every single-character
// substitution and every swap of neighbours is caught.
func TestParseTokenDetectsTypos(t *testing.T) {
	t.Parallel()
	good, err := MintToken(core.TokenPersonal, newDetRand("typos"))
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(good)
	for i := 4; i < len(b); i++ {
		orig := b[i]
		for j := 0; j < len(base62); j++ {
			if base62[j] == orig {
				continue
			}
			b[i] = base62[j]
			if _, err := ParseToken(string(b)); err == nil {
				t.Fatalf("substitution at %d accepted: %s", i, b)
			}
		}
		b[i] = orig
	}
	for i := 4; i+1 < len(b); i++ {
		if b[i] == b[i+1] {
			continue
		}
		b[i], b[i+1] = b[i+1], b[i]
		if _, err := ParseToken(string(b)); err == nil {
			t.Fatalf("swap at %d accepted: %s", i, b)
		}
		b[i], b[i+1] = b[i+1], b[i]
	}
}

func TestCheckSecret(t *testing.T) {
	t.Parallel()
	rnd := newDetRand("check")
	prefixes := []string{PrefixClientSecret, PrefixAuthCode, PrefixDeviceCode, PrefixFlowState,
		PrefixPersonal, PrefixAccess, PrefixRefresh, PrefixSession}
	for _, p := range prefixes {
		s, err := Mint(p, rnd)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != len(p)+38 {
			t.Fatalf("%q has length %d", s, len(s))
		}
		for _, q := range prefixes {
			err := CheckSecret(s, q)
			if (p == q) != (err == nil) {
				t.Errorf("CheckSecret(%q, %q) = %v", s, q, err)
			}
			if err != nil && err != ErrMalformedToken {
				t.Errorf("CheckSecret error %v is not ErrMalformedToken", err)
			}
		}
		if err := CheckSecret(s, ""); err == nil {
			t.Errorf("CheckSecret with an empty prefix accepted %q", s)
		}
		if err := CheckSecret(s[:len(s)-1]+"0", p); err == nil && s[len(s)-1] != '0' {
			t.Errorf("CheckSecret accepted a bad checksum")
		}
		if _, err := ParseToken(s); (err == nil) != (len(p) == 4) {
			t.Errorf("ParseToken(%q) = %v", s, err)
		}
	}
}

func TestHashToken(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "vcp_x", strings.Repeat("a", 128), strings.Repeat("b", 129), strings.Repeat("c", 5000)} {
		want := sha256.Sum256([]byte(text))
		if got := HashToken(text); string(got) != string(want[:]) || len(got) != 32 {
			t.Errorf("HashToken(len %d) wrong", len(text))
		}
		var dst [32]byte
		HashTokenInto(&dst, text)
		if dst != want {
			t.Errorf("HashTokenInto(len %d) wrong", len(text))
		}
	}
}

func TestLastEightAndEqual(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", "abc": "abc", "12345678": "12345678", "vcp_0123456789": "23456789"} {
		if got := LastEight(in); got != want {
			t.Errorf("LastEight(%q) = %q, want %q", in, got, want)
		}
	}
	if !Equal([]byte("abc"), []byte("abc")) || Equal([]byte("abc"), []byte("abd")) ||
		Equal([]byte("abc"), []byte("ab")) || !Equal(nil, []byte{}) {
		t.Error("Equal is wrong")
	}
}

func TestCRC32String(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", "vcp_", "The quick brown fox jumps over the lazy dog", strings.Repeat("\xff", 300)} {
		if got, want := crc32String(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crc32String(%q) = %08x, want %08x", s, got, want)
		}
	}
}

func TestTokenChecksAllocateNothing(t *testing.T) {
	tok, err := MintToken(core.TokenAccess, newDetRand("alloc"))
	if err != nil {
		t.Fatal(err)
	}
	code, err := Mint(PrefixAuthCode, newDetRand("alloc"))
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseToken(tok); err != nil {
			t.Fatal(err)
		}
		if err := CheckSecret(code, PrefixAuthCode); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseToken(tok[:20]); err == nil {
			t.Fatal("accepted")
		}
		HashTokenInto(&sum, tok)
		_ = LastEight(tok)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per check, want 0", allocs)
	}
}
