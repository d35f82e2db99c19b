package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/internal/elasticity"
	"github.com/dpc-project/dpc/loadgen"
	"github.com/dpc-project/dpc/omq"
)

// StepCmd is the step response of the elastic work service: offered load
// steps from --low to --high and back, and the bench measures how soon a
// new instance serves, how soon the p95 is back within the SLA, and how
// soon the surplus is gone after the step down.
type StepCmd struct {
	// The load.
	Low      float64       `help:"Offered rate before and after the step (L1), req/s." default:"10"`
	High     float64       `help:"Offered rate during the step (L2), req/s." default:"100"`
	Warmup   time.Duration `help:"Time at --low before the step up." default:"20s"`
	Hold     time.Duration `help:"Time at --high." default:"30s"`
	After    time.Duration `help:"Time at --low after the step down." default:"30s"`
	Arrivals string        `help:"Arrivals: poisson (random, of the rate) or even (1/rate apart)." default:"poisson" enum:"poisson,even"`
	Seed     uint64        `help:"Seed of the Poisson arrivals: the same seed, the same schedule." default:"1"`

	// The service and the system: as dpc-bench replay starts them.
	Policy          string        `help:"Policy of work: reactive, predictive, combined, target-tracking or fixed." default:"combined" enum:"reactive,predictive,combined,target-tracking,fixed"`
	Model           string        `help:"How the reactive, predictive and combined policies size a rate: erlang or gg1 (as dpc-bench replay's --model)." default:"erlang" enum:"erlang,gg1"`
	DownWindow      time.Duration `name:"down-window" help:"The provisioner's down_window (negative: its default, 10s)." default:"-1ns"`
	Min             int           `help:"Fewest instances of work." default:"1"`
	Max             int           `help:"Most instances of work." default:"10"`
	ServiceTime     time.Duration `name:"service-time" help:"Mean time a call of work takes (it sleeps, so instances cost no CPU)." default:"20ms"`
	ServiceTimeDist string        `name:"service-time-dist" help:"fixed or exp (exponential with mean --service-time)." default:"fixed" enum:"fixed,exp"`
	Concurrency     int           `help:"Calls each instance handles at once." default:"1"`
	Period          time.Duration `help:"The provisioner's period between decisions." default:"1s"`
	Direct          bool          `help:"Start --min instances of work directly, no agent or provisioner, never resized (a baseline: what the step does without elasticity)."`
	BinDir          string        `name:"bin-dir" help:"Directory with dpc-hub, dpc-service, dpc-agent and dpc-provisioner already built (default: go build them into a temporary directory)." type:"existingdir" placeholder:"DIR"`
	StartTimeout    time.Duration `name:"start-timeout" help:"How long the processes may take to start and the services to come up." default:"90s"`

	// The measurement.
	SLA         time.Duration `name:"sla" help:"SLA: a second meets it when the p95 latency of the calls due in it is at most this." default:"100ms"`
	Stable      time.Duration `help:"How long the p95 must stay within the SLA, and the instance count at L1's, to count as recovered (or to the end of the phase)." default:"3s"`
	Timeout     time.Duration `help:"Timeout of each call; a failed call counts as taking this long." default:"5s"`
	MaxInflight int           `name:"max-inflight" help:"Calls in flight at most; one more is dropped (and counted as failed) rather than delaying the schedule." default:"10000"`
	PingWindow  time.Duration `name:"ping-window" help:"How long each second's count of instances waits for $SRV.PING answers." default:"300ms"`
	Out         string        `help:"Directory for step.csv, summary.json, chart.png, chart.svg and the processes' logs (default: step-out/<time>)." type:"path" placeholder:"DIR"`
	Every       time.Duration `name:"progress-every" help:"Time between progress lines on stderr." default:"5s"`
	JSON        bool          `help:"Print the summary as JSON on stdout instead of a table."`
	Quiet       bool          `short:"q" help:"No progress lines on stderr."`
}

// Help is the long help of dpc-bench step --help.
func (c *StepCmd) Help() string {
	return `Offers the work service open-loop load at --low (L1) for --warmup, steps it
to --high (L2) for --hold, then back to --low for --after, and measures the
step response of dpc-provisioner under --policy:

  - after the step up: when the first new instance served a call (one whose
    reply names an instance that had neither served a call nor answered
    $SRV.PING before the step), when the instance count first rose, when
    the 1-second p95 was back within --sla to stay for --stable, and the
    peak instance count;
  - after the step down: when the instance count was back to what L1 needs
    (the oracle's count for L1, at least --min) to stay for --stable.

The system is started as dpc-bench replay starts it: a hub, one agent and the
provisioner (work-fixed, one idle instance, comes with it), or with --direct
--min instances of work and nothing resizing them. Every second's record is
in step.csv, the figures in summary.json, and a chart in chart.png/.svg. The
issue's targets: a new instance serving within 2 s of the step, the p95
within the SLA within 5 s of it.`
}

// Validate reports every problem at once.
func (c *StepCmd) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Low < 0 || c.High <= c.Low {
		bad("--low %g, --high %g: want 0 ≤ low < high", c.Low, c.High)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--warmup", c.Warmup}, {"--hold", c.Hold}, {"--after", c.After}, {"--stable", c.Stable}} {
		if d.v < time.Second || d.v%time.Second != 0 {
			bad("%s %s: must be whole seconds, at least 1s (the records are per second)", d.name, d.v)
		}
	}
	// The system's flags, as replay checks them.
	errs = append(errs, c.replayCmd().validateSystem())
	return errors.Join(errs...)
}

// replayCmd is the replay whose system the step runs on: the same
// services, provisioner config and agent. Its predictive day is a real
// one, so that the predictive part of a policy has no history in a run
// and sizes for the rate it observes (and a run never crosses into a
// compressed day that remembers the step).
func (c *StepCmd) replayCmd() *ReplayCmd {
	return &ReplayCmd{
		Day: 24 * time.Hour, Days: 1,
		Policy: c.Policy, Model: c.Model, DownWindow: c.DownWindow, Min: c.Min, Max: c.Max, Fixed: 1,
		ServiceTime: c.ServiceTime, ServiceTimeDist: c.ServiceTimeDist, Concurrency: c.Concurrency,
		Period: c.Period, Direct: c.Direct, BinDir: c.BinDir, StartTimeout: c.StartTimeout,
		SLA: c.SLA, Timeout: c.Timeout, MaxInflight: c.MaxInflight, PingWindow: c.PingWindow,
		Every: c.Every, Quiet: c.Quiet,
	}
}

// curve is the step and its arrivals, and a line describing them.
func (c *StepCmd) curve() (loadgen.Step, loadgen.Arrivals, string) {
	st := loadgen.Step{Low: c.Low, High: c.High, Warmup: c.Warmup, Hold: c.Hold, After: c.After}
	desc := fmt.Sprintf("%g req/s for %s, step to %g req/s for %s (t %d–%d s), back to %g req/s for %s",
		c.Low, c.Warmup, c.High, c.Hold, int(st.Up()/time.Second), int(st.Down()/time.Second), c.Low, c.After)
	if c.Arrivals == "even" {
		return st, loadgen.EvenArrivals(st), desc + "; evenly spaced arrivals"
	}
	return st, loadgen.PoissonArrivals(st, rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))), desc + fmt.Sprintf("; Poisson arrivals (seed %d)", c.Seed)
}

// outDir is --out, or a new directory named for the time under step-out.
func (c *StepCmd) outDir() string {
	if c.Out != "" {
		return c.Out
	}
	return filepath.Join("step-out", time.Now().Format("20060102-150405"))
}

// Run starts the system, offers the step, and writes the results;
// interrupted, it writes what it has and returns errInterrupted.
func (c *StepCmd) Run(ctx context.Context, stdout, stderr io.Writer) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	rc := c.replayCmd()
	curve, arrivals, curveDesc := c.curve()
	out := c.outDir()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	progress := rc.progressTo(stderr)

	sys, err := benchsys.StartWork(ctx, rc.work(), out, progress)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	defer func() {
		progress("stopping the processes")
		if stopErr := sys.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	rep := &elasticity.StepReport{
		Machine: benchreport.ReadMachine(), System: sys.Info, Curve: curveDesc, Out: out,
		Config: elasticity.StepConfig{
			Low: c.Low, High: c.High, Warmup: c.Warmup, Hold: c.Hold, After: c.After,
			Arrivals: c.Arrivals, Seed: c.Seed, SLA: c.SLA, Stable: c.Stable, Timeout: c.Timeout,
			ServiceTime: c.ServiceTime, ServiceTimeDist: c.ServiceTimeDist, Concurrency: c.Concurrency,
			Policy: c.Policy, Min: c.Min, Max: c.Max, Period: c.Period, Direct: c.Direct, MaxInflight: c.MaxInflight,
		},
	}
	rep.Load.Start = benchreport.LoadAvg()
	run, runErr := c.offer(ctx, sys, curve, arrivals, progress)
	rep.Load.End = benchreport.LoadAvg()
	interrupted := ctx.Err() != nil
	if runErr != nil && !interrupted {
		return runErr
	}
	rep.Interrupted = interrupted
	rows := run.Rec.Rows(curve, 0, run.UpTo, c.SLA)[0]
	elasticity.MeasureStep(rep, curve, rows, run)
	if err := elasticity.WriteStepResults(out, rep, rows, curve, c.JSON, stdout); err != nil {
		return err
	}
	if interrupted {
		return errInterrupted
	}
	return nil
}

// offer runs the load, the instance counts and the ping at the step.
func (c *StepCmd) offer(ctx context.Context, sys *benchsys.System, curve loadgen.Step, arrivals loadgen.Arrivals, progress func(string, ...any)) (*elasticity.StepRun, error) {
	node, err := sys.Node("dpc-bench step", omq.WithTimeout(c.Timeout))
	if err != nil {
		return nil, err
	}
	defer node.Conn().Close()
	progress("offering %s of load: %g req/s, %g from t=%s to t=%s", curve.Length(), c.Low, c.High, curve.Up(), curve.Down())
	return elasticity.OfferStep(ctx, node, curve, loadgen.Offer{
		Arrivals:   arrivals,
		Config:     loadgen.Config{Function: benchsys.WorkFunction, Timeout: c.Timeout, MaxInflight: c.MaxInflight},
		PingWindow: c.PingWindow, Progress: progress, Every: c.Every,
	}), nil
}
