package callbench

import (
	"slices"
	"time"

	"github.com/dpc-project/dpc/internal/procstat"
	"github.com/dpc-project/dpc/loadgen"
)

// Summary is one run's (or the median of several runs') figures. Latencies
// are exact: every call's latency is kept and sorted, no histogram buckets.
type Summary struct {
	Ops       int64         `json:"ops"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	OpsPerSec float64       `json:"ops_per_sec"`
	Mean      time.Duration `json:"mean_ns"`
	Min       time.Duration `json:"min_ns"`
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
	// Costs per call of the whole process during the run (see usage).
	CPUPerOp         time.Duration `json:"cpu_per_op_ns"`
	CtxSwitchesPerOp float64       `json:"ctx_switches_per_op"`
	SyscallsPerOp    float64       `json:"syscalls_per_op,omitempty"`
}

// summarize sorts lat in place and computes the figures of a run that did
// len(lat) calls in elapsed, using u.
func summarize(lat []time.Duration, elapsed time.Duration, u procstat.Usage) Summary {
	s := Summary{Ops: int64(len(lat)), Elapsed: elapsed}
	if len(lat) == 0 {
		return s
	}
	n := float64(len(lat))
	s.CPUPerOp = time.Duration(float64(u.CPU) / n)
	s.CtxSwitchesPerOp = float64(u.CtxSwitches) / n
	s.SyscallsPerOp = float64(u.Syscalls) / n
	if elapsed > 0 {
		s.OpsPerSec = float64(len(lat)) / elapsed.Seconds()
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	s.Mean = sum / time.Duration(len(lat))
	s.Min, s.Max = lat[0], lat[len(lat)-1]
	s.P50 = loadgen.Percentile(lat, 0.50)
	s.P90 = loadgen.Percentile(lat, 0.90)
	s.P99 = loadgen.Percentile(lat, 0.99)
	return s
}

// medianSummary takes the median of each figure over several runs of one
// case, each figure on its own, so one noisy run moves none of them.
func medianSummary(runs []Summary) Summary {
	if len(runs) == 0 {
		return Summary{}
	}
	return Summary{
		Ops:       medianOf(runs, func(s Summary) int64 { return s.Ops }),
		Elapsed:   medianOf(runs, func(s Summary) time.Duration { return s.Elapsed }),
		OpsPerSec: medianOf(runs, func(s Summary) float64 { return s.OpsPerSec }),
		Mean:      medianOf(runs, func(s Summary) time.Duration { return s.Mean }),
		Min:       medianOf(runs, func(s Summary) time.Duration { return s.Min }),
		P50:       medianOf(runs, func(s Summary) time.Duration { return s.P50 }),
		P90:       medianOf(runs, func(s Summary) time.Duration { return s.P90 }),
		P99:       medianOf(runs, func(s Summary) time.Duration { return s.P99 }),
		Max:       medianOf(runs, func(s Summary) time.Duration { return s.Max }),

		CPUPerOp:         medianOf(runs, func(s Summary) time.Duration { return s.CPUPerOp }),
		CtxSwitchesPerOp: medianOf(runs, func(s Summary) float64 { return s.CtxSwitchesPerOp }),
		SyscallsPerOp:    medianOf(runs, func(s Summary) float64 { return s.SyscallsPerOp }),
	}
}

// medianOf is the median of one figure over runs (the mean of the middle
// two for an even count).
func medianOf[T ~int64 | ~float64](runs []Summary, figure func(Summary) T) T {
	v := make([]T, len(runs))
	for i, r := range runs {
		v[i] = figure(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}
