package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// moduleRoot is the directory of the go.mod the harness runs in.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run the harness from the vcsauth repository")
	}
	return filepath.Dir(mod), nil
}

// buildVcsauth builds ./cmd/vcsauth into dir, as a release would be built.
func buildVcsauth(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "vcsauth")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/vcsauth")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/vcsauth: %w\n%s", err, stderr.String())
	}
	return bin, nil
}

// instance is where one vcsauth's data lives, and how its commands reach it.
type instance struct {
	bin      string
	dataDir  string
	database string   // "" for SQLite in dataDir
	env      []string // the process environment plus VCSAUTH_SECRET_KEYS
}

// storeArgs are the flags every command that touches data takes.
func (in *instance) storeArgs() []string {
	args := []string{"--data-dir", in.dataDir}
	if in.database != "" {
		args = append(args, "--database", in.database)
	}
	return args
}

// command runs `vcsauth args… storeArgs…` and returns its standard output.
func (in *instance) command(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, in.bin, append(args, in.storeArgs()...)...)
	cmd.Env = in.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("vcsauth %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// server is a running `vcsauth serve`.
type server struct {
	cmd     *exec.Cmd
	addr    string // host:port
	startup time.Duration
	log     *logTail
	exited  chan struct{}
	waitErr error
	pprof   string // the profiler's base URL, with profiling on
}

// startServer starts `vcsauth serve --listen 127.0.0.1:0` and waits for the line
// "listening on http://HOST:PORT" on its standard error. The start-up time is from
// exec to that line: opening the database, checking migrations, building the
// handlers, listening.
// With profiling, serve's profiler listens on a loopback port of its own.
func (in *instance) startServer(ctx context.Context, profiling bool) (*server, error) {
	args := append([]string{"serve", "--listen", "127.0.0.1:0"}, in.storeArgs()...)
	if profiling {
		args = append(args, "--debug-listen", "127.0.0.1:0")
	}
	cmd := exec.Command(in.bin, args...)
	cmd.Env = in.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, log: &logTail{}, exited: make(chan struct{})}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addrCh := make(chan string, 1)
	pprofCh := make(chan string, 1)
	go func() {
		// Every request writes an access-log line: read them as fast as they come,
		// so the server never blocks on a full pipe, and keep the last few.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			if !found {
				if _, u, ok := strings.Cut(line, `msg="profiler listening" url=`); ok {
					pprofCh <- strings.TrimSpace(u)
				}
				if _, rest, ok := strings.Cut(line, "listening on http://"); ok {
					found = true
					addrCh <- strings.TrimSpace(rest)
					continue
				}
			}
			s.log.add(line)
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.addr = <-addrCh:
		s.startup = time.Since(t0)
		if profiling {
			select {
			case s.pprof = <-pprofCh:
			default:
				s.kill()
				return nil, errors.New("vcsauth serve did not say where its profiler listens")
			}
		}
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("vcsauth serve exited before listening: %v\n%s", s.waitErr, s.log.tail(20))
	case <-time.After(2 * time.Minute):
		s.kill()
		return nil, fmt.Errorf("vcsauth serve did not say where it listens within 2 minutes\n%s", s.log.tail(20))
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// profile starts a CPU profile of the server spanning one timed scenario (its
// warm-up and slices: the baseline's slices leave the server idle, which a CPU
// profile does not count) and returns the function that waits for it and writes it
// to -profile/<backend>-<scenario>.pprof. Without -profile it does nothing.
func (s *server) profile(o options, backend, scenario string) (wait func() error) {
	if s.pprof == "" || o.profileDir == "" {
		return func() error { return nil }
	}
	span := o.warmup + o.duration + o.duration/2 + time.Duration(2*o.slices)*100*time.Millisecond
	secs := int(span.Seconds()) + 1
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.pprof + "profile?seconds=" + strconv.Itoa(secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("profiler answered %s", resp.Status)
			return
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			done <- err
			return
		}
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			done <- err
			return
		}
		done <- os.WriteFile(filepath.Join(o.profileDir, backend+"-"+slug(scenario)+".pprof"), b, 0o644)
	}()
	return func() error { return <-done }
}

// heapProfile writes the server's heap profile, taken after the pass's scenarios,
// to -profile/<backend>-heap.pprof (go tool pprof -sample_index=inuse_space FILE).
// Without -profile it does nothing.
func (s *server) heapProfile(o options, backend string) error {
	if s.pprof == "" || o.profileDir == "" {
		return nil
	}
	resp, err := http.Get(s.pprof + "heap")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profiler answered %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.profileDir, backend+"-heap.pprof"), b, 0o644)
}

// slug makes a file name of a scenario's name: "token check: gitlab GET /api/v4/user"
// → "token-check-gitlab-get-api-v4-user".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 60 {
			break
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// stop sends SIGTERM (serve drains and exits 0) and waits; it kills after 40 s.
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.waitErr
	case <-time.After(40 * time.Second):
		s.kill()
		return errors.New("vcsauth serve did not stop within 40 s of SIGTERM; killed")
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// memory reads the resident set size and its peak from /proc/<pid>/status.
func memory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, peak, nil
}

// logTail keeps the last lines a server wrote and counts its error lines.
type logTail struct {
	mu     sync.Mutex
	lines  []string
	next   int
	total  int
	errors int
}

const logKeep = 50

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if strings.Contains(line, "level=ERROR") {
		l.errors++
	}
	if len(l.lines) < logKeep {
		l.lines = append(l.lines, line)
		return
	}
	l.lines[l.next] = line
	l.next = (l.next + 1) % logKeep
}

// tail returns up to n of the last lines, oldest first.
func (l *logTail) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ordered := append(append([]string(nil), l.lines[l.next:]...), l.lines[:l.next]...)
	if len(ordered) > n {
		ordered = ordered[len(ordered)-n:]
	}
	return strings.Join(ordered, "\n")
}

func (l *logTail) errorLines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errors
}
