// Package store defines vcsauth's persistence contract. One database/sql
// implementation (sqlstore) serves SQLite and PostgreSQL; storetest is the conformance
// suite both run. The store knows nothing of permissions or validation: it keeps rows,
// enforces uniqueness and foreign keys, and returns the core's sentinel errors
// (core.ErrNotFound, core.ErrConflict, core.ErrStale).
package store

import (
	"context"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// Store is everything vcsauth keeps.
//
// Conventions every method follows: the store sets no times itself (callers pass
// CreatedAt, UpdatedAt and the "now" of a query, truncated to microseconds, which
// is what it keeps); Update* methods run fn on the current row inside a transaction
// that locks it, keep the id and CreatedAt (and the owner fields named below) as they
// were, and return the row as stored; an error from fn aborts with nothing changed.
type Store interface {
	Identity
	Upstream
	Downstream

	// Ping checks that the database answers and its schema is current.
	Ping(ctx context.Context) error
	// ReencryptSecrets passes every stored core.Sealed value (of every table) through
	// fn and writes back what it returns, in one transaction. It returns how many
	// values it rewrote. Used by `admin rotate-keys`.
	ReencryptSecrets(ctx context.Context, fn func(core.Sealed) (core.Sealed, error)) (int, error)
	Close() error
}

// Page selects part of a list. Size 0 means "everything". Number counts from 1.
type Page struct {
	Number int
	Size   int
}

// Identity: users, organizations, memberships, projects, the tokens we issue,
// login throttling, audit events and access keys.
type Identity interface {
	CreateUser(ctx context.Context, u core.User) error
	User(ctx context.Context, id string) (core.User, error)
	UserByUsername(ctx context.Context, username string) (core.User, error)
	ListUsers(ctx context.Context, p Page) ([]core.User, int, error)
	UpdateUser(ctx context.Context, id string, fn func(core.User) (core.User, error)) (core.User, error)
	// DeleteUser deletes the user with their memberships, tokens, grants, access
	// keys, user-owned connections and flows in progress. Organization- and
	// project-owned connections they created stay.
	DeleteUser(ctx context.Context, id string) error

	CreateOrg(ctx context.Context, o core.Organization) error
	Org(ctx context.Context, id string) (core.Organization, error)
	OrgByName(ctx context.Context, name string) (core.Organization, error)
	// OrgWithRole and OrgByNameWithRole return the organization and userID's role
	// in it ("" when they are not a member) in one read: every organization-scoped
	// request needs both.
	OrgWithRole(ctx context.Context, id, userID string) (core.Organization, core.Role, error)
	OrgByNameWithRole(ctx context.Context, name, userID string) (core.Organization, core.Role, error)
	ListOrgs(ctx context.Context, p Page) ([]core.Organization, int, error)
	UpdateOrg(ctx context.Context, id string, fn func(core.Organization) (core.Organization, error)) (core.Organization, error)
	DeleteOrg(ctx context.Context, id string) error

	// PutMembership creates or changes a membership.
	PutMembership(ctx context.Context, m core.Membership) error
	Membership(ctx context.Context, orgID, userID string) (core.Membership, error)
	ListMembers(ctx context.Context, orgID string) ([]core.Membership, error)
	ListMemberships(ctx context.Context, userID string) ([]core.Membership, error)
	DeleteMembership(ctx context.Context, orgID, userID string) error

	CreateProject(ctx context.Context, p core.Project) error
	Project(ctx context.Context, id string) (core.Project, error)
	// ListProjects lists one organization's projects ("" lists none).
	ListProjects(ctx context.Context, orgID string, p Page) ([]core.Project, int, error)
	UpdateProject(ctx context.Context, id string, fn func(core.Project) (core.Project, error)) (core.Project, error)
	// DeleteProject deletes the project and its connections, and drops it from the
	// project lists of OAuth clients.
	DeleteProject(ctx context.Context, id string) error

	// CreateToken stores t and sets t.ID.
	CreateToken(ctx context.Context, t *core.Token) error
	// CreateTokens stores every token of ts in one transaction and sets their IDs:
	// all of them or, on error, none.
	CreateTokens(ctx context.Context, ts []*core.Token) error
	// RotateToken revokes token id (RevokedAt, LastUsedAt and UpdatedAt set to at)
	// and stores ts (setting their IDs), in one transaction: a compare-and-swap, so of
	// concurrent rotations of one token one wins. A token already revoked is
	// ErrStale, an unknown one ErrNotFound; on any error nothing changes.
	RotateToken(ctx context.Context, id int64, at time.Time, ts []*core.Token) error
	Token(ctx context.Context, id int64) (core.Token, error)
	// LookupToken finds a token by the SHA-256 of its text, with its user, in one
	// round trip: it is on the path of every authenticated request. It returns
	// revoked and expired tokens too; the caller decides.
	LookupToken(ctx context.Context, hash []byte) (core.Token, core.User, error)
	ListTokens(ctx context.Context, f TokenFilter, p Page) ([]core.Token, int, error)
	UpdateToken(ctx context.Context, id int64, fn func(core.Token) (core.Token, error)) (core.Token, error)
	// RevokeTokens sets RevokedAt (and UpdatedAt) on every live token that f matches
	// and returns how many; revoked and expired tokens are left as they are. A filter
	// that names no user, application, grant, family or fingerprint is refused.
	RevokeTokens(ctx context.Context, f TokenFilter, at time.Time) (int, error)
	DeleteToken(ctx context.Context, id int64) error
	// DeleteDeadTokens removes tokens revoked or expired before the given time.
	DeleteDeadTokens(ctx context.Context, before time.Time) (int, error)

	// RecordLoginFailure counts a failed sign-in for key (a username) and returns how
	// many failures key has had since now-window. It holds across replicas.
	RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// LoginFailures returns the count since now-window without adding one.
	LoginFailures(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	ClearLoginFailures(ctx context.Context, key string) error
	// DeleteLoginFailures removes the failures recorded before the given time, of
	// every key: those of names nobody tries again would otherwise stay forever.
	DeleteLoginFailures(ctx context.Context, before time.Time) (int, error)

	// AppendAudit stores e and sets e.ID.
	AppendAudit(ctx context.Context, e *core.AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter, p Page) ([]core.AuditEvent, int, error)

	CreateAccessKey(ctx context.Context, k core.AccessKey) error
	AccessKey(ctx context.Context, id string) (core.AccessKey, error)
	ListAccessKeys(ctx context.Context, userID string) ([]core.AccessKey, error)
	DeleteAccessKey(ctx context.Context, id string) error
}

// TokenFilter selects tokens. Zero fields do not filter.
type TokenFilter struct {
	UserID        string
	Kinds         []core.TokenKind
	ApplicationID int64
	// PersonalOnly selects tokens with no application (ApplicationID must be 0).
	PersonalOnly bool
	GrantID      int64
	FamilyID     string
	Fingerprint  string
	// LiveAt, when set, keeps only tokens not revoked and not expired at that time.
	LiveAt time.Time
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	ActorID    string
	Action     string // exact, or a prefix ending in "." ("token.")
	TargetType string
	TargetID   string
	OrgID      string
	Since      time.Time
	Until      time.Time
}

// Upstream: OAuth clients at Git providers, the connections made through them, and
// upstream flows in progress.
type Upstream interface {
	CreateOAuthClient(ctx context.Context, c core.OAuthClient) error
	OAuthClient(ctx context.Context, id string) (core.OAuthClient, error)
	OAuthClientBySlug(ctx context.Context, slug string) (core.OAuthClient, error)
	ListOAuthClients(ctx context.Context, f OAuthClientFilter, p Page) ([]core.OAuthClient, int, error)
	UpdateOAuthClient(ctx context.Context, id string, fn func(core.OAuthClient) (core.OAuthClient, error)) (core.OAuthClient, error)
	// DeleteOAuthClient deletes the client and every connection made through it.
	DeleteOAuthClient(ctx context.Context, id string) error

	CreateConnection(ctx context.Context, c core.Connection) error
	Connection(ctx context.Context, id string) (core.Connection, error)
	ListConnections(ctx context.Context, f ConnectionFilter, p Page) ([]core.Connection, int, error)
	// UpdateConnection runs fn on the current row in a transaction (locking the row
	// where the database can) and saves the result with Version incremented.
	// OAuthClientID and OwnerOrgID cannot change.
	UpdateConnection(ctx context.Context, id string, fn func(core.Connection) (core.Connection, error)) (core.Connection, error)
	DeleteConnection(ctx context.Context, id string) error
	// ConnectionsExpiringBefore lists OAuth connections with a refresh token whose
	// access token expires before t and whose health is not needs_reauth or revoked,
	// soonest first, at most limit (0: all), for the background refresher.
	ConnectionsExpiringBefore(ctx context.Context, t time.Time, limit int) ([]core.Connection, error)

	CreateFlowState(ctx context.Context, s core.FlowState) error
	FlowState(ctx context.Context, id string) (core.FlowState, error)
	// ConsumeFlowState marks the state with this hash used, atomically, and returns
	// it. A state that is unknown, already used or expired at now is ErrNotFound.
	ConsumeFlowState(ctx context.Context, stateHash []byte, now time.Time) (core.FlowState, error)
	DeleteExpiredFlowStates(ctx context.Context, before time.Time) (int, error)
	// UpdateFlowState runs fn on the current row in a transaction (locking the row
	// where the database can) and saves what it returns. Only Name, PKCEVerifier,
	// DeviceCode, ReturnTo, ExpiresAt and UsedAt can change: the id, state hash,
	// client, user, owner fields, Origin, RepoType and CreatedAt stay as they were. An
	// upstream device flow keeps its polling schedule here, and is marked used here.
	UpdateFlowState(ctx context.Context, id string, fn func(core.FlowState) (core.FlowState, error)) (core.FlowState, error)

	// UsableConnections returns, in one query, every connection userID may use for
	// git credentials, each with its OAuth client's kind, URLs and slug: the user's
	// own connections, the connections of projects of the user's organizations, and
	// the organization-owned connections of those organizations, in that order, each
	// group oldest first. A connection counts only while the user belongs to its
	// organization (OwnerOrgID, the client's organization). It is on the path of every
	// git credential request; an implementation may answer it from memory within a
	// bound it states (sqlstore: evicted on every change, by notification across
	// PostgreSQL replicas, and at most --cache-ttl old). Callers do not change the
	// slice.
	UsableConnections(ctx context.Context, userID string) ([]UsableConnection, error)
}

// UsableConnection is a connection with what the credential lookup needs of its
// OAuth client.
type UsableConnection struct {
	Connection core.Connection
	Kind       core.ProviderKind
	HTTPURL    string
	APIURL     string
	Slug       string
}

// OAuthClientFilter selects OAuth clients. Zero fields do not filter.
type OAuthClientFilter struct {
	OrgID string
	// AvailableToProject keeps clients the project may use: organization-scoped
	// clients of its organization, and clients that list it.
	AvailableToProject string
	// AvailableToUser keeps clients usable by the user: organization-scoped clients
	// of organizations the user belongs to, and clients listing a project of theirs.
	AvailableToUser string
	Kind            core.ProviderKind
}

// ConnectionFilter selects connections. Zero fields do not filter.
type ConnectionFilter struct {
	OAuthClientID string
	OwnerKind     core.OwnerKind
	// OwnerUserID matches the owner of user-owned connections and the creator of
	// the others: to list a person's own links, set OwnerKind too.
	OwnerUserID    string
	OwnerOrgID     string
	OwnerProjectID string
	Name           string
}

// Downstream: applications that use vcsauth as their OAuth server, the grants people
// give them, and flows in progress.
type Downstream interface {
	// CreateApplication stores a and sets a.ID.
	CreateApplication(ctx context.Context, a *core.Application) error
	Application(ctx context.Context, id int64) (core.Application, error)
	ApplicationByClientID(ctx context.Context, clientID string) (core.Application, error)
	ListApplications(ctx context.Context, p Page) ([]core.Application, int, error)
	UpdateApplication(ctx context.Context, id int64, fn func(core.Application) (core.Application, error)) (core.Application, error)
	// DeleteApplication deletes the application, its grants, tokens and pending codes.
	DeleteApplication(ctx context.Context, id int64) error

	// GrantFor returns the user's grant to the application, creating it if need be.
	GrantFor(ctx context.Context, userID string, applicationID int64, now time.Time) (core.Grant, error)
	// EnsureGrant returns the id of the user's grant to the application, creating the
	// grant if need be. Unlike GrantFor it fills no scopes, and when the grant exists
	// it only reads: it is on the path of every code exchange.
	EnsureGrant(ctx context.Context, userID string, applicationID int64, now time.Time) (int64, error)
	// Grant returns a grant with Scopes filled from its live tokens at now.
	Grant(ctx context.Context, id int64, now time.Time) (core.Grant, error)
	// FindGrant returns the user's grant to the application without creating one.
	FindGrant(ctx context.Context, userID string, applicationID int64, now time.Time) (core.Grant, error)
	ListGrants(ctx context.Context, userID string, now time.Time, p Page) ([]core.Grant, int, error)
	// DeleteGrant deletes the grant and every token under it.
	DeleteGrant(ctx context.Context, id int64) error

	CreateAuthCode(ctx context.Context, c core.AuthorizationCode) error
	// ConsumeAuthCode marks the code used and returns it. A code that was already
	// used is returned with its UsedAt set and first == false, so the caller can
	// revoke what the first exchange issued. Unknown codes are ErrNotFound.
	ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (c core.AuthorizationCode, first bool, err error)
	DeleteExpiredAuthCodes(ctx context.Context, before time.Time) (int, error)

	CreateDeviceAuth(ctx context.Context, d core.DeviceAuthorization) error
	DeviceAuth(ctx context.Context, deviceCodeHash []byte) (core.DeviceAuthorization, error)
	DeviceAuthByUserCode(ctx context.Context, userCode string) (core.DeviceAuthorization, error)
	UpdateDeviceAuth(ctx context.Context, deviceCodeHash []byte, fn func(core.DeviceAuthorization) (core.DeviceAuthorization, error)) (core.DeviceAuthorization, error)
	DeleteExpiredDeviceAuths(ctx context.Context, before time.Time) (int, error)
}
