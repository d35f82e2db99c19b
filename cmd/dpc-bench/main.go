// Command dpc-bench measures what omq costs over raw NATS: request-reply
// throughput and latency of an omq Call to a no-op function against a
// nats.go request to a plain queue-group responder, on one NATS server, at
// several numbers of concurrent clients. See docs/BENCHMARKS.md.
//
//	go run ./cmd/dpc-bench                 # embedded server, 1 and 8 clients
//	go run ./cmd/dpc-bench --clients 1,4,16 --duration 10s --json
//	NATS_URL=nats://hub:4222 dpc-bench     # against a running server
//
// It exits 0 when the bench ran, whether or not omq met its targets; 1 on
// an error; 130 when interrupted (after printing the runs that finished).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

func main() {
	var cli CLI
	kong.Parse(&cli,
		kong.Name("dpc-bench"),
		kong.Description("Compare omq Call with raw NATS request-reply: ops/s and p50/p90/p99 latency at each client count, and omq/raw ratios against the targets."),
		kong.UsageOnError(),
	)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	err := cli.Run(ctx, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(os.Stderr, "dpc-bench: interrupted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "dpc-bench:", err)
		os.Exit(1)
	}
}
