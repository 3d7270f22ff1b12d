package sqlstore_test

import (
	"testing"

	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// Both backends reach the same, latest version, and opening again is a no-op.
func TestMigrateFresh(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{
		"sqlite":   openSQLite,
		"postgres": func(t testing.TB) *sqlstore.Store { return freshPostgres(t, true) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			v, err := s.SchemaVersion(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if v != s.LatestVersion() || v < 1 {
				t.Fatalf("schema version %d, latest %d", v, s.LatestVersion())
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	}
}
