package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// Entering user codes at the verification page is throttled per person, because a
// user code is short enough to guess (RFC 8628 §5.1): after maxUserCodeFailures
// wrong codes within userCodeWindow the page refuses further attempts for a while.
const (
	maxUserCodeFailures = 10
	userCodeWindow      = 15 * time.Minute
)

// DeviceAuthResponse is the device authorization response (RFC 8628 §3.2).
type DeviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// StartDevice begins a device flow for the authenticated client app (RFC 8628 §3.1).
func (e *Engine) StartDevice(ctx context.Context, app core.Application, scope string) (*DeviceAuthResponse, error) {
	scopes, err := e.requestedScopes(app, scope)
	if err != nil {
		return nil, err
	}
	code, err := secret.Mint(secret.PrefixDeviceCode, e.rand)
	if err != nil {
		return nil, internal("device code", err)
	}
	now := e.nowUTC()
	d := core.DeviceAuthorization{DeviceCodeHash: secret.HashToken(code), ApplicationID: app.ID, Scopes: scopes,
		Status: core.DevicePending, Interval: e.interval, ExpiresAt: now.Add(e.deviceTTL), CreatedAt: now}
	var display string
	for attempt := 0; ; attempt++ {
		if display, err = secret.NewUserCode(e.rand); err != nil {
			return nil, internal("user code", err)
		}
		d.UserCode = secret.NormalizeUserCode(display)
		err = e.st.CreateDeviceAuth(ctx, d)
		if err == nil {
			break
		}
		// A user code still held by another flow: draw again.
		if !errors.Is(err, core.ErrConflict) || attempt == 4 {
			return nil, internal("store device authorization", err)
		}
	}
	verify := e.issuer + PathDevice
	return &DeviceAuthResponse{DeviceCode: code, UserCode: display, VerificationURI: verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {display}}.Encode(),
		ExpiresIn:               int64(e.deviceTTL / time.Second), Interval: int64(e.interval / time.Second)}, nil
}

// PollDevice is the device flow's token request (RFC 8628 §3.4-3.5). It answers
// authorization_pending until the person decides, slow_down (and adds five seconds
// to the interval, for good) when the client polls faster than the interval,
// access_denied, expired_token, or the tokens, once. A device code presented after
// its tokens were issued revokes them.
func (e *Engine) PollDevice(ctx context.Context, app core.Application, deviceCode string) (*TokenResponse, error) {
	if deviceCode == "" {
		return nil, oauthErr(ErrInvalidRequest, "device_code is missing")
	}
	invalid := oauthErr(ErrInvalidGrant, "the device code is invalid or was issued to another client")
	if secret.CheckSecret(deviceCode, secret.PrefixDeviceCode) != nil {
		return nil, invalid
	}
	hash := secret.HashToken(deviceCode)
	now := e.nowUTC()
	var (
		outcome *Error
		replay  bool
	)
	// Every poll goes through the row lock, so polls, approval and denial of one flow
	// are serialised and the tokens are issued exactly once.
	d, err := e.st.UpdateDeviceAuth(ctx, hash, func(d core.DeviceAuthorization) (core.DeviceAuthorization, error) {
		outcome, replay = nil, false
		switch {
		case d.ApplicationID != app.ID:
			outcome = invalid
		case d.Status == core.DeviceUsed:
			outcome, replay = oauthErr(ErrInvalidGrant, "the device code was already used; the tokens it gave are revoked"), true
		case !now.Before(d.ExpiresAt):
			outcome = oauthErr(ErrExpiredToken, "the device code expired; start again")
		case d.Status == core.DeviceDenied:
			outcome = oauthErr(ErrAccessDenied, "the user denied the request")
		case d.Status == core.DeviceApproved:
			d.Status, d.LastPolledAt = core.DeviceUsed, now
		default:
			if !d.LastPolledAt.IsZero() && now.Sub(d.LastPolledAt) < d.Interval {
				d.Interval += slowDownStep
				outcome = oauthErr(ErrSlowDown, fmt.Sprintf("poll at most every %d seconds", int64(d.Interval/time.Second)))
			} else {
				outcome = oauthErr(ErrAuthorizationPending, "")
			}
			d.LastPolledAt = now
		}
		return d, nil
	})
	if errors.Is(err, core.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, internal("poll device authorization", err)
	}
	family := deviceFamilyID(hash)
	if replay {
		n, err := e.revokeFamily(ctx, d.UserID, d.ApplicationID, family)
		if err != nil {
			e.log.ErrorContext(ctx, "revoking the tokens of a replayed device code failed", "client_id", app.ClientID, "err", err)
		}
		e.log.WarnContext(ctx, "device code replayed; its tokens are revoked", "client_id", app.ClientID, "user", d.UserID, "revoked", n)
		e.id.Audit(ctx, nil, "oauth.device_replay", "application", strconv.FormatInt(d.ApplicationID, 10), "",
			fmt.Sprintf("user=%s family=%s revoked=%d", d.UserID, family, n))
	}
	if outcome != nil {
		return nil, outcome
	}
	return e.issueTokens(ctx, app, d.UserID, 0, d.Scopes, d.Scopes, family)
}

// DeviceRequest is a pending device authorization as the verification page shows it.
type DeviceRequest struct {
	App core.Application
	// UserCode in display form, XXXX-XXXX.
	UserCode  string
	Scopes    []string
	ExpiresAt time.Time
	hash      []byte
}

// ErrUserCode is returned for a user code that is unknown, expired or already
// decided; the page says so without telling which.
var ErrUserCode = fmt.Errorf("%w: the code is not valid; check it, or start again on your device", core.ErrNotFound)

// LookupUserCode finds the pending device authorization a person typed the code of.
// Wrong codes count against the person: past the limit it answers core.ErrThrottled.
func (e *Engine) LookupUserCode(ctx context.Context, p core.Principal, userCode string) (DeviceRequest, error) {
	return e.userCode(ctx, p, userCode, e.nowUTC())
}

// userCode is pendingDevice behind the per-person throttle of RFC 8628 §5.1.
func (e *Engine) userCode(ctx context.Context, p core.Principal, userCode string, now time.Time) (DeviceRequest, error) {
	key := "device-user-code:" + p.User.ID
	n, err := e.st.LoginFailures(ctx, key, now, userCodeWindow)
	if err != nil {
		return DeviceRequest{}, internal("user code throttle", err)
	}
	if n >= maxUserCodeFailures {
		return DeviceRequest{}, core.ErrThrottled
	}
	req, err := e.pendingDevice(ctx, userCode, now)
	if errors.Is(err, ErrUserCode) {
		if _, rerr := e.st.RecordLoginFailure(ctx, key, now, userCodeWindow); rerr != nil {
			return DeviceRequest{}, internal("user code throttle", rerr)
		}
	}
	return req, err
}

func (e *Engine) pendingDevice(ctx context.Context, userCode string, now time.Time) (DeviceRequest, error) {
	norm := secret.NormalizeUserCode(userCode)
	if norm == "" {
		return DeviceRequest{}, ErrUserCode
	}
	d, err := e.st.DeviceAuthByUserCode(ctx, norm)
	if errors.Is(err, core.ErrNotFound) {
		return DeviceRequest{}, ErrUserCode
	}
	if err != nil {
		return DeviceRequest{}, internal("device authorization", err)
	}
	if d.Status != core.DevicePending || !now.Before(d.ExpiresAt) {
		return DeviceRequest{}, ErrUserCode
	}
	app, err := e.st.Application(ctx, d.ApplicationID)
	if err != nil {
		return DeviceRequest{}, internal("device application", err)
	}
	return DeviceRequest{App: app, UserCode: norm[:4] + "-" + norm[4:], Scopes: d.Scopes, ExpiresAt: d.ExpiresAt, hash: d.DeviceCodeHash}, nil
}

// DecideDevice records the person's approval or denial of the device authorization
// with this user code. It fails with ErrUserCode when the flow is no longer pending,
// and counts against the same throttle as LookupUserCode.
func (e *Engine) DecideDevice(ctx context.Context, p core.Principal, userCode string, approve bool) (DeviceRequest, error) {
	if p.User.ID == "" {
		return DeviceRequest{}, core.ErrUnauthenticated
	}
	now := e.nowUTC()
	req, err := e.userCode(ctx, p, userCode, now)
	if err != nil {
		return DeviceRequest{}, err
	}
	_, err = e.st.UpdateDeviceAuth(ctx, req.hash, func(d core.DeviceAuthorization) (core.DeviceAuthorization, error) {
		if d.Status != core.DevicePending || !now.Before(d.ExpiresAt) {
			return d, ErrUserCode
		}
		d.Status, d.UserID = core.DeviceDenied, p.User.ID
		if approve {
			d.Status = core.DeviceApproved
		}
		return d, nil
	})
	if err != nil {
		if errors.Is(err, ErrUserCode) || errors.Is(err, core.ErrNotFound) {
			return DeviceRequest{}, ErrUserCode
		}
		return DeviceRequest{}, internal("decide device authorization", err)
	}
	action := "oauth.device_deny"
	if approve {
		action = "oauth.device_approve"
	}
	e.id.Audit(ctx, &p, action, "application", strconv.FormatInt(req.App.ID, 10), "",
		fmt.Sprintf("client_id=%s scopes=%s", req.App.ClientID, strings.Join(req.Scopes, ",")))
	return req, nil
}
