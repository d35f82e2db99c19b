//go:build !linux

package procgroup

import (
	"os"
	"os/exec"
	"syscall"
)

// Attr: elsewhere a child stays in its parent's process group.
func Attr(syscall.Signal) *syscall.SysProcAttr { return nil }

// Signal signals the process alone: without a group of its own what it
// started is not reached.
func Signal(p *os.Process, sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return p.Kill()
	}
	return p.Signal(sig)
}

// Reap waits for cmd's process and then calls exited.
func Reap(cmd *exec.Cmd, exited func()) error {
	err := cmd.Wait()
	exited()
	return err
}
