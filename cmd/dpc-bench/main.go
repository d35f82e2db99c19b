// Command dpc-bench measures DPC's call path.
//
// The default command, compare, measures what omq costs over raw NATS:
// request-reply throughput and latency of an omq Call to a no-op function
// against a nats.go request to a plain queue-group responder, on one NATS
// server, at several numbers of concurrent clients.
//
// The thesis and soak commands measure a system of real processes: they
// build dpc-hub and dpc-service (or take them with --hub-bin and
// --service-bin), start a hub on random loopback ports with a temporary
// data directory and tst service instances connected to it, and stop them
// with SIGTERM at the end. thesis redoes the DPC thesis's experiment (runs
// of 1000 sequential nop calls, to the hub and to an extra service) and
// reports the processes' CPU use; soak reports their CPU use while idle
// and their memory over many calls. The hub installs its owner's profile
// in a DPC_HOME of the run's own, which every process and the bench's own
// clients connect with (TLS to the hub's CA, the owner's credentials): the
// user's profile is neither read nor written. See docs/BENCHMARKS.md.
//
// The replay command is an elasticity experiment: it replays a rate curve
// (a diurnal day compressed in time, with a flash crowd, or a trace of
// request times) as open-loop calls to the work service resized by
// dpc-provisioner and to a fixed-size copy of it, and writes per-second
// CSV, a summary of SLA violations and instance-seconds (against an
// oracle's), and a chart. The step command measures the response to a
// step in offered load: the time until a new instance serves, until p95
// is back within the SLA, and, after the step down, until the surplus is
// gone.
//
//	go run ./cmd/dpc-bench                 # compare: embedded server, 1 and 8 clients
//	go run ./cmd/dpc-bench --clients 1,4,16 --duration 10s --json
//	NATS_URL=tls://hub:4222 dpc-bench      # compare against a running hub, with this machine's DPC profile
//	dpc-bench --url tls://hub:4222 --creds me.creds --tls-ca hub-ca.pem
//	go run ./cmd/dpc-bench thesis          # 5 runs of 1000 calls each of nopKserv and nopExtra
//	go run ./cmd/dpc-bench soak            # 30 s idle, then 100,000 calls
//	go run ./cmd/dpc-bench replay          # 3 days of 2 minutes; results in replay-out/
//	go run ./cmd/dpc-bench step            # 10 → 100 → 10 calls/s; results in step-out/
//
// It exits 0 when the bench ran, whether or not omq met its targets; 1 on
// an error; 130 when interrupted (after printing the runs that finished).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/benchreport"
)

// errInterrupted marks a run stopped by a signal; main exits with 130.
var errInterrupted = errors.New("interrupted")

func main() {
	var cli CLI
	kctx := kong.Parse(&cli,
		kong.Name("dpc-bench"),
		kong.Description("Measure DPC's call path: omq against raw NATS (compare), the thesis's nop experiment on real processes (thesis), idle CPU and memory over many calls (soak), elasticity under a replayed load (replay) and after a step in load (step). Without a command, or with only flags, it runs compare."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	cmd, ok := kctx.Selected().Target.Addr().Interface().(command)
	if !ok {
		kctx.Fatalf("no command selected")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	err := cmd.Run(ctx, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(os.Stderr, "dpc-bench: interrupted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "dpc-bench:", err)
		os.Exit(1)
	}
}

// printReport prints rep on stdout, as JSON with asJSON, else as text
// does; then errInterrupted when the run was interrupted.
func printReport[R any](stdout io.Writer, asJSON bool, rep R, text func(io.Writer, R) error, interrupted bool) error {
	var err error
	if asJSON {
		err = benchreport.WriteJSON(stdout, rep)
	} else {
		err = text(stdout, rep)
	}
	if err != nil {
		return err
	}
	if interrupted {
		return errInterrupted
	}
	return nil
}
