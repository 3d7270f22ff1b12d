package secret

import (
	"encoding/base32"
	"regexp"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B, SHA-1 rows; authenticator apps show the last six digits.
var rfc6238 = []struct {
	unix  int64
	code8 string
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

var rfcSecret = []byte("12345678901234567890")

func TestTOTPCodeRFC6238(t *testing.T) {
	t.Parallel()
	for _, tc := range rfc6238 {
		now := time.Unix(tc.unix, 0)
		want := tc.code8[2:]
		if got := TOTPCode(rfcSecret, now); got != want {
			t.Errorf("TOTPCode(%d) = %s, want %s", tc.unix, got, want)
		}
		counter, ok := VerifyTOTP(rfcSecret, want, now)
		if !ok || counter != tc.unix/30 {
			t.Errorf("VerifyTOTP(%d) = %d, %v; want %d", tc.unix, counter, ok, tc.unix/30)
		}
	}
	// The same secret as an app would receive it.
	b32secret := base32.StdEncoding.EncodeToString(rfcSecret)
	sec, err := ParseTOTPSecret(strings.ToLower(b32secret))
	if err != nil || string(sec) != string(rfcSecret) {
		t.Fatalf("ParseTOTPSecret = %q, %v", sec, err)
	}
}

func TestVerifyTOTPWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1234567890, 0) // the first second of step 41152263
	step := now.Unix() / 30
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{
		{-90 * time.Second, false},
		{-61 * time.Second, false},
		{-60 * time.Second, false}, // two steps back
		{-30 * time.Second, true},
		{-1 * time.Second, true},
		{0, true},
		{29 * time.Second, true},
		{30 * time.Second, true},
		{59 * time.Second, true},
		{60 * time.Second, false},
		{90 * time.Second, false},
	} {
		code := TOTPCode(rfcSecret, now.Add(tc.offset))
		counter, ok := VerifyTOTP(rfcSecret, code, now)
		if ok != tc.ok {
			t.Errorf("code of now%+v: ok %v, want %v", tc.offset, ok, tc.ok)
			continue
		}
		if ok && counter != totpCounter(now.Add(tc.offset)) {
			t.Errorf("code of now%+v: counter %d, want %d", tc.offset, counter, totpCounter(now.Add(tc.offset)))
		}
		if ok && (counter < step-1 || counter > step+1) {
			t.Errorf("counter %d outside the window", counter)
		}
		if !ok && counter != 0 {
			t.Errorf("counter %d on failure", counter)
		}
	}
}

func TestVerifyTOTPInputs(t *testing.T) {
	t.Parallel()
	now := time.Unix(1111111111, 0)
	good := TOTPCode(rfcSecret, now)
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{good, true},
		{good[:3] + " " + good[3:], true},
		{" " + good + " ", true},
		{good[:5], false},
		{good + "0", false},
		{"", false},
		{"      ", false},
		{good[:5] + "x", false},
		{good[:5] + "٣", false}, // Arabic-Indic digit
		{"-" + good[1:], false},
		{good[:3] + "-" + good[3:], false},
		{"14050471", false}, // the eight-digit form
	} {
		if _, ok := VerifyTOTP(rfcSecret, tc.code, now); ok != tc.ok {
			t.Errorf("VerifyTOTP(%q) = %v, want %v", tc.code, ok, tc.ok)
		}
	}
	if _, ok := VerifyTOTP(nil, good, now); ok {
		t.Error("empty secret verified")
	}
	wrong := []byte("12345678901234567891")
	if _, ok := VerifyTOTP(wrong, good, now); ok {
		t.Error("other secret verified")
	}
}

func TestTOTPCounterBeforeEpoch(t *testing.T) {
	t.Parallel()
	for unix, want := range map[int64]int64{0: 0, 29: 0, 30: 1, -1: -1, -30: -1, -31: -2} {
		if got := totpCounter(time.Unix(unix, 0)); got != want {
			t.Errorf("totpCounter(%d) = %d, want %d", unix, got, want)
		}
	}
}

func TestNewTOTPSecret(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[A-Z2-7]{32}$`)
	rnd := newDetRand("totp")
	s1, err := NewTOTPSecret(rnd)
	if err != nil || !re.MatchString(s1) {
		t.Fatalf("NewTOTPSecret = %q, %v", s1, err)
	}
	s2, _ := NewTOTPSecret(rnd)
	if s1 == s2 {
		t.Fatal("two equal secrets")
	}
	b, err := ParseTOTPSecret(s1)
	if err != nil || len(b) != 20 {
		t.Fatalf("ParseTOTPSecret = %d bytes, %v", len(b), err)
	}
	if _, err := NewTOTPSecret(failRand{}); err == nil {
		t.Fatal("failing source: no error")
	}
}

func TestParseTOTPSecret(t *testing.T) {
	t.Parallel()
	want := []byte("Hello!\xde\xad\xbe\xef") // 10 bytes: JBSWY3DPEHPK3PXP
	for _, in := range []string{
		"JBSWY3DPEHPK3PXP",
		"jbswy3dpehpk3pxp",
		"JBSW Y3DP EHPK 3PXP",
		"jbsw y3dp\tehpk 3pxp\n",
		"JBSWY3DPEHPK3PXP======",
	} {
		got, err := ParseTOTPSecret(in)
		if err != nil || string(got) != string(want) {
			t.Errorf("ParseTOTPSecret(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{
		"",
		"   ",
		"====",
		"JBSWY3DP",          // 5 bytes: too short
		"JBSWY3DPEHPK3PX1",  // 1 is not base32
		"JBSWY3DPEHPK3PX0",  // 0 neither
		"JBSWY3DPEHPK3PXP9", // bad length
		"JBSWY3DP-EHPK3PXP",
		strings.Repeat("A", 104), // 65 bytes: too long
		"ЈBSWY3DPEHPK3PXP",       // Cyrillic Ј
	} {
		if b, err := ParseTOTPSecret(in); err == nil {
			t.Errorf("ParseTOTPSecret(%q) = %x", in, b)
		} else if len(in) > 8 && strings.Contains(err.Error(), in) {
			t.Errorf("error %q quotes the secret", err)
		}
	}
}

func TestTOTPURI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ issuer, account, secret, want string }{
		{"vcsauth", "alice", "JBSWY3DPEHPK3PXP",
			"otpauth://totp/vcsauth:alice?secret=JBSWY3DPEHPK3PXP&issuer=vcsauth&algorithm=SHA1&digits=6&period=30"},
		{"ACME Co", "alice@example.com", "jbsw y3dp ehpk 3pxp====",
			"otpauth://totp/ACME%20Co:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"},
		{"a:b/c?d&e#f", "x:y z+%", "JBSWY3DPEHPK3PXP",
			"otpauth://totp/a%3Ab%2Fc%3Fd&e%23f:x%3Ay%20z%2B%25?secret=JBSWY3DPEHPK3PXP&issuer=a%3Ab%2Fc%3Fd%26e%23f&algorithm=SHA1&digits=6&period=30"},
		{"", "bob", "JBSWY3DPEHPK3PXP",
			"otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30"},
		{"Straße", "ü", "JBSWY3DPEHPK3PXP",
			"otpauth://totp/Stra%C3%9Fe:%C3%BC?secret=JBSWY3DPEHPK3PXP&issuer=Stra%C3%9Fe&algorithm=SHA1&digits=6&period=30"},
	} {
		if got := TOTPURI(tc.issuer, tc.account, tc.secret); got != tc.want {
			t.Errorf("TOTPURI(%q, %q)\n got %s\nwant %s", tc.issuer, tc.account, got, tc.want)
		}
	}
}
