package akskauth

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Names of the scheme.
const (
	// Algorithm is the scheme this package verifies.
	Algorithm = "SDK-HMAC-SHA256"
	// HeaderDate carries the signing time in DateFormat.
	HeaderDate = "X-Sdk-Date"
	// HeaderContentSHA256 declares the payload hash instead of the body's.
	HeaderContentSHA256 = "X-Sdk-Content-Sha256"
	// UnsignedPayload is HeaderContentSHA256's value for a body left unsigned.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// DateFormat is HeaderDate's layout (always UTC).
	DateFormat = "20060102T150405Z"
)

// Bounds of a header we parse: far above what the SDK sends, far below what would
// cost anything to look at.
const (
	maxHeaderLen     = 4096
	maxAccessKeyLen  = 128
	maxSignedHeaders = 64
	maxHeaderNameLen = 128
)

// Authorization is a parsed SDK-HMAC-SHA256 Authorization header.
type Authorization struct {
	AccessKey     string
	SignedHeaders []string // lower case, in the order sent
	Signature     []byte   // the HMAC-SHA256 (32 bytes)
}

// String formats a as the SDK does.
func (a Authorization) String() string {
	return fmt.Sprintf("%s Access=%s, SignedHeaders=%s, Signature=%s",
		Algorithm, a.AccessKey, strings.Join(a.SignedHeaders, ";"), hex.EncodeToString(a.Signature))
}

// IsSignatureScheme reports whether an Authorization header value belongs to the
// family of Huawei Cloud SDK signatures (SDK-HMAC-SHA256, SDK-HMAC-SM3,
// SDK-ECDSA-P256-SHA256, SDK-SM2-SM3, V11-HMAC-SHA256 …), which this package
// answers, verifying the first and refusing the others.
func IsSignatureScheme(v string) bool {
	scheme, _, _ := strings.Cut(strings.TrimLeft(v, " \t"), " ")
	return len(scheme) > 4 && (strings.EqualFold(scheme[:4], "SDK-") || strings.EqualFold(scheme, "V11-HMAC-SHA256"))
}

// ParseAuthorization parses an Authorization header value of the SDK-HMAC-SHA256
// scheme. It is strict: the three parameters exactly once each and nothing else,
// an access key of visible characters, SignedHeaders a non-empty list of lower-case
// header names, and a signature of 64 hex digits. Every failure wraps ErrMalformed
// (ErrUnsupportedAlgorithm for another scheme of the family).
func ParseAuthorization(v string) (Authorization, error) {
	if len(v) > maxHeaderLen {
		return Authorization{}, malformed("the Authorization header is too long")
	}
	v = strings.Trim(v, " \t")
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok {
		return Authorization{}, malformed("the Authorization header has no parameters")
	}
	if scheme != Algorithm {
		if IsSignatureScheme(v) {
			return Authorization{}, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, truncate(scheme, 32))
		}
		return Authorization{}, malformed("the Authorization scheme is not " + Algorithm)
	}
	var (
		a                     Authorization
		haveAK, haveSH, haveS bool
	)
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.Trim(part, " \t")
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return Authorization{}, malformed("a parameter of the Authorization header is not name=value")
		}
		switch key {
		case "Access":
			if haveAK {
				return Authorization{}, malformed("Access is repeated")
			}
			if !validAccessKey(val) {
				return Authorization{}, malformed("Access is not an access key")
			}
			a.AccessKey, haveAK = val, true
		case "SignedHeaders":
			if haveSH {
				return Authorization{}, malformed("SignedHeaders is repeated")
			}
			names, err := parseSignedHeaders(val)
			if err != nil {
				return Authorization{}, err
			}
			a.SignedHeaders, haveSH = names, true
		case "Signature":
			if haveS {
				return Authorization{}, malformed("Signature is repeated")
			}
			if len(val) != 64 {
				return Authorization{}, malformed("Signature is not 64 hex digits")
			}
			sig, err := hex.DecodeString(val)
			if err != nil {
				return Authorization{}, malformed("Signature is not 64 hex digits")
			}
			a.Signature, haveS = sig, true
		default:
			return Authorization{}, malformed("the Authorization header has an unknown parameter")
		}
	}
	switch {
	case !haveAK:
		return Authorization{}, malformed("Access is missing")
	case !haveSH:
		return Authorization{}, malformed("SignedHeaders is missing")
	case !haveS:
		return Authorization{}, malformed("Signature is missing")
	}
	return a, nil
}

func parseSignedHeaders(v string) ([]string, error) {
	if v == "" {
		return nil, malformed("SignedHeaders is empty")
	}
	names := strings.Split(v, ";")
	if len(names) > maxSignedHeaders {
		return nil, malformed("SignedHeaders names too many headers")
	}
	for i, n := range names {
		if !validHeaderName(n) {
			return nil, malformed("SignedHeaders holds something that is not a lower-case header name")
		}
		for _, m := range names[:i] {
			if m == n {
				return nil, malformed("SignedHeaders names a header twice")
			}
		}
	}
	return names, nil
}

// validAccessKey: 1 to maxAccessKeyLen visible ASCII characters, none of the
// header's own separators.
func validAccessKey(s string) bool {
	if s == "" || len(s) > maxAccessKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == '=' || c == '"' {
			return false
		}
	}
	return true
}

// validHeaderName: an RFC 9110 token in lower case. The SDK lower-cases the names it
// signs and looks their values up by those names, so an upper-case name would sign
// no value at all.
func validHeaderName(s string) bool {
	if s == "" || len(s) > maxHeaderNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
