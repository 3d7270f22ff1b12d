package akskauth

import (
	"fmt"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Why a signature was refused. Each wraps core.ErrUnauthenticated, so a dialect that
// only knows 401 needs nothing else; errors.Is tells them apart.
var (
	// ErrMalformed: the Authorization header, X-Sdk-Date or X-Sdk-Content-Sha256
	// cannot be read, or the request mixes a signature with other credentials.
	ErrMalformed = fmt.Errorf("%w: malformed request signature", core.ErrUnauthenticated)
	// ErrUnsupportedAlgorithm: another scheme of the SDK family (SM3, ECDSA,
	// derived keys), which we do not verify.
	ErrUnsupportedAlgorithm = fmt.Errorf("%w: unsupported signature algorithm; sign with %s", core.ErrUnauthenticated, Algorithm)
	// ErrBadSignature: the access key is unknown, belongs to nobody any more, or the
	// signature does not match the request. One error for all of these, so the
	// answer does not tell which access keys exist.
	ErrBadSignature = fmt.Errorf("%w: the access key is unknown or the signature does not match the request", core.ErrUnauthenticated)
	// ErrExpired: X-Sdk-Date is further from our clock than the window allows.
	ErrExpired = fmt.Errorf("%w: the request time (X-Sdk-Date) is outside the allowed window; check the client's clock", core.ErrUnauthenticated)
	// ErrReplayed: a state-changing request whose signature was seen already.
	ErrReplayed = fmt.Errorf("%w: this signed request was already received; sign the request again", core.ErrUnauthenticated)
	// ErrUnsignedPayload: UNSIGNED-PAYLOAD with a body.
	ErrUnsignedPayload = fmt.Errorf("%w: the request body must be signed (X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD is accepted only without a body)", core.ErrUnauthenticated)
)

func malformed(why string) error { return fmt.Errorf("%w: %s", ErrMalformed, why) }
