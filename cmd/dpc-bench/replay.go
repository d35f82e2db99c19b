package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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

// ReplayCmd is the elasticity experiment: one rate curve, replayed as
// open-loop calls to an elastic service (under dpc-provisioner) and to a
// fixed-size one side by side, and how each kept its SLA and at what
// cost in instances.
type ReplayCmd struct {
	// The rate curve: a compressed diurnal day, or a trace.
	Day      time.Duration `help:"Length of one compressed day (also the predictive policy's day, with --csv too)." default:"120s"`
	Days     int           `help:"Days to replay; the first train the predictive history, the last is reported." default:"3"`
	Base     float64       `help:"Lowest rate of the day (night), req/s." default:"10"`
	Peak     float64       `help:"Highest rate of the day (evening peak), req/s." default:"100"`
	FlashAt  float64       `name:"flash-at" help:"Start of the last day's flash crowd, as a fraction of the day." default:"0.7"`
	FlashLen float64       `name:"flash-len" help:"Length of the flash crowd, as a fraction of the day (0: none)." default:"0.08"`
	FlashX   float64       `name:"flash-x" help:"The flash crowd multiplies the rate by this (1: none)." default:"3"`
	CSV      string        `name:"csv" help:"Replay the request times of this file instead (seconds, one per line, or a CSV with a column t)." type:"existingfile" placeholder:"FILE"`
	Speedup  float64       `help:"With --csv: replay this many times faster than recorded." default:"1"`
	Arrivals string        `help:"Arrivals along the curve: poisson (random, of rate λ(t)) or even (1/λ apart). With --csv the trace's own times are replayed." default:"poisson" enum:"poisson,even"`
	Seed     uint64        `help:"Seed of the Poisson arrivals: the same seed, the same schedule." default:"1"`

	// The services.
	Policy          string        `help:"Policy of the elastic service: reactive, predictive, combined, target-tracking or fixed." default:"combined" enum:"reactive,predictive,combined,target-tracking,fixed"`
	Model           string        `help:"How the reactive, predictive and combined policies size a rate: erlang (one queue shared by the instances, as omq's dispatch to the idle makes it; the SLA's p95 less a fifth for the hops) or gg1 (a G/G/1 queue per instance, half the SLA as its mean)." default:"erlang" enum:"erlang,gg1"`
	DownWindow      time.Duration `name:"down-window" help:"The provisioner's down_window: scale down only to the highest count of this long (negative: the provisioner's default, 10s, which in a compressed day of 2m lasts two hours)." default:"3s"`
	Min             int           `help:"Fewest instances of the elastic service." default:"1"`
	Max             int           `help:"Most instances of the elastic service." default:"10"`
	Fixed           int           `help:"Instances of the fixed-size service (work-fixed)." default:"3"`
	ServiceTime     time.Duration `name:"service-time" help:"Mean time a call of work takes (it sleeps, so instances cost no CPU)." default:"20ms"`
	ServiceTimeDist string        `name:"service-time-dist" help:"fixed or exp (exponential with mean --service-time)." default:"fixed" enum:"fixed,exp"`
	Concurrency     int           `help:"Calls each instance handles at once." default:"1"`
	Period          time.Duration `help:"The provisioner's period between decisions." default:"1s"`
	Direct          bool          `help:"Start the services directly, no agent or provisioner: --min instances of work and --fixed of work-fixed, neither resized (a baseline, or a run without the provisioner)."`
	BinDir          string        `name:"bin-dir" help:"Directory with dpc-hub, dpc-service, dpc-agent and dpc-provisioner already built (default: go build them into a temporary directory)." type:"existingdir" placeholder:"DIR"`
	StartTimeout    time.Duration `name:"start-timeout" help:"How long the processes may take to start and the services to come up." default:"90s"`

	// The measurement.
	SLA         time.Duration `name:"sla" help:"SLA: a second meets it when the p95 latency of the calls due in it is at most this." default:"100ms"`
	Timeout     time.Duration `help:"Timeout of each call; a failed call counts as taking this long." default:"5s"`
	MaxInflight int           `name:"max-inflight" help:"Calls in flight per service at most; one more is dropped (and counted as failed) rather than delaying the schedule." default:"10000"`
	PingWindow  time.Duration `name:"ping-window" help:"How long each second's count of instances waits for $SRV.PING answers." default:"300ms"`
	Out         string        `help:"Directory for replay.csv, summary.md, summary.json, chart.png and chart.svg (default: replay-out/<time>)." type:"path" placeholder:"DIR"`
	Every       time.Duration `name:"progress-every" help:"Time between progress lines on stderr." default:"5s"`
	JSON        bool          `help:"Print the summary as JSON on stdout instead of a table."`
	Quiet       bool          `short:"q" help:"No progress lines on stderr."`
}

// Help is the long help of dpc-bench replay --help.
func (c *ReplayCmd) Help() string {
	return `Replays a rate curve λ(t) against two deployments of the work service at
once and compares them: "work", resized by dpc-provisioner under --policy
between --min and --max instances, and "work-fixed", --fixed instances that
never change. Each call of work sleeps --service-time, so one instance with
--concurrency 1 serves at most 1/service-time calls a second.

The bench builds dpc-hub, dpc-service, dpc-agent and dpc-provisioner, starts
a hub on a free loopback port, one agent (allowed to run dpc-service) and the
provisioner with a generated config (kept in the output directory), and waits
for both services to be up. Then, for every arrival of the curve, it calls
work.work and work-fixed.work without waiting for replies (open loop: a slow
service gets its calls on time, as from independent users), each with
--timeout.

The curve is a day compressed into --day, with a night trough, a morning
and an evening peak between --base and --peak, repeated --days times; the
first days train the predictive policy's history and the last, which has a
flash crowd (--flash-at, --flash-len, --flash-x), is the one reported. Or
--csv replays recorded request times, --speedup times faster.

Every second it counts each service's instances ($SRV.PING) and records, by
the second each call was due: calls, completions, errors, timeouts, and the
p50/p95/p99 latency, a failed call counting as the timeout. A second meets
the SLA when its p95 is at most --sla. At the end it writes replay.csv (all
seconds), summary.md and summary.json (the reported part), chart.png and
chart.svg (offered λ; instances; p95 against the SLA), and prints the
summary: per service, SLA-violating seconds, the share of calls slower than
the SLA, and instance-seconds, also as a ratio to an oracle's: the fewest
instances meeting the SLA at each second's measured rate by queueing theory
(M/D/k or M/M/k, see docs/BENCHMARKS.md). Ctrl-C stops the load, lets the calls in
flight end, and still writes all of it.`
}

// Validate reports every problem at once.
func (c *ReplayCmd) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Day < 2*time.Second || c.Day%time.Second != 0 {
		bad("--day %s: must be whole seconds, at least 2s (the records are per second)", c.Day)
	}
	if c.CSV == "" {
		if c.Days < 1 {
			bad("--days %d: must be at least 1", c.Days)
		}
		if c.Base < 0 || c.Peak <= 0 || c.Base > c.Peak {
			bad("--base %g, --peak %g: want 0 ≤ base ≤ peak and peak > 0", c.Base, c.Peak)
		}
		if c.FlashAt < 0 || c.FlashAt >= 1 || c.FlashLen < 0 || c.FlashLen > 1 {
			bad("--flash-at %g, --flash-len %g: want fractions of a day, at in [0, 1), len in [0, 1]", c.FlashAt, c.FlashLen)
		}
		if c.FlashX < 1 {
			bad("--flash-x %g: must be at least 1", c.FlashX)
		}
	}
	if c.Speedup <= 0 || math.IsInf(c.Speedup, 0) {
		bad("--speedup %g: must be more than 0", c.Speedup)
	}
	if c.Fixed < 1 {
		bad("--fixed %d: must be at least 1", c.Fixed)
	}
	errs = append(errs, c.validateSystem())
	return errors.Join(errs...)
}

// validateSystem checks the flags of the system a bench runs (the
// services, the provisioner, the load's calls), which step shares.
func (c *ReplayCmd) validateSystem() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Min < 1 || c.Max < c.Min {
		bad("--min %d, --max %d: want 1 ≤ min ≤ max", c.Min, c.Max)
	}
	if c.ServiceTime <= 0 {
		bad("--service-time %s: must be positive", c.ServiceTime)
	}
	if c.Concurrency < 1 {
		bad("--concurrency %d: must be at least 1", c.Concurrency)
	}
	if c.Period <= 0 {
		bad("--period %s: must be positive", c.Period)
	}
	if c.SLA <= 0 || c.Timeout <= c.SLA {
		bad("--sla %s, --timeout %s: want 0 < sla < timeout", c.SLA, c.Timeout)
	}
	if c.MaxInflight < 1 {
		bad("--max-inflight %d: must be at least 1", c.MaxInflight)
	}
	if c.PingWindow <= 0 || c.PingWindow >= time.Second {
		bad("--ping-window %s: want more than 0 and less than 1s (instances are counted every second)", c.PingWindow)
	}
	if c.StartTimeout <= 0 {
		bad("--start-timeout %s: must be positive", c.StartTimeout)
	}
	if c.Every <= 0 {
		bad("--progress-every %s: must be positive", c.Every)
	}
	return errors.Join(errs...)
}

// maxTraceLength bounds a trace's replay: a stray timestamp far from the
// others would otherwise make a replay of years.
const maxTraceLength = 7 * 24 * time.Hour

// curve builds the rate curve and its arrivals.
func (c *ReplayCmd) curve() (loadgen.Curve, loadgen.Arrivals, string, error) {
	if c.CSV != "" {
		ts, err := loadgen.LoadTrace(c.CSV)
		if err != nil {
			return nil, nil, "", err
		}
		tr, err := loadgen.NewTrace(ts, c.Speedup, maxTraceLength)
		if err != nil {
			return nil, nil, "", fmt.Errorf("%s: %w", c.CSV, err)
		}
		desc := fmt.Sprintf("trace %s: %d requests over %s, replayed ×%g in %s", c.CSV, len(ts), time.Duration(float64(tr.Length())*c.Speedup).Round(time.Second), c.Speedup, tr.Length())
		return tr, loadgen.TraceArrivals(tr), desc, nil
	}
	d := loadgen.Diurnal{Day: c.Day, Days: c.Days, Base: c.Base, Peak: c.Peak, FlashAt: c.FlashAt, FlashLen: c.FlashLen, FlashX: c.FlashX}
	desc := fmt.Sprintf("diurnal, %d day(s) of %s: %g req/s at night to %g at the evening peak", c.Days, c.Day, c.Base, c.Peak)
	if from, to, ok := d.FlashWindow(); ok {
		desc += fmt.Sprintf(", flash crowd ×%g on the last day (t %.1f–%.1f s)", c.FlashX, from.Seconds(), to.Seconds())
	}
	if c.Arrivals == "even" {
		return d, loadgen.EvenArrivals(d), desc + "; evenly spaced arrivals", nil
	}
	return d, loadgen.PoissonArrivals(d, rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))), desc + fmt.Sprintf("; Poisson arrivals (seed %d)", c.Seed), nil
}

// outDir is --out, or a new directory named for the time under
// replay-out.
func (c *ReplayCmd) outDir() string {
	if c.Out != "" {
		return c.Out
	}
	return filepath.Join("replay-out", time.Now().Format("20060102-150405"))
}

// progressTo returns a printf to stderr, or a no-op under --quiet.
func (c *ReplayCmd) progressTo(stderr io.Writer) func(string, ...any) {
	return progressTo(stderr, c.Quiet)
}

// work is the system the replay runs.
func (c *ReplayCmd) work() benchsys.Work {
	return benchsys.Work{
		Policy: c.Policy, Model: c.Model, DownWindow: c.DownWindow, Min: c.Min, Max: c.Max, Fixed: c.Fixed,
		ServiceTime: c.ServiceTime, ServiceTimeDist: c.ServiceTimeDist, Concurrency: c.Concurrency,
		Period: c.Period, Day: c.Day, SLA: c.SLA, Direct: c.Direct, BinDir: c.BinDir, StartTimeout: c.StartTimeout,
	}
}

// Run starts the system, replays the curve, and writes the results;
// interrupted, it writes what it has and returns errInterrupted.
func (c *ReplayCmd) Run(ctx context.Context, stdout, stderr io.Writer) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	curve, arrivals, curveDesc, err := c.curve()
	if err != nil {
		return err
	}
	out := c.outDir()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	progress := c.progressTo(stderr)

	sys, err := benchsys.StartWork(ctx, c.work(), out, progress)
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

	rep := &elasticity.ReplayReport{
		Machine: benchreport.ReadMachine(), System: sys.Info, Curve: curveDesc, Out: out,
		Config: elasticity.ReplayConfig{
			Arrivals: c.Arrivals, Seed: c.Seed, SLA: c.SLA, Timeout: c.Timeout,
			ServiceTime: c.ServiceTime, ServiceTimeDist: c.ServiceTimeDist, Concurrency: c.Concurrency,
			Policy: c.Policy, Min: c.Min, Max: c.Max, Fixed: c.Fixed, Period: c.Period, Direct: c.Direct,
			MaxInflight: c.MaxInflight,
		},
	}
	if c.CSV == "" {
		rep.Config.Day, rep.Config.Days = c.Day, c.Days
	}
	rep.Load.Start = benchreport.LoadAvg()
	rec, upTo, runErr := c.replay(ctx, sys, curve, arrivals, progress)
	rep.Load.End = benchreport.LoadAvg()
	interrupted := ctx.Err() != nil
	if runErr != nil && !interrupted {
		return runErr
	}
	rep.Interrupted = interrupted

	day := c.Day
	if c.CSV != "" {
		day = 0
	}
	rows, oracleInst := rep.Summarize(rec, curve, day, upTo)
	if err := elasticity.WriteReplayResults(out, rep, rows, oracleInst, curve, c.JSON, stdout); err != nil {
		return err
	}
	if interrupted {
		return errInterrupted
	}
	return nil
}

// replay runs the load and the instance counts, and returns the record
// and how many whole seconds of it there are.
func (c *ReplayCmd) replay(ctx context.Context, sys *benchsys.System, curve loadgen.Curve, arrivals loadgen.Arrivals, progress func(string, ...any)) (*loadgen.Recorder, int, error) {
	rec := loadgen.NewRecorder([]string{benchsys.ElasticService, benchsys.FixedService}, c.Timeout)
	node, err := sys.Node("dpc-bench replay", omq.WithTimeout(c.Timeout))
	if err != nil {
		return rec, 0, err
	}
	defer node.Conn().Close()
	progress("replaying %s of load (reported from t=%s)", curve.Length(), curve.ReportFrom())
	upTo := loadgen.Offer{
		Curve: curve, Arrivals: arrivals,
		Config:     loadgen.Config{Function: benchsys.WorkFunction, Timeout: c.Timeout, MaxInflight: c.MaxInflight},
		PingWindow: c.PingWindow, Progress: progress, Every: c.Every,
	}.Run(ctx, node, rec)
	return rec, upTo, nil
}
