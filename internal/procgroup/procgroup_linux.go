package procgroup

import (
	"os"
	"os/exec"
	"syscall"
	"unsafe"
)

// Attr puts a child in a process group of its own, and has the kernel send
// it deathSig when the parent dies. deathSig reaches the child alone, not
// what the child started. (The kernel sends it when the forking thread
// ends; Go keeps its threads unless a goroutine locked to one ends, which
// DPC's commands never do.)
func Attr(deathSig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
}

// Signal sends sig to the process group that p leads. The group outlives
// its leader while any member lives, and its id is not reused meanwhile
// (see Reap), so this also reaches what a dead leader left behind.
func Signal(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}

// Reap waits for cmd's process to exit and calls exited before reaping
// it: while its zombie stands, the group id cannot be reused, so exited
// can signal what it left in its group and hit nothing else.
func Reap(cmd *exec.Cmd, exited func()) error {
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
