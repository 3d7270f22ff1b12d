package secret

import (
	"fmt"
	"io"
)

const (
	// idRandLen is the number of base62 characters of an id: ≈95 bits, so ids
	// never collide in practice and cannot be enumerated.
	idRandLen = 16
	// clientIDLen is the length of an application's client_id: ≈103 bits.
	clientIDLen = 20
	// UserCodeLen is the number of characters of a device-flow user code, without
	// the dash: 20^8 ≈ 2^34.6 codes (RFC 8628 §6.1).
	UserCodeLen = 8
)

// NewID returns prefix + "-" + 16 random base62 characters, e.g. "user-…",
// "org-…", "prj-…", "oc-…", "ot-…", "fs-…". The prefix is 1 to 16 characters of
// [A-Za-z0-9_].
func NewID(prefix string, rand io.Reader) (string, error) {
	if !validPrefix(prefix) {
		return "", fmt.Errorf("secret: invalid id prefix %q", prefix)
	}
	b := make([]byte, 0, len(prefix)+1+idRandLen)
	b = append(b, prefix...)
	b = append(b, '-')
	b, err := randomString(b, rand, base62, idRandLen)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// NewClientID returns a public OAuth client_id for an application: 20 random
// characters of [0-9a-z]. Lower case only, because some clients and proxies treat
// client ids case-insensitively.
func NewClientID(rand io.Reader) (string, error) {
	b, err := randomString(make([]byte, 0, clientIDLen), rand, base36, clientIDLen)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// NewUserCode returns a device-flow user code in display form, "XXXX-XXXX", of
// eight characters from "BCDFGHJKLMNPQRSTVWXZ" (RFC 8628 §6.1: no vowels, so no
// words; no digits, so nothing to confuse). Store NormalizeUserCode of it.
func NewUserCode(rand io.Reader) (string, error) {
	b, err := randomString(make([]byte, 0, UserCodeLen+1), rand, userCodeAlphabet, UserCodeLen)
	if err != nil {
		return "", err
	}
	return string(b[:4]) + "-" + string(b[4:]), nil
}

// NormalizeUserCode turns what a person typed into the stored form of a user code:
// ASCII upper case, without dashes or spaces. It returns "" when the result cannot
// be a code NewUserCode made, so callers can answer without a database read.
func NormalizeUserCode(s string) string {
	if len(s) > 4*UserCodeLen { // generous room for separators; refuse the rest
		return ""
	}
	var out [UserCodeLen]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ' || c == '\t':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if n == UserCodeLen || !isUserCodeChar(c) {
			return ""
		}
		out[n] = c
		n++
	}
	if n != UserCodeLen {
		return ""
	}
	return string(out[:])
}

func isUserCodeChar(c byte) bool {
	for i := 0; i < len(userCodeAlphabet); i++ {
		if userCodeAlphabet[i] == c {
			return true
		}
	}
	return false
}
