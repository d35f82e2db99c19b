package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// usage is what this process has consumed so far. Taken before and after a
// run, it gives the run's cost per call, which other programs on the
// machine do not disturb as they disturb ops/s. With the embedded server
// it covers the whole call: clients, responder and server.
type usage struct {
	cpu time.Duration // user + system, all threads
	// ctxSwitches counts voluntary and involuntary context switches.
	ctxSwitches int64
	// syscalls counts read and write system calls (Linux only; 0
	// elsewhere).
	syscalls int64
}

func readUsage() usage {
	u := rusage()
	u.syscalls = procIOSyscalls("/proc/self/io")
	return u
}

func (u usage) sub(before usage) usage {
	return usage{
		cpu:         u.cpu - before.cpu,
		ctxSwitches: u.ctxSwitches - before.ctxSwitches,
		syscalls:    u.syscalls - before.syscalls,
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
