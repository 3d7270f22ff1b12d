// Package sqlstore is the one implementation of store.Store, over database/sql, for
// SQLite (modernc.org/sqlite, pure Go) and PostgreSQL (pgx). The SQL text is shared:
// both databases take $1-style placeholders and RETURNING; what differs (DDL, row
// locks, error codes) sits in the dialect value and in the per-dialect migrations.
//
// Column conventions, the same in both databases: times are BIGINT microseconds since
// the Unix epoch in UTC, NULL for the zero time; lists are JSON text; hashes are
// BLOB/BYTEA; booleans are 0/1 in SQLite and BOOLEAN in PostgreSQL.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Store is the database/sql store.
type Store struct {
	db *sql.DB
	d  dialect

	// stmts holds the prepared statements of hot queries (see hotRow), by query
	// text: query string → *sql.Stmt. prepMu serialises the first preparation of
	// each, so a burst of first requests prepares it once.
	stmts  sync.Map
	prepMu sync.Mutex
}

var _ store.Store = (*Store)(nil)

// dialect is everything that differs between the two databases, in one place.
type dialect struct {
	name string // "sqlite" or "postgres"
	// forUpdate is appended to the SELECT of a read-modify-write. SQLite needs none:
	// its transactions begin IMMEDIATE, which takes the write lock up front.
	forUpdate string
}

var (
	sqliteDialect   = dialect{name: "sqlite"}
	postgresDialect = dialect{name: "postgres", forUpdate: " FOR UPDATE"}
)

// Options tune Open.
type Options struct {
	// DataDir holds the SQLite file when the URL is empty.
	DataDir string
	// Migrate applies pending migrations on open (serve, admin commands). When false,
	// Open fails if the schema is not current.
	Migrate bool
	// SkipSchemaCheck opens a database whatever its schema version (tests, and
	// tools that inspect old databases).
	SkipSchemaCheck bool
	// MaxConns caps the connection pool; 0 means 16 for SQLite and 32 for
	// PostgreSQL. Tests keep it small so parallel tests fit in max_connections.
	MaxConns int
}

// Open connects to the database named by rawURL: "" (SQLite file vcsauth.db in
// DataDir), "sqlite:///abs/path.db", "sqlite://relative/path.db", or
// "postgres://…" / "postgresql://…". It checks that the database answers and, with
// opts.Migrate, brings its schema up to date. Errors are one clear line and never
// contain a password.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	s, err := open(ctx, rawURL, opts.DataDir)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns > 0 {
		s.db.SetMaxOpenConns(opts.MaxConns)
		s.db.SetMaxIdleConns(opts.MaxConns)
	}
	switch {
	case opts.Migrate:
		err = s.Migrate(ctx)
	case !opts.SkipSchemaCheck:
		err = s.checkSchema(ctx)
	}
	if err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, rawURL, dataDir string) (*Store, error) {
	switch {
	case rawURL == "":
		if dataDir == "" {
			return nil, errors.New("database: no URL and no data directory")
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("database: data directory: %w", err)
		}
		return openSQLite(ctx, filepath.Join(dataDir, "vcsauth.db"))
	case strings.HasPrefix(rawURL, "sqlite://"):
		p := strings.TrimPrefix(rawURL, "sqlite://")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if p == "" {
			return nil, errors.New("database: sqlite URL names no file (want sqlite:///path/to/file.db)")
		}
		if dir := filepath.Dir(p); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("database: %w", err)
			}
		}
		return openSQLite(ctx, p)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return openPostgres(ctx, rawURL)
	default:
		return nil, fmt.Errorf("database: unsupported URL %q (want empty, sqlite:///path or postgres://…)", redact(rawURL))
	}
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	// IMMEDIATE: every transaction takes the write lock when it begins, so a
	// read-modify-write cannot lose an update and never fails half-way with BUSY.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("database: sqlite %s: %w", path, err)
	}
	// WAL lets readers run beside one writer; writers queue on busy_timeout.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: cannot open sqlite file %s: %w", path, err)
	}
	return &Store{db: db, d: sqliteDialect}, nil
}

func openPostgres(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database: malformed PostgreSQL URL %q", redact(rawURL))
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
	}
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("database: PostgreSQL %s: %w", redact(rawURL), scrub(err, u))
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: cannot reach PostgreSQL at %s: %w", redact(rawURL), scrub(err, u))
	}
	return &Store{db: db, d: postgresDialect}, nil
}

// redact hides the password of a database URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			return "…@" + raw[i+1:]
		}
		return raw
	}
	return u.Redacted()
}

// scrub makes a driver error fit one line (pgx puts details on indented
// continuation lines) and removes the URL's password, which it may quote.
func scrub(err error, u *url.URL) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// Dialect names the database: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// DB exposes the pool to tests and tools of this package tree.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the prepared statements and the pool.
func (s *Store) Close() error {
	s.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		s.stmts.Delete(k)
		return true
	})
	return s.db.Close()
}

// Hot queries: the few that run on every request (a token check, a client lookup,
// a credential lookup) go through prepared statements. modernc's SQLite parses and
// plans the SQL text of every unprepared query again, which costs more than running
// it: a prepared LookupToken is several times faster (see BenchmarkLookupToken).
// database/sql prepares a *sql.Stmt lazily on each pooled connection it runs on and
// re-prepares on connections opened later, so one Stmt per query text serves the
// whole pool. pgx caches statements per connection by itself; the Stmt changes
// little there but costs nothing either. Queries whose text varies (lists with
// LIMIT, IN lists) must not come here: each text would be a statement kept forever.

// prepared returns the prepared statement of query, preparing it on first use.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts.Store(query, st)
	return st, nil
}

// hotRow is QueryRowContext through the prepared statement of query. A query that
// cannot be prepared (the schema is not there yet, ctx ended) runs unprepared, so the
// caller sees the error the query itself gives, with the usual mapping.
func (s *Store) hotRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return s.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// hotQuery is QueryContext through the prepared statement of query (see hotRow).
func (s *Store) hotQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return s.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// Ping checks that the database answers and the schema is current.
func (s *Store) Ping(ctx context.Context) error { return s.checkSchema(ctx) }

// tx runs fn in a transaction, committing if it returns nil. A panic in fn rolls
// back before it goes on up, so the write lock (SQLite) or row locks are released.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.mapErr(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// mapErr turns driver errors into the core's sentinels: no rows → ErrNotFound,
// unique violation → ErrConflict. Foreign-key violations mean a referenced object is
// missing: ErrNotFound too.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w", core.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", core.ErrConflict, se.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: referenced object: %s", core.ErrNotFound, se.Error())
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%w: %s", core.ErrConflict, pe.ConstraintName)
		case "23503":
			return fmt.Errorf("%w: referenced object: %s", core.ErrNotFound, pe.ConstraintName)
		}
	}
	return err
}

// affected returns ErrNotFound when an UPDATE or DELETE touched no row.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}
