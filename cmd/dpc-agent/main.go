// Command dpc-agent runs the DPC agent on one host: it connects to the hub
// and serves the omq service "agent", through which a supervisor starts
// and stops service instances on this host and lists them. It runs the
// commands of its config file, or a manifest's command if its program is
// allowed (by default dpc-service only).
//
//	dpc-agent                                   # hub on 127.0.0.1:4222, id from the host name
//	dpc-agent --nats nats://hub:4222 --config /etc/dpc/agent.yml
//	dpc-agent --id nas --allow dpc-service,/opt/dpc/bin/worker
//
// Every process runs in a process group of its own with NATS_URL,
// DPC_SERVICE and DPC_INSTANCE_ID set, and its output goes to the agent's
// log. On SIGINT or SIGTERM the agent stops them all (SIGTERM, the grace,
// SIGKILL) and exits; a second signal ends it at once, and the kernel then
// sends its processes SIGTERM. If the hub goes away it keeps reconnecting.
// Exit codes: 0 stopped cleanly, 1 error, 2 bad usage or config file.
package main

import (
	"strings"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/command"
)

const description = `Run the DPC agent: start and stop service instances on this host for a supervisor.

A spawn runs the agent's own command for the service (config file), else the command from the service's manifest if its program is allowed (--allow, default dpc-service). Processes get the agent's hub address and credentials (NATS_URL, DPC_USER, DPC_PASSWORD, DPC_TLS_CA, DPC_TLS_CERT, DPC_TLS_KEY), DPC_SERVICE and DPC_INSTANCE_ID, run in their own process group, and are stopped with SIGTERM, then SIGKILL after the grace. SIGINT or SIGTERM stops every process, then the agent.

Exit codes: 0 stopped cleanly; 1 error; 2 bad usage or config file.

Example config file (--config):

`

func main() {
	command.Main("dpc-agent", &CLI{},
		kong.Description(description+indent(exampleConfig)),
	)
}

// indent keeps kong from reflowing the example.
func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString("    " + line)
	}
	return b.String()
}
