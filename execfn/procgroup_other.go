//go:build !linux

package execfn

import (
	"os"
	"os/exec"
	"syscall"
)

// procAttr: elsewhere commands stay in dpc-service's process group.
func procAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the process alone: without a group of its own what it
// started is not reached.
func killGroup(p *os.Process) error { return p.Kill() }

// reap waits for cmd's process and then calls exited.
func reap(cmd *exec.Cmd, exited func()) error {
	err := cmd.Wait()
	exited()
	return err
}
