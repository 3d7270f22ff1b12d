package secret

import (
	"bytes"
	"encoding/base32"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

func FuzzParseToken(f *testing.F) {
	rnd := newDetRand("fuzz-token")
	for _, p := range []string{PrefixPersonal, PrefixAccess, PrefixRefresh, PrefixSession, PrefixClientSecret, PrefixAuthCode, PrefixDeviceCode, PrefixFlowState} {
		tok, err := Mint(p, rnd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		f.Add(tok[:len(tok)-1] + "0")
		f.Add(strings.ToUpper(tok))
	}
	f.Add("")
	f.Add("vcp_")
	f.Add("vcp_" + strings.Repeat("0", 38))
	f.Add("vcp_" + strings.Repeat("z", 38))
	f.Add("vcp_" + strings.Repeat("\xff", 38))
	f.Fuzz(func(t *testing.T, text string) {
		kind, err := ParseToken(text)
		if crc32String(text) != crc32.ChecksumIEEE([]byte(text)) {
			t.Fatal("crc32String disagrees with hash/crc32")
		}
		if err != nil {
			if err != ErrMalformedToken || kind != "" {
				t.Fatalf("ParseToken = %q, %v", kind, err)
			}
		} else {
			prefix, ok := TokenPrefix(kind)
			if !ok || !strings.HasPrefix(text, prefix) || len(text) != len(prefix)+38 {
				t.Fatalf("accepted %q as %q", text, kind)
			}
			for i := len(prefix); i < len(text); i++ {
				if strings.IndexByte(base62, text[i]) < 0 {
					t.Fatalf("accepted %q with a non-base62 byte", text)
				}
			}
			if sum := refChecksum(text[:len(text)-6]); sum != text[len(text)-6:] {
				t.Fatalf("accepted %q, checksum should be %s", text, sum)
			}
		}
		// CheckSecret agrees with ParseToken for every prefix.
		for _, p := range []string{PrefixPersonal, PrefixAccess, PrefixRefresh, PrefixSession} {
			want := err == nil && strings.HasPrefix(text, p)
			if got := CheckSecret(text, p) == nil; got != want {
				t.Fatalf("CheckSecret(%q, %q) = %v, ParseToken says %v", text, p, got, want)
			}
		}
		for _, p := range []string{PrefixClientSecret, PrefixAuthCode, PrefixDeviceCode, PrefixFlowState} {
			if CheckSecret(text, p) == nil && err == nil {
				t.Fatalf("%q is both a token and a %s secret", text, p)
			}
		}
		if got := LastEight(text); len(text) >= 8 && got != text[len(text)-8:] {
			t.Fatalf("LastEight(%q) = %q", text, got)
		}
	})
}

func FuzzOpen(f *testing.F) {
	kr, err := ParseKeys("a:"+seqStd+",b:"+bStd, newDetRand("fuzz-open"))
	if err != nil {
		f.Fatal(err)
	}
	for _, pt := range []string{"x", "hello, vcsauth", strings.Repeat("y", 100)} {
		s, err := kr.SealString(pt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(s), []byte(pt))
		f.Add("b"+string(s)[1:], []byte(pt))
		f.Add("c"+string(s)[1:], []byte(pt))
		f.Add(string(s[:len(s)-1]), []byte(pt))
	}
	f.Add("", []byte(nil))
	f.Add("a.", []byte(nil))
	f.Add(".", []byte(nil))
	f.Add("a.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", []byte(nil))
	f.Fuzz(func(t *testing.T, s string, pt []byte) {
		got, err := kr.Open(core.Sealed(s))
		switch {
		case err == nil:
			// Only values we sealed open; their text is canonical.
			if s != "" && !sealedRE.MatchString(s) {
				t.Fatalf("opened %q", s)
			}
			if s == "" && got != nil {
				t.Fatalf(`Open("") = %v`, got)
			}
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrDecrypt):
		case errors.Is(err, ErrUnknownKey):
			var uk *UnknownKeyError
			if !errors.As(err, &uk) || !validKeyID(uk.KeyID) || !strings.HasPrefix(s, uk.KeyID+".") {
				t.Fatalf("unknown-key error %v for %q", err, s)
			}
		default:
			t.Fatalf("Open(%q): unexpected error %v", s, err)
		}
		if got != nil && err != nil {
			t.Fatal("plaintext returned with an error")
		}
		// Whatever we seal opens to itself.
		sealed, err := kr.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		back, err := kr.Open(sealed)
		if err != nil || !bytes.Equal(back, pt) || (len(pt) == 0) != (sealed == "") {
			t.Fatalf("round trip of %q: %q, %v", pt, back, err)
		}
	})
}

func FuzzParseKeys(f *testing.F) {
	f.Add("k1:" + seqStd)
	f.Add("k1:" + seqStd + ",k2:" + bStd)
	f.Add("a:" + bURLRaw + "\n#b:" + seqStd)
	f.Add("k1:" + seqStd + ",k1:" + seqStd)
	f.Add(seqStd)
	f.Add("k1:" + seqStd[:20])
	f.Add(":")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, s string) {
		kr, err := ParseKeys(s, nil)
		entries := strings.FieldsFunc(s, isKeySeparator)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "secret: ") || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error %q is not a one-line secret: message", msg)
			}
			// No key material in the message. Entries hold no white space and every
			// fixed part of our messages has a space at least every 20 bytes, so a
			// long key can appear only if the message quotes it; ids are quoted, so
			// skip keys that some id contains.
			for _, e := range entries {
				_, key, _ := strings.Cut(e, ":")
				if len(key) < 20 || !strings.Contains(msg, key) {
					continue
				}
				quotedByID := false
				for _, e2 := range entries {
					if id, _, _ := strings.Cut(e2, ":"); strings.Contains(id, key) {
						quotedByID = true
					}
				}
				if !quotedByID {
					t.Fatalf("error %q quotes key material %q", msg, key)
				}
			}
			return
		}
		ids := kr.KeyIDs()
		if len(ids) != len(entries) || len(ids) == 0 || kr.PrimaryID() != ids[0] {
			t.Fatalf("ids %v from %d entries", ids, len(entries))
		}
		for _, id := range ids {
			if !validKeyID(id) {
				t.Fatalf("accepted id %q", id)
			}
		}
		sealed, err := kr.SealString("x")
		if err != nil || !strings.HasPrefix(string(sealed), ids[0]+".") {
			t.Fatalf("Seal = %q, %v", sealed, err)
		}
		if got, err := kr.OpenString(sealed); err != nil || got != "x" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
}

func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "ABCD-EFGH", "BCDF-GHJſ", "--------BCDFGHJK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeUserCode(s)
		if n == "" {
			return
		}
		if len(n) != UserCodeLen || strings.Trim(n, userCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q", s, n)
		}
		if NormalizeUserCode(n) != n || NormalizeUserCode(n[:4]+"-"+n[4:]) != n {
			t.Fatalf("NormalizeUserCode is not stable on %q", n)
		}
	})
}

func FuzzParseTOTPSecret(f *testing.F) {
	for _, s := range []string{"JBSWY3DPEHPK3PXP", "jbsw y3dp ehpk 3pxp====", "", "JBSWY3DP", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseTOTPSecret(s)
		if err != nil {
			if len(s) >= 16 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q quotes the secret", err)
			}
			return
		}
		if len(b) < minTOTPSecretLen || len(b) > maxTOTPSecretLen {
			t.Fatalf("accepted %d bytes", len(b))
		}
		b2, err := ParseTOTPSecret(base32.StdEncoding.EncodeToString(b))
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding does not round trip: %v", err)
		}
	})
}

func FuzzVerifyTOTP(f *testing.F) {
	f.Add("287082", int64(59))
	f.Add("287 082", int64(59))
	f.Add("", int64(0))
	f.Add("99999999", int64(-1))
	f.Fuzz(func(t *testing.T, code string, unix int64) {
		now := time.Unix(unix, 0)
		counter, ok := VerifyTOTP(rfcSecret, code, now)
		if !ok {
			if counter != 0 {
				t.Fatalf("counter %d on failure", counter)
			}
			return
		}
		c := totpCounter(now)
		if counter < c-1 || counter > c+1 {
			t.Fatalf("counter %d outside [%d, %d]", counter, c-1, c+1)
		}
		if TOTPCode(rfcSecret, time.Unix(counter*30, 0)) != strings.ReplaceAll(code, " ", "") {
			t.Fatalf("code %q does not belong to counter %d", code, counter)
		}
	})
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM")
	f.Add("$argon2id$v=19$m=256,t=3,p=4$c2FsdHNhbHQ$3KClIA2UmWkZVnBbOFrQgg")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$3KClIA2UmWkZVnBbOFrQgg")
	f.Add("$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG")
	f.Add("")
	f.Fuzz(func(t *testing.T, phc string) {
		p, err := parsePHC(phc)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
			return
		}
		if p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemory || p.time < 1 || p.time > maxArgonTime || p.threads < 1 ||
			len(p.salt) < minArgonSalt || len(p.salt) > maxArgonSalt || len(p.key) < minArgonKey || len(p.key) > maxArgonKey {
			t.Fatalf("accepted parameters out of range: %+v", p)
		}
	})
}
