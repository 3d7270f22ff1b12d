package akskauth

import (
	"context"
	"sync"
	"time"
)

// ReplayGuard remembers the signatures of state-changing requests while they could
// still be accepted. An implementation shared by replicas (a table with a unique key)
// makes the refusal hold across them; see the package comment.
type ReplayGuard interface {
	// Seen records key until expires and reports whether it was recorded already
	// and has not expired at now.
	Seen(ctx context.Context, key string, expires, now time.Time) (bool, error)
}

// DefaultReplayEntries bounds the memory guard: at the longest window that is more
// than a hundred signed changes a second, kept for their whole window.
const DefaultReplayEntries = 100_000

// MemoryGuard is a ReplayGuard for one process.
type MemoryGuard struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time
	order []memoryEntry // insertion order, to expire and evict the oldest first
}

type memoryEntry struct {
	key     string
	expires time.Time
}

// NewMemoryGuard returns a guard that holds at most max signatures (0 or less:
// DefaultReplayEntries). When it is full of live ones, it forgets the oldest.
func NewMemoryGuard(max int) *MemoryGuard {
	if max <= 0 {
		max = DefaultReplayEntries
	}
	return &MemoryGuard{max: max, seen: map[string]time.Time{}}
}

// Seen implements ReplayGuard.
func (g *MemoryGuard) Seen(_ context.Context, key string, expires, now time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if exp, ok := g.seen[key]; ok && now.Before(exp) {
		return true, nil
	}
	g.prune(now)
	for len(g.seen) >= g.max && len(g.order) > 0 {
		g.drop()
	}
	g.seen[key] = expires
	g.order = append(g.order, memoryEntry{key, expires})
	return false, nil
}

// prune forgets the expired entries at the front of the queue. Entries expire in
// about the order they arrive (each lives the window past its own signing time),
// so what remains behind a live one is dropped in a later call, or by eviction.
func (g *MemoryGuard) prune(now time.Time) {
	for len(g.order) > 0 && !now.Before(g.order[0].expires) {
		g.drop()
	}
	if len(g.order) == 0 {
		g.order = nil // release the array that the slicing kept
	}
}

func (g *MemoryGuard) drop() {
	e := g.order[0]
	g.order = g.order[1:]
	if exp, ok := g.seen[e.key]; ok && exp.Equal(e.expires) {
		delete(g.seen, e.key)
	}
}

// Len is the number of signatures held.
func (g *MemoryGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}
