package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator speaks HTTP/1.1 itself over one keep-alive TCP connection per
// worker: requests are encoded once, written whole, and answers are read with
// net/http's parser. It is much cheaper per request than http.Client, which matters
// here: the generator shares the machine's cores with the server it measures, and
// whatever it spends is taken from both the baseline and vcsauth alike.

// header is one request header.
type header struct{ name, value string }

// encodeRequest builds the bytes of one request to host.
func encodeRequest(host, method, target string, hdr []header, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vcsauth-load\r\n", method, target, host)
	for _, h := range hdr {
		b.WriteString(h.name)
		b.WriteString(": ")
		b.WriteString(h.value)
		b.WriteString("\r\n")
	}
	if body != nil || method == http.MethodPost {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(body)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// conn is one keep-alive connection to addr, dialled on first use and again after
// the server closed it.
type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

func (c *conn) dial(ctx context.Context) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	c.c = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req and reads the answer. The body is returned when keepBody is set, and
// otherwise only its first bytes when the status is not want (for the error report).
func (c *conn) do(ctx context.Context, req []byte, want int, keepBody bool) (int, []byte, error) {
	if c.c == nil {
		if err := c.dial(ctx); err != nil {
			return 0, nil, err
		}
	}
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return 0, nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, nil, err
	}
	var body []byte
	if keepBody || resp.StatusCode != want {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	return resp.StatusCode, body, err
}

// load is one timed scenario: fixed connections, fixed duration.
type load struct {
	name string
	want int // the expected status
	// next returns worker w's next request; false when the scenario has run out of
	// input (single-use codes), which ends that worker early.
	next func(w int) ([]byte, bool)
	// seen, when set, receives the body of every expected answer (the refresh grant
	// follows its rotating chain with it). An error counts as a failed request.
	seen func(w int, body []byte) error
}

// loadResult is what run measured.
type loadResult struct {
	requests, errors int
	elapsed          time.Duration
	lat              []time.Duration
	firstErr         string
	exhausted        bool // the input ran out before the duration was over
}

// run drives l against addr with conns workers: warmup first (not measured: it
// dials, fills the server's pools and prepares its statements), then duration.
func run(ctx context.Context, addr string, conns int, warmup, duration time.Duration, l load) loadResult {
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(30*time.Second))
	defer cancel()

	type worker struct {
		lat      []time.Duration
		ok, errs int
		firstErr string
		stopped  time.Time
		out      bool
	}
	ws := make([]worker, conns)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Go(func() {
			w := &ws[i]
			w.lat = make([]time.Duration, 0, 4096)
			c := &conn{addr: addr}
			defer c.close()
			for {
				now := time.Now()
				if !now.Before(end) || ctx.Err() != nil {
					w.stopped = end
					return
				}
				req, ok := l.next(i)
				if !ok {
					w.stopped, w.out = now, true
					return
				}
				status, body, err := c.do(ctx, req, l.want, l.seen != nil)
				t1 := time.Now()
				if err == nil && status != l.want {
					err = fmt.Errorf("status %d: %s", status, snippet(body))
				}
				if err == nil && l.seen != nil {
					err = l.seen(i, body)
				}
				if now.Before(measureFrom) || t1.After(end) {
					if err != nil && errors.Is(err, errFatal) {
						w.firstErr, w.stopped = err.Error(), t1
						return
					}
					continue
				}
				if err != nil {
					w.errs++
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
					if errors.Is(err, errFatal) {
						w.stopped = t1
						return
					}
					continue
				}
				w.ok++
				w.lat = append(w.lat, t1.Sub(now))
			}
		})
	}
	wg.Wait()

	var r loadResult
	last := measureFrom
	for i := range ws {
		w := &ws[i]
		r.requests += w.ok
		r.errors += w.errs
		r.lat = append(r.lat, w.lat...)
		if r.firstErr == "" {
			r.firstErr = w.firstErr
		}
		if w.out {
			r.exhausted = true
		}
		if w.stopped.After(last) {
			last = w.stopped
		}
	}
	if last.After(end) {
		last = end
	}
	r.elapsed = last.Sub(measureFrom)
	return r
}

// errFatal marks an error after which a worker cannot go on (a broken refresh chain).
var errFatal = errors.New("cannot continue")

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// stormResult is what one burst of simultaneous callers saw.
type stormResult struct {
	callers, ok, errors int
	lat                 []time.Duration
	firstErr            string
}

// storm opens n connections to addr (each proven with one request of warm), waits
// until all are ready, then has every one send req at the same moment, and measures
// each caller's time to its answer.
func storm(ctx context.Context, addr string, n int, warm, req []byte, want int) (stormResult, error) {
	conns := make([]*conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	// Dial and warm with bounded parallelism: a thousand dials at once would only
	// measure the accept queue.
	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, 64)
		warmErr atomic.Value
	)
	for i := range conns {
		conns[i] = &conn{addr: addr}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if st, body, err := conns[i].do(ctx, warm, http.StatusOK, false); err != nil || st != http.StatusOK {
				warmErr.CompareAndSwap(nil, fmt.Sprintf("warm-up: %d %v %s", st, err, snippet(body)))
			}
		})
	}
	wg.Wait()
	if v := warmErr.Load(); v != nil {
		return stormResult{}, errors.New(v.(string))
	}
	var (
		ready, go_ sync.WaitGroup
		gate       = make(chan struct{})
		mu         sync.Mutex
		r          = stormResult{callers: n}
	)
	ready.Add(n)
	for i := range conns {
		go_.Go(func() {
			ready.Done()
			<-gate
			t0 := time.Now()
			st, body, err := conns[i].do(ctx, req, want, false)
			d := time.Since(t0)
			if err == nil && st != want {
				err = fmt.Errorf("status %d: %s", st, snippet(body))
			}
			mu.Lock()
			defer mu.Unlock()
			r.lat = append(r.lat, d)
			if err != nil {
				r.errors++
				if r.firstErr == "" {
					r.firstErr = err.Error()
				}
				return
			}
			r.ok++
		})
	}
	ready.Wait()
	time.Sleep(50 * time.Millisecond) // let every goroutine park on the gate
	close(gate)
	go_.Wait()
	return r, nil
}
