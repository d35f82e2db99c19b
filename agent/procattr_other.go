//go:build !linux

package agent

import (
	"os"
	"os/exec"
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

// reap waits for cmd's process and then calls exited.
func reap(cmd *exec.Cmd, exited func()) error {
	err := cmd.Wait()
	exited()
	return err
}
