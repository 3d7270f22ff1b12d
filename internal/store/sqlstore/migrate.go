package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are numbered, forward-only and embedded, one folder per dialect with the
// same numbers in both. Each runs in its own transaction together with the row that
// records it, so a failure leaves the database at the previous version, never half-way.
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrationLockID is an arbitrary constant for pg_advisory_xact_lock, so two replicas
// starting at once apply each migration exactly once.
const migrationLockID = 0x76637361 // "vcsa"

func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and _", name)
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(name, ".sql"), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must be 1, 2, 3, … without gaps", m.name)
		}
	}
	return ms, nil
}

// LatestVersion is the version the embedded migrations bring a database to.
func (s *Store) LatestVersion() int {
	ms, _ := loadMigrations(s.d.name)
	return len(ms)
}

// SchemaVersion returns the version the database is at (0 when empty).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	var q string
	if s.d.name == "sqlite" {
		q = `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	} else {
		q = `SELECT to_regclass('schema_migrations') IS NOT NULL`
	}
	if err := s.db.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return 0, fmt.Errorf("database: reading schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("database: reading schema version: %w", err)
	}
	return int(v.Int64), nil
}

// Migrate applies every pending migration.
func (s *Store) Migrate(ctx context.Context) error { return s.MigrateTo(ctx, -1) }

// MigrateTo applies pending migrations up to and including version (-1: all). Tests
// use it to build a database of an older version, fill it, then upgrade it.
func (s *Store) MigrateTo(ctx context.Context, version int) error {
	ms, err := loadMigrations(s.d.name)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	for _, m := range ms {
		if version >= 0 && m.version > version {
			break
		}
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("database: migration %s: %w", m.name, err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.name == "postgres" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil // applied already, perhaps by another process a moment ago
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, time.Now().UnixMicro())
		return err
	})
}

// checkSchema fails unless the database is at the latest version.
func (s *Store) checkSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if latest := s.LatestVersion(); v != latest {
		if v > latest {
			return fmt.Errorf("database: schema version %d is newer than this binary knows (%d); upgrade vcsauth", v, latest)
		}
		return fmt.Errorf("database: schema version %d, want %d; run `vcsauth migrate`", v, latest)
	}
	return nil
}
