package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for FreshURL's schema
)

// PostgresEnv names the variable that points tests at a PostgreSQL server. CI sets
// it; without it, PostgreSQL tests skip and say why.
const PostgresEnv = "VCSAUTH_TEST_POSTGRES_URL"

// PostgresURL returns $VCSAUTH_TEST_POSTGRES_URL or skips the test, saying why.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PostgresEnv)
	if u == "" {
		t.Skip(PostgresEnv + " is not set; CI sets it (see .ci/run)")
	}
	return u
}

// FreshURL returns the URL of a new, empty database of the dialect ("sqlite" or
// "postgres"), for sqlstore.Open: a file in the test's temporary directory, or a
// PostgreSQL schema of its own (search_path), dropped when the test ends, so
// parallel tests and runs never see one another's rows. Several stores opened on
// the URL share the database, as replicas do.
func FreshURL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "t.db")
	case "postgres":
	default:
		t.Fatalf("storetest: unknown dialect %q", dialect)
	}
	base := PostgresURL(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "vt_" + hex.EncodeToString(b[:])
	admin := func(stmt string) error {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = db.ExecContext(ctx, stmt)
		return err
	}
	if err := admin(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := admin(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Logf("storetest: drop schema %s: %v", schema, err)
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
