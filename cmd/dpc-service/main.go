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
	"strings"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/services"
)

func main() {
	command.Main("dpc-service", &CLI{},
		kong.Description("Run a DPC extra service and plug its functions into the hub."),
		kong.Vars{"services": strings.Join(services.Names(), ",")},
	)
}
