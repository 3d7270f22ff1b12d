package sqlstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// Migration 0003 applies to a database at version 2 that already holds applications,
// grants and tokens; the store reads those rows, and the new tables work with them
// (foreign keys and cascades included).
func TestDownstreamMigrationOnFilledDatabase(t *testing.T) {
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
			if err := s.MigrateTo(ctx, 2); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
			us := at.UnixMicro()
			// Rows as version 2 knew them, in plain SQL so the test does not depend on
			// today's store code. Booleans go in as Go bools: each driver writes its
			// database's form (0/1 in SQLite, BOOLEAN in PostgreSQL).
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO users (id, username, created_at, updated_at) VALUES ('user-a', 'a', $1, $2)`, []any{us, us}},
				{`INSERT INTO applications (client_id, name, redirect_uris, scopes, confidential, secret_hash, secret_last, owner_id, built_in, created_at, updated_at)
					VALUES ('cid-old', 'old app', '["https://old.example.com/cb"]', '["api"]', $1, $2, 'last8888', 'user-a', $3, $4, $5)`,
					[]any{true, []byte("0123456789abcdef0123456789abcdef"), false, us, us}},
				{`INSERT INTO grants (user_id, application_id, created_at, updated_at)
					SELECT 'user-a', id, $1, $2 FROM applications WHERE client_id = 'cid-old'`, []any{us, us}},
				{`INSERT INTO tokens (kind, hash, last_eight, user_id, application_id, grant_id, scopes, created_at, updated_at)
					SELECT 'access', $1, 'tok88888', 'user-a', application_id, id, '["read_user","api"]', $2, $3 FROM grants`,
					[]any{[]byte("tokentokentokentokentokentoken01"), us, us}},
			} {
				if _, err := s.DB().ExecContext(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrating to latest: %v", err)
			}
			if v, err := s.SchemaVersion(ctx); err != nil || v != s.LatestVersion() || v < 3 {
				t.Fatalf("schema version %d, %v; want latest (%d, at least 3)", v, err, s.LatestVersion())
			}

			app, err := s.ApplicationByClientID(ctx, "cid-old")
			if err != nil {
				t.Fatalf("ApplicationByClientID: %v", err)
			}
			if app.Name != "old app" || !app.Confidential || app.BuiltIn || app.OwnerID != "user-a" ||
				!reflect.DeepEqual(app.RedirectURIs, []string{"https://old.example.com/cb"}) ||
				!reflect.DeepEqual(app.Scopes, []string{"api"}) || string(app.SecretHash) != "0123456789abcdef0123456789abcdef" ||
				!app.CreatedAt.Equal(at) {
				t.Errorf("old application read back as %+v", app)
			}
			g, err := s.FindGrant(ctx, "user-a", app.ID, at)
			if err != nil {
				t.Fatalf("FindGrant: %v", err)
			}
			if !reflect.DeepEqual(g.Scopes, []string{"api", "read_user"}) || !g.CreatedAt.Equal(at) {
				t.Errorf("old grant read back as %+v", g)
			}

			code := core.AuthorizationCode{Hash: []byte("code-hash"), ApplicationID: app.ID, UserID: "user-a",
				RedirectURI: "https://old.example.com/cb", ExpiresAt: at.Add(time.Minute), CreatedAt: at}
			if err := s.CreateAuthCode(ctx, code); err != nil {
				t.Fatalf("CreateAuthCode: %v", err)
			}
			dev := core.DeviceAuthorization{DeviceCodeHash: []byte("device-hash"), UserCode: "ABCDEFGH", ApplicationID: app.ID,
				Status: core.DevicePending, Interval: 5 * time.Second, ExpiresAt: at.Add(time.Minute), CreatedAt: at}
			if err := s.CreateDeviceAuth(ctx, dev); err != nil {
				t.Fatalf("CreateDeviceAuth: %v", err)
			}
			if err := s.DeleteApplication(ctx, app.ID); err != nil {
				t.Fatalf("DeleteApplication: %v", err)
			}
			for what, err := range map[string]error{
				"grant":  func() error { _, err := s.Grant(ctx, g.ID, at); return err }(),
				"code":   func() error { _, _, err := s.ConsumeAuthCode(ctx, code.Hash, at); return err }(),
				"device": func() error { _, err := s.DeviceAuth(ctx, dev.DeviceCodeHash); return err }(),
			} {
				if !errors.Is(err, core.ErrNotFound) {
					t.Errorf("%s after DeleteApplication: %v, want not found", what, err)
				}
			}
			var tokens int
			if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&tokens); err != nil || tokens != 0 {
				t.Errorf("tokens after DeleteApplication: %d, %v; want 0", tokens, err)
			}
			if _, total, err := s.ListGrants(ctx, "user-a", at, store.Page{}); err != nil || total != 0 {
				t.Errorf("ListGrants after DeleteApplication: total %d, %v", total, err)
			}
		})
	}
}
