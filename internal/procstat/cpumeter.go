package procstat

import (
	"os"
	"time"
)

// ClientName is the name of this process in CPU figures: the bench is the
// client making the calls (the thesis's K-app).
const ClientName = "client"

// CPUMeter samples the CPU time of the system's processes and of the bench
// itself, to give each one's CPU use over a stretch of wall time.
type CPUMeter struct {
	names []string
	pids  []int
}

// Process is a process to measure: its name in the figures, and its id.
type Process struct {
	Name string
	PID  int
}

// NewCPUMeter measures procs, and with withClient this process too, as
// ClientName.
func NewCPUMeter(procs []Process, withClient bool) *CPUMeter {
	m := &CPUMeter{}
	for _, p := range procs {
		m.names = append(m.names, p.Name)
		m.pids = append(m.pids, p.PID)
	}
	if withClient {
		m.names = append(m.names, ClientName)
		m.pids = append(m.pids, os.Getpid())
	}
	return m
}

// CPUSnap is every measured process's CPU time at one moment.
type CPUSnap struct {
	at  time.Time
	cpu []time.Duration
	ok  bool // false when some process could not be read (no /proc)
}

// Snap reads every process's CPU time now.
func (m *CPUMeter) Snap() CPUSnap {
	s := CPUSnap{at: time.Now(), cpu: make([]time.Duration, len(m.pids)), ok: true}
	for i, pid := range m.pids {
		c, err := CPU(pid)
		if err != nil {
			s.ok = false
		}
		s.cpu[i] = c
	}
	return s
}

// CPUSpan accumulates CPU time and wall time over one or more stretches,
// so that runs too short for the 10ms ticks of /proc add up to a usable
// figure.
type CPUSpan struct {
	wall time.Duration
	cpu  []time.Duration
	ok   bool
}

// Span starts an empty span.
func (m *CPUMeter) Span() *CPUSpan {
	return &CPUSpan{cpu: make([]time.Duration, len(m.pids)), ok: true}
}

// Add counts the stretch from before to after.
func (s *CPUSpan) Add(before, after CPUSnap) {
	s.ok = s.ok && before.ok && after.ok
	s.wall += after.at.Sub(before.at)
	for i := range s.cpu {
		s.cpu[i] += after.cpu[i] - before.cpu[i]
	}
}

// ProcCPU is one process's CPU use over a stretch of time.
type ProcCPU struct {
	Name string `json:"name"`
	// Percent of one core: CPU time (user + system) over wall time.
	Percent float64 `json:"percent"`
	// CPU is the CPU time used.
	CPU time.Duration `json:"cpu_ns"`
	// PerCall is CPU over the calls made meanwhile, where they are known.
	PerCall time.Duration `json:"per_call_ns,omitempty"`
}

// Percents gives each process's share of one core over the span, or nil
// when /proc could not be read.
func (m *CPUMeter) Percents(s *CPUSpan) []ProcCPU {
	if !s.ok || s.wall <= 0 {
		return nil
	}
	out := make([]ProcCPU, len(m.names))
	for i, name := range m.names {
		out[i] = ProcCPU{Name: name, CPU: s.cpu[i], Percent: 100 * float64(s.cpu[i]) / float64(s.wall)}
	}
	return out
}
