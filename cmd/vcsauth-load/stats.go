package main

import (
	"math"
	"slices"
	"time"
)

// Result is what one scenario (or the baseline) measured.
type Result struct {
	Backend  string  `json:"backend"`           // "sqlite", "postgres", "sqlite-large", …, or "baseline"
	Scenario string  `json:"scenario"`          // e.g. "token-check gitlab GET /api/v4/user"
	Skipped  string  `json:"skipped,omitempty"` // why it did not run
	Note     string  `json:"note,omitempty"`    // anything a reader needs to judge the figure
	Conns    int     `json:"conns"`             // concurrent keep-alive connections
	Requests int     `json:"requests"`          // answered as expected
	Errors   int     `json:"errors"`            // transport errors and unexpected statuses
	Elapsed  Dur     `json:"elapsed"`           // measured time (without warm-up)
	RPS      float64 `json:"rps"`               // Requests / Elapsed
	P50      Dur     `json:"p50"`               //
	P99      Dur     `json:"p99"`               //
	Max      Dur     `json:"max"`               //
	// BaselineRPS is the baseline's requests/s in the slices interleaved with this
	// scenario's, and Ratio is RPS over it (0 when not applicable).
	BaselineRPS float64 `json:"baseline_rps,omitempty"`
	Ratio       float64 `json:"ratio_to_baseline"`
	// Upstream refreshes the fake provider saw (refresh storm only).
	UpstreamRefreshes *int `json:"upstream_refreshes,omitempty"`
	// Target is the goal this figure is judged against, in words, and whether it is met.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
}

// Dur is a time.Duration that encodes as milliseconds in JSON, for people and jq.
type Dur time.Duration

// MarshalJSON writes milliseconds with microsecond precision.
func (d Dur) MarshalJSON() ([]byte, error) {
	ms := float64(time.Duration(d)) / float64(time.Millisecond)
	return []byte(formatFloat(math.Round(ms*1000) / 1000)), nil
}

// summary is the latency statistics of one run.
type summary struct {
	n             int
	p50, p99, max time.Duration
}

// summarize sorts lat in place and returns its statistics.
func summarize(lat []time.Duration) summary {
	if len(lat) == 0 {
		return summary{}
	}
	slices.Sort(lat)
	return summary{n: len(lat), p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[len(lat)-1]}
}

// percentile returns the p-th percentile of sorted by the nearest-rank method: the
// smallest value such that at least p percent of the values are at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	switch {
	case p <= 0:
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// rate is requests per second over elapsed.
func rate(n int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}

// ratio is subject over baseline, 0 when there is no baseline to divide by.
func ratio(subject, baseline float64) float64 {
	if baseline <= 0 || subject < 0 {
		return 0
	}
	return subject / baseline
}

// notWorseBy reports whether a throughput got is at most pct percent below ref, as
// the large-data comparison asks ("within 20% of the small-data figure"): being
// faster with more data is not a failure.
func notWorseBy(got, ref, pct float64) bool {
	if ref <= 0 {
		return false
	}
	return got >= ref*(1-pct/100)
}
