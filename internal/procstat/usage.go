package procstat

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is what this process has consumed so far. Taken before and after a
// run, it gives the run's cost per call, which other programs on the
// machine do not disturb as they disturb ops/s. With the embedded server
// it covers the whole call: clients, responder and server.
type Usage struct {
	CPU time.Duration // user + system, all threads
	// CtxSwitches counts voluntary and involuntary context switches.
	CtxSwitches int64
	// Syscalls counts read and write system calls (Linux only; 0
	// elsewhere).
	Syscalls int64
}

// ReadUsage is this process's usage so far.
func ReadUsage() Usage {
	u := rusage()
	u.Syscalls = procIOSyscalls("/proc/self/io")
	return u
}

// Sub is the usage from before to u.
func (u Usage) Sub(before Usage) Usage {
	return Usage{
		CPU:         u.CPU - before.CPU,
		CtxSwitches: u.CtxSwitches - before.CtxSwitches,
		Syscalls:    u.Syscalls - before.Syscalls,
	}
}

// procIOSyscalls adds syscr and syscw from a Linux /proc/<pid>/io file.
func procIOSyscalls(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var n int64
	for line := range strings.Lines(string(b)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "syscr" && key != "syscw") {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err == nil {
			n += v
		}
	}
	return n
}
