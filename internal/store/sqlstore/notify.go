package sqlstore

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// On PostgreSQL, several replicas share the database, and each keeps the caches of
// cache.go. Triggers (migration 0006) send a notification on the channel
// notifyChannel for every row change a cached answer may depend on, naming what
// to evict:
//
//	t:<token id>        a token was updated or deleted (revoked, rotated, cascaded)
//	u:<user id>         a person was updated or deleted, or their memberships changed
//	o:<organization id> one of its connections or OAuth clients changed
//	a:<application id>  an OAuth application was updated or deleted
//
// Notifications are delivered when the writing transaction commits, so every
// replica evicts a changed row within milliseconds of the change, whichever
// process made it (another replica, an admin command, an operator's SQL). The TTL
// still caps every entry: it is the bound if notifications lag.
//
// Each Store listens on a connection of its own. While it has none (before the
// first LISTEN, and from the moment one fails until LISTEN succeeds again) the
// caches are suspended: they answer nothing and store nothing, so a change whose
// notification was missed cannot be served from memory. A lost connection is
// retried with a growing pause, up to listenRetryMax.
const notifyChannel = "vcsauth_cache"

const listenRetryMax = 5 * time.Second

type listener struct {
	cancel context.CancelFunc
	done   chan struct{}
	up     atomic.Bool  // listening: the caches are in use
	pid    atomic.Int32 // the listening connection's backend (tests)
}

// listenerAppName names the listening connection in pg_stat_activity.
const listenerAppName = "vcsauth cache listener"

// startListener suspends the caches and starts listening for the store.
func startListener(pgURL string, s *Store, log *slog.Logger) *listener {
	if log == nil {
		log = slog.Default()
	}
	s.resetCaches(switchOff)
	if u, err := url.Parse(pgURL); err == nil {
		q := u.Query()
		q.Set("application_name", listenerAppName)
		u.RawQuery = q.Encode()
		pgURL = u.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{cancel: cancel, done: make(chan struct{})}
	go l.run(ctx, pgURL, s, log)
	return l
}

// stop ends the listening and waits for it.
func (l *listener) stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}

func (l *listener) run(ctx context.Context, pgURL string, s *Store, log *slog.Logger) {
	defer close(l.done)
	pause := 100 * time.Millisecond
	for {
		started := time.Now()
		err := l.listen(ctx, pgURL, s)
		l.up.Store(false)
		s.resetCaches(switchOff)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > listenRetryMax {
			pause = 100 * time.Millisecond // it had been up: start the pauses over
		}
		u, _ := url.Parse(pgURL)
		log.Warn("sqlstore: cache notifications lost; caches off until they are back",
			"err", scrub(err, u).Error(), "retry_in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, listenRetryMax)
	}
}

// listen connects, LISTENs, resumes the caches and evicts what each notification
// names, until the connection fails or ctx ends.
func (l *listener) listen(ctx context.Context, pgURL string, s *Store) error {
	cfg, err := pgx.ParseConfig(pgURL)
	if err != nil {
		return err
	}
	// The connection is idle between notifications: TCP keepalive probes are what
	// find a peer that went away without closing it (a partition, a failover), in
	// about 30 s rather than the kernel's two hours. Until then the TTL bounds
	// what the caches may miss.
	d := &net.Dialer{Timeout: 10 * time.Second,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	l.pid.Store(int32(conn.PgConn().PID()))
	s.resetCaches(switchOn)
	l.up.Store(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		s.evictNotified(n.Payload)
	}
}

// evictNotified evicts what one notification names. A payload it does not know
// (from a newer version's triggers) empties the caches: evicting more is safe.
func (s *Store) evictNotified(payload string) {
	kind, key, _ := strings.Cut(payload, ":")
	switch kind {
	case "t":
		if id, err := strconv.ParseInt(key, 10, 64); err == nil {
			s.tokens.evictIDs(id)
			return
		}
	case "u":
		evictUser(s.tokens, key)
		s.conns.evictUsers(key)
		return
	case "o":
		s.conns.evictOrgs(key)
		return
	case "a":
		if id, err := strconv.ParseInt(key, 10, 64); err == nil {
			s.apps.evictIDs(id)
			return
		}
	}
	s.resetCaches(keepSwitch)
}

// resetCaches empties every cache and sets their switch: off while the store
// cannot hear other replicas' changes, on again once it can.
func (s *Store) resetCaches(sw cacheSwitch) {
	s.tokens.reset(sw)
	s.apps.reset(sw)
	s.conns.reset(sw)
}
