package main

import (
	"fmt"
	"io"
	"time"

	"github.com/dpc-project/dpc/internal/benchsys"
)

// SystemFlags are the flags of the commands that measure a system of real
// processes: which system, and how to reach it.
type SystemFlags struct {
	NATS       string         `name:"nats" help:"Measure the system already running at this URL instead of starting one. NATS_URL is not read: a variable left set must not change what is measured." placeholder:"nats://HOST:4222"`
	PIDs       map[string]int `name:"pid" help:"With --nats: a process on this machine to measure, NAME=PID, repeatable; the one named hub is the hub (--pid hub=1234 --pid tst=5678)." placeholder:"NAME=PID"`
	MetricsURL string         `name:"metrics" help:"With --nats: the hub's Prometheus endpoint, for its Go heap." placeholder:"http://HOST:9090/metrics"`
	Creds      string         `name:"creds" help:"With --nats: NATS credentials file to connect with (default: this machine's DPC profile's, in $DPC_HOME or ~/.config/dpc). A system the bench starts has a profile of its own." env:"DPC_CREDS" type:"existingfile" placeholder:"FILE"`
	TLSCA      string         `name:"tls-ca" help:"With --nats: PEM CA of the hub (default: the DPC profile's)." env:"DPC_TLS_CA" type:"existingfile" placeholder:"FILE"`

	HubBin       string        `name:"hub-bin" help:"dpc-hub binary to start (default: go build one into a temporary directory; needs the module's source)." type:"existingfile" placeholder:"FILE"`
	ServiceBin   string        `name:"service-bin" help:"dpc-service binary to start (default: go build one)." type:"existingfile" placeholder:"FILE"`
	StartTimeout time.Duration `name:"start-timeout" help:"How long the processes may take to start and be ready." default:"60s"`

	Timeout time.Duration `help:"Timeout of each call." default:"5s"`
	JSON    bool          `help:"Print the report as JSON on stdout instead of tables."`
	Quiet   bool          `short:"q" help:"No progress lines on stderr."`
}

// progressTo returns a printf to stderr, or a no-op under --quiet.
func (f SystemFlags) progressTo(stderr io.Writer) func(string, ...any) {
	return progressTo(stderr, f.Quiet)
}

// options are the system the flags name, as benchsys starts or takes it.
func (f SystemFlags) options() benchsys.TstOptions {
	return benchsys.TstOptions{
		NATS: f.NATS, PIDs: f.PIDs, MetricsURL: f.MetricsURL, Creds: f.Creds, TLSCA: f.TLSCA,
		HubBin: f.HubBin, ServiceBin: f.ServiceBin, StartTimeout: f.StartTimeout,
	}
}

// progressTo returns a printf of progress lines to stderr, or a no-op
// when quiet.
func progressTo(stderr io.Writer, quiet bool) func(string, ...any) {
	if quiet {
		return func(string, ...any) {}
	}
	return func(format string, args ...any) {
		fmt.Fprintf(stderr, "dpc-bench: "+format+"\n", args...)
	}
}
