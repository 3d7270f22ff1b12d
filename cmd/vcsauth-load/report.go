package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything one run measured.
type report struct {
	StartedAt    time.Time      `json:"started_at"`
	Machine      machine        `json:"machine"`
	LoadAvgStart string         `json:"load_average_start"` // /proc/loadavg: 1, 5, 15 minutes
	LoadAvgEnd   string         `json:"load_average_end"`
	Options      map[string]any `json:"options"`
	Passes       []PassInfo     `json:"passes"`
	Results      []Result       `json:"results"`
}

type machine struct {
	CPUModel string `json:"cpu_model"`
	NumCPU   int    `json:"nproc"`
	MemTotal string `json:"mem_total"`
	Go       string `json:"go"`
	OS       string `json:"os"`
}

func machineInfo() machine {
	m := machine{NumCPU: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				f := strings.Fields(v)
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
				break
			}
		}
	}
	return m
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (o options) describe() map[string]any {
	return map[string]any{"conns": o.conns, "duration": o.duration.String(), "warmup": o.warmup.String(),
		"slices": o.slices, "scenarios": o.scenarios, "postgres": o.postgres != "", "large": o.large, "large_scale": o.largeScale,
		"storm_callers": o.storm, "server_env": o.serverEnv, "baseline_in_process": o.baseInProc, "provider_latency": o.latency.String(), "codes": o.codes}
}

// judgeLarge compares each -large figure of scenarios 1–3 with the same scenario on
// the same database with little data: the target is at most 20% less. The passes run
// minutes apart on a machine whose load drifts, so what is compared is each figure's
// ratio to the baseline slices interleaved with it, not raw requests/s.
func (rep *report) judgeLarge() {
	small := map[[2]string]float64{}
	for _, r := range rep.Results {
		if !strings.HasSuffix(r.Backend, "-large") && r.Skipped == "" && r.Ratio > 0 {
			small[[2]string{r.Backend, r.Scenario}] = r.Ratio
		}
	}
	for i := range rep.Results {
		r := &rep.Results[i]
		back, ok := strings.CutSuffix(r.Backend, "-large")
		if !ok || r.Skipped != "" || r.Ratio == 0 {
			continue
		}
		ref, ok := small[[2]string{back, r.Scenario}]
		if !ok {
			continue
		}
		r.Target = fmt.Sprintf("≥ 0.8 × small data (%.2f × baseline there)", ref)
		met := notWorseBy(r.Ratio, ref, 20) && r.Errors == 0
		r.Met = &met
	}
}

func (rep *report) print(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "vcsauth-load, %s\n", rep.StartedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s, %s %s\n", m.CPUModel, m.NumCPU, m.MemTotal, m.Go, m.OS)
	fmt.Fprintf(w, "load average (1/5/15 min): %s at start, %s at end\n", rep.LoadAvgStart, rep.LoadAvgEnd)
	fmt.Fprintf(w, "options: %v\n\n", rep.Options)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "backend\tscenario\tconns\treq/s\tp50\tp99\tmax\terrors\tbaseline req/s\t× baseline\ttarget\tmet")
	for _, r := range rep.Results {
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\t%s\n", r.Backend, r.Scenario, metString(r.Met, "skipped: "+r.Skipped))
			continue
		}
		rps, ratio, base := fmt.Sprintf("%.0f", r.RPS), "", ""
		if r.Ratio > 0 {
			ratio, base = fmt.Sprintf("%.2f", r.Ratio), fmt.Sprintf("%.0f", r.BaselineRPS)
		}
		if r.UpstreamRefreshes != nil {
			rps = fmt.Sprintf("refreshes=%d", *r.UpstreamRefreshes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Backend, r.Scenario, r.Conns, rps,
			ms(r.P50), ms(r.P99), ms(r.Max), r.Errors, base, ratio, r.Target, metString(r.Met, ""))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "backend\tstart-up\tRSS after load\tpeak RSS\tseeded in\tbaseline req/s (all slices)\tserver error lines\ttargets (-large: start-up < 1 s, RSS < 200 MiB)")
	for _, p := range rep.Passes {
		t := ""
		if p.StartupMet != nil {
			t = fmt.Sprintf("start-up %s, RSS %s", metString(p.StartupMet, ""), metString(p.RSSMet, ""))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f\t%d\t%s\n", p.Backend, ms(p.Startup), mib(p.RSSBytes), mib(p.PeakRSS),
			time.Duration(p.SeedTook).Round(time.Millisecond), p.BaselineRPS, p.ServerErrs, t)
	}
	tw.Flush()

	var notes []string
	for _, r := range rep.Results {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("  %s / %s: %s", r.Backend, r.Scenario, r.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nnotes:\n%s\n", strings.Join(notes, "\n"))
	}
}

func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func metString(met *bool, otherwise string) string {
	switch {
	case met == nil:
		return otherwise
	case *met:
		return "yes"
	case otherwise != "":
		return "NO: " + otherwise
	default:
		return "NO"
	}
}

func ms(d Dur) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func mib(b int64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
