// Command dpc-service runs a DPC extra service: it connects to the hub,
// serves the service's functions (checked against its manifest),
// announces itself to the hub's catalog, and withdraws on SIGINT or
// SIGTERM. If the hub goes away it keeps trying to reconnect, and
// announces itself again when the hub is back.
//
//	dpc-service tst                       # the thesis's test service
//	dpc-service --nats nats://hub:4222 textutil
//	dpc-service --manifest my-tst.yml tst # a different manifest for it
//	dpc-service --name work-fixed --service-time 20ms work
//
// Run it several times for several load-balanced instances.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/services"
)

func main() {
	var cli CLI
	kong.Parse(&cli,
		kong.Name("dpc-service"),
		kong.Description("Run a DPC extra service and plug its functions into the hub."),
		kong.UsageOnError(),
		// Bad usage exits 2, as with dpc-cli and Go's flag package (kong
		// would use 80).
		kong.Exit(func(code int) {
			if code == 80 {
				code = 2
			}
			os.Exit(code)
		}),
		kong.Vars{"services": strings.Join(services.Names(), ",")},
	)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dpc-service:", err)
		os.Exit(1)
	}
}
