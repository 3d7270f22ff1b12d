package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// slowDownStep is what RFC 8628 §3.5 adds to the interval on every slow_down.
const slowDownStep = 5 * time.Second

// DeviceStart is an upstream device flow in progress. DeviceCode is our handle on
// it (the provider's device code stays sealed in the flow state): the caller polls
// PollDevice with it.
type DeviceStart struct {
	DeviceCode              string
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	ExpiresIn               time.Duration
	Interval                time.Duration
	ExpiresAt               time.Time
}

// deviceState is the sealed part of a device flow's state: the provider's device
// code and the polling schedule, which every replica honours because it is in the
// database.
type deviceState struct {
	Code     string        `json:"c"`
	Interval time.Duration `json:"i"`
	NextPoll time.Time     `json:"n"`
}

func (e *Engine) sealDevice(d deviceState) (core.Sealed, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	return e.keys.Seal(b)
}

func (e *Engine) openDevice(s core.Sealed) (deviceState, error) {
	var d deviceState
	b, err := e.keys.Open(s)
	if err != nil {
		return d, err
	}
	return d, json.Unmarshal(b, &d)
}

// StartDevice starts the provider's device flow (RFC 8628) for req. A client whose
// provider has none, or that turned it off, is ErrDeviceUnsupported.
func (e *Engine) StartDevice(ctx context.Context, p core.Principal, req FlowRequest) (DeviceStart, error) {
	origin, err := checkOrigin(req.Origin)
	if err != nil {
		return DeviceStart{}, err
	}
	oc, o, err := e.authorizeTarget(ctx, p, req.Target, true)
	if err != nil {
		return DeviceStart{}, err
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return DeviceStart{}, err
	}
	df, ok := f.(forge.DeviceFlow)
	if !ok || oc.DeviceFlowDisabled {
		return DeviceStart{}, ErrDeviceUnsupported
	}
	cl, err := e.forgeClient(oc)
	if err != nil {
		return DeviceStart{}, err
	}
	pctx, cancel := e.providerCtx(ctx)
	da, err := df.StartDevice(pctx, e.httpClient(), cl)
	cancel()
	if errors.Is(err, forge.ErrUnsupported) {
		return DeviceStart{}, ErrDeviceUnsupported
	}
	if err != nil {
		return DeviceStart{}, &ProviderError{Op: "device authorization", Err: err}
	}
	now := e.nowUTC()
	ttl := da.ExpiresIn
	if ttl <= 0 || ttl > time.Hour {
		ttl = 15 * time.Minute
	}
	interval := max(da.Interval, time.Second)
	sealed, err := e.sealDevice(deviceState{Code: da.DeviceCode, Interval: interval, NextPoll: now.Add(interval)})
	if err != nil {
		return DeviceStart{}, err
	}
	handle, hash, err := e.mintFlowSecret()
	if err != nil {
		return DeviceStart{}, err
	}
	st := core.FlowState{ID: flowID(hash), OAuthClientID: oc.ID, UserID: p.User.ID, OwnerKind: o.kind,
		OwnerProjectID: o.projectID, Name: o.name, Origin: origin, RepoType: req.RepoType, DeviceCode: sealed,
		ExpiresAt: now.Add(ttl), CreatedAt: now}
	if err := e.st.CreateFlowState(ctx, st); err != nil {
		return DeviceStart{}, err
	}
	return DeviceStart{DeviceCode: handle, UserCode: da.UserCode, VerificationURI: da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete, ExpiresIn: ttl, Interval: interval, ExpiresAt: st.ExpiresAt}, nil
}

// PollDevice makes at most one poll of the provider for the device flow whose
// handle is deviceCode, started by p through the client named ref. It returns the
// connection once the person approved, or a *DeviceError: authorization_pending;
// slow_down with the interval to keep (the provider's new one, or ours when the
// caller polls faster than the interval, in which case the provider is not asked);
// expired_token (also for a handle that is unknown or not p's); access_denied.
// Provider failures are a *ProviderError, and the caller may poll again.
func (e *Engine) PollDevice(ctx context.Context, p core.Principal, ref, deviceCode string) (core.Connection, error) {
	expired := deviceError(ErrExpiredToken, 0)
	if secret.CheckSecret(deviceCode, secret.PrefixFlowState) != nil {
		return core.Connection{}, expired
	}
	st, err := e.st.FlowState(ctx, flowID(secret.HashToken(deviceCode)))
	if errors.Is(err, core.ErrNotFound) {
		return core.Connection{}, expired
	}
	if err != nil {
		return core.Connection{}, err
	}
	oc, err := e.clientByRef(ctx, ref)
	if err != nil || oc.ID != st.OAuthClientID || st.UserID != p.User.ID || st.DeviceCode == "" {
		return core.Connection{}, expired
	}
	now := e.nowUTC()
	if !st.UsedAt.IsZero() || !now.Before(st.ExpiresAt) {
		return core.Connection{}, expired
	}
	// Take this poll's slot in the schedule, atomically across replicas: a poll
	// before NextPoll is answered here with slow_down (and, as RFC 8628 §3.5 has the
	// provider do, the interval grows), so the provider never sees polls faster than
	// the interval it set.
	var (
		tooFast bool
		dev     deviceState
	)
	_, err = e.st.UpdateFlowState(ctx, st.ID, func(cur core.FlowState) (core.FlowState, error) {
		if !cur.UsedAt.IsZero() {
			return cur, expired
		}
		d, err := e.openDevice(cur.DeviceCode)
		if err != nil {
			return cur, fmt.Errorf("connect: device flow %s: %w", cur.ID, err)
		}
		if tooFast = now.Before(d.NextPoll); tooFast {
			d.Interval += slowDownStep
		}
		d.NextPoll = now.Add(d.Interval)
		if cur.DeviceCode, err = e.sealDevice(d); err != nil {
			return cur, err
		}
		dev = d
		return cur, nil
	})
	if err != nil {
		return core.Connection{}, err
	}
	if tooFast {
		return core.Connection{}, deviceError(ErrSlowDown, dev.Interval)
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return core.Connection{}, err
	}
	df, ok := f.(forge.DeviceFlow)
	if !ok {
		return core.Connection{}, ErrDeviceUnsupported
	}
	cl, err := e.forgeClient(oc)
	if err != nil {
		return core.Connection{}, err
	}
	pctx, cancel := e.providerCtx(ctx)
	tok, perr := df.PollDevice(pctx, e.httpClient(), cl, dev.Code)
	cancel()
	switch {
	case perr == nil:
	case errors.Is(perr, forge.ErrAuthorizationPending):
		return core.Connection{}, deviceError(ErrAuthorizationPending, dev.Interval)
	case errors.Is(perr, forge.ErrSlowDown):
		interval := dev.Interval + slowDownStep
		var oe *forge.OAuthError
		if errors.As(perr, &oe) && oe.Interval > interval {
			interval = oe.Interval
		}
		_, err := e.st.UpdateFlowState(ctx, st.ID, func(cur core.FlowState) (core.FlowState, error) {
			d, err := e.openDevice(cur.DeviceCode)
			if err != nil {
				return cur, err
			}
			d.Interval = max(d.Interval, interval)
			d.NextPoll = now.Add(d.Interval)
			interval = d.Interval
			cur.DeviceCode, err = e.sealDevice(d)
			return cur, err
		})
		if err != nil {
			return core.Connection{}, err
		}
		return core.Connection{}, deviceError(ErrSlowDown, interval)
	case errors.Is(perr, forge.ErrExpiredToken):
		e.endDevice(ctx, st.ID, now)
		return core.Connection{}, expired
	case errors.Is(perr, forge.ErrAccessDenied):
		e.endDevice(ctx, st.ID, now)
		return core.Connection{}, deviceError(ErrAccessDenied, 0)
	default:
		return core.Connection{}, &ProviderError{Op: "device poll", Err: perr}
	}
	// The provider issued a token: the flow is over whatever happens next.
	if err := e.endDevice(ctx, st.ID, now); err != nil {
		return core.Connection{}, err
	}
	o := owner{kind: st.OwnerKind, projectID: st.OwnerProjectID, name: st.Name}
	oc, o, err = e.authorizeTarget(ctx, p, Target{OAuthClient: oc.ID, OwnerKind: o.kind, ProjectID: o.projectID, Name: o.name}, o.kind == core.OwnerProject)
	if err != nil {
		return core.Connection{}, err
	}
	ident, err := e.lookupUser(ctx, f, tok.AccessToken)
	if err != nil {
		e.discardToken(ctx, f, cl, tok.AccessToken)
		return core.Connection{}, err
	}
	c, _, err := e.saveLink(ctx, p, oc, o, linkInput{cred: core.CredentialOAuth, access: tok.AccessToken,
		refresh: tok.RefreshToken, tokenType: tok.TokenType, scopes: tokenScopes(tok, oc.Scopes),
		expiresAt: e.tokenExpiry(tok, e.nowUTC()), ident: ident}, st.Origin)
	return redactConn(c), err
}

// endDevice marks a device flow used, so its handle answers expired_token from now on.
func (e *Engine) endDevice(ctx context.Context, id string, now time.Time) error {
	_, err := e.st.UpdateFlowState(context.WithoutCancel(ctx), id, func(cur core.FlowState) (core.FlowState, error) {
		if cur.UsedAt.IsZero() {
			cur.UsedAt = now
		}
		return cur, nil
	})
	return err
}
