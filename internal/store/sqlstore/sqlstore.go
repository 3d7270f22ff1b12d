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
	containerlist "container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
)

// Store is the database/sql store.
type Store struct {
	db    *sql.DB
	d     dialect
	pgURL string // PostgreSQL's connection URL, for the listener

	// stmts holds the prepared statements of hot queries (see hotRow), by query
	// text: query string → *sql.Stmt. prepMu serialises the first preparation of
	// each, so a burst of first requests prepares it once.
	stmts  sync.Map
	prepMu sync.Mutex

	// tokens, apps and conns answer LookupToken, ApplicationByClientID and
	// UsableConnections from memory for a short while (cache.go,
	// usable_cache.go); nil when off. On PostgreSQL, listener evicts what other
	// replicas change (notify.go).
	tokens   *tokenCache
	apps     *appCache
	conns    *usableCache
	listener *listener
	// usable coalesces concurrent UsableConnections calls for one person.
	usable coalescer[[]store.UsableConnection]
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
	// CacheTTL lets LookupToken, ApplicationByClientID and UsableConnections
	// answer from memory for at most this long (see cache.go): the bound within
	// which a change made by another process reaches this one when nothing tells
	// it sooner (on PostgreSQL, notifications do: notify.go). 0 turns the caches
	// off.
	CacheTTL time.Duration
	// CacheSize caps the entries of each cache (the credential cache: the
	// connections it holds); 0 means 8,192.
	CacheSize int
	// Now is the caches' clock (tests); time.Now when nil.
	Now func() time.Time
	// Logger receives the cache listener's connection losses (PostgreSQL);
	// slog.Default() when nil.
	Logger *slog.Logger
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
	s.tokens = newTokenCache(opts.CacheTTL, opts.CacheSize, opts.Now)
	s.apps = newAppCache(opts.CacheTTL, opts.CacheSize, opts.Now)
	s.conns = newUsableCache(opts.CacheTTL, opts.CacheSize, opts.Now)
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
	if s.d.name == postgresDialect.name && opts.CacheTTL > 0 {
		s.listener = startListener(s.pgURL, s, opts.Logger)
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
		return nil, fmt.Errorf("database: unsupported URL %q (want empty, sqlite:///path or postgres://…)", secret.RedactURL(rawURL))
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
	conn, err := sqlite.NewConnector("file:" + path + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("database: sqlite %s: %w", path, err)
	}
	db := sql.OpenDB(stmtCachingConnector{Connector: conn, gate: make(writeGate, 1)})
	// WAL lets readers run beside one writer; this process's writers queue on the
	// write gate (see writeGate), other processes' on busy_timeout.
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
		return nil, fmt.Errorf("database: malformed PostgreSQL URL %q", secret.RedactURL(rawURL))
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
	}
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("database: PostgreSQL %s: %w", secret.RedactURL(rawURL), scrub(err, u))
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: cannot reach PostgreSQL at %s: %w", secret.RedactURL(rawURL), scrub(err, u))
	}
	return &Store{db: db, d: postgresDialect, pgURL: u.String()}, nil
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
	s.listener.stop()
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

// ---- SQLite connections: statement cache and write queue ----------------------------
//
// modernc's SQLite parses and plans the text of every query it is given unprepared,
// and that costs more than running it: an UPDATE of a token spends about 60% of its
// time in the parser, LookupToken about 75% (see BenchmarkLookupToken). Every SQLite
// connection therefore keeps its most recently used statements prepared, keyed by
// their text, and runs each query through one when it can: the SQL stays as it is
// written at each call site, and every query gains, in transactions too. pgx keeps a
// statement cache of its own per connection, so PostgreSQL needs none of this.

// stmtCacheSize bounds the statements one connection keeps prepared. The store has
// about a hundred distinct query texts; the hot ones stay, texts that vary (pages,
// IN lists) come and go.
const stmtCacheSize = 96

// stmtCachingConnector opens SQLite connections that keep their statements prepared
// and queue their writes on gate.
type stmtCachingConnector struct {
	driver.Connector
	gate writeGate
}

func (c stmtCachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(sqliteConn)
	if !ok {
		return dc, nil // not what this cache was written for: run without it
	}
	return &cachingConn{sqliteConn: sc, stmts: map[string]*containerlist.Element{}, lru: containerlist.New(), gate: c.gate}, nil
}

// sqliteConn is what modernc's connections implement and database/sql looks for; a
// cachingConn forwards all of it.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachedStmt is a prepared statement of a connection. busy is set while rows of it
// are open: a statement runs one query at a time, so a query with the same text that
// comes meanwhile (in a transaction, while the rows of the first are being read) runs
// unprepared. database/sql never uses a connection from two goroutines at once, so
// none of this needs a lock.
type cachedStmt struct {
	query   string
	st      sqliteStmt
	busy    bool
	evicted bool // closed when its rows close
}

type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type cachingConn struct {
	sqliteConn
	stmts map[string]*containerlist.Element // query → element of lru holding its *cachedStmt
	lru   *containerlist.List               // most recently used first
	gate  writeGate
	inTx  bool   // a transaction is open: it holds the gate already
	endTx func() // gives the transaction's gate back, once
}

// stmt returns the prepared statement of query, preparing it if need be, or nil
// when it is in use or cannot be prepared (the query then runs unprepared and
// reports its own error).
func (c *cachingConn) stmt(ctx context.Context, query string) *cachedStmt {
	if e, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(e)
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil
		}
		return cs
	}
	ds, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	st, ok := ds.(sqliteStmt)
	if !ok {
		ds.Close()
		return nil
	}
	cs := &cachedStmt{query: query, st: st}
	c.stmts[query] = c.lru.PushFront(cs)
	for c.lru.Len() > stmtCacheSize {
		c.evict(c.lru.Back())
	}
	return cs
}

func (c *cachingConn) evict(e *containerlist.Element) {
	cs := e.Value.(*cachedStmt)
	c.lru.Remove(e)
	delete(c.stmts, cs.query)
	cs.evicted = true
	if !cs.busy {
		cs.st.Close()
	}
}

// dropAfterError forgets a statement whose run failed: a rare event (a constraint,
// a cancelled context, a schema change), after which a fresh statement is the
// safest course.
func (c *cachingConn) dropAfterError(cs *cachedStmt) {
	if e, ok := c.stmts[cs.query]; ok && e.Value == cs {
		c.evict(e)
	}
}

// SQLite lets one connection write at a time. When another holds the lock, a writer
// is put to sleep by the busy handler for 1, 2, 5, 10, 15, 20, 25 … ms before it tries
// again, however soon the lock is free: under concurrent writes (every code exchange
// and refresh writes) most of the time goes to sleeping, and who gets the lock next
// is a lottery, so the slowest requests wait hundreds of milliseconds. Instead, the
// writes of this process queue on gate, first come first served: a transaction (they
// all begin IMMEDIATE, that is as writers) holds it from BEGIN to COMMIT, a statement
// that writes outside one for as long as it runs. The busy handler is left for other
// processes (admin commands). Reads do not queue: WAL lets them run beside the writer.
//
// A writer that cannot have the gate within busyWait goes on without it, into the
// busy handler as before: code that writes on a second connection while its own
// transaction holds the gate fails after the busy timeout as it always did, rather
// than waiting forever.

// writeGate is a lock with a timeout: a channel with room for one.
type writeGate chan struct{}

// busyWait is how long a writer queues on the gate: the busy_timeout.
const busyWait = 10 * time.Second

// enter takes the gate and returns what gives it back; after busyWait, or once ctx
// ends, it returns without it (and what it returns does nothing).
func (g writeGate) enter(ctx context.Context) (release func()) {
	select {
	case g <- struct{}{}:
		return g.leave
	default:
	}
	t := time.NewTimer(busyWait)
	defer t.Stop()
	select {
	case g <- struct{}{}:
		return g.leave
	case <-ctx.Done():
	case <-t.C:
	}
	return func() {}
}

func (g writeGate) leave() { <-g }

// writes reports whether a statement run as a query writes: an INSERT, UPDATE,
// DELETE or REPLACE with RETURNING. (Taking the gate for a read would only make it
// wait; missing a write would only leave it to the busy handler.)
func writes(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	if len(q) < 6 {
		return false
	}
	switch strings.ToUpper(q[:6]) {
	case "INSERT", "UPDATE", "DELETE", "REPLAC":
		return true
	}
	return false
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	release := c.gate.enter(ctx)
	tx, err := c.sqliteConn.BeginTx(ctx, opts)
	if err != nil {
		release()
		return nil, err
	}
	c.inTx = true
	c.endTx = func() {
		if c.inTx {
			c.inTx = false
			release()
		}
	}
	return &gatedTx{Tx: tx, done: c.endTx}, nil
}

// gatedTx gives the gate back when the transaction ends.
type gatedTx struct {
	driver.Tx
	done func()
}

func (t *gatedTx) Commit() error {
	defer t.done()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.done()
	return t.Tx.Rollback()
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !c.inTx {
		defer c.gate.enter(ctx)()
	}
	cs := c.stmt(ctx, query)
	if cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	res, err := cs.st.ExecContext(ctx, args)
	if err != nil {
		c.dropAfterError(cs)
	}
	return res, err
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	release := func() {}
	if !c.inTx && writes(query) {
		release = c.gate.enter(ctx) // until the rows close: the statement runs until then
	}
	cs := c.stmt(ctx, query)
	var (
		rows driver.Rows
		err  error
	)
	if cs == nil {
		rows, err = c.sqliteConn.QueryContext(ctx, query, args)
	} else if rows, err = cs.st.QueryContext(ctx, args); err != nil {
		c.dropAfterError(cs)
	}
	if err != nil {
		release()
		return nil, err
	}
	sr, ok := rows.(sqliteRows)
	if !ok {
		// Never expected of modernc; then nothing is cached or queued any more.
		release()
		if cs != nil {
			c.dropAfterError(cs)
		}
		return rows, nil
	}
	if cs != nil {
		cs.busy = true
	}
	return &cachedRows{sqliteRows: sr, conn: c, cs: cs, release: release}, nil
}

// Close finalizes the connection's statements, then closes it. A transaction still
// open dies with the connection (SQLite rolls it back): its gate is given back.
func (c *cachingConn) Close() error {
	if c.inTx {
		c.endTx()
	}
	for e := c.lru.Front(); e != nil; e = e.Next() {
		cs := e.Value.(*cachedStmt)
		cs.evicted = true
		if !cs.busy {
			cs.st.Close()
		}
	}
	c.stmts, c.lru = nil, containerlist.New()
	return c.sqliteConn.Close()
}

// sqliteRows is what modernc's rows implement (ColumnTypes uses the rest).
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// cachedRows are the rows of a query; closing them (which resets or finalizes the
// statement) frees its cached statement, if it had one, for the next query, and
// gives back the gate, if it held it.
type cachedRows struct {
	sqliteRows
	conn    *cachingConn
	cs      *cachedStmt // nil: an unprepared query
	release func()
	closed  bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.sqliteRows.Close()
	r.release()
	if r.cs == nil {
		return err
	}
	r.cs.busy = false
	switch {
	case r.cs.evicted:
		r.cs.st.Close()
	case err != nil:
		r.conn.dropAfterError(r.cs)
	}
	return err
}
