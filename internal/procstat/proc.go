package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture (sysconf's
// _SC_CLK_TCK, which would need cgo to ask). One tick is 10ms, so a CPU
// percentage over a window of w seconds is good to about 1/w percent.
const userHZ = 100

// Sample is what /proc says about one process at one moment.
type Sample struct {
	At time.Time
	// CPU is user + system time of all its threads, living and exited.
	CPU time.Duration
	// CtxSwitches counts the voluntary and involuntary context switches of
	// its living threads: an idle process that wakes up often shows here
	// even when its CPU time rounds to zero ticks.
	CtxSwitches int64
	// RSS is VmRSS in bytes.
	RSS int64
}

// Read samples process pid. Only the CPU time is required; the other
// figures are 0 where /proc does not give them.
func Read(pid int) (Sample, error) {
	s := Sample{At: time.Now()}
	cpu, err := CPU(pid)
	if err != nil {
		return s, err
	}
	s.CPU = cpu
	s.RSS, _ = RSS(pid)
	s.CtxSwitches = CtxSwitches(pid)
	return s, nil
}

// CPUPercent is the CPU used between two samples as a percentage of one
// core.
func CPUPercent(before, after Sample) float64 {
	wall := after.At.Sub(before.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(after.CPU-before.CPU) / float64(wall)
}

// CPU reads utime + stime from /proc/<pid>/stat, the whole process's
// CPU time (the kernel sums the threads).
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU takes utime and stime, fields 14 and 15 of a stat line.
// Field 2, the command name in parentheses, may hold spaces and
// parentheses itself, so the count starts after its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("proc stat: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// RSS reads VmRSS from /proc/<pid>/status, in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	v, ok := statusField(b, "VmRSS")
	if !ok {
		return 0, errors.New("proc status: no VmRSS")
	}
	return v * 1024, nil // the kernel writes kB, meaning KiB
}

// CtxSwitches adds the context switches of every thread of pid.
// /proc/<pid>/status alone counts the main thread only.
func CtxSwitches(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended meanwhile
		}
		v, _ := statusField(b, "voluntary_ctxt_switches")
		w, _ := statusField(b, "nonvoluntary_ctxt_switches")
		n += v + w
	}
	return n
}

// statusField is the leading number of a "Key:\tvalue [unit]" line.
func statusField(b []byte, key string) (int64, bool) {
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}
