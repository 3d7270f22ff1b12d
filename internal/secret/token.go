package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Prefixes of the tokens we issue, one per core.TokenKind.
const (
	PrefixPersonal = "vcp_" // core.TokenPersonal: personal access token
	PrefixAccess   = "vco_" // core.TokenAccess: OAuth access token
	PrefixRefresh  = "vcr_" // core.TokenRefresh: OAuth refresh token
	PrefixSession  = "vcs_" // core.TokenSession: web console session
)

// Prefixes of the other secrets we issue in the token format. They never
// authenticate a request on their own, so ParseToken refuses them; check them with
// CheckSecret.
const (
	PrefixClientSecret = "vcas_" // an application's client secret
	PrefixAuthCode     = "vcac_" // an authorization code
	PrefixDeviceCode   = "vcdc_" // an RFC 8628 device code
	PrefixFlowState    = "vcst_" // the state parameter of an upstream flow
	PrefixAccessKey    = "vcsk_" // the secret half of an access-key pair (request signing)
)

const (
	// TokenBodyLen is the number of random base62 characters after the prefix:
	// 32·log2(62) ≈ 190.5 bits.
	TokenBodyLen = 32
	// TokenChecksumLen is the number of base62 characters of the CRC32 checksum;
	// 62^6 > 2^32, so six always suffice.
	TokenChecksumLen = 6
	// maxPrefixLen bounds Mint's prefix so tokens stay short enough for headers and
	// the stack buffer of HashTokenInto.
	maxPrefixLen = 16
)

// ErrMalformedToken is returned for text that cannot be a token or secret we
// issued: wrong prefix, length, alphabet or checksum. No database was consulted.
var ErrMalformedToken = errors.New("secret: malformed token")

// TokenPrefix returns the prefix of kind's tokens.
func TokenPrefix(kind core.TokenKind) (string, bool) {
	switch kind {
	case core.TokenPersonal:
		return PrefixPersonal, true
	case core.TokenAccess:
		return PrefixAccess, true
	case core.TokenRefresh:
		return PrefixRefresh, true
	case core.TokenSession:
		return PrefixSession, true
	}
	return "", false
}

// MintToken returns a new token of kind.
func MintToken(kind core.TokenKind, rand io.Reader) (string, error) {
	prefix, ok := TokenPrefix(kind)
	if !ok {
		return "", fmt.Errorf("secret: unknown token kind %q", kind)
	}
	return Mint(prefix, rand)
}

// Mint returns prefix followed by TokenBodyLen random base62 characters and the
// TokenChecksumLen-character checksum. The prefix is 1 to 16 characters of
// [A-Za-z0-9_] and should end with "_" so the body is easy to tell apart.
func Mint(prefix string, rand io.Reader) (string, error) {
	if !validPrefix(prefix) {
		return "", fmt.Errorf("secret: invalid token prefix %q", prefix)
	}
	b := make([]byte, 0, len(prefix)+TokenBodyLen+TokenChecksumLen)
	b = append(b, prefix...)
	b, err := randomString(b, rand, base62, TokenBodyLen)
	if err != nil {
		return "", err
	}
	b = appendChecksum(b, crc32String(string(b)))
	return string(b), nil
}

func validPrefix(p string) bool {
	if p == "" || len(p) > maxPrefixLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c != '_' && base62Index[c] == 0xFF {
			return false
		}
	}
	return true
}

// appendChecksum appends sum in base62, most significant digit first, zero-padded
// to TokenChecksumLen characters.
func appendChecksum(b []byte, sum uint32) []byte {
	var d [TokenChecksumLen]byte
	v := uint64(sum)
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = base62[v%62]
		v /= 62
	}
	return append(b, d[:]...)
}

// crc32String is crc32.ChecksumIEEE over a string without converting it to a byte
// slice (which would allocate: the standard function's argument escapes).
func crc32String(s string) uint32 {
	tab := crc32.IEEETable
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = tab[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// ParseToken checks that text is a well-formed token we could have issued (known
// prefix, exact length, base62 body, matching checksum) and returns its kind. It
// does no I/O and does not allocate; a nil error says nothing about whether the
// token exists.
func ParseToken(text string) (core.TokenKind, error) {
	// Every token prefix is "vc" + one letter + "_".
	if len(text) != 4+TokenBodyLen+TokenChecksumLen || text[0] != 'v' || text[1] != 'c' || text[3] != '_' {
		return "", ErrMalformedToken
	}
	var kind core.TokenKind
	switch text[2] {
	case 'p':
		kind = core.TokenPersonal
	case 'o':
		kind = core.TokenAccess
	case 'r':
		kind = core.TokenRefresh
	case 's':
		kind = core.TokenSession
	default:
		return "", ErrMalformedToken
	}
	if !checkBody(text, 4) {
		return "", ErrMalformedToken
	}
	return kind, nil
}

// CheckSecret checks that text is a well-formed secret minted with prefix (one of
// the Prefix constants, typically a non-token one such as PrefixAuthCode). Like
// ParseToken it does no I/O and does not allocate.
func CheckSecret(text, prefix string) error {
	if prefix == "" || len(text) != len(prefix)+TokenBodyLen+TokenChecksumLen || text[:len(prefix)] != prefix {
		return ErrMalformedToken
	}
	if !checkBody(text, len(prefix)) {
		return ErrMalformedToken
	}
	return nil
}

// checkBody checks the base62 body and the checksum of text, whose prefix (already
// checked) is text[:n] and whose length is already right.
func checkBody(text string, n int) bool {
	body := len(text) - TokenChecksumLen
	// One pass over the text: the CRC of prefix and body, and the body's alphabet.
	tab := crc32.IEEETable
	crc := ^uint32(0)
	bad := byte(0)
	for i := 0; i < body; i++ {
		c := text[i]
		if i >= n {
			bad |= base62Index[c] & 0x80 // 0xFF marks a byte outside base62
		}
		crc = tab[byte(crc)^c] ^ (crc >> 8)
	}
	var want uint64
	for i := body; i < len(text); i++ {
		d := base62Index[text[i]]
		bad |= d & 0x80
		want = want*62 + uint64(d)
	}
	// The checksum is not secret (anyone can compute it), so a plain comparison
	// is fine; it only saves a database read on typos.
	return bad == 0 && want == uint64(^crc)
}

// HashToken returns the SHA-256 of text: what the store keeps and looks tokens and
// secrets up by.
func HashToken(text string) []byte {
	var h [sha256.Size]byte
	HashTokenInto(&h, text)
	return h[:]
}

// HashTokenInto writes the SHA-256 of text to dst without allocating (for texts up
// to 128 bytes, which covers every token we issue).
func HashTokenInto(dst *[sha256.Size]byte, text string) {
	// []byte(text) would allocate for anything longer than 32 bytes; a stack copy
	// does not, because sha256.Sum256 does not let its argument escape.
	var buf [128]byte
	if len(text) <= len(buf) {
		n := copy(buf[:], text)
		*dst = sha256.Sum256(buf[:n])
		return
	}
	*dst = sha256.Sum256([]byte(text))
}

// LastEight returns the last eight characters of text (all of it when shorter),
// kept in clear so people can tell their tokens apart.
func LastEight(text string) string {
	if len(text) <= 8 {
		return text
	}
	return text[len(text)-8:]
}

// Equal reports whether a and b are equal, in time that depends only on their
// lengths.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
