package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// coalescer lets concurrent callers of one read share its execution without ever
// getting an answer older than their call: a caller who arrives while the read
// for its key runs does not join that read (it may have started before a write the
// caller has seen), it waits for it to end and joins the next one, which all the
// callers that arrived meanwhile share. So a burst of n identical reads (a CI
// fan-out of one person's jobs, a thousand git processes after a refresh) costs
// about one read per read's duration instead of n, and every answer comes from a
// read that began after its caller asked: nothing is cached.
//
// A read runs detached from its callers' contexts (one caller's cancellation must
// not fail the others) but bounded by coalescedReadTimeout, so a hung read cannot
// hold a key forever. A caller whose context ends stops waiting, except the one
// that found no read running: it runs the read itself, on its own goroutine (no
// handoff on the common, uncontended path), and returns when the read does.
type coalescer[V any] struct {
	mu      sync.Mutex
	flights map[string]*flight[V]
}

// flight is one key's read in progress and the one queued behind it.
type flight[V any] struct {
	running, next *call[V]
}

// coalescedReadTimeout bounds one shared read.
const coalescedReadTimeout = 30 * time.Second

type call[V any] struct {
	ctx  context.Context // the caller's who made the call, less its cancellation
	fn   func(context.Context) (V, error)
	done chan struct{}
	v    V
	err  error
}

// do returns fn's answer from a run that started after do was called.
func (g *coalescer[V]) do(ctx context.Context, key string, fn func(context.Context) (V, error)) (V, error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = map[string]*flight[V]{}
	}
	f := g.flights[key]
	if f == nil {
		f = &flight[V]{}
		g.flights[key] = f
	}
	var c *call[V]
	switch {
	case f.running == nil:
		c = &call[V]{ctx: context.WithoutCancel(ctx), fn: fn, done: make(chan struct{})}
		f.running = c
		g.mu.Unlock()
		g.run(key, f, c)
	case f.next == nil:
		c = &call[V]{ctx: context.WithoutCancel(ctx), fn: fn, done: make(chan struct{})}
		f.next = c
		g.mu.Unlock()
	default:
		c = f.next
		g.mu.Unlock()
	}
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// run runs c, then starts the call queued behind it, if any, or forgets the key. A
// panic in fn becomes c's error: the queued calls run on goroutines of their own,
// where nothing would recover it.
func (g *coalescer[V]) run(key string, f *flight[V], c *call[V]) {
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.err = fmt.Errorf("sqlstore: panic in a coalesced read: %v", p)
			}
		}()
		ctx, cancel := context.WithTimeout(c.ctx, coalescedReadTimeout)
		defer cancel()
		c.v, c.err = c.fn(ctx)
	}()
	close(c.done)
	g.mu.Lock()
	next := f.next
	f.running, f.next = next, nil
	if next == nil {
		delete(g.flights, key)
	}
	g.mu.Unlock()
	if next != nil {
		go g.run(key, f, next)
	}
}
