package akskauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// CanonicalRequest is the SDK's canonical request of r (see the package comment),
// over the headers named in signedHeaders, with payloadHash as its last line. It
// reads r's method, escaped path, raw query, headers and Host, never its body. An
// escaped path or query that does not decode is an error wrapping ErrMalformed.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) (string, error) {
	uri, err := canonicalURI(r.URL)
	if err != nil {
		return "", err
	}
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(256)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	writeCanonicalHeaders(&b, r, signedHeaders)
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// canonicalURI escapes every segment of the path and ends it with "/". It works on
// the escaped path, segment by segment, so that an escaped "/" inside a segment
// stays inside it.
func canonicalURI(u *url.URL) (string, error) {
	segs := strings.Split(u.EscapedPath(), "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", malformed("the path does not decode")
		}
		segs[i] = escape(d)
	}
	p := strings.Join(segs, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, nil
}

// canonicalQuery decodes the raw query the way handlers read it (url.QueryUnescape:
// "+" is a space), sorts it and encodes it again. ";" is an ordinary character here.
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	params := map[string][]string{}
	for kv := range strings.SplitSeq(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return "", malformed("the query does not decode")
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", malformed("the query does not decode")
		}
		params[dk] = append(params[dk], dv)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := params[k]
		sort.Strings(vs)
		ek := escape(k)
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(ek)
			b.WriteByte('=')
			b.WriteString(escape(v))
		}
	}
	return b.String(), nil
}

// writeCanonicalHeaders writes "name:value\n" for every value of every signed
// header; a signed header the request lacks contributes nothing, as in the SDK.
func writeCanonicalHeaders(b *strings.Builder, r *http.Request, names []string) {
	for _, name := range names {
		var values []string
		if name == "host" {
			if r.Host != "" {
				values = []string{r.Host}
			}
		} else {
			values = slices.Clone(r.Header.Values(name))
		}
		sort.Strings(values)
		for _, v := range values {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
}

// StringToSign is what the signature is the HMAC of.
func StringToSign(t time.Time, canonicalRequest string) string {
	h := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + t.UTC().Format(DateFormat) + "\n" + hex.EncodeToString(h[:])
}

// Signature is HMAC-SHA256(sk, stringToSign).
func Signature(sk, stringToSign string) []byte {
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(stringToSign))
	return m.Sum(nil)
}

// PayloadHash is the lower-case hex SHA-256 of body.
func PayloadHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// Sign signs r as the SDK does at t with ak and sk: it sets X-Sdk-Date and
// Authorization, signing every header r carries but Content-Type and names with
// "_". body must be what r will send. It is for clients of ours and for tests.
func Sign(r *http.Request, body []byte, ak, sk string, t time.Time) error {
	r.Header.Set(HeaderDate, t.UTC().Format(DateFormat))
	r.Header.Del("Authorization")
	var names []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "content-type") || strings.Contains(lk, "_") {
			continue
		}
		names = append(names, lk)
	}
	sort.Strings(names)
	payload := PayloadHash(body)
	if v := r.Header.Get(HeaderContentSHA256); v != "" {
		payload = v
	}
	cr, err := CanonicalRequest(r, names, payload)
	if err != nil {
		return err
	}
	a := Authorization{AccessKey: ak, SignedHeaders: names, Signature: Signature(sk, StringToSign(t, cr))}
	r.Header.Set("Authorization", a.String())
	return nil
}

// escape percent-encodes everything but A–Z a–z 0–9 - _ . ~, with upper-case hex:
// the SDK's escape, which differs from url.PathEscape (that keeps more) and
// url.QueryEscape (that writes "+" for a space).
func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if shouldEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	t := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if shouldEscape(c) {
			t = append(t, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			t = append(t, c)
		}
	}
	return string(t)
}

func shouldEscape(c byte) bool {
	return !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~' || c == '.')
}
