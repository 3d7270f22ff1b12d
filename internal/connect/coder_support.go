package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// What a person sees of their own links to Git providers, and does to them: the
// Coder dialect's external-auth endpoints (api/coder.md), whose rules are here so
// that the web console and any other dialect showing a person's links agree.

// Provider is an OAuth client a person may link through, with what its provider can
// do.
type Provider struct {
	Client core.OAuthClient // secrets Redacted
	Info   ClientInfo
}

// PersonLink is one of a person's own connections, with its health as far as the
// stored state tells (no provider call).
type PersonLink struct {
	// ProviderID names the client in the Coder dialect: its slug or oc- id. For a
	// client the person may no longer use (they left its organization) it is the
	// oc- id, which the person already knows from linking; the link is still theirs
	// to unlink.
	ProviderID string
	// Usable is false for a link through a client the person may no longer use.
	Usable     bool
	Connection core.Connection // tokens Redacted
	Status     LinkStatus
}

// LinkStatus is whether a link can serve, and why not.
type LinkStatus struct {
	// Authenticated: the link's token works, or will once it is refreshed.
	Authenticated bool
	// Problem says why it cannot serve when Authenticated is false: the provider
	// refused the token or the refresh, or the token expired and nothing can renew it.
	Problem string
}

// ExternalAuths is what a person may link through and what they have linked.
type ExternalAuths struct {
	Providers []Provider
	Links     []PersonLink
}

// ListExternalAuths lists the clients p may link through (UsableClients) and p's own
// links, oldest first: two queries and no provider call, so it is as cheap as any
// authenticated read. Link health is what the last use, refresh or validation
// recorded; CheckLink asks the provider. p needs scope read_api or connections.
func (e *Engine) ListExternalAuths(ctx context.Context, p core.Principal) (ExternalAuths, error) {
	clients, err := e.UsableClients(ctx, p)
	if err != nil {
		return ExternalAuths{}, err
	}
	conns, err := e.UserConnections(ctx, p)
	if err != nil {
		return ExternalAuths{}, err
	}
	out := ExternalAuths{Providers: make([]Provider, 0, len(clients)), Links: make([]PersonLink, 0, len(conns))}
	byID := make(map[string]core.OAuthClient, len(clients))
	for _, oc := range clients {
		info, err := e.Describe(oc)
		if err != nil {
			return ExternalAuths{}, err
		}
		out.Providers = append(out.Providers, Provider{Client: oc, Info: info})
		byID[oc.ID] = oc
	}
	for _, c := range conns {
		l := PersonLink{ProviderID: c.OAuthClientID, Connection: c, Status: e.LinkStatusOf(c)}
		if oc, ok := byID[c.OAuthClientID]; ok {
			l.ProviderID, l.Usable = ProviderID(oc), true
		}
		out.Links = append(out.Links, l)
	}
	return out, nil
}

// LinkStatusOf judges a connection from its stored state at the engine's clock. A
// token the provider refused (revoked, needs_reauth) cannot serve; nor can an
// expired one that nothing can renew (no refresh token, or its refreshes keep
// failing). An expired token with a refresh token still counts as authenticated:
// the next use refreshes it.
func (e *Engine) LinkStatusOf(c core.Connection) LinkStatus {
	if dead(c.Health) {
		reason := c.HealthReason
		if reason == "" {
			reason = "the provider refused the token; link the account again"
		}
		return LinkStatus{Problem: reason}
	}
	if !c.ExpiresAt.IsZero() && !e.nowUTC().Before(c.ExpiresAt) {
		switch {
		case c.RefreshToken == "" || c.CredentialKind != core.CredentialOAuth:
			return LinkStatus{Problem: "the token expired and cannot be refreshed; link the account again"}
		case c.Health == core.HealthRefreshFailing:
			reason := "the token expired and refreshing it failed"
			if c.HealthReason != "" {
				reason += ": " + c.HealthReason
			}
			return LinkStatus{Problem: reason}
		}
	}
	return LinkStatus{Authenticated: true}
}

// LinkCheck is one provider as a person sees it: the client, whether they linked it,
// and whether the link works according to the provider, asked just now.
type LinkCheck struct {
	Provider
	// Link is the person's own connection through the client (tokens Redacted);
	// nil when there is none.
	Link   *core.Connection
	Status LinkStatus
	// Installations are the GitHub App installations the link's token can see.
	// AppInstallable is true when the provider answered that question (a GitHub
	// App's user token); AppInstallURL is where the app is installed, when an
	// installation named the app.
	Installations  []AppInstallation
	AppInstallable bool
	AppInstallURL  string
}

// AppInstallation is a GitHub App installation reachable with a person's token.
type AppInstallation struct {
	ID           int64
	Account      AppAccount
	ConfigureURL string
}

// AppAccount is the user or organization an app is installed on.
type AppAccount struct {
	ID         int64
	Login      string
	Name       string
	AvatarURL  string
	ProfileURL string
}

// CheckLink describes the client named ref (slug or oc- id) that p may use, and p's
// own link through it, validated with the provider (refreshed first if due: see
// Validate, which records the verdict). When the provider cannot be asked, the
// stored verdict stands. For a GitHub link that works it also lists the app
// installations the token can see. A client p may not use is core.ErrNotFound; p
// needs scope read_api or connections.
func (e *Engine) CheckLink(ctx context.Context, p core.Principal, ref string) (LinkCheck, error) {
	if !p.Allows(core.ScopeReadAPI) && !p.Allows(core.ScopeConnections) {
		return LinkCheck{}, core.ErrForbidden
	}
	oc, err := e.UsableClient(ctx, p, ref)
	if err != nil {
		return LinkCheck{}, err
	}
	info, err := e.Describe(oc)
	if err != nil {
		return LinkCheck{}, err
	}
	out := LinkCheck{Provider: Provider{Client: oc, Info: info}}
	c, err := e.UserLink(ctx, p, oc.ID)
	if errors.Is(err, core.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return LinkCheck{}, err
	}
	if v, verr := e.Validate(ctx, p, c.ID); verr == nil {
		c = v
	} else if errors.Is(verr, core.ErrNotFound) {
		return out, nil // unlinked meanwhile
	} else if !isProviderTrouble(verr) {
		return LinkCheck{}, verr
	} else {
		e.log.WarnContext(ctx, "link validation: provider unavailable; the stored verdict stands", "connection", c.ID, "err", verr)
	}
	out.Link, out.Status = &c, e.LinkStatusOf(c)
	if out.Status.Authenticated {
		out.Installations, out.AppInstallable, out.AppInstallURL = e.appInstallations(ctx, oc, c)
	}
	return out, nil
}

func isProviderTrouble(err error) bool {
	var pe *ProviderError
	return errors.As(err, &pe) || errors.Is(err, context.DeadlineExceeded)
}

// installationsReader is what the GitHub forge offers for an API read with a
// person's token. The call is GitHub-only and used by this dialect only, so it lives
// here rather than as a forge capability.
type installationsReader interface {
	GetJSON(ctx context.Context, hc *http.Client, op, rawURL string, auth func(*http.Request), out any) (http.Header, error)
	TokenAuth(token string) func(*http.Request)
}

// appInstallations asks GitHub which installations of the OAuth client's app the
// token can see (GET /user/installations). Only a GitHub App's user token may ask;
// an OAuth app's token is refused, and then the answer is "not installable", as it
// is for every other provider and whenever GitHub cannot be asked.
// https://docs.github.com/en/rest/apps/installations#list-app-installations-accessible-to-the-user-access-token
func (e *Engine) appInstallations(ctx context.Context, oc core.OAuthClient, c core.Connection) ([]AppInstallation, bool, string) {
	if (oc.Kind != core.ProviderGitHub && oc.Kind != core.ProviderGitHubEnterprise) || c.CredentialKind != core.CredentialOAuth {
		return []AppInstallation{}, false, ""
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return []AppInstallation{}, false, ""
	}
	r, ok := f.(installationsReader)
	if !ok {
		return []AppInstallation{}, false, ""
	}
	stored, err := e.st.Connection(ctx, c.ID)
	if err != nil {
		return []AppInstallation{}, false, ""
	}
	tok, err := e.keys.OpenString(stored.AccessToken)
	if err != nil {
		return []AppInstallation{}, false, ""
	}
	var answer struct {
		Installations []struct {
			ID      int64  `json:"id"`
			AppSlug string `json:"app_slug"`
			HTMLURL string `json:"html_url"`
			Account *struct {
				ID        int64  `json:"id"`
				Login     string `json:"login"`
				Name      string `json:"name"`
				AvatarURL string `json:"avatar_url"`
				HTMLURL   string `json:"html_url"`
			} `json:"account"`
		} `json:"installations"`
	}
	pctx, cancel := e.providerCtx(ctx)
	defer cancel()
	if _, err := r.GetJSON(pctx, e.httpClient(), "app installations", f.Endpoints().APIURL+"/user/installations?per_page=100", r.TokenAuth(tok), &answer); err != nil {
		e.log.DebugContext(ctx, "app installations not available", "oauth_client", oc.ID, "err", err)
		return []AppInstallation{}, false, ""
	}
	out := make([]AppInstallation, 0, len(answer.Installations))
	installURL := ""
	for _, in := range answer.Installations {
		if in.AppSlug != "" && installURL == "" {
			installURL = strings.TrimRight(oc.HTTPURL, "/") + "/apps/" + url.PathEscape(in.AppSlug) + "/installations/new"
		}
		if in.Account == nil {
			continue
		}
		out = append(out, AppInstallation{ID: in.ID, ConfigureURL: in.HTMLURL, Account: AppAccount{ID: in.Account.ID,
			Login: in.Account.Login, Name: in.Account.Name, AvatarURL: in.Account.AvatarURL, ProfileURL: in.Account.HTMLURL}})
	}
	return out, true, installURL
}

// UnlinkProvider deletes p's own link through the client named ref (slug or oc- id)
// and revokes its tokens at the provider where it can (DeleteConnection). It works
// for a client p may no longer use too: the link is theirs. No link is
// core.ErrNotFound, whoever's client it is; p needs scope connections (the rules of
// DeleteConnection).
func (e *Engine) UnlinkProvider(ctx context.Context, p core.Principal, ref string) (DeleteResult, error) {
	oc, err := e.clientByRef(ctx, ref)
	if err != nil {
		return DeleteResult{}, err
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OAuthClientID: oc.ID, OwnerKind: core.OwnerUser, OwnerUserID: p.User.ID}, store.Page{Number: 1, Size: 1})
	if err != nil {
		return DeleteResult{}, err
	}
	if len(cs) == 0 {
		return DeleteResult{}, fmt.Errorf("connect: no link through %s: %w", oc.ID, core.ErrNotFound)
	}
	return e.DeleteConnection(ctx, p, cs[0].ID)
}

// DeviceStartFor starts the device flow of the client named ref for p's own link
// (the Coder dialect's GET …/device): StartDevice with OriginCoder.
func (e *Engine) DeviceStartFor(ctx context.Context, p core.Principal, ref string) (DeviceStart, error) {
	return e.StartDevice(ctx, p, FlowRequest{Target: Target{OAuthClient: ref, OwnerKind: core.OwnerUser}, Origin: OriginCoder})
}

// DevicePollFor is PollDevice for the Coder dialect's POST …/device: a client p may
// not use is core.ErrNotFound and one without a device flow ErrDeviceUnsupported,
// before the handle is looked at; an empty handle is a *core.ValidationError on
// "device_code".
func (e *Engine) DevicePollFor(ctx context.Context, p core.Principal, ref, deviceCode string) (core.Connection, error) {
	oc, err := e.UsableClient(ctx, p, ref)
	if err != nil {
		return core.Connection{}, err
	}
	if !p.Allows(core.ScopeConnections) {
		return core.Connection{}, core.ErrForbidden
	}
	info, err := e.Describe(oc)
	if err != nil {
		return core.Connection{}, err
	}
	if !info.Device {
		return core.Connection{}, ErrDeviceUnsupported
	}
	if strings.TrimSpace(deviceCode) == "" {
		return core.Connection{}, core.Missing("device_code")
	}
	return e.PollDevice(ctx, p, oc.ID, deviceCode)
}

// NumericUpstreamID is the connection's upstream account id as a number, for
// dialects whose ids are integers; 0 when the provider's ids are not (Bitbucket's
// UUIDs, Azure DevOps' GUIDs).
func NumericUpstreamID(c core.Connection) int64 {
	n, err := strconv.ParseInt(c.UpstreamID, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// CredentialWait is the workload credential lookup of the Coder dialect: by the
// client named ref when ref is not empty (CredentialForProvider), else by remoteURL
// (Credential), waiting up to wait for a link when wait > 0 and there is none
// (WaitProvider / Wait). The wait ends early when ctx ends or stop closes (the
// server drains); then the answer is the *NotLinkedError it had.
func (e *Engine) CredentialWait(ctx context.Context, p core.Principal, ref, remoteURL string, wait time.Duration, stop <-chan struct{}) (Credential, error) {
	get := func(ctx context.Context) (Credential, error) {
		if ref != "" {
			return e.CredentialForProvider(ctx, p, ref)
		}
		return e.Credential(ctx, p, remoteURL)
	}
	cred, err := get(ctx)
	var nl *NotLinkedError
	if wait <= 0 || !errors.As(err, &nl) {
		return cred, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stop != nil {
		go func() {
			select {
			case <-stop:
				cancel()
			case <-wctx.Done():
			}
		}()
	}
	cred, err = e.wait(wctx, wait, func() (Credential, error) { return get(wctx) })
	if err != nil && wctx.Err() != nil && ctx.Err() == nil {
		// Cut short by the drain: the answer we had stands.
		return Credential{}, nl
	}
	return cred, err
}
