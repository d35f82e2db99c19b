// Package proctest is for tests that run DPC's binaries as real
// processes: it builds them, starts and stops them, collects their output,
// waits for their log lines and drives their interactive mode.
//
// A test builds once in TestMain, starts a process with Start (killed at
// cleanup), waits for it with WaitForLog, and talks to it with a Session:
//
//	bins, err := proctest.Build(dir, "./cmd/dpc-hub")
//	...
//	hub := proctest.Start(t, "dpc-hub", exec.Command(bins["./cmd/dpc-hub"], "--log-format", "json"))
//	rec, err := proctest.WaitForLog(ctx, hub.Output(), "dpc-hub ready")
package proctest
