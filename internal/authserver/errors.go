package authserver

import "net/http"

// The error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 8628 §3.5 and RFC 7009 §2.2.1.
const (
	ErrInvalidRequest          = "invalid_request"
	ErrInvalidClient           = "invalid_client"
	ErrInvalidGrant            = "invalid_grant"
	ErrUnauthorizedClient      = "unauthorized_client"
	ErrUnsupportedGrantType    = "unsupported_grant_type"
	ErrUnsupportedResponseType = "unsupported_response_type"
	ErrInvalidScope            = "invalid_scope"
	ErrAccessDenied            = "access_denied"
	ErrServerError             = "server_error"
	ErrAuthorizationPending    = "authorization_pending"
	ErrSlowDown                = "slow_down"
	ErrExpiredToken            = "expired_token"
	ErrUnsupportedTokenType    = "unsupported_token_type"
)

// Error is an OAuth error response: the code a client acts on and a description for
// the developer reading it. Descriptions never hold a secret or anything the client
// did not send, and keep to the characters RFC 6749 §5.2 allows (no '"' or '\').
type Error struct {
	Code        string
	Description string
}

func (e *Error) Error() string {
	if e.Description == "" {
		return "oauth: " + e.Code
	}
	return "oauth: " + e.Code + ": " + e.Description
}

// Status is the HTTP status of the error at the token, revocation and introspection
// endpoints: 401 for a client that failed to authenticate (RFC 6749 §5.2), 400 else.
func (e *Error) Status() int {
	if e.Code == ErrInvalidClient {
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}

func oauthErr(code, desc string) *Error { return &Error{Code: code, Description: desc} }
