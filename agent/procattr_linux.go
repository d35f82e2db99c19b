package agent

import (
	"os"
	"syscall"
)

// procAttr puts each process in a process group of its own, so that stop
// signals the instance and every child it started, and a Ctrl-C at the
// agent's terminal reaches the agent alone (which then stops its processes
// with their grace). Pdeathsig has the kernel send SIGTERM should the agent
// die without stopping them: an agent that restarts knows nothing of its
// old processes, so they must not outlive it. (The kernel sends it when
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
