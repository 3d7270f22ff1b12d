package secret

import (
	"net/url"
	"strings"
)

// RedactURL returns raw fit for an error message or a log line: a password in its
// user information is replaced (url.URL.Redacted), and when raw does not parse,
// whatever precedes its last "@" is dropped.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			return "…@" + raw[i+1:]
		}
		return raw
	}
	return u.Redacted()
}
