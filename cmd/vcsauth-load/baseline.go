package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// baseline is the least any token check can do, served by net/http: SHA-256 of the
// bearer token, a map lookup, a small JSON body. vcsauth's figures are read as ratios
// to it, measured in the same run on the same machine, so the machine's speed and load
// cancel out (mostly: see BENCHMARKS.md).
type baseline struct {
	srv  *http.Server
	addr string
	cmd  *exec.Cmd // nil with -baseline-in-process
}

func startBaseline(token string) (*baseline, error) {
	known := map[[sha256.Size]byte]string{sha256.Sum256([]byte(token)): "loadtest"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		user, ok := known[sha256.Sum256([]byte(tok))]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "username": user})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &baseline{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr().String()}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *baseline) close() {
	if b.cmd != nil {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		_ = b.cmd.Wait()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
}

// baselineLoad is the baseline's one request: a GET with a bearer token.
func baselineLoad(addr, token string) load {
	req := encodeRequest(addr, http.MethodGet, "/api/user", []header{{"Authorization", "Bearer " + token}}, nil)
	return load{name: "baseline", want: http.StatusOK, next: func(int) ([]byte, bool) { return req, true }}
}

// By default the baseline runs in a process of its own (this program again, told so
// by baselineChildEnv), as vcsauth does: then neither side shares the load
// generator's process, and the ratio compares what the two servers do per request,
// not where they run. On 2 cores a server inside the generator's process is served
// by the same Go scheduler as its clients, which hands each request from one
// goroutine to the next without a context switch: measured back to back it served
// a third more than the same server as a subprocess (BENCHMARKS.md).
// -baseline-in-process puts it back there.

// baselineChildEnv carries the token to a baseline subprocess.
const baselineChildEnv = "VCSAUTH_LOAD_BASELINE_TOKEN"

// startBaselineProcess starts the baseline as a subprocess and reads its address.
func startBaselineProcess(token string) (*baseline, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), baselineChildEnv+"="+token)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("baseline subprocess: %w", err)
	}
	return &baseline{addr: strings.TrimSpace(line), cmd: cmd}, nil
}

// baselineChild is the subprocess's whole life: serve the baseline, print where,
// stop on SIGTERM.
func baselineChild(token string) error {
	b, err := startBaseline(token)
	if err != nil {
		return err
	}
	fmt.Println(b.addr)
	ctx, stop := signalContext()
	defer stop()
	<-ctx.Done()
	b.close()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}
