package loadgen

import (
	"slices"
	"time"
)

// ServiceSummary is one service's figures over the reported seconds.
type ServiceSummary struct {
	Service string `json:"service"`
	Policy  string `json:"policy"`
	Seconds int    `json:"seconds"`
	// ViolationSeconds are seconds whose p95 exceeded the SLA;
	// ViolationFraction is their share of Seconds.
	ViolationSeconds  int     `json:"sla_violation_seconds"`
	ViolationFraction float64 `json:"sla_violation_fraction"`
	Calls             int     `json:"calls"`
	OK                int     `json:"completed"`
	Errors            int     `json:"errors"`
	Timeouts          int     `json:"timeouts"`
	Dropped           int     `json:"dropped"`
	// SlowFraction is the share of calls slower than the SLA, failed ones
	// included.
	SlowFraction float64 `json:"slow_call_fraction"`
	P50          float64 `json:"p50_ms"`
	P95          float64 `json:"p95_ms"`
	P99          float64 `json:"p99_ms"`
	// InstanceSeconds is the sum over the seconds of the instances
	// running; MeanInstances is that over Seconds.
	InstanceSeconds int     `json:"instance_seconds"`
	MeanInstances   float64 `json:"mean_instances"`
	MaxInstances    int     `json:"max_instances"`
}

// Summarize sums up one service's rows within [from, to) s, with
// lat the latencies of its calls due then (sorted in place).
func Summarize(name, policy string, rows []Row, lat []time.Duration, from, to int, sla time.Duration) ServiceSummary {
	s := ServiceSummary{Service: name, Policy: policy}
	for _, r := range rows {
		if r.T < from || r.T >= to {
			continue
		}
		s.Seconds++
		if !r.SLAMet {
			s.ViolationSeconds++
		}
		s.Calls += r.Sent
		s.OK += r.OK
		s.Errors += r.Errors
		s.Timeouts += r.Timeout
		s.Dropped += r.Dropped
		if r.Instances > 0 {
			s.InstanceSeconds += r.Instances
			s.MaxInstances = max(s.MaxInstances, r.Instances)
		}
	}
	if s.Seconds > 0 {
		s.ViolationFraction = float64(s.ViolationSeconds) / float64(s.Seconds)
		s.MeanInstances = float64(s.InstanceSeconds) / float64(s.Seconds)
	}
	if len(lat) > 0 {
		slices.Sort(lat) // ours: latencies returns a fresh slice
		s.P50, s.P95, s.P99 = ms(Percentile(lat, 0.50)), ms(Percentile(lat, 0.95)), ms(Percentile(lat, 0.99))
		// The first latency above the SLA; every one after it is slower.
		i, _ := slices.BinarySearch(lat, sla+1)
		s.SlowFraction = float64(len(lat)-i) / float64(len(lat))
	}
	return s
}
