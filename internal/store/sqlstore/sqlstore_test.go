package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
)

// openSQLite opens a fresh SQLite store in the test's temporary directory.
func openSQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresURL returns VCSAUTH_TEST_POSTGRES_URL or skips the test, saying why.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("VCSAUTH_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("VCSAUTH_TEST_POSTGRES_URL is not set; CI sets it (see .ci/run)")
	}
	return u
}

// freshPostgres creates a schema of its own for one test, so runs never collide, and
// returns a URL whose connections use it. The schema is dropped afterwards.
func freshPostgres(t testing.TB, migrate bool) *sqlstore.Store {
	t.Helper()
	base := postgresURL(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "vt_" + hex.EncodeToString(b[:])
	admin, err := sqlstore.Open(context.Background(), base, sqlstore.Options{Migrate: false, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.DB().Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := sqlstore.Open(context.Background(), base, sqlstore.Options{SkipSchemaCheck: true})
		if err == nil {
			a.DB().Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := sqlstore.Open(context.Background(), u.String(), sqlstore.Options{Migrate: migrate, SkipSchemaCheck: !migrate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openSQLite(t) })
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	postgresURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return freshPostgres(t, true) })
}
