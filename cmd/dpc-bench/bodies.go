package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/bodies"
)

// BodiesCmd measures what moving one large body costs in memory in every
// process it passes: the hub, a files service (this binary, with
// --serve) and dpc-cli (package bodies).
type BodiesCmd struct {
	Size    int64         `help:"Size of the body sent, in bytes." default:"104857600"`
	Target  int64         `help:"Target: peak RSS growth of every process at most this many bytes." default:"67108864"`
	Timeout time.Duration `help:"Timeout of each call." default:"5m"`
	HubBin  string        `name:"hub-bin" help:"dpc-hub binary (default: go build it)." type:"existingfile" placeholder:"FILE"`
	CLIBin  string        `name:"cli-bin" help:"dpc-cli binary (default: go build it)." type:"existingfile" placeholder:"FILE"`
	LogDir  string        `name:"log-dir" help:"Write each started process's whole output to DIR/<name>.log (each phase overwrites the last's)." type:"existingdir" placeholder:"DIR"`
	JSON    bool          `help:"Print the report as JSON on stdout instead of a table."`
	Quiet   bool          `short:"q" help:"No progress lines on stderr."`

	// Serve runs this process as the bench's files service instead, on
	// the hub at the URL given (with the profile in DPC_HOME).
	Serve string `hidden:"" placeholder:"URL"`
}

// Run runs the bench's phases and prints the report; with --serve, the
// files service.
func (c *BodiesCmd) Run(ctx context.Context, stdout, stderr io.Writer) error {
	if c.Serve != "" {
		return bodies.Serve(ctx, c.Serve, stderr)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := bodies.Config{
		Size: c.Size, Target: c.Target, Timeout: c.Timeout,
		HubBin: c.HubBin, CLIBin: c.CLIBin, LogDir: c.LogDir,
		ServeCmd: []string{self, "bodies", "--serve"},
	}
	if !c.Quiet {
		cfg.Progress = func(format string, args ...any) {
			fmt.Fprintf(stderr, "dpc-bench: "+format+"\n", args...)
		}
	}
	rep, err := bodies.Run(ctx, cfg)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	if c.JSON {
		return benchreport.WriteJSON(stdout, rep)
	}
	return bodies.WriteText(stdout, rep)
}
