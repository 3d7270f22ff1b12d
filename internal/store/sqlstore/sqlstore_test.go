package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"github.com/vcsauth/vcsauth/internal/store/storetest"
)

// postgresURL and freshURL are storetest's, shared with every package that tests
// against a real database.
func postgresURL(t testing.TB) string { return storetest.PostgresURL(t) }

func freshURL(t testing.TB, dialect string) string { return storetest.FreshURL(t, dialect) }

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

// The conformance suite again with the token cache on and an hour's TTL: a change
// any method forgets to evict shows up as a stale LookupToken.
func TestConformanceSQLiteCached(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openURL(t, freshURL(t, "sqlite"), sqlstore.Options{Migrate: true, CacheTTL: time.Hour})
	})
}

func TestConformancePostgresCached(t *testing.T) {
	t.Parallel()
	postgresURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openURL(t, freshURL(t, "postgres"), sqlstore.Options{Migrate: true, CacheTTL: time.Hour})
	})
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	postgresURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return freshPostgres(t, true) })
}
