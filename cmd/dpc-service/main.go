// Command dpc-service runs a DPC extra service: it connects to the hub,
// serves the service's functions (checked against its manifest),
// announces itself to the hub's catalog, and withdraws on SIGINT or
// SIGTERM. If the hub goes away it keeps trying to reconnect, and
// announces itself again when the hub is back.
//
// The service is one of the Go services built in, by name, or a manifest
// alone whose functions each name the command that implements it (exec;
// see manifests/README.md and package execfn).
//
//	dpc-service tst                       # the thesis's test service
//	dpc-service --nats nats://hub:4222 textutil
//	dpc-service --manifest my-tst.yml tst # a different manifest for it
//	dpc-service --name work-fixed --service-time 20ms work
//	dpc-service --manifest examples/sysinfo.yml   # functions that run this host's programs
//
// Run it several times for several load-balanced instances.
package main

import (
	"strings"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/services"
)

func main() {
	command.Main("dpc-service", &CLI{},
		// Every flag also reads DPC_SERVICE_<FLAG> (a prefix of its own, so that one
		// shell can configure every DPC command); the hub connection reads
		// NATS_URL, DPC_CREDS and DPC_TLS_CA, shared by the client commands.
		kong.DefaultEnvars("DPC_SERVICE"),
		// --help shows where --nats goes when not given.
		kong.Vars(hubconn.HelpVars()),
		kong.Description("Run a DPC extra service and plug its functions into the hub: a Go service by name, or, with --manifest alone, "+
			"a manifest whose functions run commands (exec: [program, args…], with {arg} placeholders). "+
			"A command runs without a shell, in a process group of its own, killed at the function's timeout (default 30s); "+
			"its stdout, read by return_type, is the result (at most 1 MiB); a non-zero exit is an error with the end of its stderr."),
		kong.Vars{"services": strings.Join(services.Names(), ",")},
	)
}
