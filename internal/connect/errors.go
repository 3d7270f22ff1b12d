package connect

import (
	"errors"
	"fmt"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Errors of the flows. API packages map them with errors.Is / errors.As; besides
// these the engine returns the core's errors (core.ErrNotFound, core.ErrForbidden,
// core.ErrUnauthenticated, *core.ValidationError).
var (
	// ErrFlowInvalid: the state parameter is not one we issued for this client, or it
	// was used already, or it expired (forged, replayed, stale). Nothing was created.
	ErrFlowInvalid = errors.New("connect: this sign-in link is invalid, already used or expired; start again")
	// ErrFlowNotYours: the state belongs to a flow someone else started. The flow is
	// left as it was, so its owner can still finish it.
	ErrFlowNotYours = errors.New("connect: this sign-in was started by another person")
	// ErrDeviceUnsupported: the client's provider has no device flow, or the client
	// turned it off.
	ErrDeviceUnsupported = errors.New("connect: this OAuth client has no device flow")
)

// Device flow poll answers (RFC 8628 §3.5), matched with errors.Is against the
// *DeviceError a poll returns.
var (
	ErrAuthorizationPending = errors.New("authorization_pending")
	ErrSlowDown             = errors.New("slow_down")
	ErrExpiredToken         = errors.New("expired_token")
	ErrAccessDenied         = errors.New("access_denied")
)

// DeviceError is the answer of one device-flow poll that did not end in a
// connection. Code is the RFC 8628 error code; Interval, for slow_down, is the
// interval the caller must keep from now on.
type DeviceError struct {
	Code     string
	Interval time.Duration
	kind     error
}

func (e *DeviceError) Error() string { return e.Code }

// Is matches the sentinel of the code.
func (e *DeviceError) Is(target error) bool { return target == e.kind }

func deviceError(kind error, interval time.Duration) *DeviceError {
	return &DeviceError{Code: kind.Error(), Interval: interval, kind: kind}
}

// ConsentError: the provider sent the browser back with an error instead of a code
// (the person refused, or the provider refused the request).
type ConsentError struct {
	Code        string // "access_denied", "invalid_scope", …
	Description string
}

func (e *ConsentError) Error() string {
	if e.Code == "access_denied" {
		return "connect: access was not granted at the provider"
	}
	s := "connect: the provider refused the authorization: " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// ProviderError: a call to the provider failed in a way the person cannot fix —
// timeout, network, 5xx, an answer we cannot read, or the provider refusing the
// OAuth client's credentials. Err is the forge's classified error (forge.IsTransient,
// errors.Is(err, forge.ErrInvalidClient) …); its text never holds a token.
type ProviderError struct {
	Op  string // "code exchange", "refresh", "user lookup", …
	Err error
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("connect: %s at the provider failed: %v", e.Op, e.Err)
}
func (e *ProviderError) Unwrap() error { return e.Err }

// NotLinkedError: the caller has no usable connection for what they asked. LinkURL
// is where they can make one (or make it again); API packages send people there.
// Reason says why an existing connection cannot serve (it needs re-authorization,
// the provider revoked it), or is empty when there is none.
type NotLinkedError struct {
	ProviderID    string // the client's slug or oc- id
	OAuthClientID string
	LinkURL       string
	ConnectionID  string // the connection that cannot serve, if any
	Health        core.Health
	Reason        string
}

func (e *NotLinkedError) Error() string {
	if e.Reason != "" {
		return "connect: the linked account must be authorized again (" + e.Reason + "): " + e.LinkURL
	}
	return "connect: no linked account; link one at " + e.LinkURL
}

// Is makes a NotLinkedError a core.ErrNotFound too, for dialects that only know 404.
func (e *NotLinkedError) Is(target error) bool { return target == core.ErrNotFound }

// RefreshError: a refresh did not give a usable token. Health and Reason are what
// was recorded on the connection; Err is the provider's answer (nil when another
// replica's refresh failed and this one only read the outcome).
type RefreshError struct {
	ConnectionID string
	Health       core.Health
	Reason       string
	Err          error
}

func (e *RefreshError) Error() string {
	return fmt.Sprintf("connect: connection %s: token refresh failed (%s): %s", e.ConnectionID, e.Health, e.Reason)
}

func (e *RefreshError) Unwrap() error { return e.Err }
