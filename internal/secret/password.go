package secret

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The argon2id parameters of new password hashes: OWASP's first recommendation
// (19 MiB, two passes, one lane), a 16-byte salt and a 32-byte key.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32

	// MaxPasswordLen bounds passwords in bytes; longer ones are refused rather than
	// hashed, so a request cannot make us hash megabytes.
	MaxPasswordLen = 1024
)

// Bounds on what VerifyPassword accepts from a stored hash, so a corrupt (or
// planted) row cannot make one sign-in allocate gigabytes or spin for minutes.
const (
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
	maxArgonTime   = 64
	minArgonSalt   = 8
	maxArgonSalt   = 64
	minArgonKey    = 16
	maxArgonKey    = 128
)

// ErrMalformedHash is returned by VerifyPassword for a stored hash it cannot parse.
var ErrMalformedHash = errors.New("secret: malformed password hash")

// argonParams is one parsed PHC string.
type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// HashPassword hashes pw with argon2id and a random 16-byte salt, in PHC string
// form: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
// It refuses an empty password and one longer than MaxPasswordLen bytes.
func HashPassword(pw string, rand io.Reader) (string, error) {
	if pw == "" {
		return "", errors.New("secret: password is empty")
	}
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("secret: password is longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if err := readRandom(rand, salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC string phc, with the
// parameters phc names. The error is for a malformed phc only; a wrong, empty or
// over-long password is (false, nil) after the same amount of work as a right one.
func VerifyPassword(phc, pw string) (bool, error) {
	p, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	valid := pw != "" && len(pw) <= MaxPasswordLen
	if !valid {
		pw = "" // never hash an unbounded input; still do the work below
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1 && valid, nil
}

// dummySalt and dummyKey stand in for a stored hash in DummyVerify.
var (
	dummySalt = make([]byte, argonSaltLen)
	dummyKey  = make([]byte, argonKeyLen)
)

// DummyVerify does the work of VerifyPassword against a hash with the current
// parameters and throws the result away. Call it when the username is unknown, so
// the response takes as long as for a known one and does not reveal which
// usernames exist.
func DummyVerify(pw string) {
	if pw == "" || len(pw) > MaxPasswordLen {
		pw = ""
	}
	key := argon2.IDKey([]byte(pw), dummySalt, argonTime, argonMemory, argonThreads, argonKeyLen)
	subtle.ConstantTimeCompare(key, dummyKey)
}

// PasswordNeedsRehash reports whether phc was made with other parameters than
// HashPassword uses now (or cannot be parsed), so a caller that has just verified
// the password may store a fresh hash of it.
func PasswordNeedsRehash(phc string) bool {
	p, err := parsePHC(phc)
	return err != nil || p.memory != argonMemory || p.time != argonTime || p.threads != argonThreads ||
		len(p.salt) != argonSaltLen || len(p.key) != argonKeyLen
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$key. Its errors never quote the
// input.
func parsePHC(phc string) (argonParams, error) {
	var p argonParams
	fields := strings.Split(phc, "$")
	if len(fields) != 6 || fields[0] != "" {
		return p, fmt.Errorf("%w: not a PHC string", ErrMalformedHash)
	}
	if fields[1] != "argon2id" {
		return p, fmt.Errorf("%w: algorithm is not argon2id", ErrMalformedHash)
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("%w: unsupported argon2 version", ErrMalformedHash)
	}
	params := strings.Split(fields[3], ",")
	if len(params) != 3 {
		return p, fmt.Errorf("%w: parameters are not m=…,t=…,p=…", ErrMalformedHash)
	}
	m, ok1 := phcParam(params[0], "m=", maxArgonMemory)
	t, ok2 := phcParam(params[1], "t=", maxArgonTime)
	th, ok3 := phcParam(params[2], "p=", 255)
	if !ok1 || !ok2 || !ok3 || t < 1 || th < 1 || m < 8*th {
		return p, fmt.Errorf("%w: parameters out of range", ErrMalformedHash)
	}
	p.memory, p.time, p.threads = m, t, uint8(th)
	var err error
	if p.salt, err = phcBase64(fields[4], minArgonSalt, maxArgonSalt); err != nil {
		return p, fmt.Errorf("%w: salt: %w", ErrMalformedHash, err)
	}
	if p.key, err = phcBase64(fields[5], minArgonKey, maxArgonKey); err != nil {
		return p, fmt.Errorf("%w: hash: %w", ErrMalformedHash, err)
	}
	return p, nil
}

// phcParam parses name followed by a decimal of at most limit.
func phcParam(s, name string, limit uint32) (uint32, bool) {
	digits, ok := strings.CutPrefix(s, name)
	if !ok || digits == "" || len(digits) > 10 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || v > uint64(limit) {
		return 0, false
	}
	return uint32(v), true
}

// phcBase64 decodes PHC's unpadded standard base64, strictly.
func phcBase64(s string, minLen, maxLen int) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("not base64")
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, errors.New("length out of range")
	}
	return b, nil
}
