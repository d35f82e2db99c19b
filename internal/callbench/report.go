package callbench

import (
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
)

// Report is everything one bench run found, as printed by --json.
type Report struct {
	Machine     benchreport.Machine `json:"machine"`
	Server      Server              `json:"server"`
	Config      ReportConfig        `json:"config"`
	Cases       []Case              `json:"cases"`
	Comparisons []Comparison        `json:"comparisons"`
	// Interrupted is set when the run was stopped (SIGINT) before the end.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Server is the NATS server the bench ran against.
type Server struct {
	URL     string `json:"url"`
	Version string `json:"version"`
	// Embedded is true when the server ran inside the bench process.
	Embedded bool `json:"embedded"`
	// TLS is true when every connection is TLS (a hub's), Auth when the
	// server authenticates its clients (a hub: a user JWT each).
	TLS  bool `json:"tls,omitempty"`
	Auth bool `json:"auth,omitempty"`
}

// ReportConfig is the part of Config that shapes the figures.
type ReportConfig struct {
	Sides    []string      `json:"sides"`
	Clients  []int         `json:"clients"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Requests int           `json:"requests_per_client,omitempty"`
	Warmup   time.Duration `json:"warmup_ns"`
	Repeats  int           `json:"repeats"`
	Payload  int           `json:"payload_bytes"`
	Timeout  time.Duration `json:"timeout_ns"`
	Targets  Targets       `json:"targets"`
}

func reportConfig(c Config) ReportConfig {
	rc := ReportConfig{
		Sides: c.Sides, Clients: c.Clients, Warmup: c.Warmup, Repeats: c.Repeats,
		Payload: c.Payload, Timeout: c.Timeout, Targets: c.Targets,
	}
	if c.Requests > 0 {
		rc.Requests = c.Requests
	} else {
		rc.Duration = c.Duration
	}
	return rc
}

// Case is one side at one number of clients.
type Case struct {
	Side    string `json:"side"`
	Clients int    `json:"clients"`
	// Median is the median of Runs, figure by figure.
	Median Summary   `json:"median"`
	Runs   []Summary `json:"runs"`
	Warmup *Summary  `json:"warmup,omitempty"`
	// Partial is set when the run was interrupted before all repeats.
	Partial bool `json:"partial,omitempty"`
}

// Targets are the ratios omq is held to against raw NATS.
type Targets struct {
	// MinThroughput: omq ops/s must be at least this times raw's.
	MinThroughput float64 `json:"min_throughput_ratio"`
	// MaxP50: omq's median latency must be at most this times raw's.
	MaxP50 float64 `json:"max_p50_ratio"`
}

// DefaultTargets are the project's goals for omq's overhead.
var DefaultTargets = Targets{MinThroughput: 0.90, MaxP50: 1.15}

// Comparison is omq against raw at one number of clients.
type Comparison struct {
	Clients         int     `json:"clients"`
	ThroughputRatio float64 `json:"throughput_ratio"`
	P50Ratio        float64 `json:"p50_ratio"`
	ThroughputPass  bool    `json:"throughput_pass"`
	P50Pass         bool    `json:"p50_pass"`
}

// compare finds the raw and omq cases for n clients and holds omq to t.
func compare(cases []Case, n int, t Targets) (Comparison, bool) {
	var raw, omq *Case
	for i := range cases {
		c := &cases[i]
		if c.Clients != n || len(c.Runs) == 0 {
			continue
		}
		switch c.Side {
		case SideRaw:
			raw = c
		case SideOMQ:
			omq = c
		}
	}
	if raw == nil || omq == nil || raw.Median.OpsPerSec == 0 || raw.Median.P50 == 0 {
		return Comparison{}, false
	}
	c := Comparison{
		Clients:         n,
		ThroughputRatio: omq.Median.OpsPerSec / raw.Median.OpsPerSec,
		P50Ratio:        float64(omq.Median.P50) / float64(raw.Median.P50),
	}
	c.ThroughputPass = c.ThroughputRatio >= t.MinThroughput
	c.P50Pass = c.P50Ratio <= t.MaxP50
	return c, true
}
