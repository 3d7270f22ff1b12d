package sqlstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// A database that holds rows at version 1 upgrades to the latest version with its
// rows intact and readable through the store, and a binary that finds an old schema
// refuses to start until it is migrated.
func TestUpgradeFromVersion1(t *testing.T) {
	t.Parallel()
	for _, dialect := range identDialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dbURL := freshURL(t, dialect)
			s := openURL(t, dbURL, sqlstore.Options{SkipSchemaCheck: true})
			if err := s.MigrateTo(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if v, err := s.SchemaVersion(ctx); err != nil || v != 1 {
				t.Fatalf("SchemaVersion: %d, %v", v, err)
			}
			if s.LatestVersion() < 2 {
				t.Skip("only one migration: nothing to upgrade yet")
			}

			// Rows as version 1 wrote them, in raw SQL: the upgrade must not depend
			// on today's store code having written them.
			created := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
			pwChanged := created.Add(time.Hour)
			hash := []byte("0123456789abcdef0123456789abcdef")
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO users (id, username, email, password_hash, totp_secret, site_admin, password_changed_at, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
					[]any{"user-old", "old", "old@example.com", "$argon2id$old", "k1.dG90cA", true, pwChanged.UnixMicro(), created.UnixMicro(), created.UnixMicro()}},
				{`INSERT INTO organizations (id, name, email, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
					[]any{"org-old", "oldorg", "org@example.com", created.UnixMicro(), created.UnixMicro()}},
				{`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
					[]any{"org-old", "user-old", "owner", created.UnixMicro()}},
				{`INSERT INTO projects (id, org_id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`,
					[]any{"prj-old", "org-old", "infra", "old project", created.UnixMicro(), created.UnixMicro()}},
				{`INSERT INTO tokens (kind, hash, last_eight, user_id, scopes, note, fingerprint, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
					[]any{"personal", hash, "cdef1234", "user-old", `["api"]`, "laptop", "fp", created.UnixMicro(), created.UnixMicro()}},
				{`INSERT INTO access_keys (id, user_id, secret, created_at) VALUES ($1, $2, $3, $4)`,
					[]any{"AKOLD", "user-old", "k1.c2s", created.UnixMicro()}},
			} {
				if _, err := s.DB().ExecContext(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}

			_, err := sqlstore.Open(ctx, dbURL, sqlstore.Options{})
			if err == nil || !strings.Contains(err.Error(), "run `vcsauth migrate`") {
				t.Errorf("Open of a version-1 database: %v; want the `vcsauth migrate` error", err)
			}
			if err := s.Ping(ctx); err == nil {
				t.Error("Ping of a version-1 database succeeded")
			}
			// Key rotation skips the tables of later migrations that are not there yet.
			var seen []core.Sealed
			n, err := s.ReencryptSecrets(ctx, func(v core.Sealed) (core.Sealed, error) {
				seen = append(seen, v)
				return v, nil
			})
			if err != nil || n != 0 || len(seen) != 2 {
				t.Errorf("ReencryptSecrets at version 1: %d rewritten, saw %q, %v", n, seen, err)
			}

			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			// Now a plain Open works, and reads what version 1 wrote.
			s = openURL(t, dbURL, sqlstore.Options{})
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping after Migrate: %v", err)
			}

			u, err := s.User(ctx, "user-old")
			if err != nil {
				t.Fatal(err)
			}
			wantUser := core.User{ID: "user-old", Username: "old", Email: "old@example.com", PasswordHash: "$argon2id$old",
				TOTPSecret: "k1.dG90cA", SiteAdmin: true, PasswordChangedAt: pwChanged, CreatedAt: created, UpdatedAt: created}
			if u != wantUser {
				t.Errorf("user:\n got %+v\nwant %+v", u, wantUser)
			}
			o, err := s.OrgByName(ctx, "oldorg")
			if err != nil || o.ID != "org-old" || o.Email != "org@example.com" || !o.CreatedAt.Equal(created) {
				t.Errorf("org: %+v, %v", o, err)
			}
			m, err := s.Membership(ctx, "org-old", "user-old")
			if err != nil || m.Role != core.RoleOwner || !m.CreatedAt.Equal(created) {
				t.Errorf("membership: %+v, %v", m, err)
			}
			ps, total, err := s.ListProjects(ctx, "org-old", store.Page{})
			if err != nil || total != 1 || len(ps) != 1 || ps[0].ID != "prj-old" || ps[0].Description != "old project" {
				t.Errorf("projects: %+v, %d, %v", ps, total, err)
			}
			tok, owner, err := s.LookupToken(ctx, hash)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Kind != core.TokenPersonal || tok.ApplicationID != 0 || tok.GrantID != 0 || tok.Note != "laptop" ||
				tok.Fingerprint != "fp" || len(tok.Scopes) != 1 || tok.Scopes[0] != "api" || !tok.ExpiresAt.IsZero() ||
				!tok.Live(created) || owner.ID != "user-old" {
				t.Errorf("token: %+v of %s", tok, owner.ID)
			}
			live, total, err := s.ListTokens(ctx, store.TokenFilter{UserID: "user-old", PersonalOnly: true, LiveAt: created}, store.Page{})
			if err != nil || total != 1 || len(live) != 1 || live[0].ID != tok.ID {
				t.Errorf("ListTokens: %+v, %d, %v", live, total, err)
			}
			if k, err := s.AccessKey(ctx, "AKOLD"); err != nil || k.Secret != "k1.c2s" || k.UserID != "user-old" {
				t.Errorf("access key: %+v, %v", k, err)
			}
			// And the upgraded database takes new rows beside the old ones.
			n, err = s.ReencryptSecrets(ctx, func(v core.Sealed) (core.Sealed, error) { return "k2." + v, nil })
			if err != nil || n != 2 {
				t.Errorf("ReencryptSecrets after upgrade: %d, %v", n, err)
			}
			if err := s.CreateProject(ctx, core.Project{ID: "prj-new", OrgID: "org-old", Name: "infra", CreatedAt: created, UpdatedAt: created}); !errors.Is(err, core.ErrConflict) {
				t.Errorf("project name taken in the upgraded org: %v", err)
			}
		})
	}
}
