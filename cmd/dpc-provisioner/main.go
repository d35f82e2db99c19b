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
	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/internal/hubconn"
)

func main() {
	command.Main("dpc-provisioner", &CLI{},
		// Every flag also reads DPC_PROVISIONER_<FLAG> (a prefix of its own, so that one
		// shell can configure every DPC command); the hub connection reads
		// NATS_URL, DPC_CREDS and DPC_TLS_CA, shared by the client commands.
		kong.DefaultEnvars("DPC_PROVISIONER"),
		// --help shows where --nats goes when not given.
		kong.Vars(hubconn.HelpVars()),
		kong.Description("Keep DPC services sized to their load: spawn and stop instances through dpc-agents as each service's policy decides.\n\n"+configHelp),
	)
}
