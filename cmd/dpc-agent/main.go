// Command dpc-agent runs the DPC agent on one host: it connects to the hub
// and serves the omq service "agent", through which a supervisor starts
// and stops service instances on this host and lists them. A spawn
// request names a service, never a command: the agent runs the command of
// its config file for the service, else the command of a manifest
// installed in one of its --manifests directories if its program is
// allowed, else "dpc-service <service>" if dpc-service is allowed (the
// default allow list).
//
//	dpc-agent                                   # hub on 127.0.0.1:4222, id from the host name
//	dpc-agent --nats nats://hub:4222 --config /etc/dpc/agent.yml
//	dpc-agent --id nas --manifests /etc/dpc/manifests --allow dpc-service,/opt/dpc/bin/worker
//
// Every process runs in a process group of its own with NATS_URL,
// DPC_SERVICE and DPC_INSTANCE_ID set — never the agent's own hub user,
// password or client certificate — and its output goes to the agent's
// log. With --metrics on, each also gets DPC_SERVICE_METRICS=127.0.0.1:0
// (--instance-metrics) and /sd lists the /metrics its instance reports,
// for Prometheus's HTTP service discovery. On SIGINT or SIGTERM the agent stops them all (SIGTERM, the grace,
// SIGKILL) and exits; a second signal ends it at once, and the kernel then
// sends its processes SIGTERM. If the hub goes away it keeps reconnecting.
// Exit codes: 0 stopped cleanly, 1 error, 2 bad usage, config file or
// manifest.
package main

import (
	"strings"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/internal/hubconn"
)

const description = `Run the DPC agent: start and stop service instances on this host for a supervisor.

A spawn request names a service (and maybe an instance id), never a command; one that brings a command is refused. The agent runs its own command for the service (config file), else the command of the service's manifest in a --manifests directory (installing it there approves it) if its program is allowed (--allow, default dpc-service), else dpc-service <service> if dpc-service is allowed. Processes get the hub's address (NATS_URL, without user or password) and DPC_TLS_CA if set, DPC_SERVICE and DPC_INSTANCE_ID — never the agent's own DPC_USER, DPC_PASSWORD, DPC_TLS_CERT or DPC_TLS_KEY — run in their own process group, and are stopped with SIGTERM, then SIGKILL after the grace. With --metrics on they also get DPC_SERVICE_METRICS (--instance-metrics), and /sd beside /metrics lists the /metrics each instance reports, for Prometheus's http_sd_configs. SIGINT or SIGTERM stops every process, then the agent.

Exit codes: 0 stopped cleanly; 1 error; 2 bad usage, config file or manifest.

Example config file (--config):

`

func main() {
	command.Main("dpc-agent", &CLI{},
		// Every flag also reads DPC_AGENT_<FLAG> (a prefix of its own, so that one
		// shell can configure every DPC command); the hub connection reads
		// NATS_URL, DPC_CREDS and DPC_TLS_CA, shared by the client commands.
		kong.DefaultEnvars("DPC_AGENT"),
		// --help shows where --nats goes when not given.
		kong.Vars(hubconn.HelpVars()),
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
