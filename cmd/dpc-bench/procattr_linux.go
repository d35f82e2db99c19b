package main

import "syscall"

// childAttr puts a started process in a process group of its own, so that
// a Ctrl-C at the terminal reaches the bench alone and the bench stops its
// processes in order (services, then the hub) with SIGTERM; and has the
// kernel send it SIGTERM should the bench die without doing so.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
