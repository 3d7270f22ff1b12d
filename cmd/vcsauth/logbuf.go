package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logBuffer batches the server's log output. The access log writes a line per
// request, and one write(2) per line cost about 8% of the server's CPU under load
// (BENCHMARKS.md); batched, lines still reach stderr within the flush interval, and
// all of them on Close. A crash may lose at most that interval's lines; audit events
// are in the database, not here.
type logBuffer struct {
	mu   sync.Mutex
	bw   *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// newLogBuffer buffers writes to w and flushes them every interval.
func newLogBuffer(w io.Writer, every time.Duration) *logBuffer {
	b := &logBuffer{bw: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.Flush()
			}
		}
	}()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bw.Write(p)
}

// Flush writes out what is buffered.
func (b *logBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bw.Flush()
}

// Close stops the periodic flush and writes out the rest.
func (b *logBuffer) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}
