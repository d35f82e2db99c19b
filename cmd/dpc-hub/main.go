// Command dpc-hub runs the DPC hub: an embedded NATS server (the message
// broker every device and service connects to, with JetStream for the
// durable lane), the hub's built-in functions, and a Prometheus /metrics
// endpoint.
//
//	dpc-hub                          # NATS on :4222, monitoring on :8222, data in ./data
//	dpc-hub --port 4333 --data /var/lib/dpc
//	dpc-hub --cluster-name home --cluster-port 6222 --routes nats-route://nas:6222
//
// Every flag has an environment fallback (DPC_HUB_PORT, DPC_HUB_DATA, …) and may
// be set in a YAML config file (--config, or /etc/dpc/hub.yml and
// ~/.config/dpc/hub.yml if present) under its long name. The hub
// stops cleanly on SIGINT or SIGTERM: calls in flight, to its built-ins
// and to every service instance, finish first (within --drain-timeout); a
// second signal stops it at once.
package main

import (
	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/internal/command"
)

func main() {
	command.Main("dpc-hub", &CLI{},
		kong.Description("Run the DPC hub: the embedded NATS broker, the built-in functions and /metrics."),
		kong.DefaultEnvars("DPC_HUB"),
		kong.Configuration(yamlConfig, configPaths...),
		kong.Vars{
			"sweep_interval": catalog.DefaultConfig().Interval.String(),
			"expiry":         catalog.DefaultConfig().Expiry.String(),
		},
	)
}
