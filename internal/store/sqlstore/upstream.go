package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// The Upstream group: OAuth clients, connections and upstream flow states
// (migration 0002). Helpers private to this file carry the prefix "up" so they cannot
// collide with the other groups' files of the package.

// ---- OAuth clients ----

const upClientCols = `c.id, c.slug, c.org_id, c.name, c.kind, c.http_url, c.api_url, c.key, c.secret,
	c.rsa_public_key, c.private_key, c.scopes, c.organization_scoped, c.device_flow_disabled,
	c.agent_pool_id, c.created_at, c.updated_at`

func upScanClient(row interface{ Scan(...any) error }) (core.OAuthClient, error) {
	var c core.OAuthClient
	err := row.Scan(&c.ID, &c.Slug, &c.OrgID, &c.Name, &c.Kind, &c.HTTPURL, &c.APIURL, &c.Key, &c.Secret,
		&c.RSAPublicKey, &c.PrivateKey, scanList(&c.Scopes), &c.OrganizationScoped, &c.DeviceFlowDisabled,
		&c.AgentPoolID, scanTime(&c.CreatedAt), scanTime(&c.UpdatedAt))
	c.ProjectIDs = []string{}
	return c, err
}

// upProjectSet returns ids sorted and without duplicates: how ProjectIDs are kept.
func upProjectSet(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// CreateOAuthClient stores c and its project list in one transaction. A taken id or
// slug is ErrConflict; a missing organization or project is ErrNotFound.
func (s *Store) CreateOAuthClient(ctx context.Context, c core.OAuthClient) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_clients (id, slug, org_id, name, kind, http_url,
			api_url, key, secret, rsa_public_key, private_key, scopes, organization_scoped,
			device_flow_disabled, agent_pool_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			c.ID, c.Slug, c.OrgID, c.Name, string(c.Kind), c.HTTPURL, c.APIURL, c.Key, string(c.Secret),
			c.RSAPublicKey, string(c.PrivateKey), list(c.Scopes), c.OrganizationScoped,
			c.DeviceFlowDisabled, c.AgentPoolID, ts(c.CreatedAt), ts(c.UpdatedAt))
		if err != nil {
			return fmt.Errorf("create oauth client %s: %w", c.ID, s.mapErr(err))
		}
		return s.upPutClientProjects(ctx, tx, c.ID, c.ProjectIDs)
	})
}

// upPutClientProjects makes the client's project rows exactly ids.
func (s *Store) upPutClientProjects(ctx context.Context, tx *sql.Tx, clientID string, ids []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_client_projects WHERE oauth_client_id = $1`, clientID); err != nil {
		return fmt.Errorf("oauth client %s: projects: %w", clientID, s.mapErr(err))
	}
	for _, p := range upProjectSet(ids) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_client_projects (oauth_client_id, project_id) VALUES ($1, $2)`,
			clientID, p); err != nil {
			return fmt.Errorf("oauth client %s: project %s: %w", clientID, p, s.mapErr(err))
		}
	}
	return nil
}

// upClientProjects fills ProjectIDs of every client in cs with one query.
func upClientProjects(ctx context.Context, q querier, cs []core.OAuthClient) error {
	if len(cs) == 0 {
		return nil
	}
	idx := make(map[string]int, len(cs))
	marks := make([]string, len(cs))
	args := make([]any, len(cs))
	for i, c := range cs {
		idx[c.ID] = i
		marks[i] = fmt.Sprintf("$%d", i+1)
		args[i] = c.ID
	}
	rows, err := q.QueryContext(ctx, `SELECT oauth_client_id, project_id FROM oauth_client_projects
		WHERE oauth_client_id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cid, pid string
		if err := rows.Scan(&cid, &pid); err != nil {
			return err
		}
		if i, ok := idx[cid]; ok {
			cs[i].ProjectIDs = append(cs[i].ProjectIDs, pid)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Sorted in Go: PostgreSQL's ORDER BY follows the database's collation, which need
	// not be byte order.
	for i := range cs {
		slices.Sort(cs[i].ProjectIDs)
	}
	return nil
}

// upGetClient reads one client with its projects; suffix is appended to the SELECT
// (more conditions, a row lock).
func (s *Store) upGetClient(ctx context.Context, q querier, col, val, suffix string) (core.OAuthClient, error) {
	c, err := upScanClient(q.QueryRowContext(ctx,
		`SELECT `+upClientCols+` FROM oauth_clients c WHERE c.`+col+` = $1`+suffix, val))
	if err != nil {
		return core.OAuthClient{}, fmt.Errorf("oauth client %s: %w", val, s.mapErr(err))
	}
	cs := []core.OAuthClient{c}
	if err := upClientProjects(ctx, q, cs); err != nil {
		return core.OAuthClient{}, fmt.Errorf("oauth client %s: projects: %w", val, err)
	}
	return cs[0], nil
}

// OAuthClient returns the client with its ProjectIDs, sorted.
func (s *Store) OAuthClient(ctx context.Context, id string) (core.OAuthClient, error) {
	return s.upGetClient(ctx, s.db, "id", id, "")
}

// upSlugImplied restates the partial index's condition (oauth_clients_slug), which
// neither database can infer from "slug = $1" with the value unknown: without it a
// lookup by slug reads every client.
const upSlugImplied = " AND c.slug <> ''"

// OAuthClientBySlug returns the client whose slug is slug. The empty slug names no
// client.
func (s *Store) OAuthClientBySlug(ctx context.Context, slug string) (core.OAuthClient, error) {
	if slug == "" {
		return core.OAuthClient{}, fmt.Errorf("oauth client with empty slug: %w", core.ErrNotFound)
	}
	return s.upGetClient(ctx, s.db, "slug", slug, upSlugImplied)
}

// upCond adds a condition to w whose every "?" stands for the same argument.
func upCond(w *where, cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(w.args))))
}

// upAvailableToUser is OAuthClientFilter.AvailableToUser's condition ("?" the user):
// two index-served sets of ids rather than an OR over every client. The
// organization-scoped clients of the user's organizations come from memberships_user
// and oauth_clients_org; the clients listing a project of theirs from
// memberships_user, projects' (org_id, name) and oauth_client_projects_project.
const upAvailableToUser = `c.id IN (SELECT oc.id FROM memberships m JOIN oauth_clients oc ON oc.org_id = m.org_id
		WHERE m.user_id = ? AND oc.organization_scoped
	UNION SELECT ocp.oauth_client_id FROM memberships m
		JOIN projects pr ON pr.org_id = m.org_id
		JOIN oauth_client_projects ocp ON ocp.project_id = pr.id
		WHERE m.user_id = ?)`

// ListOAuthClients returns the clients f selects, oldest first, and how many there are
// in all.
func (s *Store) ListOAuthClients(ctx context.Context, f store.OAuthClientFilter, p store.Page) ([]core.OAuthClient, int, error) {
	var w where
	if f.OrgID != "" {
		w.add("c.org_id = ?", f.OrgID)
	}
	if f.AvailableToProject != "" {
		upCond(&w, `((c.organization_scoped AND c.org_id IN (SELECT pr.org_id FROM projects pr WHERE pr.id = ?))
			OR EXISTS (SELECT 1 FROM oauth_client_projects ocp
				WHERE ocp.oauth_client_id = c.id AND ocp.project_id = ?))`, f.AvailableToProject)
	}
	if f.AvailableToUser != "" {
		upCond(&w, upAvailableToUser, f.AvailableToUser)
	}
	if f.Kind != "" {
		w.add("c.kind = ?", string(f.Kind))
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM oauth_clients c`+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list oauth clients: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+upClientCols+` FROM oauth_clients c`+w.String()+
		` ORDER BY c.created_at, c.id`+pageClause(p), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list oauth clients: %w", err)
	}
	defer rows.Close()
	out := []core.OAuthClient{}
	for rows.Next() {
		c, err := upScanClient(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list oauth clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list oauth clients: %w", err)
	}
	rows.Close()
	if err := upClientProjects(ctx, s.db, out); err != nil {
		return nil, 0, fmt.Errorf("list oauth clients: projects: %w", err)
	}
	return out, total, nil
}

// UpdateOAuthClient runs fn on the locked row and saves what it returns, project list
// included. ID, OrgID and CreatedAt do not change: moving a client to another
// organization would strand its connections there. An error from fn is returned as
// is and nothing changes.
func (s *Store) UpdateOAuthClient(ctx context.Context, id string, fn func(core.OAuthClient) (core.OAuthClient, error)) (core.OAuthClient, error) {
	var out core.OAuthClient
	var org string
	defer func() { s.conns.evictOrgs(org) }() // its connections' credentials name its provider
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := s.upGetClient(ctx, tx, "id", id, s.d.forUpdate)
		if err != nil {
			return err
		}
		org = old.OrgID
		c, err := fn(old)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth_clients SET slug = $2, name = $3, kind = $4, http_url = $5,
			api_url = $6, key = $7, secret = $8, rsa_public_key = $9, private_key = $10, scopes = $11,
			organization_scoped = $12, device_flow_disabled = $13, agent_pool_id = $14, updated_at = $15
			WHERE id = $1`,
			id, c.Slug, c.Name, string(c.Kind), c.HTTPURL, c.APIURL, c.Key, string(c.Secret), c.RSAPublicKey,
			string(c.PrivateKey), list(c.Scopes), c.OrganizationScoped, c.DeviceFlowDisabled, c.AgentPoolID,
			ts(c.UpdatedAt))
		if err != nil {
			return fmt.Errorf("update oauth client %s: %w", id, s.mapErr(err))
		}
		if err := s.upPutClientProjects(ctx, tx, id, c.ProjectIDs); err != nil {
			return err
		}
		out, err = s.upGetClient(ctx, tx, "id", id, "")
		return err
	})
	if err != nil {
		return core.OAuthClient{}, err
	}
	return out, nil
}

// DeleteOAuthClient deletes the client; its project rows, connections and flow states
// go with it (foreign keys ON DELETE CASCADE).
func (s *Store) DeleteOAuthClient(ctx context.Context, id string) error {
	var org string
	err := s.db.QueryRowContext(ctx, `DELETE FROM oauth_clients WHERE id = $1 RETURNING org_id`, id).Scan(&org)
	if err != nil {
		return fmt.Errorf("delete oauth client %s: %w", id, s.mapErr(err))
	}
	s.conns.evictOrgs(org)
	return nil
}

// ---- Connections ----

const upConnCols = `id, oauth_client_id, owner_kind, owner_user_id, owner_org_id, COALESCE(owner_project_id, ''),
	name, credential_kind, username, access_token, refresh_token, token_type, scopes, expires_at, ssh_key,
	upstream_id, upstream_login, upstream_name, avatar_url, profile_url, health, health_reason,
	last_refresh_at, last_success_at, refresh_lease_until, refresh_lease_owner, version, created_at, updated_at`

func upScanConn(row interface{ Scan(...any) error }) (core.Connection, error) {
	var c core.Connection
	err := row.Scan(&c.ID, &c.OAuthClientID, &c.OwnerKind, &c.OwnerUserID, &c.OwnerOrgID, &c.OwnerProjectID,
		&c.Name, &c.CredentialKind, &c.Username, &c.AccessToken, &c.RefreshToken, &c.TokenType,
		scanList(&c.Scopes), scanTime(&c.ExpiresAt), &c.SSHKey,
		&c.UpstreamID, &c.UpstreamLogin, &c.UpstreamName, &c.AvatarURL, &c.ProfileURL, &c.Health, &c.HealthReason,
		scanTime(&c.LastRefreshAt), scanTime(&c.LastSuccessAt), scanTime(&c.RefreshLeaseUntil), &c.RefreshLeaseOwner,
		&c.Version, scanTime(&c.CreatedAt), scanTime(&c.UpdatedAt))
	return c, err
}

// upOwningUser is the owning_user_id column: the owner of a user-owned connection,
// whose deletion deletes the connection, and NULL for the others, whose owner_user_id
// only records who created them.
func upOwningUser(c core.Connection) any {
	if c.OwnerKind == core.OwnerUser {
		return c.OwnerUserID
	}
	return nil
}

// CreateConnection stores c as given, Version included. A project connection whose
// name is taken in the project is ErrConflict; a missing client, organization,
// project or (for a user-owned connection) user is ErrNotFound.
func (s *Store) CreateConnection(ctx context.Context, c core.Connection) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO connections (id, oauth_client_id, owner_kind, owner_user_id,
		owning_user_id, owner_org_id, owner_project_id, name, credential_kind, username, access_token,
		refresh_token, token_type, scopes, expires_at, ssh_key, upstream_id, upstream_login, upstream_name,
		avatar_url, profile_url, health, health_reason, last_refresh_at, last_success_at,
		refresh_lease_until, refresh_lease_owner, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
		$21, $22, $23, $24, $25, $26, $27, $28, $29, $30)`,
		c.ID, c.OAuthClientID, string(c.OwnerKind), c.OwnerUserID, upOwningUser(c), c.OwnerOrgID,
		nullString(c.OwnerProjectID), c.Name, string(c.CredentialKind), c.Username, string(c.AccessToken),
		string(c.RefreshToken), c.TokenType, list(c.Scopes), ts(c.ExpiresAt), string(c.SSHKey), c.UpstreamID,
		c.UpstreamLogin, c.UpstreamName, c.AvatarURL, c.ProfileURL, string(c.Health), c.HealthReason,
		ts(c.LastRefreshAt), ts(c.LastSuccessAt), ts(c.RefreshLeaseUntil), c.RefreshLeaseOwner, c.Version,
		ts(c.CreatedAt), ts(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create connection %s: %w", c.ID, s.mapErr(err))
	}
	s.conns.evictOrgs(c.OwnerOrgID)
	return nil
}

func (s *Store) upGetConn(ctx context.Context, q querier, id, suffix string) (core.Connection, error) {
	c, err := upScanConn(q.QueryRowContext(ctx, `SELECT `+upConnCols+` FROM connections WHERE id = $1`+suffix, id))
	if err != nil {
		return core.Connection{}, fmt.Errorf("connection %s: %w", id, s.mapErr(err))
	}
	return c, nil
}

// Connection returns one connection.
func (s *Store) Connection(ctx context.Context, id string) (core.Connection, error) {
	return s.upGetConn(ctx, s.db, id, "")
}

// ListConnections returns the connections f selects, oldest first, and how many there
// are in all.
func (s *Store) ListConnections(ctx context.Context, f store.ConnectionFilter, p store.Page) ([]core.Connection, int, error) {
	w, err := upConnWhere(f)
	if err != nil {
		return nil, 0, fmt.Errorf("list connections: %w", err)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM connections`+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list connections: %w", err)
	}
	out, err := s.upQueryConns(ctx, `SELECT `+upConnCols+` FROM connections`+w.String()+
		` ORDER BY created_at, id`+pageClause(p), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list connections: %w", err)
	}
	return out, total, nil
}

// upConnWhere turns a filter into conditions on the connections table.
func upConnWhere(f store.ConnectionFilter) (*where, error) {
	var w where
	for _, c := range []struct{ col, val string }{
		{"oauth_client_id", f.OAuthClientID},
		{"owner_user_id", f.OwnerUserID},
		{"owner_org_id", f.OwnerOrgID},
		{"owner_project_id", f.OwnerProjectID},
		{"name", f.Name},
	} {
		if c.val != "" {
			w.add(c.col+" = ?", c.val)
		}
	}
	if f.OwnerKind != "" {
		// A literal, not a parameter: the partial indexes connections_own and
		// connections_shared serve only a condition that implies theirs, which a
		// parameter does not, and SQLite prepares a statement again on every run
		// when a parameter's value decides it (that was most of a list's cost).
		kind, ok := ownerKindLiteral[f.OwnerKind]
		if !ok {
			return nil, fmt.Errorf("unknown owner kind %q", f.OwnerKind)
		}
		w.addRaw("owner_kind = " + kind)
	}
	return &w, nil
}

// ownerKindLiteral holds the owner kinds as SQL literals.
var ownerKindLiteral = map[core.OwnerKind]string{
	core.OwnerUser:    "'" + string(core.OwnerUser) + "'",
	core.OwnerOrg:     "'" + string(core.OwnerOrg) + "'",
	core.OwnerProject: "'" + string(core.OwnerProject) + "'",
}

func (s *Store) upQueryConns(ctx context.Context, query string, args ...any) ([]core.Connection, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []core.Connection{}
	for rows.Next() {
		c, err := upScanConn(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateConnection runs fn on the locked row and saves what it returns with Version
// set to the old version plus one; the result is what the database now holds. ID,
// OAuthClientID, OwnerOrgID and CreatedAt do not change, nor does Version take fn's
// value. An error from fn is returned as is and nothing changes, so fn can refuse a
// stale version with core.ErrStale (compare-and-swap).
func (s *Store) UpdateConnection(ctx context.Context, id string, fn func(core.Connection) (core.Connection, error)) (core.Connection, error) {
	var out core.Connection
	var org string
	defer func() { s.conns.evictOrgs(org) }()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := s.upGetConn(ctx, tx, id, s.d.forUpdate)
		if err != nil {
			return err
		}
		org = old.OwnerOrgID
		c, err := fn(old)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE connections SET owner_kind = $2, owner_user_id = $3,
			owning_user_id = $4, owner_project_id = $5, name = $6, credential_kind = $7, username = $8,
			access_token = $9, refresh_token = $10, token_type = $11, scopes = $12, expires_at = $13,
			ssh_key = $14, upstream_id = $15, upstream_login = $16, upstream_name = $17, avatar_url = $18,
			profile_url = $19, health = $20, health_reason = $21, last_refresh_at = $22,
			last_success_at = $23, refresh_lease_until = $24, refresh_lease_owner = $25, version = $26,
			updated_at = $27
			WHERE id = $1`,
			id, string(c.OwnerKind), c.OwnerUserID, upOwningUser(c), nullString(c.OwnerProjectID), c.Name,
			string(c.CredentialKind), c.Username, string(c.AccessToken), string(c.RefreshToken), c.TokenType,
			list(c.Scopes), ts(c.ExpiresAt), string(c.SSHKey), c.UpstreamID, c.UpstreamLogin, c.UpstreamName,
			c.AvatarURL, c.ProfileURL, string(c.Health), c.HealthReason, ts(c.LastRefreshAt),
			ts(c.LastSuccessAt), ts(c.RefreshLeaseUntil), c.RefreshLeaseOwner, old.Version+1, ts(c.UpdatedAt))
		if err != nil {
			return fmt.Errorf("update connection %s: %w", id, s.mapErr(err))
		}
		out, err = s.upGetConn(ctx, tx, id, "")
		return err
	})
	if err != nil {
		return core.Connection{}, err
	}
	return out, nil
}

// DeleteConnection deletes one connection.
func (s *Store) DeleteConnection(ctx context.Context, id string) error {
	var org string
	err := s.db.QueryRowContext(ctx, `DELETE FROM connections WHERE id = $1 RETURNING owner_org_id`, id).Scan(&org)
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", id, s.mapErr(err))
	}
	s.conns.evictOrgs(org)
	return nil
}

// ConnectionsExpiringBefore lists OAuth connections that have a refresh token and an
// access token expiring before t, soonest first, skipping those whose grant the
// provider refused or revoked (refreshing them cannot succeed). limit <= 0 means no
// limit. The first three conditions are the predicate of the partial index
// connections_expiring, written the same way so that both databases use it.
func (s *Store) ConnectionsExpiringBefore(ctx context.Context, t time.Time, limit int) ([]core.Connection, error) {
	q := `SELECT ` + upConnCols + ` FROM connections
		WHERE credential_kind = 'oauth' AND refresh_token <> '' AND expires_at IS NOT NULL
		AND expires_at < $1 AND health NOT IN ($2, $3)
		ORDER BY expires_at, id`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	out, err := s.upQueryConns(ctx, q, t.UnixMicro(), string(core.HealthNeedsReauth), string(core.HealthRevoked))
	if err != nil {
		return nil, fmt.Errorf("connections expiring before %s: %w", t.Format(time.RFC3339), err)
	}
	return out, nil
}

// ---- Flow states ----

const upFlowCols = `id, state_hash, oauth_client_id, COALESCE(user_id, ''), owner_kind, COALESCE(owner_project_id, ''),
	name, origin, repo_type, pkce_verifier, device_code, return_to, expires_at, used_at, created_at`

func upScanFlow(row interface{ Scan(...any) error }) (core.FlowState, error) {
	var f core.FlowState
	err := row.Scan(&f.ID, &f.StateHash, &f.OAuthClientID, &f.UserID, &f.OwnerKind, &f.OwnerProjectID,
		&f.Name, &f.Origin, &f.RepoType, &f.PKCEVerifier, &f.DeviceCode, &f.ReturnTo,
		scanTime(&f.ExpiresAt), scanTime(&f.UsedAt), scanTime(&f.CreatedAt))
	return f, err
}

// CreateFlowState stores st. A device flow has no StateHash (stored as NULL, so any
// number of them coexist); a taken id or state hash is ErrConflict; a missing client,
// user or project is ErrNotFound. Every flow state expires: ExpiresAt is required.
func (s *Store) CreateFlowState(ctx context.Context, st core.FlowState) error {
	if st.ExpiresAt.IsZero() {
		return fmt.Errorf("create flow state %s: ExpiresAt is required", st.ID)
	}
	var hash any
	if len(st.StateHash) > 0 {
		hash = st.StateHash
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO flow_states (id, state_hash, oauth_client_id, user_id, owner_kind,
		owner_project_id, name, origin, repo_type, pkce_verifier, device_code, return_to, expires_at, used_at,
		created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		st.ID, hash, st.OAuthClientID, nullString(st.UserID), string(st.OwnerKind), nullString(st.OwnerProjectID),
		st.Name, st.Origin, st.RepoType, string(st.PKCEVerifier), string(st.DeviceCode), st.ReturnTo,
		ts(st.ExpiresAt), ts(st.UsedAt), ts(st.CreatedAt))
	if err != nil {
		return fmt.Errorf("create flow state %s: %w", st.ID, s.mapErr(err))
	}
	return nil
}

// FlowState returns one flow state by id, used or expired alike.
func (s *Store) FlowState(ctx context.Context, id string) (core.FlowState, error) {
	f, err := upScanFlow(s.db.QueryRowContext(ctx, `SELECT `+upFlowCols+` FROM flow_states WHERE id = $1`, id))
	if err != nil {
		return core.FlowState{}, fmt.Errorf("flow state %s: %w", id, s.mapErr(err))
	}
	return f, nil
}

// ConsumeFlowState marks the state used and returns it, in one statement: of
// concurrent callers exactly one matches the row while used_at is still NULL
// (PostgreSQL re-checks the condition after waiting for the winner's row lock; SQLite
// runs writers one at a time), and the others find nothing.
func (s *Store) ConsumeFlowState(ctx context.Context, stateHash []byte, now time.Time) (core.FlowState, error) {
	if len(stateHash) == 0 {
		return core.FlowState{}, fmt.Errorf("flow state with empty hash: %w", core.ErrNotFound)
	}
	f, err := upScanFlow(s.db.QueryRowContext(ctx, `UPDATE flow_states SET used_at = $1
		WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1
		RETURNING `+upFlowCols, now.UnixMicro(), stateHash))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return core.FlowState{}, fmt.Errorf("flow state unknown, used or expired: %w", core.ErrNotFound)
		}
		return core.FlowState{}, fmt.Errorf("consume flow state: %w", s.mapErr(err))
	}
	return f, nil
}

// DeleteExpiredFlowStates removes flow states that expired before the given time,
// used or not, and returns how many.
func (s *Store) DeleteExpiredFlowStates(ctx context.Context, before time.Time) (int, error) {
	n, err := deleted(s.db.ExecContext(ctx, `DELETE FROM flow_states WHERE expires_at < $1`, before.UnixMicro()))
	if err != nil {
		return 0, fmt.Errorf("delete expired flow states: %w", err)
	}
	return n, nil
}

// UpdateFlowState runs fn on the locked row and saves the fields a flow in progress
// may change (name, PKCE verifier, device code, return address, expiry, used time);
// the result is what the database now holds. An error from fn is returned as is and
// nothing changes.
func (s *Store) UpdateFlowState(ctx context.Context, id string, fn func(core.FlowState) (core.FlowState, error)) (core.FlowState, error) {
	var out core.FlowState
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := upScanFlow(tx.QueryRowContext(ctx, `SELECT `+upFlowCols+` FROM flow_states WHERE id = $1`+s.d.forUpdate, id))
		if err != nil {
			return fmt.Errorf("flow state %s: %w", id, s.mapErr(err))
		}
		f, err := fn(old)
		if err != nil {
			return err
		}
		if f.ExpiresAt.IsZero() {
			return fmt.Errorf("update flow state %s: ExpiresAt is required", id)
		}
		out, err = upScanFlow(tx.QueryRowContext(ctx, `UPDATE flow_states SET name = $2, pkce_verifier = $3,
			device_code = $4, return_to = $5, expires_at = $6, used_at = $7
			WHERE id = $1 RETURNING `+upFlowCols,
			id, f.Name, string(f.PKCEVerifier), string(f.DeviceCode), f.ReturnTo, ts(f.ExpiresAt), ts(f.UsedAt)))
		if err != nil {
			return fmt.Errorf("update flow state %s: %w", id, s.mapErr(err))
		}
		return nil
	})
	if err != nil {
		return core.FlowState{}, err
	}
	return out, nil
}

// upConnColsC is upConnCols qualified by the alias c, for joins.
const upConnColsC = `c.id, c.oauth_client_id, c.owner_kind, c.owner_user_id, c.owner_org_id, COALESCE(c.owner_project_id, ''),
	c.name, c.credential_kind, c.username, c.access_token, c.refresh_token, c.token_type, c.scopes, c.expires_at,
	c.ssh_key, c.upstream_id, c.upstream_login, c.upstream_name, c.avatar_url, c.profile_url, c.health,
	c.health_reason, c.last_refresh_at, c.last_success_at, c.refresh_lease_until, c.refresh_lease_owner,
	c.version, c.created_at, c.updated_at`

// upScanPlus scans a row's leading columns with upScanConn's list and the rest into
// extra.
type upScanPlus struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (p upScanPlus) Scan(dest ...any) error { return p.row.Scan(append(dest, p.extra...)...) }

// upUsableConns is the credential lookup's one query, prepared (hotQuery). It is a
// UNION ALL of two index ranges, each reading only rows that can match:
//
//   - grp 0, the person's own connections: connections_own (owner_user_id, created_at,
//     partial: owner_kind = 'user'), each kept while its organization has the person
//     as a member (memberships' primary key);
//   - grp 1 and 2, the shared connections of the person's organizations: their
//     memberships (memberships_user), then per organization connections_shared
//     (owner_org_id, created_at, partial: owner_kind <> 'user'), which holds no
//     member's personal connection; project-owned ones sort first.
//
// The owner kinds are literals, not parameters: a partial index serves only a query
// whose condition implies the index's, which neither SQLite nor a generic PostgreSQL
// plan can prove of a parameter. grp, the last column, orders the groups: the rows
// are put in order (grp, created_at, id) by UsableConnections, not by the statement.
const upUsableConns = `SELECT ` + upConnColsC + `, oc.kind, oc.http_url, oc.api_url, oc.slug, 0 AS grp
	FROM connections c JOIN oauth_clients oc ON oc.id = c.oauth_client_id
	WHERE c.owner_user_id = $1 AND c.owner_kind = '` + string(core.OwnerUser) + `'
	AND EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = c.owner_org_id AND m.user_id = $1)
	UNION ALL
	SELECT ` + upConnColsC + `, oc.kind, oc.http_url, oc.api_url, oc.slug,
	CASE c.owner_kind WHEN '` + string(core.OwnerProject) + `' THEN 1 ELSE 2 END
	FROM memberships m
	JOIN connections c ON c.owner_org_id = m.org_id AND c.owner_kind <> '` + string(core.OwnerUser) + `'
	JOIN oauth_clients oc ON oc.id = c.oauth_client_id
	WHERE m.user_id = $1`

// UsableConnections answers the git credential lookup in one statement (see
// upUsableConns). Every connection's owner_org_id is its client's organization (a
// project-owned one's project belongs to it too), so membership there is the one
// condition they share; user-owned connections must also be the user's own. It runs
// as a prepared statement: it is on the path of every git credential request.
//
// Concurrent calls for one person share a read that began after each of them
// (coalescer): a burst of one person's git processes costs a read per read's
// duration. The slice is shared between them; callers do not change it.
//
// With the caches on, the answer comes from memory while it is fresh (see
// usableCache): a miss reads the connections and the person's memberships, which
// say which organizations' changes must evict it.
func (s *Store) UsableConnections(ctx context.Context, userID string) ([]store.UsableConnection, error) {
	if conns, _, ok := s.conns.get(userID); ok {
		return conns, nil
	}
	return s.usable.do(ctx, userID, func(ctx context.Context) ([]store.UsableConnection, error) {
		gen := s.conns.generation() // the shared read begins now, maybe after the caller's get
		conns, err := s.usableConnections(ctx, userID)
		if err != nil || s.conns == nil {
			return conns, err
		}
		ms, err := s.ListMemberships(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("usable connections of %s: %w", userID, err)
		}
		orgs := make([]string, len(ms))
		for i, m := range ms {
			orgs[i] = m.OrgID
		}
		s.conns.put(userID, gen, conns, orgs)
		return conns, nil
	})
}

func (s *Store) usableConnections(ctx context.Context, userID string) ([]store.UsableConnection, error) {
	rows, err := s.hotQuery(ctx, upUsableConns, userID)
	if err != nil {
		return nil, fmt.Errorf("usable connections of %s: %w", userID, err)
	}
	defer rows.Close()
	type usableRow struct {
		store.UsableConnection
		grp int
	}
	var got []usableRow
	for rows.Next() {
		var u usableRow
		c, err := upScanConn(upScanPlus{row: rows, extra: []any{&u.Kind, &u.HTTPURL, &u.APIURL, &u.Slug, &u.grp}})
		if err != nil {
			return nil, fmt.Errorf("usable connections of %s: %w", userID, err)
		}
		u.Connection = c
		got = append(got, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usable connections of %s: %w", userID, err)
	}
	// Ordered here rather than by the statement: an ORDER BY over the UNION made
	// SQLite materialise and sort it in a temporary B-tree on every call, for lists
	// of a handful of rows.
	slices.SortFunc(got, func(a, b usableRow) int {
		return cmp.Or(cmp.Compare(a.grp, b.grp), a.Connection.CreatedAt.Compare(b.Connection.CreatedAt),
			strings.Compare(a.Connection.ID, b.Connection.ID))
	})
	out := make([]store.UsableConnection, len(got))
	for i, u := range got {
		out[i] = u.UsableConnection
	}
	return out, nil
}
