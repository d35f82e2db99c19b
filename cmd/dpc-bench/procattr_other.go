//go:build !linux

package main

import "syscall"

// childAttr: elsewhere the processes share the bench's process group, so a
// Ctrl-C at the terminal stops them too.
func childAttr() *syscall.SysProcAttr { return nil }
