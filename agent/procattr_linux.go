package agent

import (
	"os"
	"os/exec"
	"syscall"
	"unsafe"
)

// procAttr puts each process in a process group of its own, so that stop
// signals the instance and every child it started, and a Ctrl-C at the
// agent's terminal reaches the agent alone (which then stops its processes
// with their grace). Pdeathsig has the kernel send SIGTERM to the instance
// should the agent die without stopping it: an agent that restarts knows
// nothing of its old processes. SIGTERM rather than SIGKILL, so that the
// instance withdraws from the catalog and finishes its calls; the limit is
// that it reaches the instance alone — children the instance started
// itself, or an instance that ignores SIGTERM, outlive a crashed agent.
// (The kernel sends it when
// the forking thread ends; Go keeps its threads unless a goroutine locked
// to one ends, which the agent never does.)
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// signalGroup sends sig to the process group that p leads. The group
// outlives its leader while any member lives, and its id is not reused
// meanwhile, so this also reaches what a dead leader left behind.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
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
