// Command dpc-provisioner is DPC's elasticity supervisor: every period it
// reads each configured service's load (arrival rate, service and
// inter-arrival times, queue-wait percentiles, durable-lane backlog) from
// its instances' $SRV.STATS and the hub, asks the service's policy how
// many instances it needs, and starts or stops instances through the
// dpc-agent on each host so that that many run — replacing those that die
// or are lost with their agent.
//
//	dpc-provisioner --config provisioner.yml
//	dpc-provisioner --config provisioner.yml --period 1s --metrics :9091
//	dpc-provisioner --config provisioner.yml --dry-run   # decide and log, start nothing
//
// Every decision is logged with its reason and exported on /metrics.
// Exit codes: 0 stopped by SIGINT/SIGTERM; 1 error; 2 bad usage or config.
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
		kong.Name("dpc-provisioner"),
		kong.Description("Keep DPC services sized to their load: spawn and stop instances through dpc-agents as each service's policy decides.\n\n"+configHelp),
		kong.UsageOnError(),
		kong.Exit(func(code int) {
			if code == 80 {
				code = 2 // bad usage exits 2, as everywhere in DPC
			}
			os.Exit(code)
		}),
	)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dpc-provisioner:", err)
		if errors.As(err, new(configError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
