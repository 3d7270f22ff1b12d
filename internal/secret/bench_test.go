package secret

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// The per-request check of a presented token is ParseToken then a hash for the
// database lookup. BenchmarkSHA256Baseline is the floor: the hash alone.

func benchToken(b *testing.B) string {
	tok, err := MintToken(core.TokenAccess, newDetRand("bench"))
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func BenchmarkSHA256Baseline(b *testing.B) {
	var buf [42]byte
	copy(buf[:], benchToken(b))
	b.ReportAllocs()
	for b.Loop() {
		_ = sha256.Sum256(buf[:])
	}
}

func BenchmarkParseTokenHashTokenInto(b *testing.B) {
	tok := benchToken(b)
	var sum [32]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseToken(tok); err != nil {
			b.Fatal(err)
		}
		HashTokenInto(&sum, tok)
	}
}

// hashSink keeps HashToken's result alive, as a caller that passes it to the
// store does, so the benchmark counts the allocation of the returned slice.
var hashSink []byte

func BenchmarkParseTokenHashToken(b *testing.B) {
	tok := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseToken(tok); err != nil {
			b.Fatal(err)
		}
		hashSink = HashToken(tok)
	}
}

func BenchmarkParseTokenOnly(b *testing.B) {
	tok := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTokenTypo(b *testing.B) {
	tok := benchToken(b)
	bad := tok[:10] + "x" + tok[11:]
	if bad == tok {
		bad = tok[:10] + "y" + tok[11:]
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseToken(bad); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkMintToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MintToken(core.TokenAccess, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchKeyring(b *testing.B) *Keyring {
	kr, err := ParseKeys("k1:"+seqStd, nil)
	if err != nil {
		b.Fatal(err)
	}
	return kr
}

func BenchmarkSeal(b *testing.B) {
	for _, n := range []int{40, 4096} {
		b.Run(sizeName(n), func(b *testing.B) {
			kr := benchKeyring(b)
			pt := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := kr.Seal(pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{40, 4096} {
		b.Run(sizeName(n), func(b *testing.B) {
			kr := benchKeyring(b)
			s, err := kr.Seal(make([]byte, n))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := kr.Open(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string { return fmt.Sprintf("%dB", n) }

// BenchmarkVerifyPassword and BenchmarkDummyVerify should report the same time:
// that is what keeps unknown usernames from answering faster.
func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword("correct horse", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := VerifyPassword(h, "wrong horse"); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		DummyVerify("wrong horse")
	}
}

func BenchmarkVerifyTOTP(b *testing.B) {
	now := time.Unix(1111111111, 0)
	code := TOTPCode(rfcSecret, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := VerifyTOTP(rfcSecret, code, now); !ok {
			b.Fatal("rejected")
		}
	}
}
