package connect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
)

// Health reasons the refresh records.
const (
	reasonInvalidGrant = "the provider refused the refresh token (invalid_grant); authorize again"
	// ReasonInterrupted is recorded when a refresh token turns out dead right after
	// a refresh lease was found abandoned: the holder most likely had the token
	// rotated by the provider and stopped before it saved the answer. See the
	// package documentation.
	ReasonInterrupted = "refresh token was rotated by a refresh whose result was not saved (process stopped mid-refresh); authorize again"
	// noteInterrupted carries the suspicion across a transient failure, so a later
	// invalid_grant is still explained.
	noteInterrupted = "an earlier refresh did not finish"
)

var (
	errFresh         = errors.New("connect: token is fresh")
	errLeased        = errors.New("connect: another refresh holds the lease")
	errCannotRefresh = errors.New("connect: connection cannot be refreshed")
	errLeaseLapsed   = errors.New("connect: refresh lease lapsed")
)

// needsRefresh reports whether c's token must be renewed before use at now: an
// OAuth token with a refresh token, expiring within the margin.
func (e *Engine) needsRefresh(c core.Connection, now time.Time) bool {
	return c.CredentialKind == core.CredentialOAuth && c.RefreshToken != "" && !c.ExpiresAt.IsZero() &&
		!now.Before(c.ExpiresAt.Add(-e.margin))
}

func dead(h core.Health) bool { return h == core.HealthNeedsReauth || h == core.HealthRevoked }

// RefreshConnection refreshes one connection now if its token is due (within the
// margin of its expiry), with the same guarantees as every refresh: one upstream
// call at a time across goroutines and replicas. It returns the connection as
// stored (tokens Redacted); a failure is a *RefreshError describing what was
// recorded. Org admins and the owner may ask.
func (e *Engine) RefreshConnection(ctx context.Context, p core.Principal, id string) (core.Connection, error) {
	c, err := e.st.Connection(ctx, id)
	if err != nil {
		return core.Connection{}, err
	}
	if err := e.canChange(ctx, p, c); err != nil {
		return core.Connection{}, err
	}
	if !e.needsRefresh(c, e.nowUTC()) {
		return redactConn(c), nil
	}
	out, err := e.refresh(ctx, id, false)
	return redactConn(out), err
}

// refresh renews connection id. Within this process, concurrent callers share one
// flight (singleflight keyed by connection); across processes, the flight takes the
// connection's lease in the database first. The flight is detached from the caller
// that started it: the others depend on it, and once the provider has answered, the
// answer must be saved even if every caller gave up. Each caller still returns when
// its own context ends.
func (e *Engine) refresh(ctx context.Context, id string, force bool) (core.Connection, error) {
	key := id
	if force {
		key = "force\x00" + id
	}
	ch := e.refreshFlight.DoChan(key, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*e.leaseTTL+e.providerTimeout)
		defer cancel()
		return e.refreshOnce(rctx, id, force)
	})
	select {
	case r := <-ch:
		c, _ := r.Val.(core.Connection)
		return c, r.Err
	case <-ctx.Done():
		return core.Connection{}, ctx.Err()
	}
}

func (e *Engine) leaseOwner() (string, error) {
	n, err := e.newID("l")
	if err != nil {
		return "", err
	}
	return e.replica + "#" + n[2:10], nil
}

// refreshOnce takes the lease (or waits for whoever has it) and refreshes.
func (e *Engine) refreshOnce(ctx context.Context, id string, force bool) (core.Connection, error) {
	for range 8 {
		lease, err := e.leaseOwner()
		if err != nil {
			return core.Connection{}, err
		}
		now := e.nowUTC()
		var (
			cur   core.Connection
			stale bool
		)
		held, err := e.st.UpdateConnection(ctx, id, func(c core.Connection) (core.Connection, error) {
			cur = c
			switch {
			case c.CredentialKind != core.CredentialOAuth || c.RefreshToken == "":
				return c, errCannotRefresh
			case !force && !e.needsRefresh(c, now):
				return c, errFresh // someone refreshed it since the caller read it
			case c.RefreshLeaseOwner != "" && now.Before(c.RefreshLeaseUntil):
				return c, errLeased
			case dead(c.Health):
				return c, errCannotRefresh
			}
			// A lease whose time ran out was abandoned: its holder stopped, perhaps
			// after the provider rotated the refresh token.
			stale = c.RefreshLeaseOwner != ""
			c.RefreshLeaseOwner, c.RefreshLeaseUntil = lease, now.Add(e.leaseTTL)
			return c, nil
		})
		switch {
		case errors.Is(err, errFresh):
			return cur, nil
		case errors.Is(err, errCannotRefresh):
			if dead(cur.Health) {
				return cur, &RefreshError{ConnectionID: id, Health: cur.Health, Reason: cur.HealthReason}
			}
			return cur, fmt.Errorf("connect: connection %s has no refresh token: %w", id, errCannotRefresh)
		case errors.Is(err, errLeased):
			c, werr := e.awaitLease(ctx, cur)
			if errors.Is(werr, errLeaseLapsed) {
				continue
			}
			return c, werr
		case err != nil:
			return core.Connection{}, err
		}
		if stale {
			e.log.WarnContext(ctx, "taking over an abandoned refresh lease", "connection", id, "previous_holder", cur.RefreshLeaseOwner)
		}
		return e.refreshHeld(ctx, held, lease, stale)
	}
	return core.Connection{}, fmt.Errorf("connect: connection %s: the refresh lease kept changing hands", id)
}

// awaitLease waits for the lease seen on a connection to end, polling the row with
// backoff (another replica holds it: nothing in this process will say), and returns
// the winner's result. errLeaseLapsed means the lease ran out with its holder silent,
// or ended without a usable token for no recorded reason: the caller tries to take
// it.
func (e *Engine) awaitLease(ctx context.Context, seen core.Connection) (core.Connection, error) {
	delay := 5 * time.Millisecond
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return core.Connection{}, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 200*time.Millisecond)
		c, err := e.st.Connection(ctx, seen.ID)
		if err != nil {
			return core.Connection{}, err
		}
		now := e.nowUTC()
		switch {
		case c.RefreshToken != seen.RefreshToken || c.AccessToken != seen.AccessToken || c.RefreshLeaseOwner == "":
			// The holder saved its answer (or failed and said so).
			if !e.needsRefresh(c, now) {
				return c, nil
			}
			if c.Health != core.HealthHealthy {
				return c, &RefreshError{ConnectionID: c.ID, Health: c.Health, Reason: c.HealthReason}
			}
			return c, errLeaseLapsed
		case c.RefreshLeaseOwner != seen.RefreshLeaseOwner:
			seen = c // someone took over an abandoned lease: wait for them instead
		case !now.Before(c.RefreshLeaseUntil):
			return c, errLeaseLapsed
		}
	}
}

// refreshHeld makes the one upstream refresh while holding the lease.
func (e *Engine) refreshHeld(ctx context.Context, c core.Connection, lease string, stale bool) (core.Connection, error) {
	fail := func(err error) (core.Connection, error) {
		e.releaseLease(ctx, c.ID, lease)
		return c, err
	}
	oc, err := e.st.OAuthClient(ctx, c.OAuthClientID)
	if err != nil {
		return fail(err)
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return fail(err)
	}
	r, ok := f.(forge.Refresher)
	if !ok {
		return fail(fmt.Errorf("connect: %s cannot refresh tokens: %w", f.DisplayName(), errCannotRefresh))
	}
	cl, err := e.forgeClient(oc)
	if err != nil {
		return fail(err)
	}
	rt, err := e.keys.OpenString(c.RefreshToken)
	if err != nil {
		return fail(fmt.Errorf("connect: connection %s: refresh token: %w", c.ID, err))
	}
	pctx, cancel := e.providerCtx(ctx)
	res, perr := r.Refresh(pctx, e.httpClient(), cl, rt)
	cancel()
	if perr != nil {
		return e.refreshFailed(ctx, c, lease, stale, perr)
	}
	if e.afterRefreshAnswer != nil {
		if err := e.afterRefreshAnswer(c.ID); err != nil {
			return core.Connection{}, err // the process "died": nothing saved, lease left
		}
	}
	return e.saveRefreshed(ctx, c, lease, res)
}

// saveRefreshed stores a refresh's answer before anything else touches the
// network: where refresh tokens are single use, the one we sent is already dead.
func (e *Engine) saveRefreshed(ctx context.Context, c core.Connection, lease string, res *forge.Refreshed) (core.Connection, error) {
	now := e.nowUTC()
	access, err := e.keys.SealString(res.Token.AccessToken)
	if err != nil {
		return core.Connection{}, err
	}
	refresh := c.RefreshToken
	if res.Rotated && res.Token.RefreshToken != "" {
		if refresh, err = e.keys.SealString(res.Token.RefreshToken); err != nil {
			return core.Connection{}, err
		}
	}
	expiry := e.tokenExpiry(res.Token, now)
	tokenType := res.Token.TokenType
	if tokenType == "" {
		tokenType = c.TokenType
	}
	// The caller's context may be gone; the answer must still be kept.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.providerTimeout)
	defer cancel()
	var out core.Connection
	for try := range 4 {
		out, err = e.st.UpdateConnection(sctx, c.ID, func(cur core.Connection) (core.Connection, error) {
			// Compare-and-swap. The version we hold is the one our lease wrote; if
			// others wrote since (an SSH key, a health mark), what must still hold
			// is the refresh token we exchanged: only then is our answer its
			// successor. New tokens from a relink win over ours.
			if cur.Version != c.Version && cur.RefreshToken != c.RefreshToken {
				return cur, core.ErrStale
			}
			cur.AccessToken, cur.RefreshToken, cur.TokenType, cur.ExpiresAt = access, refresh, tokenType, expiry
			cur.Health, cur.HealthReason = core.HealthHealthy, ""
			cur.LastRefreshAt, cur.LastSuccessAt, cur.UpdatedAt = now, now, now
			if cur.RefreshLeaseOwner == lease {
				cur.RefreshLeaseOwner, cur.RefreshLeaseUntil = "", time.Time{}
			}
			return cur, nil
		})
		if err == nil || errors.Is(err, core.ErrStale) || errors.Is(err, core.ErrNotFound) || sctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(20<<try) * time.Millisecond)
	}
	switch {
	case errors.Is(err, core.ErrStale):
		e.log.InfoContext(ctx, "refresh answer discarded: the connection got new tokens meanwhile", "connection", c.ID)
		return e.st.Connection(ctx, c.ID)
	case err != nil:
		e.log.ErrorContext(ctx, "refreshed token could not be saved", "connection", c.ID, "rotated", res.Rotated, "err", err)
		return core.Connection{}, err
	}
	e.clearBackoff(c.ID)
	e.log.DebugContext(ctx, "token refreshed", "connection", c.ID, "rotated", res.Rotated, "expires_at", expiry)
	return out, nil
}

// refreshFailed records why a refresh failed. The refresh token is kept whatever
// happened: after invalid_grant it is dead, but a later relink replaces it anyway.
func (e *Engine) refreshFailed(ctx context.Context, c core.Connection, lease string, stale bool, perr error) (core.Connection, error) {
	now := e.nowUTC()
	suspect := stale || strings.Contains(c.HealthReason, noteInterrupted)
	var (
		health core.Health
		reason string
	)
	switch {
	case errors.Is(perr, forge.ErrInvalidGrant):
		health, reason = core.HealthNeedsReauth, reasonInvalidGrant
		if suspect {
			health, reason = core.HealthNeedsReauth, ReasonInterrupted
		}
	case errors.Is(perr, forge.ErrInvalidClient):
		health, reason = core.HealthRefreshFailing, "the provider refused the OAuth client's credentials; an administrator must fix the client"
	default:
		health, reason = core.HealthRefreshFailing, "refresh failed: "+shorten(perr.Error(), 300)
		if suspect {
			reason += "; " + noteInterrupted
		}
	}
	if health == core.HealthRefreshFailing {
		e.noteBackoff(c.ID, perr, now)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.providerTimeout)
	defer cancel()
	out, err := e.st.UpdateConnection(sctx, c.ID, func(cur core.Connection) (core.Connection, error) {
		if cur.RefreshToken != c.RefreshToken {
			return cur, core.ErrStale // someone saved newer tokens: our failure is moot
		}
		cur.Health, cur.HealthReason = health, reason
		if cur.RefreshLeaseOwner == lease {
			cur.RefreshLeaseOwner, cur.RefreshLeaseUntil = "", time.Time{}
		}
		return cur, nil
	})
	if errors.Is(err, core.ErrStale) {
		cur, err := e.st.Connection(sctx, c.ID)
		if err == nil && !e.needsRefresh(cur, now) {
			return cur, nil
		}
		return cur, &RefreshError{ConnectionID: c.ID, Health: cur.Health, Reason: cur.HealthReason, Err: perr}
	}
	if err != nil {
		return c, err
	}
	e.log.WarnContext(ctx, "token refresh failed", "connection", c.ID, "health", health, "err", perr)
	return out, &RefreshError{ConnectionID: c.ID, Health: health, Reason: reason, Err: perr}
}

// releaseLease gives up a lease after a failure that is not the provider's.
func (e *Engine) releaseLease(ctx context.Context, id, lease string) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.providerTimeout)
	defer cancel()
	_, err := e.st.UpdateConnection(sctx, id, func(cur core.Connection) (core.Connection, error) {
		if cur.RefreshLeaseOwner != lease {
			return cur, core.ErrStale
		}
		cur.RefreshLeaseOwner, cur.RefreshLeaseUntil = "", time.Time{}
		return cur, nil
	})
	if err != nil && !errors.Is(err, core.ErrStale) && !errors.Is(err, core.ErrNotFound) {
		e.log.WarnContext(ctx, "refresh lease not released; it will lapse", "connection", id, "err", err)
	}
}

// shorten keeps the first n characters of s (a health reason people read: cut
// between characters, never inside one).
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// backoffState is one connection's transient-failure record in this replica.
type backoffState struct {
	failures int
	next     time.Time
}

// noteBackoff schedules the next background attempt after a transient failure:
// exponential from BackoffBase to BackoffMax, with jitter, and never before the
// provider's Retry-After.
func (e *Engine) noteBackoff(id string, err error, now time.Time) {
	e.backoffMu.Lock()
	defer e.backoffMu.Unlock()
	st := e.backoff[id]
	st.failures++
	d := e.backoffBase << min(st.failures-1, 20)
	if d <= 0 || d > e.backoffMax {
		d = e.backoffMax
	}
	d = d/2 + e.randDuration(d/2+1)
	var rl *forge.RateLimitError
	if errors.As(err, &rl) && rl.RetryAfter > d {
		d = rl.RetryAfter
	}
	st.next = now.Add(d)
	e.backoff[id] = st
}

func (e *Engine) backoffDue(id string, now time.Time) bool {
	e.backoffMu.Lock()
	defer e.backoffMu.Unlock()
	st, ok := e.backoff[id]
	return !ok || !now.Before(st.next)
}

func (e *Engine) clearBackoff(id string) {
	e.backoffMu.Lock()
	delete(e.backoff, id)
	e.backoffMu.Unlock()
}

// RefreshStats counts what one pass of the background refresher did.
type RefreshStats struct {
	Due, Refreshed, Failed, Skipped int
}

// RefreshDue makes one pass of the background refresher: every OAuth connection
// whose token expires within the margin is refreshed, at most RefreshConcurrency at
// a time, each after a random delay of up to RefreshJitter so replicas and
// providers do not see bursts. Connections in backoff after a transient failure, and
// those another refresh holds, are skipped until later.
func (e *Engine) RefreshDue(ctx context.Context) (RefreshStats, error) {
	now := e.nowUTC()
	due, err := e.st.ConnectionsExpiringBefore(ctx, now.Add(e.margin), 500)
	if err != nil {
		return RefreshStats{}, err
	}
	e.pruneBackoff(due)
	st := RefreshStats{Due: len(due)}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, e.concurrency)
	)
loop:
	for _, c := range due {
		if !e.backoffDue(c.ID, now) || (c.RefreshLeaseOwner != "" && now.Before(c.RefreshLeaseUntil)) {
			st.Skipped++
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if d := e.randDuration(e.jitter); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			_, err := e.refresh(ctx, c.ID, false)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				st.Failed++
			} else {
				st.Refreshed++
			}
		})
	}
	wg.Wait()
	return st, ctx.Err()
}

// pruneBackoff forgets connections that are no longer due (refreshed elsewhere,
// relinked, deleted), so the map stays as small as the work.
func (e *Engine) pruneBackoff(due []core.Connection) {
	keep := make(map[string]bool, len(due))
	for _, c := range due {
		keep[c.ID] = true
	}
	e.backoffMu.Lock()
	defer e.backoffMu.Unlock()
	for id := range e.backoff {
		if !keep[id] {
			delete(e.backoff, id)
		}
	}
}

// RunRefresher refreshes tokens before they expire until ctx ends: a pass every
// RefreshEvery (spread by up to half of it either way, so replicas drift apart), and
// expired flow states are deleted as it goes. It returns nil when ctx ends.
func (e *Engine) RunRefresher(ctx context.Context) error {
	for {
		if s, err := e.RefreshDue(ctx); err != nil && ctx.Err() == nil {
			e.log.ErrorContext(ctx, "background refresh pass failed", "err", err)
		} else if s.Refreshed+s.Failed > 0 {
			e.log.InfoContext(ctx, "background refresh pass", "due", s.Due, "refreshed", s.Refreshed, "failed", s.Failed, "skipped", s.Skipped)
		}
		if _, err := e.st.DeleteExpiredFlowStates(ctx, e.nowUTC().Add(-time.Hour)); err != nil && ctx.Err() == nil {
			e.log.WarnContext(ctx, "deleting expired flow states failed", "err", err)
		}
		t := time.NewTimer(e.refreshEvery/2 + e.randDuration(e.refreshEvery))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
