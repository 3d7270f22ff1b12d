package oauthhttp

import (
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/vcsauth/vcsauth/internal/authserver"
)

// Bounds on client credentials: ours are far shorter.
const (
	maxClientIDLen     = 256
	maxClientSecretLen = 512
)

// parseClientAuth reads the client's credentials (RFC 6749 §2.3.1): HTTP Basic with
// the form-urlencoded client_id and client_secret (client_secret_basic), or
// client_id and client_secret in the body (client_secret_post), or client_id alone
// for a public client (none). A client may use one method only: Basic together with a
// client_secret in the body is refused, and a client_id in the body must then agree
// with Basic's (x/oauth2 sends both for the device flow). Other Authorization schemes
// are ignored. The returned credentials say whether Basic was used even on error, so
// the caller can add WWW-Authenticate.
func parseClientAuth(authorization []string, form map[string][]string) (authserver.ClientCredentials, error) {
	var c authserver.ClientCredentials
	bad := func(desc string) (authserver.ClientCredentials, error) {
		return c, &authserver.Error{Code: authserver.ErrInvalidClient, Description: desc}
	}
	badReq := func(desc string) (authserver.ClientCredentials, error) {
		return c, &authserver.Error{Code: authserver.ErrInvalidRequest, Description: desc}
	}
	for _, v := range authorization {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Basic") {
			continue
		}
		if c.Basic {
			return badReq("only one Authorization header may carry client credentials")
		}
		c.Basic = true
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return bad("malformed Basic credentials")
		}
		id, sec, ok := strings.Cut(string(raw), ":")
		if !ok {
			return bad("malformed Basic credentials")
		}
		if id, err = url.QueryUnescape(id); err != nil {
			return bad("malformed Basic credentials")
		}
		if sec, err = url.QueryUnescape(sec); err != nil {
			return bad("malformed Basic credentials")
		}
		c.ClientID, c.Secret = id, sec
	}
	ids, secrets := form["client_id"], form["client_secret"]
	if len(ids) > 1 || len(secrets) > 1 {
		return badReq("client_id and client_secret must appear at most once")
	}
	if c.Basic {
		if len(secrets) == 1 {
			return badReq("use one client authentication method: Basic or client_secret in the body, not both")
		}
		if len(ids) == 1 && ids[0] != c.ClientID {
			return badReq("client_id in the body differs from the one in the Authorization header")
		}
	} else {
		if len(ids) == 1 {
			c.ClientID = ids[0]
		}
		if len(secrets) == 1 {
			c.Secret = secrets[0]
		}
	}
	switch {
	case c.ClientID == "":
		return bad("client authentication is missing")
	case len(c.ClientID) > maxClientIDLen || len(c.Secret) > maxClientSecretLen:
		return bad("client authentication failed")
	case !printable(c.ClientID) || !printable(c.Secret):
		return bad("client authentication failed")
	}
	return c, nil
}

// printable: visible ASCII only, so nothing odd reaches a lookup or a log.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
