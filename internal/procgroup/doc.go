// Package procgroup starts DPC's child processes (agent instances, exec
// functions, bench services) in process groups of their own and ends
// them: so that a signal reaches a process and everything it started, a
// Ctrl-C at the parent's terminal reaches the parent alone (which then
// stops its children in order), and the kernel signals the child should
// the parent die without stopping it. Elsewhere than on Linux a child
// stays in its parent's group and only the child itself is signalled.
package procgroup
