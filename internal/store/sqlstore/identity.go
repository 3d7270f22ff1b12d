package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// The Identity group. Helpers of this file carry an "ident" prefix: other groups of
// the package are written beside it and must not collide with it.
//
// Lists come back in a stable order so that pages do not overlap: users by username,
// organizations by name, projects by name, memberships by when they were made, tokens
// and access keys by creation, audit events newest first.

// identRow is what *sql.Row and *sql.Rows share.
type identRow interface{ Scan(dest ...any) error }

// identErr maps a driver error to the core's sentinels and says which operation failed.
func (s *Store) identErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, s.mapErr(err))
}

// identZeroNull stores the id 0 ("none") as NULL, so foreign keys accept it.
func identZeroNull(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// identZeroScan reads what identZeroNull wrote.
type identZeroScan struct{ p *int64 }

func (z identZeroScan) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*z.p = 0
	case int64:
		*z.p = x
	default:
		return fmt.Errorf("id column: unexpected %T", v)
	}
	return nil
}

// identCount runs a SELECT COUNT(*).
func identCount(ctx context.Context, q querier, query string, args ...any) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// identQuery runs a query and scans each row with scan, which appends to the result.
func identQuery(ctx context.Context, q querier, scan func(identRow) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ---- users -------------------------------------------------------------------------

const identUserCols = `id, username, email, password_hash, totp_secret, totp_last_step, site_admin, password_changed_at, created_at, updated_at`

func identScanUser(r identRow, u *core.User) error {
	return r.Scan(identUserDest(u)...)
}

// identUserDest returns the scan destinations of identUserCols for u.
func identUserDest(u *core.User) []any {
	return []any{&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.TOTPSecret, &u.TOTPLastStep, &u.SiteAdmin,
		scanTime(&u.PasswordChangedAt), scanTime(&u.CreatedAt), scanTime(&u.UpdatedAt)}
}

func (s *Store) CreateUser(ctx context.Context, u core.User) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (`+identUserCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		u.ID, u.Username, u.Email, u.PasswordHash, string(u.TOTPSecret), u.TOTPLastStep, u.SiteAdmin,
		ts(u.PasswordChangedAt), ts(u.CreatedAt), ts(u.UpdatedAt))
	return s.identErr("create user", err)
}

func (s *Store) User(ctx context.Context, id string) (core.User, error) {
	var u core.User
	err := identScanUser(s.db.QueryRowContext(ctx, `SELECT `+identUserCols+` FROM users WHERE id = $1`, id), &u)
	return u, s.identErr("user "+id, err)
}

func (s *Store) UserByUsername(ctx context.Context, username string) (core.User, error) {
	var u core.User
	err := identScanUser(s.db.QueryRowContext(ctx, `SELECT `+identUserCols+` FROM users WHERE username = $1`, username), &u)
	return u, s.identErr("user "+username, err)
}

func (s *Store) ListUsers(ctx context.Context, p store.Page) ([]core.User, int, error) {
	total, err := identCount(ctx, s.db, `SELECT COUNT(*) FROM users`)
	if err != nil {
		return nil, 0, s.identErr("list users", err)
	}
	out := []core.User{}
	err = identQuery(ctx, s.db, func(r identRow) error {
		var u core.User
		if err := identScanUser(r, &u); err != nil {
			return err
		}
		out = append(out, u)
		return nil
	}, `SELECT `+identUserCols+` FROM users ORDER BY username, id`+pageClause(p))
	if err != nil {
		return nil, 0, s.identErr("list users", err)
	}
	return out, total, nil
}

func (s *Store) UpdateUser(ctx context.Context, id string, fn func(core.User) (core.User, error)) (core.User, error) {
	defer evictUser(s.tokens, id)
	var out core.User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var old core.User
		err := identScanUser(tx.QueryRowContext(ctx, `SELECT `+identUserCols+` FROM users WHERE id = $1`+s.d.forUpdate, id), &old)
		if err != nil {
			return s.identErr("user "+id, err)
		}
		u, err := fn(old)
		if err != nil {
			return err
		}
		err = identScanUser(tx.QueryRowContext(ctx, `UPDATE users SET username = $2, email = $3, password_hash = $4,
			totp_secret = $5, site_admin = $6, password_changed_at = $7, updated_at = $8, totp_last_step = $9
			WHERE id = $1 RETURNING `+identUserCols,
			old.ID, u.Username, u.Email, u.PasswordHash, string(u.TOTPSecret), u.SiteAdmin,
			ts(u.PasswordChangedAt), ts(u.UpdatedAt), u.TOTPLastStep), &out)
		return s.identErr("update user "+id, err)
	})
	if err != nil {
		return core.User{}, err
	}
	return out, nil
}

// DeleteUser deletes the user with their memberships, tokens, grants and access keys
// (the foreign keys cascade).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	defer evictUser(s.tokens, id)
	defer s.conns.evictUsers(id)
	return s.identErr("delete user "+id, affected(s.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)))
}

// ---- organizations ------------------------------------------------------------------

const identOrgCols = `id, name, email, created_at, updated_at`

func identScanOrg(r identRow, o *core.Organization) error {
	return r.Scan(&o.ID, &o.Name, &o.Email, scanTime(&o.CreatedAt), scanTime(&o.UpdatedAt))
}

func (s *Store) CreateOrg(ctx context.Context, o core.Organization) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO organizations (`+identOrgCols+`) VALUES ($1, $2, $3, $4, $5)`,
		o.ID, o.Name, o.Email, ts(o.CreatedAt), ts(o.UpdatedAt))
	return s.identErr("create organization", err)
}

func (s *Store) Org(ctx context.Context, id string) (core.Organization, error) {
	var o core.Organization
	err := identScanOrg(s.db.QueryRowContext(ctx, `SELECT `+identOrgCols+` FROM organizations WHERE id = $1`, id), &o)
	return o, s.identErr("organization "+id, err)
}

func (s *Store) OrgByName(ctx context.Context, name string) (core.Organization, error) {
	var o core.Organization
	err := identScanOrg(s.db.QueryRowContext(ctx, `SELECT `+identOrgCols+` FROM organizations WHERE name = $1`, name), &o)
	return o, s.identErr("organization "+name, err)
}

// identOrgWithRole reads an organization with one person's role there.
const identOrgWithRole = `SELECT o.id, o.name, o.email, o.created_at, o.updated_at, COALESCE(m.role, '')
	FROM organizations o LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = $2 WHERE o.`

func (s *Store) OrgWithRole(ctx context.Context, id, userID string) (core.Organization, core.Role, error) {
	return s.orgWithRole(ctx, identOrgWithRole+`id = $1`, id, userID)
}

func (s *Store) OrgByNameWithRole(ctx context.Context, name, userID string) (core.Organization, core.Role, error) {
	return s.orgWithRole(ctx, identOrgWithRole+`name = $1`, name, userID)
}

func (s *Store) orgWithRole(ctx context.Context, query, key, userID string) (core.Organization, core.Role, error) {
	var o core.Organization
	var role core.Role
	err := s.hotRow(ctx, query, key, userID).Scan(&o.ID, &o.Name, &o.Email, scanTime(&o.CreatedAt), scanTime(&o.UpdatedAt), &role)
	if err != nil {
		return core.Organization{}, "", s.identErr("organization "+key, err)
	}
	return o, role, nil
}

func (s *Store) ListOrgs(ctx context.Context, p store.Page) ([]core.Organization, int, error) {
	total, err := identCount(ctx, s.db, `SELECT COUNT(*) FROM organizations`)
	if err != nil {
		return nil, 0, s.identErr("list organizations", err)
	}
	out := []core.Organization{}
	err = identQuery(ctx, s.db, func(r identRow) error {
		var o core.Organization
		if err := identScanOrg(r, &o); err != nil {
			return err
		}
		out = append(out, o)
		return nil
	}, `SELECT `+identOrgCols+` FROM organizations ORDER BY name, id`+pageClause(p))
	if err != nil {
		return nil, 0, s.identErr("list organizations", err)
	}
	return out, total, nil
}

func (s *Store) UpdateOrg(ctx context.Context, id string, fn func(core.Organization) (core.Organization, error)) (core.Organization, error) {
	var out core.Organization
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var old core.Organization
		err := identScanOrg(tx.QueryRowContext(ctx, `SELECT `+identOrgCols+` FROM organizations WHERE id = $1`+s.d.forUpdate, id), &old)
		if err != nil {
			return s.identErr("organization "+id, err)
		}
		o, err := fn(old)
		if err != nil {
			return err
		}
		err = identScanOrg(tx.QueryRowContext(ctx, `UPDATE organizations SET name = $2, email = $3, updated_at = $4
			WHERE id = $1 RETURNING `+identOrgCols,
			old.ID, o.Name, o.Email, ts(o.UpdatedAt)), &out)
		return s.identErr("update organization "+id, err)
	})
	if err != nil {
		return core.Organization{}, err
	}
	return out, nil
}

// DeleteOrg deletes the organization with its memberships and projects (the foreign
// keys cascade).
func (s *Store) DeleteOrg(ctx context.Context, id string) error {
	defer s.conns.evictOrgs(id)
	return s.identErr("delete organization "+id, affected(s.db.ExecContext(ctx, `DELETE FROM organizations WHERE id = $1`, id)))
}

// ---- memberships --------------------------------------------------------------------

const identMemberCols = `org_id, user_id, role, created_at`

func identScanMember(r identRow, m *core.Membership) error {
	return r.Scan(&m.OrgID, &m.UserID, &m.Role, scanTime(&m.CreatedAt))
}

// PutMembership creates the membership, or changes the role of an existing one (its
// CreatedAt stays the first one).
func (s *Store) PutMembership(ctx context.Context, m core.Membership) error {
	defer s.conns.evictUsers(m.UserID) // the organizations whose connections they may use
	_, err := s.db.ExecContext(ctx, `INSERT INTO memberships (`+identMemberCols+`) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`,
		m.OrgID, m.UserID, string(m.Role), ts(m.CreatedAt))
	return s.identErr("put membership", err)
}

func (s *Store) Membership(ctx context.Context, orgID, userID string) (core.Membership, error) {
	var m core.Membership
	err := identScanMember(s.db.QueryRowContext(ctx, `SELECT `+identMemberCols+` FROM memberships
		WHERE org_id = $1 AND user_id = $2`, orgID, userID), &m)
	return m, s.identErr("membership", err)
}

func (s *Store) identListMembers(ctx context.Context, col, id, order string) ([]core.Membership, error) {
	out := []core.Membership{}
	err := identQuery(ctx, s.db, func(r identRow) error {
		var m core.Membership
		if err := identScanMember(r, &m); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	}, `SELECT `+identMemberCols+` FROM memberships WHERE `+col+` = $1 ORDER BY created_at, `+order, id)
	if err != nil {
		return nil, s.identErr("list memberships", err)
	}
	return out, nil
}

func (s *Store) ListMembers(ctx context.Context, orgID string) ([]core.Membership, error) {
	return s.identListMembers(ctx, "org_id", orgID, "user_id")
}

func (s *Store) ListMemberships(ctx context.Context, userID string) ([]core.Membership, error) {
	return s.identListMembers(ctx, "user_id", userID, "org_id")
}

func (s *Store) DeleteMembership(ctx context.Context, orgID, userID string) error {
	defer s.conns.evictUsers(userID)
	return s.identErr("delete membership", affected(s.db.ExecContext(ctx,
		`DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID)))
}

// ---- projects -----------------------------------------------------------------------

const identProjectCols = `id, org_id, name, description, created_at, updated_at`

func identScanProject(r identRow, p *core.Project) error {
	return r.Scan(&p.ID, &p.OrgID, &p.Name, &p.Description, scanTime(&p.CreatedAt), scanTime(&p.UpdatedAt))
}

func (s *Store) CreateProject(ctx context.Context, p core.Project) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO projects (`+identProjectCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		p.ID, p.OrgID, p.Name, p.Description, ts(p.CreatedAt), ts(p.UpdatedAt))
	return s.identErr("create project", err)
}

func (s *Store) Project(ctx context.Context, id string) (core.Project, error) {
	var p core.Project
	err := identScanProject(s.db.QueryRowContext(ctx, `SELECT `+identProjectCols+` FROM projects WHERE id = $1`, id), &p)
	return p, s.identErr("project "+id, err)
}

// ListProjects lists the organization's projects; an empty orgID matches none.
func (s *Store) ListProjects(ctx context.Context, orgID string, p store.Page) ([]core.Project, int, error) {
	total, err := identCount(ctx, s.db, `SELECT COUNT(*) FROM projects WHERE org_id = $1`, orgID)
	if err != nil {
		return nil, 0, s.identErr("list projects", err)
	}
	out := []core.Project{}
	err = identQuery(ctx, s.db, func(r identRow) error {
		var pr core.Project
		if err := identScanProject(r, &pr); err != nil {
			return err
		}
		out = append(out, pr)
		return nil
	}, `SELECT `+identProjectCols+` FROM projects WHERE org_id = $1 ORDER BY name, id`+pageClause(p), orgID)
	if err != nil {
		return nil, 0, s.identErr("list projects", err)
	}
	return out, total, nil
}

func (s *Store) UpdateProject(ctx context.Context, id string, fn func(core.Project) (core.Project, error)) (core.Project, error) {
	var out core.Project
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var old core.Project
		err := identScanProject(tx.QueryRowContext(ctx, `SELECT `+identProjectCols+` FROM projects WHERE id = $1`+s.d.forUpdate, id), &old)
		if err != nil {
			return s.identErr("project "+id, err)
		}
		p, err := fn(old)
		if err != nil {
			return err
		}
		err = identScanProject(tx.QueryRowContext(ctx, `UPDATE projects SET org_id = $2, name = $3, description = $4, updated_at = $5
			WHERE id = $1 RETURNING `+identProjectCols,
			old.ID, p.OrgID, p.Name, p.Description, ts(p.UpdatedAt)), &out)
		return s.identErr("update project "+id, err)
	})
	if err != nil {
		return core.Project{}, err
	}
	return out, nil
}

func (s *Store) DeleteProject(ctx context.Context, id string) error {
	var org string
	err := s.db.QueryRowContext(ctx, `DELETE FROM projects WHERE id = $1 RETURNING org_id`, id).Scan(&org)
	if err != nil {
		return s.identErr("delete project "+id, err)
	}
	s.conns.evictOrgs(org) // its connections go with it
	return nil
}

// ---- tokens -------------------------------------------------------------------------

const identTokenCols = `id, kind, hash, last_eight, user_id, application_id, grant_id, scopes, note, note_url,
	fingerprint, family_id, expires_at, revoked_at, last_used_at, created_at, updated_at`

// identTokenColsT is identTokenCols qualified by the alias t, for joins.
const identTokenColsT = `t.id, t.kind, t.hash, t.last_eight, t.user_id, t.application_id, t.grant_id, t.scopes,
	t.note, t.note_url, t.fingerprint, t.family_id, t.expires_at, t.revoked_at, t.last_used_at, t.created_at, t.updated_at`

const identUserColsU = `u.id, u.username, u.email, u.password_hash, u.totp_secret, u.totp_last_step, u.site_admin,
	u.password_changed_at, u.created_at, u.updated_at`

// identTokenDest returns the scan destinations of identTokenCols for t.
func identTokenDest(t *core.Token) []any {
	return []any{&t.ID, &t.Kind, &t.Hash, &t.LastEight, &t.UserID,
		identZeroScan{&t.ApplicationID}, identZeroScan{&t.GrantID}, scanList(&t.Scopes),
		&t.Note, &t.NoteURL, &t.Fingerprint, &t.FamilyID,
		scanTime(&t.ExpiresAt), scanTime(&t.RevokedAt), scanTime(&t.LastUsedAt),
		scanTime(&t.CreatedAt), scanTime(&t.UpdatedAt)}
}

func identScanToken(r identRow, t *core.Token) error { return r.Scan(identTokenDest(t)...) }

// CreateToken stores t and sets t.ID. ApplicationID and GrantID 0 are stored as NULL.
func (s *Store) CreateToken(ctx context.Context, t *core.Token) error {
	return s.identInsertToken(ctx, s.db, t)
}

// identInsertTokenSQL is the statement of identInsertToken.
const identInsertTokenSQL = `INSERT INTO tokens (kind, hash, last_eight, user_id, application_id, grant_id,
		scopes, note, note_url, fingerprint, family_id, expires_at, revoked_at, last_used_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`

// identInsertToken inserts t through q and sets its ID.
func (s *Store) identInsertToken(ctx context.Context, q querier, t *core.Token) error {
	err := q.QueryRowContext(ctx, identInsertTokenSQL,
		string(t.Kind), t.Hash, t.LastEight, t.UserID, identZeroNull(t.ApplicationID), identZeroNull(t.GrantID),
		list(t.Scopes), t.Note, t.NoteURL, t.Fingerprint, t.FamilyID,
		ts(t.ExpiresAt), ts(t.RevokedAt), ts(t.LastUsedAt), ts(t.CreatedAt), ts(t.UpdatedAt)).Scan(&t.ID)
	return s.identErr("create token", err)
}

// identInsertTokens inserts each of toks in tx and sets its ID.
func (s *Store) identInsertTokens(ctx context.Context, tx *sql.Tx, toks []*core.Token) error {
	for _, t := range toks {
		if err := s.identInsertToken(ctx, tx, t); err != nil {
			return err
		}
	}
	return nil
}

// CreateTokens stores every token of toks in one transaction and sets their IDs. On
// error none is stored and the IDs are left as they were.
func (s *Store) CreateTokens(ctx context.Context, toks []*core.Token) error {
	if len(toks) == 0 {
		return nil
	}
	ids := identTokenIDs(toks)
	err := s.tx(ctx, func(tx *sql.Tx) error { return s.identInsertTokens(ctx, tx, toks) })
	if err != nil {
		identRestoreIDs(toks, ids)
	}
	return err
}

// RotateToken revokes token id at at and stores toks, in one transaction. The UPDATE
// only matches a token not yet revoked, so of two concurrent rotations one wins; the
// loser gets ErrStale (or ErrNotFound when the token does not exist).
func (s *Store) RotateToken(ctx context.Context, id int64, at time.Time, toks []*core.Token) error {
	defer s.tokens.evictIDs(id)
	name := "rotate token " + strconv.FormatInt(id, 10)
	ids := identTokenIDs(toks)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = $2, last_used_at = $2, updated_at = $2
			WHERE id = $1 AND revoked_at IS NULL`, id, at.UnixMicro())
		if err != nil {
			return s.identErr(name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return s.identErr(name, err)
		}
		if n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE id = $1`, id).Scan(&one); err != nil {
				return s.identErr(name, err)
			}
			return fmt.Errorf("%s: %w", name, core.ErrStale)
		}
		return s.identInsertTokens(ctx, tx, toks)
	})
	if err != nil {
		identRestoreIDs(toks, ids)
	}
	return err
}

func identTokenIDs(toks []*core.Token) []int64 {
	ids := make([]int64, len(toks))
	for i, t := range toks {
		ids[i] = t.ID
	}
	return ids
}

func identRestoreIDs(toks []*core.Token, ids []int64) {
	for i, t := range toks {
		t.ID = ids[i]
	}
}

func (s *Store) Token(ctx context.Context, id int64) (core.Token, error) {
	var t core.Token
	err := identScanToken(s.db.QueryRowContext(ctx, `SELECT `+identTokenCols+` FROM tokens WHERE id = $1`, id), &t)
	return t, s.identErr("token "+strconv.FormatInt(id, 10), err)
}

// identLookupToken finds a token by hash, with its user.
const identLookupToken = `SELECT ` + identTokenColsT + `, ` + identUserColsU + `
	FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1`

// LookupToken runs on every authenticated request. With the token cache on, a token
// looked up less than its TTL ago is answered from memory; otherwise it is one
// indexed join through a prepared statement (hotRow).
func (s *Store) LookupToken(ctx context.Context, hash []byte) (core.Token, core.User, error) {
	var gen uint64
	cache := len(hash) == sha256.Size
	if cache {
		e, g, ok := s.tokens.get(tokenKey(hash))
		if ok {
			return e.t, e.u, nil
		}
		gen = g
	}
	var t core.Token
	var u core.User
	dest := append(identTokenDest(&t), identUserDest(&u)...)
	err := s.hotRow(ctx, identLookupToken, hash).Scan(dest...)
	if err != nil {
		return core.Token{}, core.User{}, s.identErr("look up token", err)
	}
	if cache && cacheableKind(t.Kind) {
		s.tokens.put(tokenKey(hash), gen, cachedToken{t, u})
	}
	return t, u, nil
}

// identTokenWhere turns a filter into conditions on the tokens table.
func identTokenWhere(f store.TokenFilter) *where {
	w := &where{}
	if f.UserID != "" {
		w.add("user_id = ?", f.UserID)
	}
	if len(f.Kinds) > 0 {
		ph := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			w.args = append(w.args, string(k))
			ph[i] = "$" + strconv.Itoa(len(w.args))
		}
		w.addRaw("kind IN (" + strings.Join(ph, ", ") + ")")
	}
	if f.ApplicationID != 0 {
		w.add("application_id = ?", f.ApplicationID)
	}
	if f.PersonalOnly {
		w.addRaw("application_id IS NULL")
	}
	if f.GrantID != 0 {
		w.add("grant_id = ?", f.GrantID)
	}
	if f.FamilyID != "" {
		// "<> ''" restates the partial index's condition (tokens_family), which
		// cannot be inferred from the parameter: without it every token is read.
		w.add("family_id = ? AND family_id <> ''", f.FamilyID)
	}
	if f.Fingerprint != "" {
		w.add("fingerprint = ?", f.Fingerprint)
	}
	if !f.LiveAt.IsZero() {
		identLiveAt(w, f.LiveAt)
	}
	return w
}

// identLiveAt keeps tokens that core.Token.Live(at) accepts.
func identLiveAt(w *where, at time.Time) {
	w.add("(revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?))", at.UnixMicro())
}

func (s *Store) ListTokens(ctx context.Context, f store.TokenFilter, p store.Page) ([]core.Token, int, error) {
	w := identTokenWhere(f)
	total, err := identCount(ctx, s.db, `SELECT COUNT(*) FROM tokens`+w.String(), w.args...)
	if err != nil {
		return nil, 0, s.identErr("list tokens", err)
	}
	out := []core.Token{}
	err = identQuery(ctx, s.db, func(r identRow) error {
		var t core.Token
		if err := identScanToken(r, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	}, `SELECT `+identTokenCols+` FROM tokens`+w.String()+` ORDER BY id`+pageClause(p), w.args...)
	if err != nil {
		return nil, 0, s.identErr("list tokens", err)
	}
	return out, total, nil
}

// UpdateToken writes back every column but the id and CreatedAt; the hash may change
// (a token reset keeps its id and gets new text).
func (s *Store) UpdateToken(ctx context.Context, id int64, fn func(core.Token) (core.Token, error)) (core.Token, error) {
	defer s.tokens.evictIDs(id)
	var out core.Token
	name := "token " + strconv.FormatInt(id, 10)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var old core.Token
		err := identScanToken(tx.QueryRowContext(ctx, `SELECT `+identTokenCols+` FROM tokens WHERE id = $1`+s.d.forUpdate, id), &old)
		if err != nil {
			return s.identErr(name, err)
		}
		t, err := fn(old)
		if err != nil {
			return err
		}
		err = identScanToken(tx.QueryRowContext(ctx, `UPDATE tokens SET kind = $2, hash = $3, last_eight = $4, user_id = $5,
			application_id = $6, grant_id = $7, scopes = $8, note = $9, note_url = $10, fingerprint = $11,
			family_id = $12, expires_at = $13, revoked_at = $14, last_used_at = $15, updated_at = $16
			WHERE id = $1 RETURNING `+identTokenCols,
			old.ID, string(t.Kind), t.Hash, t.LastEight, t.UserID, identZeroNull(t.ApplicationID), identZeroNull(t.GrantID),
			list(t.Scopes), t.Note, t.NoteURL, t.Fingerprint, t.FamilyID,
			ts(t.ExpiresAt), ts(t.RevokedAt), ts(t.LastUsedAt), ts(t.UpdatedAt)), &out)
		return s.identErr("update "+name, err)
	})
	if err != nil {
		return core.Token{}, err
	}
	return out, nil
}

// RevokeTokens sets RevokedAt (and UpdatedAt) to at on every token that f matches
// and that is live at at; it returns how many. Tokens already revoked keep their
// first RevokedAt, and expired ones are left alone.
func (s *Store) RevokeTokens(ctx context.Context, f store.TokenFilter, at time.Time) (int, error) {
	defer evictTokens(s.tokens, f)
	if at.IsZero() {
		return 0, errors.New("revoke tokens: no time given")
	}
	if f.UserID == "" && f.ApplicationID == 0 && f.GrantID == 0 && f.FamilyID == "" && f.Fingerprint == "" {
		// A filter naming nothing would revoke every token on the site: a caller's bug.
		return 0, errors.New("revoke tokens: the filter names no user, application, grant, family or fingerprint")
	}
	w := identTokenWhere(f)
	identLiveAt(w, at)
	w.args = append(w.args, at.UnixMicro())
	n := strconv.Itoa(len(w.args))
	c, err := deleted(s.db.ExecContext(ctx, `UPDATE tokens SET revoked_at = $`+n+`, updated_at = $`+n+w.String(), w.args...))
	return c, s.identErr("revoke tokens", err)
}

func (s *Store) DeleteToken(ctx context.Context, id int64) error {
	defer s.tokens.evictIDs(id)
	return s.identErr("delete token "+strconv.FormatInt(id, 10),
		affected(s.db.ExecContext(ctx, `DELETE FROM tokens WHERE id = $1`, id)))
}

// DeleteDeadTokens removes tokens revoked before before, or that expired before it.
func (s *Store) DeleteDeadTokens(ctx context.Context, before time.Time) (int, error) {
	n, err := deleted(s.db.ExecContext(ctx, `DELETE FROM tokens WHERE revoked_at < $1 OR expires_at < $1`, before.UnixMicro()))
	return n, s.identErr("delete dead tokens", err)
}

// ---- login throttling ---------------------------------------------------------------

// identLoginLockClass is the first half of the two-key PostgreSQL advisory lock that
// serialises RecordLoginFailure per key. Two-key locks never collide with the one-key
// lock of the migrations.
const identLoginLockClass = 0x6c6f6769 // "logi"

// RecordLoginFailure adds a failure at now and returns how many failures key has had
// in [now-window, now+…). Calls for one key are serialised (SQLite's write lock, or a
// PostgreSQL advisory lock), so parallel attempts, on any replica, each see a
// different count and a burst cannot slip under the limit. Failures older than the
// window are forgotten on the way.
func (s *Store) RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	since := now.Add(-window).UnixMicro()
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.name == "postgres" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, identLoginLockClass, key); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE key = $1 AND failed_at < $2`, key, since); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, failed_at) VALUES ($1, $2)`, key, now.UnixMicro()); err != nil {
			return err
		}
		var err error
		n, err = identCount(ctx, tx, `SELECT COUNT(*) FROM login_failures WHERE key = $1 AND failed_at >= $2`, key, since)
		return err
	})
	if err != nil {
		return 0, s.identErr("record login failure", err)
	}
	return n, nil
}

// LoginFailures counts key's failures in [now-window, now+…).
func (s *Store) LoginFailures(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	n, err := identCount(ctx, s.db, `SELECT COUNT(*) FROM login_failures WHERE key = $1 AND failed_at >= $2`,
		key, now.Add(-window).UnixMicro())
	return n, s.identErr("login failures", err)
}

// ClearLoginFailures forgets key's failures; a key with none is not an error.
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
	return s.identErr("clear login failures", err)
}

func (s *Store) DeleteLoginFailures(ctx context.Context, before time.Time) (int, error) {
	n, err := deleted(s.db.ExecContext(ctx, `DELETE FROM login_failures WHERE failed_at < $1`, before.UnixMicro()))
	return n, s.identErr("delete login failures", err)
}

// ---- audit --------------------------------------------------------------------------

const identAuditCols = `id, time, actor_id, actor_name, action, target_type, target_id, org_id, remote_addr, detail`

func (s *Store) AppendAudit(ctx context.Context, e *core.AuditEvent) error {
	err := s.db.QueryRowContext(ctx, `INSERT INTO audit_events (time, actor_id, actor_name, action, target_type,
		target_id, org_id, remote_addr, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		ts(e.Time), e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, e.OrgID, e.RemoteAddr, e.Detail).Scan(&e.ID)
	return s.identErr("append audit event", err)
}

// ListAudit lists events newest first. Since is inclusive, Until exclusive. An Action
// ending in "." is a prefix ("token." matches "token.create"); any other is exact.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter, p store.Page) ([]core.AuditEvent, int, error) {
	w := &where{}
	if f.ActorID != "" {
		w.add("actor_id = ?", f.ActorID)
	}
	switch {
	case strings.HasSuffix(f.Action, "."):
		// substr, not LIKE: "_" in action names is a LIKE wildcard.
		w.add("substr(action, 1, "+strconv.Itoa(utf8.RuneCountInString(f.Action))+") = ?", f.Action)
	case f.Action != "":
		w.add("action = ?", f.Action)
	}
	if f.TargetType != "" {
		w.add("target_type = ?", f.TargetType)
	}
	if f.TargetID != "" {
		w.add("target_id = ?", f.TargetID)
	}
	if f.OrgID != "" {
		w.add("org_id = ?", f.OrgID)
	}
	if !f.Since.IsZero() {
		w.add("time >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		w.add("time < ?", f.Until.UnixMicro())
	}
	total, err := identCount(ctx, s.db, `SELECT COUNT(*) FROM audit_events`+w.String(), w.args...)
	if err != nil {
		return nil, 0, s.identErr("list audit events", err)
	}
	out := []core.AuditEvent{}
	err = identQuery(ctx, s.db, func(r identRow) error {
		var e core.AuditEvent
		if err := r.Scan(&e.ID, scanTime(&e.Time), &e.ActorID, &e.ActorName, &e.Action, &e.TargetType,
			&e.TargetID, &e.OrgID, &e.RemoteAddr, &e.Detail); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}, `SELECT `+identAuditCols+` FROM audit_events`+w.String()+` ORDER BY time DESC, id DESC`+pageClause(p), w.args...)
	if err != nil {
		return nil, 0, s.identErr("list audit events", err)
	}
	return out, total, nil
}

// ---- access keys --------------------------------------------------------------------

const identAccessKeyCols = `id, user_id, secret, created_at`

func identScanAccessKey(r identRow, k *core.AccessKey) error {
	return r.Scan(&k.ID, &k.UserID, &k.Secret, scanTime(&k.CreatedAt))
}

func (s *Store) CreateAccessKey(ctx context.Context, k core.AccessKey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO access_keys (`+identAccessKeyCols+`) VALUES ($1, $2, $3, $4)`,
		k.ID, k.UserID, string(k.Secret), ts(k.CreatedAt))
	return s.identErr("create access key", err)
}

func (s *Store) AccessKey(ctx context.Context, id string) (core.AccessKey, error) {
	var k core.AccessKey
	err := identScanAccessKey(s.db.QueryRowContext(ctx, `SELECT `+identAccessKeyCols+` FROM access_keys WHERE id = $1`, id), &k)
	return k, s.identErr("access key "+id, err)
}

func (s *Store) ListAccessKeys(ctx context.Context, userID string) ([]core.AccessKey, error) {
	out := []core.AccessKey{}
	err := identQuery(ctx, s.db, func(r identRow) error {
		var k core.AccessKey
		if err := identScanAccessKey(r, &k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	}, `SELECT `+identAccessKeyCols+` FROM access_keys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, s.identErr("list access keys", err)
	}
	return out, nil
}

func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	return s.identErr("delete access key "+id, affected(s.db.ExecContext(ctx, `DELETE FROM access_keys WHERE id = $1`, id)))
}

// ---- key rotation -------------------------------------------------------------------

// ReencryptSecrets walks sealedColumns in one transaction. Rows are locked as they
// are read (FOR UPDATE; SQLite's transaction holds the write lock), so a concurrent
// update cannot be overwritten with an old value. A table that does not exist (yet)
// holds no secrets and is skipped. If fn fails, nothing is written.
func (s *Store) ReencryptSecrets(ctx context.Context, fn func(core.Sealed) (core.Sealed, error)) (int, error) {
	defer s.resetCaches(keepSwitch) // sealed values (TOTP secrets, provider tokens) are part of the entries
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, c := range sealedColumns {
			ok, err := s.identTableExists(ctx, tx, c.table)
			if err != nil {
				return fmt.Errorf("reencrypt %s.%s: %w", c.table, c.column, err)
			}
			if !ok {
				continue
			}
			type row struct {
				key any
				val core.Sealed
			}
			var rows []row
			err = identQuery(ctx, tx, func(r identRow) error {
				var x row
				if err := r.Scan(&x.key, &x.val); err != nil {
					return err
				}
				rows = append(rows, x)
				return nil
			}, `SELECT `+c.key+`, `+c.column+` FROM `+c.table+` WHERE `+c.column+` <> ''`+s.d.forUpdate)
			if err != nil {
				return fmt.Errorf("reencrypt %s.%s: %w", c.table, c.column, err)
			}
			for _, x := range rows {
				v, err := fn(x.val)
				if err != nil {
					return fmt.Errorf("reencrypt %s.%s: %w", c.table, c.column, err)
				}
				if v == x.val {
					continue
				}
				if _, err := tx.ExecContext(ctx, `UPDATE `+c.table+` SET `+c.column+` = $1 WHERE `+c.key+` = $2`,
					string(v), x.key); err != nil {
					return fmt.Errorf("reencrypt %s.%s: %w", c.table, c.column, s.mapErr(err))
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// identTableExists reports whether the table exists in the schema the connection uses.
func (s *Store) identTableExists(ctx context.Context, q querier, table string) (bool, error) {
	query := `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1`
	if s.d.name == "postgres" {
		query = `SELECT to_regclass($1) IS NOT NULL`
	}
	var ok bool
	err := q.QueryRowContext(ctx, query, table).Scan(&ok)
	return ok, err
}
