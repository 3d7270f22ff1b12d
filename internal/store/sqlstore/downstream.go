package sqlstore

// The Downstream group: applications that use vcsauth as their OAuth server, the
// grants people give them, and the authorization codes and device authorizations of
// flows in progress (tables in migrations 0001 and 0003).

import (
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

// ---- applications ----

const applicationColumns = `id, client_id, name, redirect_uris, scopes, confidential, secret_hash,
	secret_last, owner_id, built_in, created_at, updated_at`

func scanApplication(scan func(...any) error) (core.Application, error) {
	var a core.Application
	err := scan(&a.ID, &a.ClientID, &a.Name, scanList(&a.RedirectURIs), scanList(&a.Scopes),
		&a.Confidential, &a.SecretHash, &a.SecretLast, &a.OwnerID, &a.BuiltIn,
		scanTime(&a.CreatedAt), scanTime(&a.UpdatedAt))
	if len(a.SecretHash) == 0 {
		a.SecretHash = nil // public clients: NULL, whatever the driver makes of it
	}
	return a, err
}

// CreateApplication stores a and sets a.ID; the database picks the id.
func (s *Store) CreateApplication(ctx context.Context, a *core.Application) error {
	err := s.db.QueryRowContext(ctx, `INSERT INTO applications
		(client_id, name, redirect_uris, scopes, confidential, secret_hash, secret_last,
		 owner_id, built_in, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		a.ClientID, a.Name, list(a.RedirectURIs), list(a.Scopes), a.Confidential,
		downstreamBlob(a.SecretHash), a.SecretLast, a.OwnerID, a.BuiltIn,
		ts(a.CreatedAt), ts(a.UpdatedAt)).Scan(&a.ID)
	if err != nil {
		return fmt.Errorf("create application %q: %w", a.ClientID, s.mapErr(err))
	}
	return nil
}

func (s *Store) Application(ctx context.Context, id int64) (core.Application, error) {
	a, err := scanApplication(s.db.QueryRowContext(ctx,
		`SELECT `+applicationColumns+` FROM applications WHERE id = $1`, id).Scan)
	if err != nil {
		return core.Application{}, fmt.Errorf("application %d: %w", id, s.mapErr(err))
	}
	return a, nil
}

// ApplicationByClientID runs for every client authentication; with the cache on, a
// client looked up less than its TTL ago is answered from memory (see cache.go).
func (s *Store) ApplicationByClientID(ctx context.Context, clientID string) (core.Application, error) {
	a, gen, ok := s.apps.get(clientID)
	if ok {
		return a, nil
	}
	a, err := scanApplication(s.hotRow(ctx,
		`SELECT `+applicationColumns+` FROM applications WHERE client_id = $1`, clientID).Scan)
	if err != nil {
		return core.Application{}, fmt.Errorf("application %q: %w", clientID, s.mapErr(err))
	}
	s.apps.put(clientID, gen, a)
	return a, nil
}

// ListApplications lists applications by id and returns how many there are in all.
func (s *Store) ListApplications(ctx context.Context, p store.Page) ([]core.Application, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM applications`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list applications: %w", s.mapErr(err))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+applicationColumns+` FROM applications ORDER BY id`+pageClause(p))
	if err != nil {
		return nil, 0, fmt.Errorf("list applications: %w", s.mapErr(err))
	}
	defer rows.Close()
	out := []core.Application{}
	for rows.Next() {
		a, err := scanApplication(rows.Scan)
		if err != nil {
			return nil, 0, fmt.Errorf("list applications: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list applications: %w", s.mapErr(err))
	}
	return out, total, nil
}

// UpdateApplication runs fn on the locked row and saves what it returns. ID, ClientID
// and CreatedAt cannot change: whatever fn does to them is ignored. The result is the
// row as stored.
func (s *Store) UpdateApplication(ctx context.Context, id int64, fn func(core.Application) (core.Application, error)) (core.Application, error) {
	defer s.apps.evictIDs(id)
	var out core.Application
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := scanApplication(tx.QueryRowContext(ctx,
			`SELECT `+applicationColumns+` FROM applications WHERE id = $1`+s.d.forUpdate, id).Scan)
		if err != nil {
			return s.mapErr(err)
		}
		a, err := fn(old)
		if err != nil {
			return err
		}
		out, err = scanApplication(tx.QueryRowContext(ctx, `UPDATE applications SET
			name = $1, redirect_uris = $2, scopes = $3, confidential = $4, secret_hash = $5,
			secret_last = $6, owner_id = $7, built_in = $8, updated_at = $9
			WHERE id = $10 RETURNING `+applicationColumns,
			a.Name, list(a.RedirectURIs), list(a.Scopes), a.Confidential, downstreamBlob(a.SecretHash),
			a.SecretLast, a.OwnerID, a.BuiltIn, ts(a.UpdatedAt), old.ID).Scan)
		return s.mapErr(err)
	})
	if err != nil {
		return core.Application{}, fmt.Errorf("update application %d: %w", id, err)
	}
	return out, nil
}

// DeleteApplication deletes the application; the foreign keys take its grants,
// tokens, authorization codes and device authorizations with it.
func (s *Store) DeleteApplication(ctx context.Context, id int64) error {
	defer evictTokens(s.tokens, store.TokenFilter{ApplicationID: id}) // its tokens go with it
	defer s.apps.evictIDs(id)
	if err := affected(s.db.ExecContext(ctx, `DELETE FROM applications WHERE id = $1`, id)); err != nil {
		return fmt.Errorf("delete application %d: %w", id, s.mapErr(err))
	}
	return nil
}

// ---- grants ----

const grantColumns = `id, user_id, application_id, created_at, updated_at`

func scanGrant(scan func(...any) error) (core.Grant, error) {
	var g core.Grant
	err := scan(&g.ID, &g.UserID, &g.ApplicationID, scanTime(&g.CreatedAt), scanTime(&g.UpdatedAt))
	return g, err
}

// GrantFor returns the user's grant to the application, creating it if need be. The
// INSERT … ON CONFLICT DO NOTHING lets any number of concurrent callers (on any
// replica) race: the unique (user_id, application_id) key keeps one row, and each
// caller then reads that row.
func (s *Store) GrantFor(ctx context.Context, userID string, applicationID int64, now time.Time) (core.Grant, error) {
	// A DeleteGrant between the INSERT and the SELECT would make the SELECT miss;
	// trying again creates the grant anew, which is what the caller asked for.
	for attempt := 0; ; attempt++ {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO grants (user_id, application_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, application_id) DO NOTHING`,
			userID, applicationID, ts(now), ts(now)); err != nil {
			return core.Grant{}, fmt.Errorf("grant for %s to application %d: %w", userID, applicationID, s.mapErr(err))
		}
		g, err := s.FindGrant(ctx, userID, applicationID, now)
		if err == nil || !errors.Is(err, core.ErrNotFound) || attempt == 2 {
			return g, err
		}
	}
}

// EnsureGrant returns the id of the user's grant to the application, creating it if
// need be. The common case, the grant exists, is one read and takes no write lock;
// a missing grant is made as GrantFor makes it (INSERT … ON CONFLICT DO NOTHING, then
// read), so concurrent callers agree on one row. No scopes are filled.
func (s *Store) EnsureGrant(ctx context.Context, userID string, applicationID int64, now time.Time) (int64, error) {
	const q = `SELECT id FROM grants WHERE user_id = $1 AND application_id = $2`
	for attempt := 0; ; attempt++ {
		var id int64
		err := s.db.QueryRowContext(ctx, q, userID, applicationID).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) || attempt == 3 {
			return 0, fmt.Errorf("grant for %s to application %d: %w", userID, applicationID, s.mapErr(err))
		}
		// A DeleteGrant between the INSERT and the next SELECT makes that SELECT
		// miss; the loop inserts and reads again.
		if _, err := s.db.ExecContext(ctx, `INSERT INTO grants (user_id, application_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, application_id) DO NOTHING`,
			userID, applicationID, ts(now), ts(now)); err != nil {
			return 0, fmt.Errorf("grant for %s to application %d: %w", userID, applicationID, s.mapErr(err))
		}
	}
}

// Grant returns a grant with Scopes filled from its live tokens at now.
func (s *Store) Grant(ctx context.Context, id int64, now time.Time) (core.Grant, error) {
	g, err := scanGrant(s.db.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1`, id).Scan)
	if err != nil {
		return core.Grant{}, fmt.Errorf("grant %d: %w", id, s.mapErr(err))
	}
	if err := s.fillGrantScopes(ctx, now, []*core.Grant{&g}); err != nil {
		return core.Grant{}, fmt.Errorf("grant %d: %w", id, err)
	}
	return g, nil
}

// FindGrant returns the user's grant to the application without creating one.
func (s *Store) FindGrant(ctx context.Context, userID string, applicationID int64, now time.Time) (core.Grant, error) {
	g, err := scanGrant(s.db.QueryRowContext(ctx,
		`SELECT `+grantColumns+` FROM grants WHERE user_id = $1 AND application_id = $2`,
		userID, applicationID).Scan)
	if err != nil {
		return core.Grant{}, fmt.Errorf("grant of %s to application %d: %w", userID, applicationID, s.mapErr(err))
	}
	if err := s.fillGrantScopes(ctx, now, []*core.Grant{&g}); err != nil {
		return core.Grant{}, fmt.Errorf("grant %d: %w", g.ID, err)
	}
	return g, nil
}

// ListGrants lists the user's grants by id, with their scopes at now, and returns how
// many the user has in all.
func (s *Store) ListGrants(ctx context.Context, userID string, now time.Time, p store.Page) ([]core.Grant, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM grants WHERE user_id = $1`, userID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list grants of %s: %w", userID, s.mapErr(err))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE user_id = $1 ORDER BY id`+pageClause(p), userID)
	if err != nil {
		return nil, 0, fmt.Errorf("list grants of %s: %w", userID, s.mapErr(err))
	}
	defer rows.Close()
	out := []core.Grant{}
	for rows.Next() {
		g, err := scanGrant(rows.Scan)
		if err != nil {
			return nil, 0, fmt.Errorf("list grants of %s: %w", userID, err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list grants of %s: %w", userID, s.mapErr(err))
	}
	rows.Close()
	ptrs := make([]*core.Grant, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.fillGrantScopes(ctx, now, ptrs); err != nil {
		return nil, 0, fmt.Errorf("list grants of %s: %w", userID, err)
	}
	return out, total, nil
}

// grantScopesBatch bounds the ids of one IN list: far below the parameter limits of
// both databases (SQLite 32766, PostgreSQL 65535) when a list asks for everything.
const grantScopesBatch = 500

// fillGrantScopes sets each grant's Scopes to the sorted union of the scopes of its
// tokens live at now (not revoked, and not expired or without expiry), reading the
// tokens of all the grants in one query per grantScopesBatch grants.
func (s *Store) fillGrantScopes(ctx context.Context, now time.Time, gs []*core.Grant) error {
	sets := make(map[int64]map[string]struct{}, len(gs))
	for start := 0; start < len(gs); start += grantScopesBatch {
		batch := gs[start:min(start+grantScopesBatch, len(gs))]
		args := make([]any, 0, len(batch)+1)
		args = append(args, ts(now))
		marks := make([]string, len(batch))
		for i, g := range batch {
			args = append(args, g.ID)
			marks[i] = fmt.Sprintf("$%d", len(args))
		}
		rows, err := s.db.QueryContext(ctx, `SELECT grant_id, scopes FROM tokens
			WHERE grant_id IN (`+strings.Join(marks, ", ")+`)
			AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`, args...)
		if err != nil {
			return fmt.Errorf("scopes of live tokens: %w", s.mapErr(err))
		}
		for rows.Next() {
			var id int64
			var scopes []string
			if err := rows.Scan(&id, scanList(&scopes)); err != nil {
				rows.Close()
				return fmt.Errorf("scopes of live tokens: %w", err)
			}
			set := sets[id]
			if set == nil {
				set = map[string]struct{}{}
				sets[id] = set
			}
			for _, sc := range scopes {
				set[sc] = struct{}{}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("scopes of live tokens: %w", s.mapErr(err))
		}
	}
	for _, g := range gs {
		scopes := make([]string, 0, len(sets[g.ID]))
		for sc := range sets[g.ID] {
			scopes = append(scopes, sc)
		}
		slices.Sort(scopes)
		g.Scopes = scopes
	}
	return nil
}

// DeleteGrant deletes the grant; the foreign key takes every token under it.
func (s *Store) DeleteGrant(ctx context.Context, id int64) error {
	defer evictTokens(s.tokens, store.TokenFilter{GrantID: id}) // its tokens go with it
	if err := affected(s.db.ExecContext(ctx, `DELETE FROM grants WHERE id = $1`, id)); err != nil {
		return fmt.Errorf("delete grant %d: %w", id, s.mapErr(err))
	}
	return nil
}

// ---- authorization codes ----

const authCodeColumns = `hash, application_id, user_id, redirect_uri, scopes, code_challenge,
	code_challenge_method, family_id, expires_at, used_at, created_at`

func scanAuthCode(scan func(...any) error) (core.AuthorizationCode, error) {
	var c core.AuthorizationCode
	err := scan(&c.Hash, &c.ApplicationID, &c.UserID, &c.RedirectURI, scanList(&c.Scopes),
		&c.CodeChallenge, &c.CodeChallengeMethod, &c.FamilyID,
		scanTime(&c.ExpiresAt), scanTime(&c.UsedAt), scanTime(&c.CreatedAt))
	return c, err
}

func (s *Store) CreateAuthCode(ctx context.Context, c core.AuthorizationCode) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO authorization_codes
		(hash, application_id, user_id, redirect_uri, scopes, code_challenge,
		 code_challenge_method, family_id, expires_at, used_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.Hash, c.ApplicationID, c.UserID, c.RedirectURI, list(c.Scopes), c.CodeChallenge,
		c.CodeChallengeMethod, c.FamilyID, ts(c.ExpiresAt), ts(c.UsedAt), ts(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("create authorization code: %w", s.mapErr(err))
	}
	return nil
}

// ConsumeAuthCode marks the code used at now and returns it with first == true, in
// one conditional UPDATE: of any number of concurrent exchanges, on any replica,
// exactly one wins. A code used already comes back as stored (UsedAt of the first
// exchange) with first == false. Expiry is the caller's to check.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (core.AuthorizationCode, bool, error) {
	c, err := scanAuthCode(s.db.QueryRowContext(ctx, `UPDATE authorization_codes SET used_at = $1
		WHERE hash = $2 AND used_at IS NULL RETURNING `+authCodeColumns, ts(now), hash).Scan)
	if err == nil {
		return c, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return core.AuthorizationCode{}, false, fmt.Errorf("consume authorization code: %w", s.mapErr(err))
	}
	c, err = scanAuthCode(s.db.QueryRowContext(ctx,
		`SELECT `+authCodeColumns+` FROM authorization_codes WHERE hash = $1`, hash).Scan)
	if err != nil {
		return core.AuthorizationCode{}, false, fmt.Errorf("consume authorization code: %w", s.mapErr(err))
	}
	return c, false, nil
}

// DeleteExpiredAuthCodes removes codes that expired before the given time, used or
// not, and returns how many.
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, before time.Time) (int, error) {
	n, err := deleted(s.db.ExecContext(ctx, `DELETE FROM authorization_codes WHERE expires_at < $1`, ts(before)))
	if err != nil {
		return 0, fmt.Errorf("delete expired authorization codes: %w", s.mapErr(err))
	}
	return n, nil
}

// ---- device authorizations ----

const deviceAuthColumns = `device_code_hash, user_code, application_id, scopes, status, user_id,
	interval_us, last_polled_at, expires_at, created_at`

func scanDeviceAuth(scan func(...any) error) (core.DeviceAuthorization, error) {
	var (
		d        core.DeviceAuthorization
		status   string
		userID   sql.NullString
		interval int64
	)
	err := scan(&d.DeviceCodeHash, &d.UserCode, &d.ApplicationID, scanList(&d.Scopes), &status,
		&userID, &interval, scanTime(&d.LastPolledAt), scanTime(&d.ExpiresAt), scanTime(&d.CreatedAt))
	d.Status = core.DeviceStatus(status)
	d.UserID = userID.String
	d.Interval = time.Duration(interval) * time.Microsecond
	return d, err
}

// CreateDeviceAuth stores d. Its user code must be unique among stored device
// authorizations (ErrConflict otherwise); the caller draws another and tries again.
func (s *Store) CreateDeviceAuth(ctx context.Context, d core.DeviceAuthorization) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO device_authorizations
		(device_code_hash, user_code, application_id, scopes, status, user_id,
		 interval_us, last_polled_at, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		d.DeviceCodeHash, d.UserCode, d.ApplicationID, list(d.Scopes), string(d.Status),
		nullString(d.UserID), d.Interval.Microseconds(), ts(d.LastPolledAt),
		ts(d.ExpiresAt), ts(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("create device authorization: %w", s.mapErr(err))
	}
	return nil
}

func (s *Store) DeviceAuth(ctx context.Context, deviceCodeHash []byte) (core.DeviceAuthorization, error) {
	d, err := scanDeviceAuth(s.db.QueryRowContext(ctx,
		`SELECT `+deviceAuthColumns+` FROM device_authorizations WHERE device_code_hash = $1`, deviceCodeHash).Scan)
	if err != nil {
		return core.DeviceAuthorization{}, fmt.Errorf("device authorization: %w", s.mapErr(err))
	}
	return d, nil
}

// DeviceAuthByUserCode finds a device authorization by its user code, which the
// caller has normalised already.
func (s *Store) DeviceAuthByUserCode(ctx context.Context, userCode string) (core.DeviceAuthorization, error) {
	d, err := scanDeviceAuth(s.db.QueryRowContext(ctx,
		`SELECT `+deviceAuthColumns+` FROM device_authorizations WHERE user_code = $1`, userCode).Scan)
	if err != nil {
		return core.DeviceAuthorization{}, fmt.Errorf("device authorization %q: %w", userCode, s.mapErr(err))
	}
	return d, nil
}

// UpdateDeviceAuth runs fn on the locked row and saves what it returns: polls,
// approval and denial of one device flow serialise here. DeviceCodeHash, UserCode,
// ApplicationID and CreatedAt cannot change. The result is the row as stored.
func (s *Store) UpdateDeviceAuth(ctx context.Context, deviceCodeHash []byte, fn func(core.DeviceAuthorization) (core.DeviceAuthorization, error)) (core.DeviceAuthorization, error) {
	var out core.DeviceAuthorization
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := scanDeviceAuth(tx.QueryRowContext(ctx,
			`SELECT `+deviceAuthColumns+` FROM device_authorizations WHERE device_code_hash = $1`+s.d.forUpdate,
			deviceCodeHash).Scan)
		if err != nil {
			return s.mapErr(err)
		}
		d, err := fn(old)
		if err != nil {
			return err
		}
		out, err = scanDeviceAuth(tx.QueryRowContext(ctx, `UPDATE device_authorizations SET
			scopes = $1, status = $2, user_id = $3, interval_us = $4, last_polled_at = $5, expires_at = $6
			WHERE device_code_hash = $7 RETURNING `+deviceAuthColumns,
			list(d.Scopes), string(d.Status), nullString(d.UserID), d.Interval.Microseconds(),
			ts(d.LastPolledAt), ts(d.ExpiresAt), old.DeviceCodeHash).Scan)
		return s.mapErr(err)
	})
	if err != nil {
		return core.DeviceAuthorization{}, fmt.Errorf("update device authorization: %w", err)
	}
	return out, nil
}

// DeleteExpiredDeviceAuths removes device authorizations that expired before the
// given time, whatever their status, and returns how many.
func (s *Store) DeleteExpiredDeviceAuths(ctx context.Context, before time.Time) (int, error) {
	n, err := deleted(s.db.ExecContext(ctx, `DELETE FROM device_authorizations WHERE expires_at < $1`, ts(before)))
	if err != nil {
		return 0, fmt.Errorf("delete expired device authorizations: %w", s.mapErr(err))
	}
	return n, nil
}

// ---- helpers of this file (prefixed: other files of the package are written apart) ----

// downstreamBlob stores an empty byte slice as NULL, so nil and empty read back alike.
func downstreamBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
