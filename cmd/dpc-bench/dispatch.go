package main

import (
	"context"
	"io"
	"time"

	"github.com/dpc-project/dpc/dispatchbench"
	"github.com/dpc-project/dpc/internal/benchreport"
)

// DispatchCmd measures omq's dispatch options side by side: push, refuse
// (dispatch to the idle) and a JetStream pull lane (package dispatchbench).
type DispatchCmd struct {
	Duration    time.Duration `help:"Length of each measured fast run (per client count and side) and of each hung run." default:"10s"`
	Warmup      time.Duration `help:"Unmeasured fast run before each measured one (0: a tenth of --duration, at most 1s; negative: none)." default:"0s"`
	Clients     []int         `help:"Numbers of closed-loop clients of the fast scenario, each on its own connection." default:"1,4,8"`
	Rate        float64       `help:"Poisson arrivals per second of the hung scenario." default:"100"`
	Concurrency []int         `help:"Handler slots of each instance of the hung scenario, a run each." default:"1,16"`
	Timeout     time.Duration `help:"Timeout of each hung call (not idempotent)." default:"1s"`
	StepTimeout time.Duration `name:"step-timeout" help:"Timeout of each step call; a failed one counts as taking this long." default:"5s"`
	SLA         time.Duration `name:"sla" help:"Step: a 250 ms bucket meets the SLA when the p95 of the calls sent in it is at most this." default:"100ms"`
	Queue       int           `help:"omq.Queue of every instance of the push and refuse sides: calls kept waiting beyond those running (-1: omq's default)." default:"-1"`
	Seed        uint64        `help:"Seed of the Poisson arrivals: every side gets the same schedule." default:"1"`
	Scenarios   []string      `help:"Scenarios: fast (a nop, 1 instance, closed loop), hung (one hung instance of two), step (a backlog at 1 instance, then 4 more)." default:"fast,hung,step" enum:"fast,hung,step"`
	Sides       []string      `help:"Sides: push (omq, WithResendWhenBusy(false)), refuse (omq's default) and pull (a JetStream work queue, pulled only into free slots)." default:"push,refuse,pull" enum:"push,refuse,pull"`
	JSON        bool          `help:"Print the report as JSON on stdout instead of tables."`
	Quiet       bool          `short:"q" help:"No progress lines on stderr."`
}

// Run starts an embedded server with JetStream and runs the scenarios on it.
func (c *DispatchCmd) Run(ctx context.Context, stdout, stderr io.Writer) error {
	srv, err := dispatchbench.StartServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	cfg := dispatchbench.Config{
		URL: srv.ClientURL(), Sides: c.Sides, Scenarios: c.Scenarios,
		Duration: c.Duration, Warmup: c.Warmup, Clients: c.Clients,
		Rate: c.Rate, Concurrency: c.Concurrency, Timeout: c.Timeout,
		StepTimeout: c.StepTimeout, SLA: c.SLA, Seed: c.Seed,
	}
	if c.Queue >= 0 {
		cfg.Queue = &c.Queue
	}
	if !c.Quiet {
		cfg.Progress = stderr
	}
	rep, err := dispatchbench.Run(ctx, cfg)
	if rep == nil {
		return err
	}
	if c.JSON {
		if werr := benchreport.WriteJSON(stdout, rep); werr != nil {
			return werr
		}
	} else if werr := dispatchbench.WriteText(stdout, rep); werr != nil {
		return werr
	}
	if rep.Interrupted {
		return errInterrupted
	}
	return err
}
