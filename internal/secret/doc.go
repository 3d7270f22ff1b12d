// Package secret holds every piece of cryptography vcsauth does itself: the keyring
// that encrypts secrets at rest, the tokens and other secrets we issue, ids, device
// codes, password hashes and TOTP second factors. Nothing here touches the store or
// the network, and every random choice comes from an injected io.Reader (nil means
// crypto/rand.Reader), so tests are reproducible.
//
// # Secrets at rest
//
// Upstream tokens, OAuth client secrets, SSH keys and TOTP seeds must be usable in
// clear later, so they are encrypted, not hashed. A [Keyring] holds one or more
// AES-256-GCM keys, each with a key id ("kid"); the first key encrypts and all of
// them decrypt, which is what makes key rotation possible: add a new key in front,
// run `vcsauth admin rotate-keys` ([Keyring.Reseal] on every value), then drop the
// old key. A sealed value ([core.Sealed]) is
//
//	<kid>.<base64url without padding of (12-byte nonce || ciphertext || 16-byte tag)>
//
// The kid travels beside the value so we know which key opens it, and it is also
// the GCM additional data, so a value cannot be relabelled to another key id. Keys
// are given as "kid:base64key" entries separated by commas (VCSAUTH_SECRET_KEYS, or
// the key file `serve` creates with mode 0600 on first start).
//
// # Tokens we issue
//
// Our tokens follow GitHub's format: a prefix that names the kind, 32 base62
// characters of uniform randomness (about 190 bits), and 6 base62 characters of the
// CRC32 of everything before them, e.g.
//
//	vcp_ + 32 random base62 + 6 checksum base62      (42 characters)
//
// The prefix lets people (and secret scanners) recognise a leaked token and tells us
// its kind. The checksum lets [ParseToken] refuse typos, truncations and random
// guesses without a database read; it is not a security measure, the 190 random bits
// are. The token text is never stored: only its SHA-256 ([HashToken]), which is
// enough to look it up (the text has full entropy, so a slow hash would add nothing),
// plus its last eight characters ([LastEight]) so people can tell tokens apart.
// Application client secrets, authorization codes, device codes and upstream flow
// states use the same format with their own prefixes ([CheckSecret]).
//
// # Passwords and second factors
//
// Passwords are hashed with argon2id in PHC string form with OWASP's parameters
// ([HashPassword]); the parameters are read back from each hash, so old hashes keep
// verifying after the defaults change. Each verification allocates about 19 MiB for a
// moment, so callers should bound how many run at once. TOTP follows RFC 6238 as
// authenticator apps implement it: SHA-1, 6 digits, 30-second steps.
package secret
