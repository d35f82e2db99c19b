//go:build !linux

package agent

import (
	"os"
	"syscall"
)

// procAttr: elsewhere processes stay in the agent's process group.
func procAttr() *syscall.SysProcAttr { return nil }

// signalGroup signals the process alone: without a group of its own its
// children are not reached.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return p.Kill()
	}
	return p.Signal(sig)
}
