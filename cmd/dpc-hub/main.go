// Command dpc-hub runs the DPC hub: an embedded NATS server (the message
// broker every device and service connects to, with JetStream for the
// durable lane), the hub's built-in functions, and a Prometheus /metrics
// endpoint.
//
//	dpc-hub                          # NATS on :4222, monitoring on :8222, data in ./data
//	dpc-hub --port 4333 --data /var/lib/dpc
//	dpc-hub --cluster-name home --cluster-port 6222 --routes nats-route://nas:6222
//
// Every flag has an environment fallback (DPC_PORT, DPC_DATA, …) and may
// be set in a YAML config file (--config, or /etc/dpc/hub.yml and
// ~/.config/dpc/hub.yml if present) under its long name. The hub
// stops cleanly on SIGINT or SIGTERM: calls in flight finish first.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/catalog"
)

func main() {
	var cli CLI
	kong.Parse(&cli,
		kong.Name("dpc-hub"),
		kong.Description("Run the DPC hub: the embedded NATS broker, the built-in functions and /metrics."),
		kong.UsageOnError(),
		// Bad usage exits 2, as with dpc-cli and Go's flag package (kong
		// would use 80).
		kong.Exit(func(code int) {
			if code == 80 {
				code = 2
			}
			os.Exit(code)
		}),
		kong.DefaultEnvars("DPC"),
		kong.Configuration(yamlConfig, configPaths...),
		kong.Vars{
			"sweep_interval": catalog.DefaultConfig().Interval.String(),
			"expiry":         catalog.DefaultConfig().Expiry.String(),
		},
	)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dpc-hub:", err)
		os.Exit(1)
	}
}
