package connect

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Project authorizations, the ServiceStage dialect's view of a project's
// connections: named, made through the project's OAuth client of a repository
// type, by a browser flow whose code the platform hands back, by a personal token,
// or by a username and password. The rules of that dialect live here, so the API
// package only translates: which repository types each way takes, which client
// serves one, when a token or password counts as refused, and what state an
// authorization is in.

// RepoOp is a way of making a project authorization.
type RepoOp string

const (
	// RepoOpOAuth: the browser flow (ShowRedirectUrl, then CreateOAuth).
	RepoOpOAuth RepoOp = "oauth"
	// RepoOpPersonal: a personal access token handed over (CreatePersonalAuth).
	RepoOpPersonal RepoOp = "personal"
	// RepoOpPassword: a username and password, kept as a basic credential
	// (CreatePasswordAuth).
	RepoOpPassword RepoOp = "password"
)

// Repository types and the provider kinds each stands for. ServiceStage names
// github, gitlab, gitee and bitbucket; gitea is our extension.
var repoTypeKinds = map[string][]core.ProviderKind{
	"github":    {core.ProviderGitHub, core.ProviderGitHubEnterprise},
	"gitlab":    {core.ProviderGitLabHosted, core.ProviderGitLabCommunityEdition, core.ProviderGitLabEnterpriseEdition},
	"gitee":     {core.ProviderGitee},
	"bitbucket": {core.ProviderBitbucketHosted, core.ProviderBitbucketServer, core.ProviderBitbucketDataCenter},
	"gitea":     {core.ProviderGitea},
}

// Which repository types each way takes (servicestage.md, plus gitea everywhere).
var repoTypesByOp = map[RepoOp][]string{
	RepoOpOAuth:    {"github", "gitlab", "gitee", "bitbucket", "gitea"},
	RepoOpPersonal: {"github", "gitlab", "gitee", "gitea"},
	RepoOpPassword: {"github", "bitbucket", "gitea"},
}

// RepoTypeAzureDevOps is how a project's Azure DevOps connection (made elsewhere,
// through the web pages) shows in the list; no ServiceStage operation makes one.
const RepoTypeAzureDevOps = "azure-devops"

// RepoTypes lists the repository types op takes.
func RepoTypes(op RepoOp) []string { return slices.Clone(repoTypesByOp[op]) }

// RepoTypeOf is the repository type of a provider kind.
func RepoTypeOf(kind core.ProviderKind) string {
	for rt, kinds := range repoTypeKinds {
		if slices.Contains(kinds, kind) {
			return rt
		}
	}
	if kind == core.ProviderAzureDevOpsServer || kind == core.ProviderAzureDevOpsServices {
		return RepoTypeAzureDevOps
	}
	return string(kind)
}

// repoKinds checks that op takes repoType and returns its provider kinds. Any
// other type is a *core.ValidationError on "repo_type" with Code "unsupported".
func repoKinds(op RepoOp, repoType string) ([]core.ProviderKind, error) {
	if types, ok := repoTypesByOp[op]; ok && slices.Contains(types, repoType) {
		return repoTypeKinds[repoType], nil
	}
	shown := repoType
	if len(shown) > 32 {
		shown = shown[:32] + "…"
	}
	return nil, &core.ValidationError{Field: "repo_type", Code: "unsupported",
		Message: fmt.Sprintf("repository type %q is not supported here; use one of %s", shown, strings.Join(repoTypesByOp[op], ", "))}
}

// ErrCredentialRefused: the provider refused a token or password handed over, and
// nothing was stored. The error is also a *core.ValidationError on the field
// ("token" or "password").
var ErrCredentialRefused = errors.New("connect: the provider refused the credential")

type refusedError struct{ v *core.ValidationError }

func (e *refusedError) Error() string   { return e.v.Error() }
func (e *refusedError) Unwrap() []error { return []error{e.v, ErrCredentialRefused} }

func credentialRefused(field, msg string) error {
	return &refusedError{&core.ValidationError{Field: field, Code: "invalid", Message: msg}}
}

// ErrNameNotFound: the project has no authorization of that name. It is a
// core.ErrNotFound too; a project the caller may not see is core.ErrNotFound
// without being this.
var ErrNameNotFound = fmt.Errorf("connect: the project has no connection of that name: %w", core.ErrNotFound)

// AuthState is where a project authorization stands, from its connection's health.
type AuthState int

const (
	// AuthNormal: the credential works as far as we know (a token due for refresh
	// is refreshed when used).
	AuthNormal AuthState = iota
	// AuthExpired: the grant ran out: the provider refused the refresh
	// (needs_reauth), or the token expired with nothing to refresh it by.
	AuthExpired
	// AuthUnauthenticated: the provider refuses the token or password (revoked).
	AuthUnauthenticated
)

func authState(c core.Connection, now time.Time) AuthState {
	switch c.Health {
	case core.HealthRevoked:
		return AuthUnauthenticated
	case core.HealthNeedsReauth:
		return AuthExpired
	}
	if !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) && (c.RefreshToken == "" || c.Health == core.HealthRefreshFailing) {
		return AuthExpired
	}
	return AuthNormal
}

// ProjectAuthorization is a project's named connection with what ServiceStage shows
// of it.
type ProjectAuthorization struct {
	Connection core.Connection // tokens Redacted
	RepoType   string          // RepoTypeOf the client's kind
	RepoHost   string          // the client's http_url
	State      AuthState
}

func (e *Engine) projectAuthorization(c core.Connection, oc core.OAuthClient, now time.Time) ProjectAuthorization {
	return ProjectAuthorization{Connection: redactConn(c), RepoType: RepoTypeOf(oc.Kind), RepoHost: oc.HTTPURL, State: authState(c, now)}
}

// ProjectAuthorizations lists a project's named connections, oldest first, to
// members of its organization whose token may read.
func (e *Engine) ProjectAuthorizations(ctx context.Context, p core.Principal, projectID string) ([]ProjectAuthorization, error) {
	if _, _, err := e.id.Project(ctx, p, projectID); err != nil {
		return nil, err
	}
	if !p.Allows(core.ScopeReadAPI) && !p.Allows(core.ScopeConnections) {
		return nil, core.ErrForbidden
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OwnerKind: core.OwnerProject, OwnerProjectID: projectID}, store.Page{})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(cs, func(a, b core.Connection) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	clients := map[string]core.OAuthClient{}
	now := e.nowUTC()
	out := make([]ProjectAuthorization, 0, len(cs))
	for _, c := range cs {
		oc, ok := clients[c.OAuthClientID]
		if !ok {
			if oc, err = e.st.OAuthClient(ctx, c.OAuthClientID); err != nil {
				if errors.Is(err, core.ErrNotFound) {
					continue // deleted with its connections a moment ago
				}
				return nil, err
			}
			clients[c.OAuthClientID] = oc
		}
		out = append(out, e.projectAuthorization(c, oc, now))
	}
	return out, nil
}

// projectRepoClient picks the OAuth client that serves repoType for op in the
// project: the oldest client of one of the type's kinds the project may use, at
// host when one is given. The project comes first, so a caller outside its
// organization gets core.ErrNotFound whatever else is wrong. No such client is a
// *core.ValidationError on "repo_type" with Code "not_configured".
func (e *Engine) projectRepoClient(ctx context.Context, p core.Principal, projectID string, op RepoOp, repoType, host string) (core.OAuthClient, error) {
	if _, _, err := e.id.Project(ctx, p, projectID); err != nil {
		return core.OAuthClient{}, err
	}
	kinds, err := repoKinds(op, repoType)
	if err != nil {
		return core.OAuthClient{}, err
	}
	wantHost, err := repoHostOf(host)
	if err != nil {
		return core.OAuthClient{}, err
	}
	cs, _, err := e.st.ListOAuthClients(ctx, store.OAuthClientFilter{AvailableToProject: projectID}, store.Page{})
	if err != nil {
		return core.OAuthClient{}, err
	}
	for _, oc := range cs {
		if !slices.Contains(kinds, oc.Kind) {
			continue
		}
		if wantHost != "" && !e.clientAtHost(oc, wantHost) {
			continue
		}
		return oc, nil
	}
	msg := fmt.Sprintf("no OAuth client for %s serves this project; an organization admin registers one", repoType)
	if wantHost != "" {
		msg = fmt.Sprintf("no OAuth client for %s at %s serves this project; an organization admin registers one", repoType, wantHost)
	}
	return core.OAuthClient{}, &core.ValidationError{Field: "repo_type", Code: "not_configured", Message: msg}
}

// repoHostOf reads host as "host[:port]" or as a URL, lower case.
func repoHostOf(host string) (string, error) {
	host = strings.TrimSpace(host)
	if host == "" {
		return "", nil
	}
	bad := core.Invalid("host", "must be a host name or an http(s) URL")
	if len(host) > 255 {
		return "", bad
	}
	raw := host
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.ContainsAny(u.Host, " \t") {
		return "", bad
	}
	return strings.ToLower(u.Host), nil
}

// clientAtHost: the client's web address or its git remotes are at host.
func (e *Engine) clientAtHost(oc core.OAuthClient, host string) bool {
	if u, err := url.Parse(oc.HTTPURL); err == nil && strings.EqualFold(u.Host, host) {
		return true
	}
	if f, err := e.clientForge(oc); err == nil && strings.EqualFold(f.RepoHost(), host) {
		return true
	}
	return false
}

// StartProjectAuthorization starts a ServiceStage browser flow for the project:
// the state it returns (in the provider's authorize URL) is bound to p, the
// project, repoType and the client that serves it, and is completed by
// CompleteProjectAuthorization. returnTo is the platform's page the callback sends
// the browser on to with code and state ("" for a page that shows them); it comes
// from configuration, never from the request.
func (e *Engine) StartProjectAuthorization(ctx context.Context, p core.Principal, projectID, repoType, returnTo string) (string, error) {
	oc, err := e.projectRepoClient(ctx, p, projectID, RepoOpOAuth, repoType, "")
	if err != nil {
		return "", err
	}
	return e.StartBrowser(ctx, p, FlowRequest{
		Target: Target{OAuthClient: oc.ID, OwnerKind: core.OwnerProject, ProjectID: projectID},
		Origin: OriginServiceStage, RepoType: repoType, ReturnTo: returnTo,
	})
}

// ProjectOAuthInput completes a ServiceStage browser flow.
type ProjectOAuthInput struct {
	ProjectID, RepoType, Name string
	Code, State               string
}

// CompleteProjectAuthorization exchanges the code of a flow started by
// StartProjectAuthorization and saves the project's authorization under Name. A
// state that is not one p started for this project and repository type, or is used
// or expired, is a *core.ValidationError on "state" with Code "invalid", and
// nothing is created; a taken name is refused before the state is used up.
func (e *Engine) CompleteProjectAuthorization(ctx context.Context, p core.Principal, in ProjectOAuthInput) (ProjectAuthorization, error) {
	if _, _, err := e.id.Project(ctx, p, in.ProjectID); err != nil {
		return ProjectAuthorization{}, err
	}
	if _, err := repoKinds(RepoOpOAuth, in.RepoType); err != nil {
		return ProjectAuthorization{}, err
	}
	switch {
	case strings.TrimSpace(in.Name) == "":
		return ProjectAuthorization{}, core.Missing("name")
	case in.State == "":
		return ProjectAuthorization{}, core.Missing("state")
	case in.Code == "":
		return ProjectAuthorization{}, core.Missing("code")
	}
	c, err := e.CompleteHandBack(ctx, p, HandBackCompletion{State: in.State, Code: in.Code,
		ProjectID: in.ProjectID, RepoType: in.RepoType, Name: in.Name})
	if err != nil {
		return ProjectAuthorization{}, err
	}
	return e.savedAuthorization(ctx, c)
}

// savedAuthorization describes a connection just made.
func (e *Engine) savedAuthorization(ctx context.Context, c core.Connection) (ProjectAuthorization, error) {
	oc, err := e.st.OAuthClient(ctx, c.OAuthClientID)
	if err != nil {
		return ProjectAuthorization{}, err
	}
	return e.projectAuthorization(c, oc, e.nowUTC()), nil
}

// ProjectTokenInput hands over a personal access token.
type ProjectTokenInput struct {
	ProjectID, RepoType, Name string
	Token                     string
	// Host picks the client when several of the type serve the project (a
	// self-hosted GitLab beside gitlab.com): "host[:port]" or a URL.
	Host string
}

// ImportProjectToken saves a personal access token as the project's authorization
// Name, after the provider accepted it. A token the provider refuses is
// ErrCredentialRefused (and a *core.ValidationError on "token"); nothing is stored.
func (e *Engine) ImportProjectToken(ctx context.Context, p core.Principal, in ProjectTokenInput) (ProjectAuthorization, error) {
	oc, err := e.projectRepoClient(ctx, p, in.ProjectID, RepoOpPersonal, in.RepoType, in.Host)
	if err != nil {
		return ProjectAuthorization{}, err
	}
	oc, o, err := e.authorizeTarget(ctx, p, Target{OAuthClient: oc.ID, OwnerKind: core.OwnerProject, ProjectID: in.ProjectID, Name: in.Name}, true)
	if err != nil {
		return ProjectAuthorization{}, err
	}
	token := strings.TrimSpace(in.Token)
	if err := checkTokenShape("token", token); err != nil {
		return ProjectAuthorization{}, err
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return ProjectAuthorization{}, err
	}
	imp, err := e.checkToken(ctx, f, token, "token")
	if v, ok := core.AsValidation(err); ok {
		// The token's shape was checked above: what remains is the provider's no.
		return ProjectAuthorization{}, credentialRefused("token", v.Message)
	}
	if err != nil {
		return ProjectAuthorization{}, err
	}
	c, err := e.importChecked(ctx, p, oc, o, imp, OriginServiceStage)
	if err != nil {
		return ProjectAuthorization{}, err
	}
	return e.projectAuthorization(c, oc, e.nowUTC()), nil
}

// checkTokenShape is checkToken's test of the text, before anything asks the provider.
func checkTokenShape(field, token string) error {
	if token == "" {
		return core.Missing(field)
	}
	if len(token) > 4096 || strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return core.Invalid(field, "is not a token")
	}
	return nil
}

// ProjectPasswordInput hands over a username and password.
type ProjectPasswordInput struct {
	ProjectID, RepoType, Name string
	Username, Password        string
}

// LinkProjectPassword saves a username and password as the project's authorization
// Name, stored as a basic credential, after the provider accepted them. Where the
// provider takes no passwords for git (GitHub, since 2021-08-13) the password must
// be a token it accepts, as git over HTTPS there takes one in its place. A pair the
// provider refuses is ErrCredentialRefused (and a *core.ValidationError on
// "password"); nothing is stored.
func (e *Engine) LinkProjectPassword(ctx context.Context, p core.Principal, in ProjectPasswordInput) (ProjectAuthorization, error) {
	oc, err := e.projectRepoClient(ctx, p, in.ProjectID, RepoOpPassword, in.RepoType, "")
	if err != nil {
		return ProjectAuthorization{}, err
	}
	oc, o, err := e.authorizeTarget(ctx, p, Target{OAuthClient: oc.ID, OwnerKind: core.OwnerProject, ProjectID: in.ProjectID, Name: in.Name}, true)
	if err != nil {
		return ProjectAuthorization{}, err
	}
	username := strings.TrimSpace(in.Username)
	switch {
	case username == "":
		return ProjectAuthorization{}, core.Missing("username")
	case in.Password == "":
		return ProjectAuthorization{}, core.Missing("password")
	case oneLine("username", username, 255) != nil || strings.Contains(username, ":"):
		return ProjectAuthorization{}, core.Invalid("username", "must be one line without ':'")
	case len(in.Password) > 4096 || strings.ContainsAny(in.Password, "\x00\r\n"):
		return ProjectAuthorization{}, core.Invalid("password", "must be one line of at most 4096 characters")
	}
	f, err := e.clientForge(oc)
	if err != nil {
		return ProjectAuthorization{}, err
	}
	var ident *forge.Identity
	switch fp := f.(type) {
	case forge.PasswordAuth:
		pctx, cancel := e.providerCtx(ctx)
		ident, err = fp.PasswordUser(pctx, e.httpClient(), username, in.Password)
		cancel()
		if errors.Is(err, forge.ErrTokenInvalid) {
			return ProjectAuthorization{}, credentialRefused("password", "the provider refused the username and password")
		}
		if err != nil {
			return ProjectAuthorization{}, &ProviderError{Op: "password check", Err: err}
		}
	default:
		if err := checkTokenShape("password", in.Password); err != nil {
			return ProjectAuthorization{}, credentialRefused("password", f.DisplayName()+" takes no passwords for git; the password must be a personal access token")
		}
		imp, err := e.checkToken(ctx, f, in.Password, "password")
		if _, ok := core.AsValidation(err); ok {
			return ProjectAuthorization{}, credentialRefused("password", "the provider refused the password (for "+f.DisplayName()+", a personal access token)")
		}
		if err != nil {
			return ProjectAuthorization{}, err
		}
		ident = imp.ident
	}
	c, _, err := e.saveLink(ctx, p, oc, o, linkInput{cred: core.CredentialPassword, username: username,
		access: in.Password, tokenType: "basic", scopes: []string{}, ident: ident}, OriginServiceStage)
	if err != nil {
		return ProjectAuthorization{}, err
	}
	return e.projectAuthorization(c, oc, e.nowUTC()), nil
}

// DeleteProjectAuthorization deletes the project's authorization named name, and
// revokes its tokens at the provider where that is possible. An unknown name is
// ErrNameNotFound; a project p may not see is core.ErrNotFound.
func (e *Engine) DeleteProjectAuthorization(ctx context.Context, p core.Principal, projectID, name string) (DeleteResult, error) {
	if _, _, err := e.id.Project(ctx, p, projectID); err != nil {
		return DeleteResult{}, err
	}
	cs, _, err := e.st.ListConnections(ctx, store.ConnectionFilter{OwnerKind: core.OwnerProject, OwnerProjectID: projectID, Name: name}, store.Page{Number: 1, Size: 1})
	if err != nil {
		return DeleteResult{}, err
	}
	if len(cs) == 0 {
		return DeleteResult{}, ErrNameNotFound
	}
	res, err := e.DeleteConnection(ctx, p, cs[0].ID)
	if errors.Is(err, core.ErrNotFound) {
		return DeleteResult{}, ErrNameNotFound // deleted concurrently
	}
	return res, err
}
