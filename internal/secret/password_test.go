package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestHashPassword(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	rnd := newDetRand("pw")
	h1, err := HashPassword("correct horse", rnd)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := HashPassword("correct horse", rnd)
	if err != nil {
		t.Fatal(err)
	}
	if !re.MatchString(h1) || h1 == h2 {
		t.Fatalf("hashes %q, %q", h1, h2)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse", true},
		{"correct horse ", false},
		{"Correct horse", false},
		{"", false},
		{strings.Repeat("x", MaxPasswordLen+1), false},
	} {
		ok, err := VerifyPassword(h1, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%.20q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	if PasswordNeedsRehash(h1) {
		t.Error("a fresh hash needs rehashing")
	}
}

func TestHashPasswordLimits(t *testing.T) {
	t.Parallel()
	if _, err := HashPassword("", nil); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordLen+1), nil); err == nil {
		t.Error("over-long password hashed")
	}
	long := strings.Repeat("é", MaxPasswordLen/2) // exactly MaxPasswordLen bytes
	h, err := HashPassword(long, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyPassword(h, long); !ok || err != nil {
		t.Fatalf("longest password: %v, %v", ok, err)
	}
	if _, err := HashPassword("pw", failRand{}); !errors.Is(err, errTestRand) {
		t.Errorf("failing source: %v", err)
	}
}

// phcWith builds a PHC string with other parameters, as an older version of
// vcsauth (or another system) might have stored.
func phcWith(pw string, m, tm uint32, p uint8, salt []byte, keyLen uint32) string {
	key := argon2.IDKey([]byte(pw), salt, tm, m, p, keyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, tm, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestVerifyPasswordOtherParameters(t *testing.T) {
	t.Parallel()
	salt := []byte("0123456789abcdef")
	for _, phc := range []string{
		phcWith("hunter2", 64, 1, 1, salt, 32),
		phcWith("hunter2", 256, 3, 4, salt[:8], 16),
		phcWith("hunter2", 1024, 2, 2, append(salt, salt...), 64),
	} {
		if ok, err := VerifyPassword(phc, "hunter2"); !ok || err != nil {
			t.Errorf("VerifyPassword(%s) = %v, %v", phc, ok, err)
		}
		if ok, err := VerifyPassword(phc, "hunter3"); ok || err != nil {
			t.Errorf("VerifyPassword(%s, wrong) = %v, %v", phc, ok, err)
		}
		if !PasswordNeedsRehash(phc) {
			t.Errorf("%s does not need rehashing", phc)
		}
	}
}

// TestVerifyPasswordKnownAnswer checks hashes computed by another implementation
// (OpenSSL's argon2id through Python's cryptography package), so our PHC parsing
// and parameter order are those of everyone else, and HashPassword's output for a
// fixed salt is the same string.
func TestVerifyPasswordKnownAnswer(t *testing.T) {
	t.Parallel()
	const (
		current = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM"
		other   = "$argon2id$v=19$m=256,t=3,p=4$c2FsdHNhbHQ$3KClIA2UmWkZVnBbOFrQgg"
	)
	if ok, err := VerifyPassword(current, "correct horse battery staple"); !ok || err != nil {
		t.Errorf("current parameters: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(other, "hunter2"); !ok || err != nil {
		t.Errorf("other parameters: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(other, "hunter3"); ok || err != nil {
		t.Errorf("other parameters, wrong password: %v, %v", ok, err)
	}
	h, err := HashPassword("correct horse battery staple", strings.NewReader("saltsaltsaltsalt"))
	if err != nil || h != current {
		t.Errorf("HashPassword with a fixed salt = %q, %v; want %q", h, err, current)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	t.Parallel()
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	ok := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	for _, phc := range []string{
		"",
		"password",
		"$2a$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWX", // bcrypt
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2d$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		ok("m=19456,t=2,p=1") + "$",
		ok("m=19456,t=2"),
		ok("m=19456,t=2,p=1,k=x"),
		ok("t=2,m=19456,p=1"),
		ok("m=0,t=2,p=1"),
		ok("m=7,t=1,p=1"),  // below 8·p
		ok("m=15,t=1,p=2"), // below 8·p
		ok("m=19456,t=0,p=1"),
		ok("m=19456,t=65,p=1"),
		ok("m=19456,t=2,p=0"),
		ok("m=19456,t=2,p=256"),
		ok("m=2097152,t=2,p=1"), // 2 GiB
		ok("m=99999999999,t=2,p=1"),
		ok("m=+19456,t=2,p=1"),
		ok("m=-1,t=2,p=1"),
		ok("m=19456 ,t=2,p=1"),
		ok("m=,t=2,p=1"),
		ok("m=0x10,t=2,p=1"),
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "=",
		"$argon2id$v=19$m=19456,t=2,p=1$$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key, // 4-byte salt
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$c2hvcnQ",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt[:10] + "\n" + salt[10:] + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + strings.ReplaceAll(salt, "A", "-") + "$" + key + "-",
	} {
		got, err := VerifyPassword(phc, "pw")
		if got || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want ErrMalformedHash", phc, got, err)
			continue
		}
		if strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q quotes the hash", err)
		}
		if !PasswordNeedsRehash(phc) {
			t.Errorf("malformed %q does not need rehashing", phc)
		}
	}
	// The smallest valid parameters parse (then simply do not match).
	if got, err := VerifyPassword(ok("m=8,t=1,p=1"), "pw"); got || err != nil {
		t.Errorf("minimal parameters: %v, %v", got, err)
	}
}

func TestDummyVerify(t *testing.T) {
	t.Parallel()
	// Its cost is shown by BenchmarkDummyVerify against BenchmarkVerifyPassword;
	// here, only that it uses the parameters of new hashes and does not panic.
	for _, pw := range []string{"", "x", strings.Repeat("x", MaxPasswordLen+1)} {
		DummyVerify(pw)
	}
	if len(dummySalt) != argonSaltLen || len(dummyKey) != argonKeyLen {
		t.Fatal("dummy hash does not have the shape of a real one")
	}
}
