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

// postgresURL returns VCSAUTH_TEST_POSTGRES_URL or skips the test, saying why.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("VCSAUTH_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("VCSAUTH_TEST_POSTGRES_URL is not set; CI sets it (see .ci/run)")
	}
	return u
}

// freshURL returns the URL of a new, empty database of the dialect ("sqlite" or
// "postgres"): a file in the test's directory, or a PostgreSQL schema of its own,
// dropped afterwards, so runs never collide.
func freshURL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == "sqlite" {
		return "sqlite://" + filepath.Join(t.TempDir(), "t.db")
	}
	base := postgresURL(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "vt_" + hex.EncodeToString(b[:])
	admin := openURL(t, base, sqlstore.Options{SkipSchemaCheck: true, MaxConns: 1})
	if _, err := admin.DB().Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sqlstore.Open(context.Background(), base, sqlstore.Options{SkipSchemaCheck: true, MaxConns: 1}); err == nil {
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
	return u.String()
}

// openURL opens a store for the test's lifetime. Pools are small (6 unless set) so
// parallel tests stay within PostgreSQL's max_connections.
func openURL(t testing.TB, rawURL string, opts sqlstore.Options) *sqlstore.Store {
	t.Helper()
	if opts.MaxConns == 0 {
		opts.MaxConns = 6
	}
	s, err := sqlstore.Open(context.Background(), rawURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openSQLite opens a fresh, migrated SQLite store.
func openSQLite(t testing.TB) *sqlstore.Store {
	return openURL(t, freshURL(t, "sqlite"), sqlstore.Options{Migrate: true})
}

// freshPostgres opens a store on a fresh PostgreSQL schema, migrated or empty.
func freshPostgres(t testing.TB, migrate bool) *sqlstore.Store {
	return openURL(t, freshURL(t, "postgres"), sqlstore.Options{Migrate: migrate, SkipSchemaCheck: !migrate})
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
