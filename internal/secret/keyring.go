package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
)

const (
	// KeySize is the size of a keyring key: AES-256.
	KeySize = 32
	// maxKeyIDLen bounds key ids, which are stored beside every sealed value.
	maxKeyIDLen = 32
	nonceSize   = 12
	tagSize     = 16
)

// Errors of Keyring.Open. Each error Open returns wraps exactly one of them.
var (
	// ErrMalformed: the text is not a sealed value at all.
	ErrMalformed = errors.New("secret: malformed sealed value")
	// ErrUnknownKey: the value names a key id the keyring does not hold (the
	// returned error is an *UnknownKeyError that names it).
	ErrUnknownKey = errors.New("secret: unknown key id")
	// ErrDecrypt: the key id is known but the value does not decrypt under it: it
	// was altered, or it was sealed by another key that carries the same id.
	ErrDecrypt = errors.New("secret: sealed value does not decrypt (altered, or sealed under another key with the same id)")
)

// UnknownKeyError is returned by Keyring.Open for a value sealed under a key the
// keyring does not hold, typically because an old key was dropped before
// `vcsauth admin rotate-keys` rewrote every value. It wraps ErrUnknownKey.
type UnknownKeyError struct {
	KeyID string
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("secret: value is sealed with key %q, which is not loaded", e.KeyID)
}

func (e *UnknownKeyError) Unwrap() error { return ErrUnknownKey }

// Keyring encrypts and decrypts secrets at rest with AES-256-GCM. It holds one or
// more keys, each with an id; the first seals, all open. A Keyring is immutable
// and safe for concurrent use as long as its random source is (crypto/rand.Reader
// is). Make one with ParseKeys or LoadOrCreateKeyFile; the zero Keyring is not
// usable.
//
// Nonces are 96 random bits, which keeps the chance of a repeat negligible for up
// to about 2^32 seals under one key; rotating keys now and then stays far below.
type Keyring struct {
	ids   []string // in the order given; ids[0] seals
	aeads map[string]cipher.AEAD
	rand  io.Reader
}

// ParseKeys builds a Keyring from "kid:base64key" entries separated by commas (or
// white space). Each key is standard or URL-safe base64, padded or not, of exactly
// 32 bytes; each kid is 1 to 32 characters of [A-Za-z0-9_-], unique. The first entry
// is the key that seals. rand supplies the nonces; nil means crypto/rand.Reader.
//
// Errors name an entry by its position (and its kid when the kid is valid); they
// never contain key material, so they can be logged.
func ParseKeys(s string, rand io.Reader) (*Keyring, error) {
	kr := &Keyring{aeads: make(map[string]cipher.AEAD), rand: reader(rand)}
	n := 0
	for entry := range strings.FieldsFuncSeq(s, isKeySeparator) {
		n++
		kid, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("secret: key %d is not of the form kid:base64key", n)
		}
		if !validKeyID(kid) {
			return nil, fmt.Errorf("secret: key %d has an invalid id: a key id is 1 to %d characters of A-Z, a-z, 0-9, _ and -", n, maxKeyIDLen)
		}
		if _, dup := kr.aeads[kid]; dup {
			return nil, fmt.Errorf("secret: key %d: id %q is used twice", n, kid)
		}
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("secret: key %d (%q): %w", n, kid, err)
		}
		block, err := aes.NewCipher(key)
		clear(key)
		if err != nil {
			return nil, fmt.Errorf("secret: key %d (%q): %w", n, kid, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secret: key %d (%q): %w", n, kid, err)
		}
		kr.ids = append(kr.ids, kid)
		kr.aeads[kid] = aead
	}
	if n == 0 {
		return nil, errors.New("secret: no keys given (expected kid:base64key, comma-separated)")
	}
	return kr, nil
}

func isKeySeparator(r rune) bool {
	return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
}

func validKeyID(kid string) bool {
	if kid == "" || len(kid) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if c := kid[i]; c != '-' && c != '_' && base62Index[c] == 0xFF {
			return false
		}
	}
	return true
}

// decodeKey decodes a key in standard or URL-safe base64, padded or not. Its
// errors never quote the input.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	std := strings.ContainsAny(s, "+/")
	url := strings.ContainsAny(s, "-_")
	if std && url {
		return nil, errors.New("key mixes standard and URL-safe base64")
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
	}
	// Go's decoder skips \r and \n; entries cannot contain them, but be explicit.
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("key is not valid base64")
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("key is not valid base64")
	}
	if len(key) != KeySize {
		clear(key)
		return nil, fmt.Errorf("key decodes to %d bytes, want %d (generate one with `openssl rand -base64 32`)", len(key), KeySize)
	}
	return key, nil
}

// PrimaryID returns the id of the key that seals.
func (kr *Keyring) PrimaryID() string { return kr.ids[0] }

// KeyIDs returns the ids of every key, the sealing one first.
func (kr *Keyring) KeyIDs() []string { return append([]string(nil), kr.ids...) }

// Seal encrypts plaintext under the primary key with a fresh random nonce. An
// empty plaintext gives the empty Sealed, which means "no secret".
func (kr *Keyring) Seal(plaintext []byte) (core.Sealed, error) {
	if len(plaintext) == 0 {
		return "", nil
	}
	kid := kr.ids[0]
	aead := kr.aeads[kid]
	raw := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	if err := readRandom(kr.rand, raw); err != nil {
		return "", err
	}
	raw = aead.Seal(raw, raw[:nonceSize], plaintext, []byte(kid))
	out := make([]byte, 0, len(kid)+1+base64.RawURLEncoding.EncodedLen(len(raw)))
	out = append(out, kid...)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, raw)
	return core.Sealed(out), nil
}

// SealString is Seal for a string.
func (kr *Keyring) SealString(plaintext string) (core.Sealed, error) {
	return kr.Seal([]byte(plaintext))
}

// Open decrypts a value made by Seal under any of the keyring's keys. The empty
// Sealed gives nil. Errors wrap ErrMalformed, ErrUnknownKey or ErrDecrypt.
func (kr *Keyring) Open(s core.Sealed) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	kid, raw, err := splitSealed(s)
	if err != nil {
		return nil, err
	}
	aead, ok := kr.aeads[kid]
	if !ok {
		return nil, &UnknownKeyError{KeyID: kid}
	}
	pt, err := aead.Open(nil, raw[:nonceSize], raw[nonceSize:], []byte(kid))
	if err != nil {
		return nil, ErrDecrypt
	}
	if pt == nil {
		pt = []byte{} // a sealed empty value (Seal never makes one) is not "no secret"
	}
	return pt, nil
}

// OpenString is Open for a string; the empty Sealed gives "".
func (kr *Keyring) OpenString(s core.Sealed) (string, error) {
	pt, err := kr.Open(s)
	return string(pt), err
}

// Reseal returns s sealed under the primary key, for `vcsauth admin rotate-keys`.
// When s is already sealed under it (or empty), Reseal checks that it opens and
// returns it unchanged with changed false, so a second rotation rewrites nothing
// and the count of changed values is the count of real rewrites. On error it
// returns s unchanged; the error is Open's.
func (kr *Keyring) Reseal(s core.Sealed) (out core.Sealed, changed bool, err error) {
	pt, err := kr.Open(s)
	if err != nil || s == "" {
		return s, false, err
	}
	defer clear(pt)
	if kid, _, _ := strings.Cut(string(s), "."); kid == kr.ids[0] {
		return s, false, nil
	}
	out, err = kr.Seal(pt)
	if err != nil {
		return s, false, err
	}
	return out, true, nil
}

// splitSealed parses "<kid>.<base64url>" strictly: a valid kid, canonical unpadded
// base64url (nothing the decoder would skip), and room for a nonce and a tag.
func splitSealed(s core.Sealed) (kid string, raw []byte, err error) {
	kid, b64, ok := strings.Cut(string(s), ".")
	if !ok || !validKeyID(kid) {
		return "", nil, ErrMalformed
	}
	if base64.RawURLEncoding.DecodedLen(len(b64)) < nonceSize+tagSize {
		return "", nil, ErrMalformed
	}
	for i := 0; i < len(b64); i++ {
		if c := b64[i]; c != '-' && c != '_' && base62Index[c] == 0xFF {
			return "", nil, ErrMalformed
		}
	}
	raw, err = base64.RawURLEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) < nonceSize+tagSize {
		return "", nil, ErrMalformed
	}
	return kid, raw, nil
}
