//go:build unix

package main

import (
	"syscall"
	"time"
)

func rusage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{
		cpu:         time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		ctxSwitches: int64(ru.Nvcsw + ru.Nivcsw),
	}
}
