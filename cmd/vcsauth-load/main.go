// Command vcsauth-load measures vcsauth under load against a bare net/http baseline
// measured in the same run, and writes what it saw as a table and as JSON.
//
//	go run ./cmd/vcsauth-load [-postgres URL] [-conns 32] [-duration 10s]
//	    [-scenarios token,introspect,credential,storm,code,refresh] [-json out.json] [-large]
//
// In one run it starts the baseline (a process of its own, as vcsauth is), builds
// ./cmd/vcsauth, and for
// each database (SQLite always, PostgreSQL with -postgres; then again with a million
// connections and tokens with -large) seeds a fresh database, starts `vcsauth serve`
// as a subprocess, drives each scenario with a fixed number of keep-alive connections
// for a fixed time, and records requests/s, p50, p99 and errors, plus the server's
// start-up time and resident memory; with -profile DIR, a CPU profile of the server
// per scenario. Everything runs on loopback; nothing is sent
// anywhere else. See BENCHMARKS.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

type options struct {
	postgres   string
	conns      int
	duration   time.Duration
	warmup     time.Duration
	slices     int
	scenarios  []string
	jsonOut    string
	large      bool
	largeScale float64
	bin        string
	storm      int
	latency    time.Duration
	codes      int
	verbose    bool
	keep       bool
	serverEnv  []string
	baseInProc bool
	profileDir string
}

func main() {
	if tok := os.Getenv(baselineChildEnv); tok != "" {
		if err := baselineChild(tok); err != nil {
			fmt.Fprintln(os.Stderr, "vcsauth-load baseline:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var scen string
	flag.StringVar(&o.postgres, "postgres", "", "also run against PostgreSQL at this URL (a fresh schema is made and dropped)")
	flag.IntVar(&o.conns, "conns", 32, "concurrent keep-alive connections of each timed scenario")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each timed scenario")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each timed scenario")
	flag.IntVar(&o.slices, "slices", 5, "rounds of baseline and vcsauth slices each timed scenario is measured in")
	flag.StringVar(&scen, "scenarios", strings.Join(allScenarios, ","), "scenarios to run: "+strings.Join(allScenarios, ","))
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.BoolVar(&o.large, "large", false, "also run scenarios 1-3 with 1,000,000 connections and 1,000,000 tokens seeded")
	flag.Float64Var(&o.largeScale, "large-scale", 1, "scale of the -large data (1 = a million rows each)")
	flag.StringVar(&o.bin, "bin", "", "a vcsauth binary to run instead of building ./cmd/vcsauth")
	flag.IntVar(&o.storm, "storm", 1000, "concurrent callers of the refresh storm")
	flag.DurationVar(&o.latency, "provider-latency", 50*time.Millisecond, "how long the fake provider takes to refresh a token")
	flag.IntVar(&o.codes, "codes", 0, "authorization codes to seed for the code exchange (0: enough for 3,000/s over -warmup and -duration)")
	flag.BoolVar(&o.verbose, "v", false, "print progress and the server's last log lines on failure")
	flag.Func("server-env", "KEY=VALUE for the vcsauth processes' environment, e.g. GOGC=200 (repeatable)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	flag.BoolVar(&o.baseInProc, "baseline-in-process", false, "run the baseline in the load generator's process instead of a process of its own (see BENCHMARKS.md)")
	flag.StringVar(&o.profileDir, "profile", "", "write a CPU profile of the server per timed scenario into this directory (go tool pprof FILE)")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directories (SQLite) and schemas (PostgreSQL) for a look afterwards")
	flag.Parse()
	for f := range strings.SplitSeq(scen, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !slices.Contains(allScenarios, f) {
			fmt.Fprintf(os.Stderr, "vcsauth-load: unknown scenario %q (want some of %s)\n", f, strings.Join(allScenarios, ","))
			os.Exit(2)
		}
		o.scenarios = append(o.scenarios, f)
	}
	if o.conns < 1 || o.duration <= 0 || o.storm < 1 || o.slices < 1 {
		fmt.Fprintln(os.Stderr, "vcsauth-load: -conns, -duration, -slices and -storm must be positive")
		os.Exit(2)
	}
	if o.codes == 0 {
		o.codes = int(3000*(o.duration+o.warmup).Seconds()) + 1000
	}
	ctx, stop := signalContext()
	defer stop()
	if err := runAll(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "vcsauth-load:", err)
		os.Exit(1)
	}
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// logf prints progress with -v.
func (o options) logf(format string, args ...any) {
	if o.verbose {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}

// pass is one server against one database.
type pass struct {
	backend string // "sqlite", "postgres", "sqlite-large", "postgres-large"
	pgURL   string // the PostgreSQL server's URL, for the postgres passes
	large   bool
}

// PassInfo is what one pass measured of the server itself.
type PassInfo struct {
	Backend     string `json:"backend"`
	Startup     Dur    `json:"startup"`
	RSSBytes    int64  `json:"rss_bytes"`
	PeakRSS     int64  `json:"peak_rss_bytes"`
	SeedTook    Dur    `json:"seed_took"`
	Connections int    `json:"seeded_connections,omitempty"`
	Tokens      int    `json:"seeded_tokens,omitempty"`
	ServerErrs  int    `json:"server_error_log_lines"`
	// BaselineRPS is the baseline over every slice of the pass.
	BaselineRPS float64 `json:"baseline_rps"`
	// Targets of the -large passes.
	StartupMet *bool `json:"startup_met,omitempty"`
	RSSMet     *bool `json:"rss_met,omitempty"`
}

func runAll(ctx context.Context, o options) error {
	rep := &report{Options: o.describe(), Machine: machineInfo(), StartedAt: time.Now().UTC()}
	rep.LoadAvgStart = loadAvg()
	logf := o.logf

	tmp, err := os.MkdirTemp("", "vcsauth-load-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "vcsauth-load: keeping the data in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := o.bin
	if bin == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		logf("building ./cmd/vcsauth")
		if bin, err = buildVcsauth(ctx, root, tmp); err != nil {
			return err
		}
	}
	keyLine, err := secret.GenerateKeyLine(nil)
	if err != nil {
		return err
	}
	keys, err := secret.ParseKeys(keyLine, nil)
	if err != nil {
		return err
	}
	prov, err := startProvider(o.latency)
	if err != nil {
		return err
	}
	defer prov.close()

	passes := []pass{{backend: "sqlite"}}
	if o.postgres != "" {
		passes = append(passes, pass{backend: "postgres", pgURL: o.postgres})
	}
	if o.large {
		for _, p := range slices.Clone(passes) {
			passes = append(passes, pass{backend: p.backend + "-large", pgURL: p.pgURL, large: true})
		}
	}
	for _, p := range passes {
		if ctx.Err() != nil {
			break
		}
		logf("pass %s", p.backend)
		info, results, err := runPass(ctx, o, p, bin, keyLine, keys, prov, tmp)
		if err != nil {
			return fmt.Errorf("%s: %w", p.backend, err)
		}
		rep.Passes = append(rep.Passes, info)
		rep.Results = append(rep.Results, results...)
	}
	rep.LoadAvgEnd = loadAvg()
	rep.judgeLarge()
	rep.print(os.Stdout)
	if o.jsonOut != "" {
		if err := rep.writeJSON(o.jsonOut); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// runPass seeds a fresh database, starts a server on it, and runs the scenarios.
func runPass(ctx context.Context, o options, p pass, bin, keyLine string, keys *secret.Keyring, prov *provider, tmp string) (PassInfo, []Result, error) {
	logf := o.logf
	info := PassInfo{Backend: p.backend}
	in := &instance{bin: bin, dataDir: filepath.Join(tmp, p.backend), env: append(serverEnv(keyLine), o.serverEnv...)}
	if p.pgURL != "" {
		u, drop, err := freshSchema(ctx, p.pgURL, o.keep)
		if err != nil {
			return info, nil, err
		}
		defer drop()
		in.database = u
	}
	if _, err := in.command(ctx, "migrate"); err != nil {
		return info, nil, err
	}
	dbURL := in.database
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(in.dataDir, "vcsauth.db")
	}
	st, err := sqlstore.Open(ctx, dbURL, sqlstore.Options{MaxConns: 4})
	if err != nil {
		return info, nil, err
	}
	defer st.Close()

	t0 := time.Now()
	var large *largeSeed
	if p.large {
		logf("seeding the large data")
		if large, err = seedLarge(ctx, st, keys, prov, o); err != nil {
			return info, nil, fmt.Errorf("large seed: %w", err)
		}
		info.Connections, info.Tokens = large.connections, large.tokens
		logf("large data seeded in %v", large.took.Round(time.Millisecond))
	}
	seedOpts := o
	if p.large {
		seedOpts.codes = 1 // the large passes run no code exchange
	}
	s, err := seedSmall(ctx, in, st, keys, prov, seedOpts)
	if err != nil {
		return info, nil, fmt.Errorf("seed: %w", err)
	}
	s.large = large
	info.SeedTook = Dur(time.Since(t0))

	logf("starting vcsauth serve")
	srv, err := in.startServer(ctx, o.profileDir != "")
	if err != nil {
		return info, nil, err
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "vcsauth-load: %s: stopping the server: %v\n", p.backend, err)
		}
	}()
	info.Startup = Dur(srv.startup)
	logf("listening on %s after %v", srv.addr, srv.startup.Round(time.Millisecond))

	// The baseline runs interleaved with every scenario (see measure), in a process
	// of its own like vcsauth, unless -baseline-in-process.
	start := startBaselineProcess
	if o.baseInProc {
		start = startBaseline
	}
	base, err := start(s.token)
	if err != nil {
		return info, nil, err
	}
	defer base.close()
	baseLoad := baselineLoad(base.addr, s.token)
	var results []Result
	var baseSum struct {
		n       int
		elapsed time.Duration
	}

	want := map[string]bool{}
	for _, k := range o.scenarios {
		if !p.large || slices.Contains(largeScenarios, k) {
			want[k] = true
		}
	}
	credentialWired := false
	for _, sc := range scenarios(srv.addr, s, o, want) {
		if ctx.Err() != nil {
			break
		}
		r := Result{Backend: p.backend, Scenario: sc.load.name, Conns: o.conns}
		if err := probe(ctx, srv.addr, sc.load); err != nil {
			if errors.Is(err, errSkip) {
				r.Skipped = strings.TrimPrefix(err.Error(), errSkip.Error()+": ")
			} else {
				r.Skipped = "probe failed: " + err.Error()
				f := false
				r.Met = &f
			}
			logf("%s: %s", sc.load.name, r.Skipped)
			results = append(results, r)
			continue
		}
		if sc.key == scCredential {
			credentialWired = true
		}
		logf("%s", sc.load.name)
		profiled := srv.profile(o, p.backend, sc.load.name)
		lr, br := measure(ctx, o, srv.addr, sc.load, base.addr, baseLoad)
		if err := profiled(); err != nil {
			fmt.Fprintf(os.Stderr, "vcsauth-load: %s: %s: profile: %v\n", p.backend, sc.load.name, err)
		}
		baseSum.n += br.requests
		baseSum.elapsed += br.elapsed
		r = result(p.backend, sc.load.name, o.conns, lr, rate(br.requests, br.elapsed))
		if br.errors > 0 {
			r.Note = strings.TrimPrefix(r.Note+"; baseline errors: "+br.firstErr, "; ")
		}
		r.Note = strings.TrimPrefix(r.Note+"; "+sc.note, "; ")
		r.judge(sc, p)
		results = append(results, r)
	}
	if want[scStorm] && ctx.Err() == nil {
		r := Result{Backend: p.backend}
		if credentialWired || !want[scCredential] {
			logf("refresh storm")
			r = runStorm(ctx, srv.addr, s, st, prov, o)
			r.Backend = p.backend
		} else {
			r.Scenario, r.Skipped = "refresh storm", "the git credential route is not wired in this build of serve"
		}
		results = append(results, r)
	}

	info.BaselineRPS = rate(baseSum.n, baseSum.elapsed)
	if rss, peak, err := memory(srv.pid()); err == nil {
		info.RSSBytes, info.PeakRSS = rss, peak
	}
	if err := srv.heapProfile(o, p.backend); err != nil {
		logf("heap profile: %v", err)
	}
	info.ServerErrs = srv.log.errorLines()
	if info.ServerErrs > 0 && o.verbose {
		fmt.Fprintf(os.Stderr, "%s: the server logged %d error lines; the last lines:\n%s\n", p.backend, info.ServerErrs, srv.log.tail(20))
	}
	if p.large {
		su, rs := srv.startup < time.Second, info.RSSBytes < 200<<20
		info.StartupMet, info.RSSMet = &su, &rs
	}
	return info, results, nil
}

// measure runs l against vcsauth at addr and the baseline load bl at baseAddr in
// alternating slices: a warm-up of vcsauth, then -slices rounds of a baseline slice
// and a vcsauth slice, vcsauth's slices adding up to -duration and the baseline's to
// half that. The machine's load drifts (it is shared); measured this way both sides
// see the same drift, and their ratio holds still when the absolute figures do not.
func measure(ctx context.Context, o options, addr string, l load, baseAddr string, bl load) (subject, baseline loadResult) {
	const settle = 100 * time.Millisecond // each slice dials anew: let it settle unmeasured
	slice := o.duration / time.Duration(o.slices)
	run(ctx, addr, o.conns, 0, o.warmup, l) // warm-up: pools fill, statements get prepared
	for range o.slices {
		if ctx.Err() != nil {
			break
		}
		baseline.add(run(ctx, baseAddr, o.conns, settle, slice/2, bl))
		r := run(ctx, addr, o.conns, settle, slice, l)
		subject.add(r)
		if r.exhausted {
			break
		}
	}
	return subject, baseline
}

// add accumulates another slice of the same load.
func (r *loadResult) add(s loadResult) {
	r.requests += s.requests
	r.errors += s.errors
	r.elapsed += s.elapsed
	r.lat = append(r.lat, s.lat...)
	if r.firstErr == "" {
		r.firstErr = s.firstErr
	}
	r.exhausted = r.exhausted || s.exhausted
}

// result turns a load's figures into a Result.
func result(backend, name string, conns int, lr loadResult, baseRPS float64) Result {
	sum := summarize(lr.lat)
	r := Result{Backend: backend, Scenario: name, Conns: conns, Requests: lr.requests, Errors: lr.errors,
		Elapsed: Dur(lr.elapsed), RPS: rate(lr.requests, lr.elapsed), P50: Dur(sum.p50), P99: Dur(sum.p99), Max: Dur(sum.max),
		BaselineRPS: baseRPS}
	r.Ratio = ratio(r.RPS, baseRPS)
	var notes []string
	if lr.exhausted {
		notes = append(notes, fmt.Sprintf("input ran out after %v", lr.elapsed.Round(time.Millisecond)))
	}
	if lr.firstErr != "" {
		notes = append(notes, "first error: "+lr.firstErr)
	}
	r.Note = strings.Join(notes, "; ")
	return r
}

// judge records the scenario's target and whether this figure meets it.
func (r *Result) judge(sc scenario, p pass) {
	var met bool
	switch {
	case p.large:
		return // judged against the small pass (report.judgeLarge)
	case sc.minRatio > 0:
		r.Target = fmt.Sprintf("≥ %.1f × baseline", sc.minRatio)
		met = r.Ratio >= sc.minRatio
	case sc.minRPS > 0 && strings.HasPrefix(p.backend, "sqlite"):
		r.Target = fmt.Sprintf("≥ %.0f/s on SQLite", sc.minRPS)
		met = r.RPS >= sc.minRPS
	default:
		return
	}
	met = met && r.Errors == 0
	r.Met = &met
}

// serverEnv is this process's environment without VCSAUTH_ settings that would
// change what the server does, plus the keyring the harness seeds with.
func serverEnv(keyLine string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VCSAUTH_") {
			env = append(env, kv)
		}
	}
	return append(env, "VCSAUTH_SECRET_KEYS="+keyLine)
}

// freshSchema makes an empty schema on the PostgreSQL server at base and returns the
// URL that uses it, and a function that drops it.
func freshSchema(ctx context.Context, base string, keep bool) (string, func(), error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	schema := "vcsload_" + hex.EncodeToString(b[:])
	admin, err := sqlstore.Open(ctx, base, sqlstore.Options{SkipSchemaCheck: true, MaxConns: 1})
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.DB().ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		if keep {
			fmt.Fprintf(os.Stderr, "vcsauth-load: keeping schema %s\n", schema)
			admin.Close()
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.DB().ExecContext(dctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			fmt.Fprintf(os.Stderr, "vcsauth-load: dropping schema %s: %v\n", schema, err)
		}
		admin.Close()
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
