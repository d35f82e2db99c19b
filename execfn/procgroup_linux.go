package execfn

import (
	"os"
	"os/exec"
	"syscall"
	"unsafe"
)

// procAttr puts each command in a process group of its own, so that a
// timeout kills it and everything it started (a pipeline, a background
// job), and a Ctrl-C at dpc-service's terminal reaches dpc-service alone,
// which then stops its calls. Pdeathsig kills the command should
// dpc-service die without stopping it; it reaches the command alone, not
// what the command started. (The kernel sends it when the forking thread
// ends; Go keeps its threads unless a goroutine locked to one ends, which
// no goroutine here does.)
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the process group that p leads. The group outlives its
// leader while any member lives, and its id is not reused meanwhile.
func killGroup(p *os.Process) error {
	return syscall.Kill(-p.Pid, syscall.SIGKILL)
}

// reap waits for cmd's process to exit and calls exited before reaping
// it: while its zombie stands, the group id cannot be reused, so exited
// can kill what it left in its group and hit nothing else.
func reap(cmd *exec.Cmd, exited func()) error {
	var info [128]byte // siginfo_t, unread
	for {
		// WNOWAIT: wait for the exit, leave the reaping to cmd.Wait.
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(cmd.Process.Pid),
			uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			break // on any other error, cmd.Wait reports it
		}
	}
	exited()
	return cmd.Wait()
}

// pPID is waitid's idtype for one process id.
const pPID = 1
