package sqlstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every answer comes from a run that began after its caller called, and a burst
// shares few runs.
func TestCoalescerFreshAndShared(t *testing.T) {
	var g coalescer[int64]
	var started, runs atomic.Int64
	read := func(context.Context) (int64, error) {
		runs.Add(1)
		n := started.Add(1) // this run's number
		time.Sleep(2 * time.Millisecond)
		return n, nil
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			time.Sleep(time.Duration(i%20) * 250 * time.Microsecond)
			before := started.Load() // runs that began before this call
			got, err := g.do(context.Background(), "k", read)
			if err != nil {
				t.Error(err)
				return
			}
			if got <= before {
				t.Errorf("answer of run %d, which began before the call (%d runs had)", got, before)
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n > 20 {
		t.Errorf("200 callers over ~5 ms made %d runs of a 2 ms read", n)
	}
	// The last run forgets the key just after answering.
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		n := len(g.flights)
		g.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys left behind", n)
		}
	}
}

// A caller whose context ends stops waiting; the others get the answer; a panic
// becomes an error.
func TestCoalescerCancelAndPanic(t *testing.T) {
	var g coalescer[string]
	release := make(chan struct{})
	slow := func(context.Context) (string, error) { <-release; return "ok", nil }
	first := make(chan error, 1)
	go func() { _, err := g.do(context.Background(), "k", slow); first <- err }()
	for {
		g.mu.Lock()
		running := g.flights["k"] != nil && g.flights["k"].running != nil
		g.mu.Unlock()
		if running {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() { _, err := g.do(ctx, "k", slow); cancelled <- err }()
	waiting := make(chan string, 1)
	go func() { v, _ := g.do(context.Background(), "k", slow); waiting <- v }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if v := <-waiting; v != "ok" {
		t.Fatalf("queued caller got %q", v)
	}

	_, err := g.do(context.Background(), "p", func(context.Context) (string, error) { panic("boom") })
	if err == nil {
		t.Fatal("a panic in the read was no error")
	}
}
