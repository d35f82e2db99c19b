package main

import (
	"context"
	"io"
)

// CLI is dpc-bench's command line: the omq-vs-raw comparison, which runs
// when no command is named, and the commands that measure a system of
// real processes (a dpc-hub and dpc-service instances, and for replay
// dpc-agent and dpc-provisioner).
type CLI struct {
	Compare  CompareCmd  `cmd:"" default:"withargs" help:"Compare omq Call with raw NATS request-reply (the default command): ops/s and p50/p90/p99 at each client count, omq/raw against the targets."`
	Thesis   ThesisCmd   `cmd:"" help:"Redo the DPC thesis's nop experiment on a real hub and tst service: runs of sequential hub.nopKserv and tst.nopExtra calls, ops/s beside the thesis's, and the processes' CPU use."`
	Soak     SoakCmd     `cmd:"" help:"Idle CPU of a hub and tst instances with no calls (no busy loops), then RSS and heap over many calls (no leaks)."`
	Replay   ReplayCmd   `cmd:"" help:"Elasticity: replay a compressed diurnal day with a flash crowd (or a trace) against the work service under dpc-provisioner and a fixed-size copy of it; SLA violations and instance-seconds of each, a CSV per second and a chart."`
	Step     StepCmd     `cmd:"" help:"Elasticity: a step in offered load from L1 to L2 and back against the work service under dpc-provisioner; time until a new instance serves, until the p95 is back within the SLA, and until the surplus is gone after the step down."`
	Dispatch DispatchCmd `cmd:"" help:"Dispatch options side by side: push (omq, WithResendWhenBusy(false)), refuse (omq's default) and a JetStream pull lane; a fast call's cost, one hung instance of two, and a backlog at one instance when more are bound."`
	Bodies   BodiesCmd   `cmd:"" help:"Large bodies: peak RSS growth of a real hub, service and dpc-cli while a 100 MB stream argument, result and note pass through them, against a 64 MiB target."`
}

// command is what every subcommand does: run until done or ctx ends, the
// report on stdout, progress on stderr.
type command interface {
	Run(ctx context.Context, stdout, stderr io.Writer) error
}
