// Package authserver is the downstream engine: vcsauth as an OAuth 2.0 authorization
// server for the platform's own applications. It owns applications (registration,
// secrets, the built-in CLI application), grants, the tokens issued under them, and
// the rules of every flow: the authorization code flow with PKCE (RFC 6749 §4.1,
// RFC 7636), refresh with rotation (RFC 9700 §4.14), the device flow (RFC 8628),
// revocation (RFC 7009), introspection (RFC 7662) and the server metadata (RFC 8414,
// RFC 9207).
//
// The engine speaks no HTTP: the standard endpoints live in authserver/oauthhttp and
// the dialects (GitLab's Applications API, GitHub's OAuth Authorizations API) call the
// same methods, so the rules cannot drift apart between them.
//
// Decisions worth knowing:
//
//   - Secrets, codes and tokens are minted by internal/secret and stored as SHA-256
//     only; a client secret is compared by hash in constant time.
//   - Every access token and refresh token that descends from one authorization code
//     or one device authorization shares a FamilyID. A replayed code, a replayed
//     device code or a rotated refresh token presented again revokes the whole family.
//   - Refresh tokens rotate on every use. The new refresh token keeps the scopes of the
//     old one (RFC 6749 §6); only the access token may be narrowed with "scope".
//   - Redirect URIs match exactly, except that a loopback http URI matches on any port
//     (RFC 8252 §7.3). Errors about the client or its redirect URI are never sent to
//     the redirect URI (ErrorRedirectable).
//   - PKCE with S256 is required of public clients and accepted from all; "plain" is
//     refused, and a verifier for a code issued without a challenge is refused
//     (the downgrade of RFC 9700 §2.1.1).
//   - Introspection answers only about tokens issued to the calling (confidential)
//     application; anything else is {"active": false} (RFC 7662 §4 leaves the choice
//     to the server; this one tells nobody about tokens that are not theirs).
package authserver
