package secret

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// base62 is the alphabet of token bodies, checksums and ids, in the usual order of
// base62 libraries (digits, upper case, lower case) so the checksum digits are the
// ones a person would compute with one. Changing it invalidates every token issued.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base36 is the lower-case alphabet of OAuth client ids.
const base36 = "0123456789abcdefghijklmnopqrstuvwxyz"

// userCodeAlphabet is RFC 8628 §6.1's example: consonants only, so no word can be
// spelled by accident and no letter is mistaken for a digit.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// errNoRandom is returned when the random source fails; a caller can do nothing
// sensible but fail the request.
var errNoRandom = errors.New("secret: reading random bytes failed")

func reader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// readRandom fills b from r, wrapping the reader's error.
func readRandom(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(reader(r), b); err != nil {
		return fmt.Errorf("%w: %w", errNoRandom, err)
	}
	return nil
}

// randomString appends n characters drawn uniformly from alphabet to dst.
// It draws whole bytes and rejects those at or above the largest multiple of
// len(alphabet), so every character is equally likely (no modulo bias).
func randomString(dst []byte, r io.Reader, alphabet string, n int) ([]byte, error) {
	if len(alphabet) < 2 || len(alphabet) > 256 {
		panic("secret: bad alphabet")
	}
	limit := 256 - 256%len(alphabet) // bytes >= limit are rejected
	var buf [64]byte
	for n > 0 {
		// Ask for a little more than needed so one read usually suffices.
		want := min(n+n/8+2, len(buf))
		if err := readRandom(r, buf[:want]); err != nil {
			return dst, err
		}
		for _, b := range buf[:want] {
			if n == 0 {
				break
			}
			if int(b) >= limit {
				continue
			}
			dst = append(dst, alphabet[int(b)%len(alphabet)])
			n--
		}
	}
	return dst, nil
}

// base62Index maps a byte to its value in base62, or 0xFF.
var base62Index = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = byte(i)
	}
	return t
}()
