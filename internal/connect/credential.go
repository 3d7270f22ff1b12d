package connect

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Credential is what git (or an API client) presents to the provider for one
// connection.
type Credential struct {
	Username string
	Password string
	// ExpiresAt is when the token stops working (zero: it does not expire, as far as
	// the provider said); git's password_expiry_utc.
	ExpiresAt      time.Time
	ConnectionID   string
	Kind           core.ProviderKind
	CredentialKind core.CredentialKind
	// AccessToken is the token itself (the password, for a basic credential), for
	// callers that use the provider's API rather than git.
	AccessToken   string
	TokenType     string
	Login         string // the upstream account
	OAuthClientID string
	ProviderID    string
}

// MaxWait bounds how long Wait and WaitProvider hold a request.
const MaxWait = 60 * time.Second

// Credential returns git credentials for remoteURL (an https, ssh:// or scp-style
// remote) from the best connection p may use: p's own first, then their projects',
// then their organizations' (each oldest first), among those whose provider serves
// the remote. A token within RefreshMargin of its expiry is refreshed first. When
// the token is fresh this costs one database query. p needs scope credentials.
//
// Without a usable connection the answer is a *NotLinkedError carrying the page
// where p can link (or re-link) an account; when no OAuth client p may use serves
// the remote at all, core.ErrNotFound. A connection whose refresh fails for a
// passing reason while its token has expired is a *RefreshError.
func (e *Engine) Credential(ctx context.Context, p core.Principal, remoteURL string) (Credential, error) {
	if !p.Allows(core.ScopeCredentials) {
		return Credential{}, core.ErrForbidden
	}
	remoteURL = strings.TrimSpace(remoteURL)
	if remoteURL == "" || len(remoteURL) > 4096 {
		return Credential{}, core.Invalid("url", "a remote URL of at most 4096 characters is required")
	}
	cands, err := e.st.UsableConnections(ctx, p.User.ID)
	if err != nil {
		return Credential{}, err
	}
	var unusable error
	for _, u := range cands {
		f, err := e.forgeOf(u.Kind, u.HTTPURL, u.APIURL)
		if err != nil || !f.MatchesRemote(remoteURL) {
			continue
		}
		cred, err := e.credentialFrom(ctx, f, u)
		if err == nil {
			return cred, nil
		}
		var nl *NotLinkedError
		var re *RefreshError
		switch {
		case errors.As(err, &nl), errors.As(err, &re):
			// This one cannot serve; a later candidate may. Report the first.
			if unusable == nil {
				unusable = err
			}
		default:
			return Credential{}, err
		}
	}
	if unusable != nil {
		return Credential{}, unusable
	}
	return Credential{}, e.linkNeeded(ctx, p, remoteURL)
}

// credentialFrom turns one candidate into a credential, refreshing it if due.
func (e *Engine) credentialFrom(ctx context.Context, f forge.Forge, u store.UsableConnection) (Credential, error) {
	c := u.Connection
	if dead(c.Health) {
		return Credential{}, e.notLinked(u, c)
	}
	c, err := e.ensureFresh(ctx, c)
	if err != nil {
		var re *RefreshError
		if errors.As(err, &re) && dead(re.Health) {
			c.Health, c.HealthReason = re.Health, re.Reason
			return Credential{}, e.notLinked(u, c)
		}
		return Credential{}, err
	}
	return e.credentialOf(f, u.Slug, c)
}

// ensureFresh refreshes c if its token is due. After recent transient failures a
// token that still works is used as it is rather than asking the provider again;
// one that has expired is always tried.
func (e *Engine) ensureFresh(ctx context.Context, c core.Connection) (core.Connection, error) {
	now := e.nowUTC()
	if !e.needsRefresh(c, now) {
		return c, nil
	}
	expired := !now.Before(c.ExpiresAt)
	if !expired && !e.backoffDue(c.ID, now) {
		return c, nil
	}
	r, err := e.refresh(ctx, c.ID, false)
	if err == nil {
		return r, nil
	}
	var re *RefreshError
	if errors.As(err, &re) && re.Health == core.HealthRefreshFailing && r.ID != "" && e.nowUTC().Before(r.ExpiresAt) {
		return r, nil // a passing failure; the token we have still works
	}
	return c, err
}

func (e *Engine) credentialOf(f forge.Forge, slug string, c core.Connection) (Credential, error) {
	tok, err := e.keys.OpenString(c.AccessToken)
	if err != nil {
		return Credential{}, fmt.Errorf("connect: connection %s: token: %w", c.ID, err)
	}
	cred := Credential{ExpiresAt: c.ExpiresAt, ConnectionID: c.ID, Kind: f.Kind(), CredentialKind: c.CredentialKind,
		AccessToken: tok, TokenType: c.TokenType, Login: c.UpstreamLogin, OAuthClientID: c.OAuthClientID,
		ProviderID: c.OAuthClientID}
	if slug != "" {
		cred.ProviderID = slug
	}
	if c.CredentialKind == core.CredentialPassword {
		cred.Username, cred.Password = c.Username, tok
	} else {
		cred.Username, cred.Password = f.GitCredential(c.UpstreamLogin, tok)
	}
	return cred, nil
}

func (e *Engine) notLinked(u store.UsableConnection, c core.Connection) *NotLinkedError {
	id := u.Slug
	if id == "" {
		id = c.OAuthClientID
	}
	reason := c.HealthReason
	if reason == "" {
		reason = string(c.Health)
	}
	return &NotLinkedError{ProviderID: id, OAuthClientID: c.OAuthClientID, LinkURL: e.LinkURL(id),
		ConnectionID: c.ID, Health: c.Health, Reason: reason}
}

// linkNeeded finds a client p may link through for the remote.
func (e *Engine) linkNeeded(ctx context.Context, p core.Principal, remoteURL string) error {
	cs, _, err := e.st.ListOAuthClients(ctx, store.OAuthClientFilter{AvailableToUser: p.User.ID}, store.Page{})
	if err != nil {
		return err
	}
	for _, oc := range cs {
		f, err := e.clientForge(oc)
		if err != nil || !f.MatchesRemote(remoteURL) {
			continue
		}
		id := ProviderID(oc)
		return &NotLinkedError{ProviderID: id, OAuthClientID: oc.ID, LinkURL: e.LinkURL(id)}
	}
	return fmt.Errorf("connect: no OAuth client serves %s: %w", remoteHost(remoteURL), core.ErrNotFound)
}

// remoteHost is the host of a remote, for messages: remotes may carry credentials.
func remoteHost(remote string) string {
	if u, err := url.Parse(remote); err == nil && u.Host != "" {
		return u.Hostname()
	}
	if at := strings.LastIndexByte(remote, '@'); at >= 0 {
		remote = remote[at+1:]
	}
	if i := strings.IndexAny(remote, ":/"); i >= 0 {
		remote = remote[:i]
	}
	return remote
}

// CredentialForProvider is Credential for the caller's own connection through the
// client named ref (id or slug): the Coder dialect's id= lookup.
func (e *Engine) CredentialForProvider(ctx context.Context, p core.Principal, ref string) (Credential, error) {
	if !p.Allows(core.ScopeCredentials) {
		return Credential{}, core.ErrForbidden
	}
	oc, _, err := e.usableClient(ctx, p, ref)
	if err != nil {
		return Credential{}, err
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return Credential{}, err
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OAuthClientID: oc.ID, OwnerKind: core.OwnerUser, OwnerUserID: p.User.ID}, store.Page{Number: 1, Size: 1})
	if err != nil {
		return Credential{}, err
	}
	u := store.UsableConnection{Kind: oc.Kind, HTTPURL: oc.HTTPURL, APIURL: oc.APIURL, Slug: oc.Slug}
	if len(cs) == 0 {
		id := ProviderID(oc)
		return Credential{}, &NotLinkedError{ProviderID: id, OAuthClientID: oc.ID, LinkURL: e.LinkURL(id)}
	}
	u.Connection = cs[0]
	return e.credentialFrom(ctx, f, u)
}

// Wait is Credential that, while the answer is a *NotLinkedError, waits up to max
// (at most MaxWait) for the person to link, then answers. It polls the database with
// backoff, so a link made through any replica ends the wait, and wakes at once when
// the link is made in this process. When ctx ends first (the request went away, the
// server drains) it returns the last answer.
func (e *Engine) Wait(ctx context.Context, p core.Principal, remoteURL string, max time.Duration) (Credential, error) {
	return e.wait(ctx, max, func() (Credential, error) { return e.Credential(ctx, p, remoteURL) })
}

// WaitProvider is CredentialForProvider with Wait's waiting.
func (e *Engine) WaitProvider(ctx context.Context, p core.Principal, ref string, max time.Duration) (Credential, error) {
	return e.wait(ctx, max, func() (Credential, error) { return e.CredentialForProvider(ctx, p, ref) })
}

func (e *Engine) wait(ctx context.Context, max time.Duration, get func() (Credential, error)) (Credential, error) {
	max = min(max, MaxWait)
	if max <= 0 {
		return get()
	}
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	delay := 100 * time.Millisecond
	var last error
	for {
		// Watch before looking, so a link made in between still wakes us.
		woken := e.links.watch()
		cred, err := get()
		var nl *NotLinkedError
		if !errors.As(err, &nl) {
			if last != nil && ctx.Err() != nil {
				return Credential{}, last // the wait was cut short mid-look: the last answer stands
			}
			return cred, err
		}
		if ctx.Err() != nil {
			return cred, err
		}
		last = err
		t := time.NewTimer(delay)
		select {
		case <-woken:
		case <-t.C:
		case <-deadline.C:
			t.Stop()
			return cred, err
		case <-ctx.Done():
			t.Stop()
			return cred, err
		}
		t.Stop()
		delay = min(delay*2, 2*time.Second)
	}
}
