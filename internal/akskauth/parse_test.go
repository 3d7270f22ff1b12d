package akskauth_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/akskauth"
	"github.com/vcsauth/vcsauth/internal/core"
)

const validSig = "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	ok := []struct {
		name, in string
		ak       string
		signed   []string
	}{
		{"as the SDK writes it", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig, "AK1", []string{"x-sdk-date"}},
		{"several headers", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=user-agent;x-project-id;x-sdk-date, Signature=" + validSig, "AK1", []string{"user-agent", "x-project-id", "x-sdk-date"}},
		{"no spaces after commas", "SDK-HMAC-SHA256 Access=AK1,SignedHeaders=x-sdk-date,Signature=" + validSig, "AK1", []string{"x-sdk-date"}},
		{"other order, extra blanks", "  SDK-HMAC-SHA256 Signature=" + validSig + " ,  Access=AK1 ,\tSignedHeaders=host ", "AK1", []string{"host"}},
		{"upper-case hex", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + strings.ToUpper(validSig), "AK1", []string{"x-sdk-date"}},
		{"underscore header name", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x_custom, Signature=" + validSig, "AK1", []string{"x_custom"}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := akskauth.ParseAuthorization(tc.in)
			if err != nil {
				t.Fatalf("ParseAuthorization: %v", err)
			}
			if a.AccessKey != tc.ak || !slices.Equal(a.SignedHeaders, tc.signed) || len(a.Signature) != 32 {
				t.Fatalf("got %+v", a)
			}
		})
	}

	bad := []struct {
		name, in string
		want     error
	}{
		{"empty", "", akskauth.ErrMalformed},
		{"scheme only", "SDK-HMAC-SHA256", akskauth.ErrMalformed},
		{"scheme in lower case", "sdk-hmac-sha256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrUnsupportedAlgorithm},
		{"SM3", "SDK-HMAC-SM3 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrUnsupportedAlgorithm},
		{"derived", "V11-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrUnsupportedAlgorithm},
		{"bearer", "Bearer abc", akskauth.ErrMalformed},
		{"missing access", "SDK-HMAC-SHA256 SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrMalformed},
		{"missing signed headers", "SDK-HMAC-SHA256 Access=AK1, Signature=" + validSig, akskauth.ErrMalformed},
		{"missing signature", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date", akskauth.ErrMalformed},
		{"repeated access", "SDK-HMAC-SHA256 Access=AK1, Access=AK2, SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrMalformed},
		{"repeated signature", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig + ", Signature=" + validSig, akskauth.ErrMalformed},
		{"unknown parameter", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig + ", Nonce=1", akskauth.ErrMalformed},
		{"parameter name in lower case", "SDK-HMAC-SHA256 access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrMalformed},
		{"not name=value", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders, Signature=" + validSig, akskauth.ErrMalformed},
		{"empty access", "SDK-HMAC-SHA256 Access=, SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrMalformed},
		{"access with a quote", `SDK-HMAC-SHA256 Access="AK1", SignedHeaders=x-sdk-date, Signature=` + validSig, akskauth.ErrMalformed},
		{"access with a space", "SDK-HMAC-SHA256 Access=A K, SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrMalformed},
		{"access too long", "SDK-HMAC-SHA256 Access=" + strings.Repeat("A", 129) + ", SignedHeaders=x-sdk-date, Signature=" + validSig, akskauth.ErrMalformed},
		{"empty signed headers", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=, Signature=" + validSig, akskauth.ErrMalformed},
		{"empty signed header name", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;;x-sdk-date, Signature=" + validSig, akskauth.ErrMalformed},
		{"upper-case signed header", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=X-Sdk-Date, Signature=" + validSig, akskauth.ErrMalformed},
		{"signed header twice", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;host, Signature=" + validSig, akskauth.ErrMalformed},
		{"signed header with a colon", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=ho:st, Signature=" + validSig, akskauth.ErrMalformed},
		{"too many signed headers", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=" + strings.Repeat("a;", 64) + "b, Signature=" + validSig, akskauth.ErrMalformed},
		{"short signature", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig[:62], akskauth.ErrMalformed},
		{"signature not hex", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + strings.Repeat("g", 64), akskauth.ErrMalformed},
		{"too long", "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=" + strings.Repeat("a", 5000) + ", Signature=" + validSig, akskauth.ErrMalformed},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := akskauth.ParseAuthorization(tc.in)
			if !errors.Is(err, tc.want) || !errors.Is(err, core.ErrUnauthenticated) {
				t.Fatalf("ParseAuthorization(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestIsSignatureScheme(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"SDK-HMAC-SHA256 Access=a": true,
		"sdk-hmac-sm3 x":           true,
		"SDK-ECDSA-P256-SHA256 x":  true,
		"V11-HMAC-SHA256 x":        true,
		"Bearer x":                 false,
		"Basic x":                  false,
		"SDK-":                     false,
		"":                         false,
	} {
		if got := akskauth.IsSignatureScheme(in); got != want {
			t.Errorf("IsSignatureScheme(%q) = %v", in, got)
		}
	}
}

// FuzzParseAuthorization: the parser never panics; what it accepts formats back to
// a header that parses to the same thing; what it refuses is always a 401 error.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig,
		"SDK-HMAC-SHA256 Access=AK1,SignedHeaders=host;user-agent;x-sdk-date,Signature=" + validSig,
		"SDK-HMAC-SHA256 Signature=" + validSig + ", Access=x, SignedHeaders=a",
		"SDK-HMAC-SM3 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + validSig,
		"SDK-HMAC-SHA256 Access==, SignedHeaders=;, Signature=,",
		"SDK-HMAC-SHA256  ,,, ",
		"Bearer x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := akskauth.ParseAuthorization(s)
		if err != nil {
			if !errors.Is(err, core.ErrUnauthenticated) {
				t.Fatalf("error %v is not an authentication failure", err)
			}
			return
		}
		b, err := akskauth.ParseAuthorization(a.String())
		if err != nil {
			t.Fatalf("formatted %q does not parse: %v", a.String(), err)
		}
		if b.AccessKey != a.AccessKey || !slices.Equal(b.SignedHeaders, a.SignedHeaders) || !bytes.Equal(b.Signature, a.Signature) {
			t.Fatalf("round trip changed %+v into %+v", a, b)
		}
	})
}
