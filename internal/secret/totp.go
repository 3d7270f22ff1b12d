package secret

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"io"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters, fixed to what every authenticator app implements (RFC 6238 with
// its defaults): HMAC-SHA-1, six digits, 30-second steps.
const (
	TOTPDigits = 6
	TOTPPeriod = 30 * time.Second
	// totpSecretLen is the size of new secrets: 160 bits, RFC 4226's recommendation.
	totpSecretLen = 20
	// minTOTPSecretLen is the least we accept from outside: 80 bits, the shortest
	// secret authenticator apps still hand out (RFC 4226 asks for 128).
	minTOTPSecretLen = 10
	maxTOTPSecretLen = 64
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a fresh 20-byte TOTP secret as authenticator apps take it:
// upper-case base32 without padding (32 characters).
func NewTOTPSecret(rand io.Reader) (string, error) {
	b := make([]byte, totpSecretLen)
	if err := readRandom(rand, b); err != nil {
		return "", err
	}
	return b32.EncodeToString(b), nil
}

// ParseTOTPSecret decodes a base32 TOTP secret as people copy it: any case, with
// spaces, with or without padding. Its errors never quote the input.
func ParseTOTPSecret(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			return -1
		case 'a' <= r && r <= 'z':
			return r - ('a' - 'A')
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, errors.New("secret: TOTP secret is empty")
	}
	b, err := b32.DecodeString(s)
	if err != nil {
		return nil, errors.New("secret: TOTP secret is not valid base32")
	}
	if len(b) < minTOTPSecretLen || len(b) > maxTOTPSecretLen {
		return nil, errors.New("secret: TOTP secret must be 10 to 64 bytes (16 to 103 base32 characters)")
	}
	return b, nil
}

// totpCounter is RFC 6238's T: whole steps since the Unix epoch (floored, so times
// before 1970 do not share step 0 with the first 30 seconds after it).
func totpCounter(t time.Time) int64 {
	sec := t.Unix()
	period := int64(TOTPPeriod / time.Second)
	c := sec / period
	if sec%period < 0 {
		c--
	}
	return c
}

// hotp writes the six-digit HOTP value (RFC 4226) of secret at counter into dst.
func hotp(dst *[TOTPDigits]byte, secret []byte, counter int64) {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	var sum [sha1.Size]byte
	h := m.Sum(sum[:0])
	off := h[len(h)-1] & 0x0f
	v := binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
	for i := TOTPDigits - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

// TOTPCode returns the code an authenticator app shows for secret at t.
func TOTPCode(secret []byte, t time.Time) string {
	var d [TOTPDigits]byte
	hotp(&d, secret, totpCounter(t))
	return string(d[:])
}

// VerifyTOTP checks code against secret at now, accepting the previous, current
// and next step for clock drift. It compares in constant time and returns the step
// counter that matched; the caller should store it and refuse any code whose
// counter is not greater than the last one used, so a code cannot be replayed.
// Spaces in code are ignored ("123 456").
func VerifyTOTP(secret []byte, code string, now time.Time) (counter int64, ok bool) {
	var in [TOTPDigits]byte
	n := 0
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c == ' ' {
			continue
		}
		if c < '0' || c > '9' || n == TOTPDigits {
			return 0, false
		}
		in[n] = c
		n++
	}
	if n != TOTPDigits || len(secret) == 0 {
		return 0, false
	}
	now0 := totpCounter(now)
	var want [TOTPDigits]byte
	match := 0
	for c := now0 - 1; c <= now0+1; c++ {
		hotp(&want, secret, c)
		// Every step is computed and compared, whether or not an earlier one
		// matched; on a (one-in-a-million) double match the later step wins, which
		// is the stricter choice for replay protection.
		eq := subtle.ConstantTimeCompare(in[:], want[:])
		mask := -int64(eq) // all ones on a match
		counter = c&mask | counter&^mask
		match |= eq
	}
	if match != 1 {
		return 0, false
	}
	return counter, true
}

// TOTPURI returns the otpauth:// URI of Google Authenticator's key URI format,
// the content of the enrolment QR code: otpauth://totp/Issuer:account?secret=…&
// issuer=Issuer&algorithm=SHA1&digits=6&period=30. The secret is normalised to
// upper case without spaces or padding.
func TOTPURI(issuer, account, b32secret string) string {
	secret := strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '=' || r == '\t' || r == '\n' || r == '\r':
			return -1
		case 'a' <= r && r <= 'z':
			return r - ('a' - 'A')
		}
		return r
	}, b32secret)
	label := labelEscape(account)
	if issuer != "" {
		label = labelEscape(issuer) + ":" + label
	}
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(label)
	b.WriteString("?secret=")
	b.WriteString(queryEscape(secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(queryEscape(issuer))
	}
	b.WriteString("&algorithm=SHA1&digits=6&period=30")
	return b.String()
}

// labelEscape escapes one part of the label: a path segment in which the colon
// that separates issuer from account must not appear literally, and in which some
// apps would read "+" as a space.
func labelEscape(s string) string {
	return strings.NewReplacer(":", "%3A", "+", "%2B").Replace(url.PathEscape(s))
}

// queryEscape escapes a query value with %20 for spaces, as the key URI format
// asks ("+" is not decoded as a space by every app).
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
