// Package akskauth verifies the request signatures that Huawei Cloud's SDKs make
// with an access key (AK) and secret key (SK): the SDK-HMAC-SHA256 scheme of
// huaweicloud-sdk-go-v3's core/auth/signer, with which the ServiceStage dialect's
// clients authenticate. An access key belongs to a user (`vcsauth admin access-key
// create`); a request that verifies is that user, with the scope api.
//
// # The scheme, as the SDK signs
//
//	Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2;…>, Signature=<hex>
//	X-Sdk-Date:    20060102T150405Z   (UTC)
//
// The canonical request is six lines joined by "\n":
//
//	METHOD
//	URI      every path segment percent-encoded (A–Z a–z 0–9 - _ . ~ stay, everything
//	         else becomes %XX in upper case), joined by "/", always ending in "/"
//	QUERY    the parameters decoded, sorted by name and then by value (bytes), each
//	         encoded like a path segment as name=value, joined by "&"
//	HEADERS  for each name of SignedHeaders, in its order: name:value with the value
//	         trimmed (the values of a repeated header sorted, one line each), every
//	         line ending in "\n"; host is the request's Host
//	SIGNED   SignedHeaders as sent ("a;b;c", lower case)
//	PAYLOAD  the lower-case hex SHA-256 of the body, or the value of
//	         X-Sdk-Content-Sha256 when the request carries one (the SDK sends
//	         UNSIGNED-PAYLOAD with bodies that are not JSON)
//
// The string to sign is "SDK-HMAC-SHA256\n" + X-Sdk-Date + "\n" + hex(SHA-256(canonical
// request)), and the signature hex(HMAC-SHA256(SK, string to sign)). The SDK signs
// every header it set itself (User-Agent, X-Project-Id, X-Sdk-Date …) but
// Content-Type and names with "_"; it never signs host.
//
// # What the verifier adds
//
//   - The signature is compared in constant time; an unknown AK and a wrong signature
//     get the same answer.
//   - X-Sdk-Date must be within MaxSkew (15 minutes) of our clock, either way. A
//     signature — replayed or not — outside that window is refused.
//   - A declared X-Sdk-Content-Sha256 must be the body's hash, and UNSIGNED-PAYLOAD is
//     accepted only for a request without a body: a body nobody signed would let
//     whoever holds a captured request change what it asks for.
//   - The body is read once (up to MaxBody bytes) and put back, so the handler reads
//     the same bytes that were verified.
//   - A request that also carries one of our token headers is refused: a request is
//     one caller.
//
// # Replays within the window
//
// The signature covers the method, path, query, signed headers, body and date, so a
// replay can only repeat exactly the same request, and only within the window. What
// we do about that:
//
//   - Safe requests (GET, HEAD, OPTIONS) may be repeated within the window. Repeating
//     a read tells the replayer nothing the captured request did not (the answers
//     hold no secrets), and Go's transport itself retries idempotent requests.
//   - State-changing requests (POST, PUT, PATCH, DELETE) are refused when their
//     signature was already seen, by a ReplayGuard. The default guard is in memory
//     (NewMemoryGuard): it holds for the replica that saw the request, not across
//     replicas. A guard shared by replicas needs a table in the database (a unique
//     key per signature, expiring with the window); Options.Replay takes one when it
//     exists.
//   - Across replicas, the ServiceStage endpoints bound what a replay can do: a
//     create repeats a name that is then taken, an OAuth completion repeats a state
//     that is single use, and only a delete can be repeated with an effect — on an
//     authorization of the same name created again within the window.
//   - Two identical state-changing requests signed in the same second are
//     indistinguishable from a replay; the second is refused.
//
// The guard is told about a signature only after it verified, so only holders of a
// valid key can fill it; when full it forgets the oldest signatures first.
package akskauth
