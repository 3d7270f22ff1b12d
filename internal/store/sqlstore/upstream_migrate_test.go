package sqlstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// Migration 0002 applies to a database at version 1 that already holds people,
// organizations and projects, and the new tables work with those rows.
func TestUpstreamMigrationOnFilledDatabase(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{
		"sqlite": func(t testing.TB) *sqlstore.Store {
			s, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"),
				sqlstore.Options{SkipSchemaCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t testing.TB) *sqlstore.Store { return freshPostgres(t, false) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ctx := t.Context()
			if err := s.MigrateTo(ctx, 1); err != nil {
				t.Fatal(err)
			}
			// Rows written as version 1 knew them, in plain SQL so the test does not
			// depend on today's Identity code.
			for _, q := range []string{
				`INSERT INTO users (id, username, created_at, updated_at) VALUES ('user-a', 'a', 1, 1)`,
				`INSERT INTO organizations (id, name, created_at, updated_at) VALUES ('org-a', 'a', 1, 1)`,
				`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ('org-a', 'user-a', 'member', 1)`,
				`INSERT INTO projects (id, org_id, name, created_at, updated_at) VALUES ('prj-a', 'org-a', 'a', 1, 1)`,
			} {
				if _, err := s.DB().ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := s.MigrateTo(ctx, 2); err != nil {
				t.Fatalf("migrating to 2: %v", err)
			}
			if v, err := s.SchemaVersion(ctx); err != nil || v != 2 {
				t.Fatalf("schema version %d, %v; want 2", v, err)
			}

			at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
			oc := core.OAuthClient{ID: "oc-a", OrgID: "org-a", Kind: core.ProviderGitHub, ProjectIDs: []string{"prj-a"},
				CreatedAt: at, UpdatedAt: at}
			if err := s.CreateOAuthClient(ctx, oc); err != nil {
				t.Fatalf("CreateOAuthClient: %v", err)
			}
			got, n, err := s.ListOAuthClients(ctx, store.OAuthClientFilter{AvailableToUser: "user-a"}, store.Page{})
			if err != nil || n != 1 || len(got) != 1 || len(got[0].ProjectIDs) != 1 {
				t.Fatalf("ListOAuthClients: %+v, %d, %v", got, n, err)
			}
			conn := core.Connection{ID: "ot-a", OAuthClientID: "oc-a", OwnerKind: core.OwnerUser, OwnerUserID: "user-a",
				OwnerOrgID: "org-a", CredentialKind: core.CredentialOAuth, CreatedAt: at, UpdatedAt: at}
			if err := s.CreateConnection(ctx, conn); err != nil {
				t.Fatalf("CreateConnection: %v", err)
			}
			if _, err := s.DB().ExecContext(ctx, `DELETE FROM users WHERE id = 'user-a'`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Connection(ctx, "ot-a"); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("user-owned connection after deleting its user: %v", err)
			}

			// The rest of the migrations apply on top.
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if _, err := s.OAuthClient(ctx, "oc-a"); err != nil {
				t.Fatalf("OAuthClient after the later migrations: %v", err)
			}
		})
	}
}

// Migration 0005 keeps one own connection per person and client: of duplicates a
// race made before it, the most recently updated one stays; others' connections
// and the shared ones are untouched.
func TestOneLinkPerPersonMigration(t *testing.T) {
	t.Parallel()
	for _, dialect := range identDialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			if dialect == "postgres" {
				postgresURL(t)
			}
			s := openURL(t, freshURL(t, dialect), sqlstore.Options{SkipSchemaCheck: true})
			ctx := t.Context()
			if err := s.MigrateTo(ctx, 4); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`INSERT INTO users (id, username, created_at, updated_at) VALUES ('user-a', 'a', 1, 1), ('user-b', 'b', 1, 1)`,
				`INSERT INTO organizations (id, name, created_at, updated_at) VALUES ('org-a', 'a', 1, 1)`,
				`INSERT INTO oauth_clients (id, org_id, kind, created_at, updated_at) VALUES ('oc-a', 'org-a', 'github', 1, 1)`,
				`INSERT INTO connections (id, oauth_client_id, owner_kind, owner_user_id, owning_user_id, owner_org_id,
					credential_kind, created_at, updated_at) VALUES
					('ot-old', 'oc-a', 'user', 'user-a', 'user-a', 'org-a', 'oauth', 1, 1),
					('ot-new', 'oc-a', 'user', 'user-a', 'user-a', 'org-a', 'oauth', 2, 5),
					('ot-b', 'oc-a', 'user', 'user-b', 'user-b', 'org-a', 'oauth', 1, 1),
					('ot-org1', 'oc-a', 'organization', 'user-a', NULL, 'org-a', 'oauth', 1, 1),
					('ot-org2', 'oc-a', 'organization', 'user-a', NULL, 'org-a', 'oauth', 1, 1)`,
			} {
				if _, err := s.DB().ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := s.MigrateTo(ctx, 5); err != nil {
				t.Fatalf("migrating to 5: %v", err)
			}
			cs, _, err := s.ListConnections(ctx, store.ConnectionFilter{OAuthClientID: "oc-a"}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range cs {
				ids = append(ids, c.ID)
			}
			slices.Sort(ids)
			if want := []string{"ot-b", "ot-new", "ot-org1", "ot-org2"}; !slices.Equal(ids, want) {
				t.Fatalf("after the migration: %v, want %v", ids, want)
			}
		})
	}
}
