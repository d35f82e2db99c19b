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
	"strconv"
	"strings"
	"time"

	"github.com/dpc-project/dpc/loadgen"
	"github.com/dpc-project/dpc/omq"
	"gopkg.in/yaml.v3"
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

// workFunction is the function a replay calls on every service.
const workFunction = "work"

// The services a replay calls.
const (
	elasticService = "work"
	fixedService   = "work-fixed"
)

// The packages a replay runs, besides the hub and dpc-service.
const (
	agentPackage       = "github.com/dpc-project/dpc/cmd/dpc-agent"
	provisionerPackage = "github.com/dpc-project/dpc/cmd/dpc-provisioner"
)

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

// serviceCommand is the command line of one of the replay's services.
func (c *ReplayCmd) serviceCommand(name string) []string {
	cmd := []string{"dpc-service", elasticService}
	if name != elasticService {
		cmd = append(cmd, "--name", name)
	}
	return append(cmd, "--service-time", c.ServiceTime.String(), "--service-time-dist", c.ServiceTimeDist,
		"--concurrency", strconv.Itoa(c.Concurrency))
}

// provisionerConfig is dpc-provisioner's config file for the replay: the
// elastic service under --policy, with every policy's settings derived
// from the SLA and the curve's day, and the fixed one.
func (c *ReplayCmd) provisionerConfig() ([]byte, error) {
	type reactive struct {
		ResponseTime string  `yaml:"response_time"`
		Tau1         float64 `yaml:"tau1"`
		Tau2         float64 `yaml:"tau2"`
	}
	type predictive struct {
		ResponseTime string  `yaml:"response_time"`
		Slot         string  `yaml:"slot"`
		Day          string  `yaml:"day"`
		Days         int     `yaml:"days"`
		Percentile   float64 `yaml:"percentile"`
		Lead         string  `yaml:"lead"`
	}
	type targetTracking struct {
		Target     string  `yaml:"target"`
		Percentile float64 `yaml:"percentile"`
		Tolerance  float64 `yaml:"tolerance"`
		DownWindow string  `yaml:"down_window"`
	}
	type service struct {
		Name           string          `yaml:"name"`
		Min            int             `yaml:"min"`
		Max            int             `yaml:"max"`
		Policy         string          `yaml:"policy"`
		Reactive       *reactive       `yaml:"reactive,omitempty"`
		Predictive     *predictive     `yaml:"predictive,omitempty"`
		TargetTracking *targetTracking `yaml:"target_tracking,omitempty"`
	}
	// A slot of a 24th of the day (5s of the default 2m day), at least the
	// period, so that each slot holds a few observations; the lead as
	// long, to have instances up before the slot's load comes.
	slot := max(c.Day/24, c.Period).Round(time.Second)
	cfg := struct {
		Period string `yaml:"period"`
		// The history lives as long as the provisioner: the replay's
		// own training days fill it, and nothing of an earlier run
		// leaks in.
		History  string    `yaml:"history"`
		Services []service `yaml:"services"`
	}{
		Period:  c.Period.String(),
		History: "memory",
		Services: []service{{
			Name: elasticService, Min: c.Min, Max: c.Max, Policy: c.Policy,
			// The G/G/1 sizing bounds the mean response time; the SLA is on
			// the p95. Queue waits have roughly exponential tails (p95 ≈ 3×
			// the mean), so a mean of half the SLA keeps the p95 near it.
			Reactive:   &reactive{ResponseTime: (c.SLA / 2).String(), Tau1: 1.2, Tau2: 0.5},
			Predictive: &predictive{ResponseTime: (c.SLA / 2).String(), Slot: slot.String(), Day: c.Day.String(), Days: 7, Percentile: 95, Lead: slot.String()},
			// Queue wait at half the SLA leaves the other half for the
			// service time and the trip through the hub.
			TargetTracking: &targetTracking{Target: (c.SLA / 2).String(), Percentile: 90, Tolerance: 0.1, DownWindow: (10 * c.Period).String()},
		}, {
			Name: fixedService, Min: c.Fixed, Max: c.Fixed, Policy: "fixed",
		}},
	}
	return yaml.Marshal(cfg)
}

// agentConfig is dpc-agent's config file for the replay: its own commands
// for both services (spawn requests name the service only).
func (c *ReplayCmd) agentConfig() ([]byte, error) {
	type service struct {
		Command []string `yaml:"command"`
	}
	return yaml.Marshal(struct {
		Services map[string]service `yaml:"services"`
	}{map[string]service{
		elasticService: {c.serviceCommand(elasticService)},
		fixedService:   {c.serviceCommand(fixedService)},
	}})
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
	return SystemFlags{Quiet: c.Quiet}.progressTo(stderr)
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

	sys, err := c.startSystem(ctx, out, progress)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	defer func() {
		progress("stopping the processes")
		if stopErr := sys.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	rep := &ReplayReport{
		Machine: readMachine(), System: sys.info, Curve: curveDesc, Out: out,
		Config: ReplayConfig{
			Arrivals: c.Arrivals, Seed: c.Seed, SLA: c.SLA, Timeout: c.Timeout,
			ServiceTime: c.ServiceTime, ServiceTimeDist: c.ServiceTimeDist, Concurrency: c.Concurrency,
			Policy: c.Policy, Min: c.Min, Max: c.Max, Fixed: c.Fixed, Period: c.Period, Direct: c.Direct,
			MaxInflight: c.MaxInflight,
		},
	}
	if c.CSV == "" {
		rep.Config.Day, rep.Config.Days = c.Day, c.Days
	}
	rep.Load.Start = loadAvg()
	rec, upTo, runErr := c.replay(ctx, sys, curve, arrivals, progress)
	rep.Load.End = loadAvg()
	interrupted := ctx.Err() != nil
	if runErr != nil && !interrupted {
		return runErr
	}
	rep.Interrupted = interrupted

	day := c.Day
	if c.CSV != "" {
		day = 0
	}
	services := []string{elasticService, fixedService}
	rows := rec.Rows(curve, day, upTo, c.SLA)
	from := min(int(curve.ReportFrom()/time.Second), upTo)
	rep.ReportFrom, rep.ReportTo = from, upTo
	policies := map[string]string{elasticService: c.Policy, fixedService: fmt.Sprintf("fixed (%d)", c.Fixed)}
	if c.Direct {
		policies = map[string]string{elasticService: fmt.Sprintf("none (%d, direct)", c.Min), fixedService: fmt.Sprintf("none (%d, direct)", c.Fixed)}
	}
	for i, name := range services {
		rep.Services = append(rep.Services, ReplayService{ServiceSummary: loadgen.Summarize(name, policies[name], rows[i], rec.Latencies(i, from, upTo), from, upTo, c.SLA)})
	}
	var oracleInst []int
	if len(rows) > 0 {
		oracleInst = c.replayOracle(rep, rows[0], from, upTo)
	}
	if err := c.writeResults(out, rep, rows, oracleInst, curve, stdout); err != nil {
		return err
	}
	if interrupted {
		return errInterrupted
	}
	return nil
}

// replay runs the load and the instance counts, and returns the record
// and how many whole seconds of it there are.
func (c *ReplayCmd) replay(ctx context.Context, sys *system, curve loadgen.Curve, arrivals loadgen.Arrivals, progress func(string, ...any)) (*loadgen.Recorder, int, error) {
	services := []string{elasticService, fixedService}
	rec := loadgen.NewRecorder(services, c.Timeout)
	nc, err := sys.connect("dpc-bench replay")
	if err != nil {
		return rec, 0, err
	}
	defer nc.Close()
	node, err := omq.New(nc, omq.WithTimeout(c.Timeout))
	if err != nil {
		return rec, 0, err
	}

	length := curve.Length()
	progress("replaying %s of load (reported from t=%s)", length, curve.ReportFrom())
	start := time.Now()
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		loadgen.SampleInstances(sampleCtx, node, rec, start, c.PingWindow)
		close(sampled)
	}()
	progressCtx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() {
		c.reportProgress(progressCtx, rec, curve, start, progress)
		close(progressDone)
	}()

	gen := loadgen.NewGenerator(node, rec, loadgen.Config{Function: workFunction, Timeout: c.Timeout, MaxInflight: c.MaxInflight})
	gen.Run(ctx, start, arrivals)
	elapsed := time.Since(start)
	if ctx.Err() == nil {
		// The schedule ended before the curve did (no arrival in the
		// last moments): keep counting instances to the end.
		sleepCtx(ctx, time.Until(start.Add(length)))
		elapsed = min(time.Since(start), length)
	}
	stopProgress()
	<-progressDone
	progress("load ended at t=%s; waiting for the calls in flight", elapsed.Round(time.Second))
	// The sampler goes on while the calls end, though the seconds after
	// the load are not reported.
	gen.Drain(c.Timeout + 2*time.Second)
	stopSampling()
	<-sampled

	upTo := int(elapsed / time.Second)
	if ctx.Err() == nil && elapsed >= length {
		upTo = int((length + time.Second - 1) / time.Second)
	}
	return rec, upTo, nil
}

// reportProgress prints a line every --progress-every: where the load is,
// and each service's last whole second.
func (c *ReplayCmd) reportProgress(ctx context.Context, rec *loadgen.Recorder, curve loadgen.Curve, start time.Time, progress func(string, ...any)) {
	tick := time.NewTicker(c.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		el := time.Since(start)
		sec := int(el/time.Second) - 1
		if sec < 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "t %3ds/%ds", sec+1, int(curve.Length()/time.Second))
		if d, ok := curve.(loadgen.Diurnal); ok {
			fmt.Fprintf(&b, " (day %d/%d)", sec/int(d.Day/time.Second)+1, d.Days)
		}
		fmt.Fprintf(&b, "  λ %5.1f/s", curve.Rate(time.Duration(sec)*time.Second+time.Second/2))
		for i, name := range rec.Services() {
			st := rec.Second(i, sec)
			fmt.Fprintf(&b, " | %s: %d sent, %d failed, p95 %s, %s inst", name, st.Sent, st.Failed, fmtMillis(st.P95), fmtCount(st.Instances))
		}
		progress("%s", b.String())
	}
}

func fmtMillis(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
}

func fmtCount(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}

// startSystem builds the binaries (unless --bin-dir), starts the hub, the
// agent and the provisioner (or, with --direct, the services), and waits
// until both services are up with their starting instances. The
// provisioner's config is also written to out.
func (c *ReplayCmd) startSystem(ctx context.Context, out string, progress func(string, ...any)) (_ *system, err error) {
	// The processes' logs go with the results: the provisioner's are its
	// decisions and their reasons.
	s := &system{progress: progress, logDir: filepath.Join(out, "logs")}
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.StartTimeout)
	defer cancel()
	if err := s.makeDir("dpc-bench-replay-"); err != nil {
		return nil, err
	}

	bin := c.BinDir
	pkgs := []string{hubPackage, servicePackage}
	if !c.Direct {
		pkgs = append(pkgs, agentPackage, provisionerPackage)
	}
	if bin == "" {
		bin = filepath.Join(s.dir, "bin")
		progress("building %s", strings.Join(pkgs, " "))
		if err := goBuild(ctx, bin, pkgs...); err != nil {
			return nil, fmt.Errorf("%w\n(or give --bin-dir)", err)
		}
	}
	binary := func(pkg string) (string, error) {
		p := filepath.Join(bin, filepath.Base(pkg))
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("--bin-dir: %w", err)
		}
		return p, nil
	}
	paths := map[string]string{}
	for _, pkg := range pkgs {
		if paths[pkg], err = binary(pkg); err != nil {
			return nil, err
		}
	}
	if err := s.startHub(ctx, paths[hubPackage]); err != nil {
		return nil, err
	}

	if c.Direct {
		for _, sv := range []struct {
			name string
			n    int
		}{{elasticService, c.Min}, {fixedService, c.Fixed}} {
			for i := range sv.n {
				id := fmt.Sprintf("%s-%d", sv.name, i+1)
				args := append([]string{"--nats", s.info.URL, "--instance-id", id}, c.serviceCommand(sv.name)[1:]...)
				p, err := s.startProc(id, paths[servicePackage], args...)
				if err != nil {
					return nil, err
				}
				progress("dpc-service %s (pid %d) started", id, p.pid)
			}
		}
	} else {
		cfg, err := c.provisionerConfig()
		if err != nil {
			return nil, err
		}
		cfgPath := filepath.Join(out, "provisioner.yml")
		if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
			return nil, err
		}
		agentCfg, err := c.agentConfig()
		if err != nil {
			return nil, err
		}
		agentCfgPath := filepath.Join(out, "agent.yml")
		if err := os.WriteFile(agentCfgPath, agentCfg, 0o644); err != nil {
			return nil, err
		}
		// The agent runs dpc-service by its name in its configured
		// commands: the binaries' directory goes first on its PATH.
		path := "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
		agent, agentReady, err := s.startProcReady("agent", paths[agentPackage], []string{path}, "dpc-agent ready",
			"--nats", s.info.URL, "--id", "replay", "--config", agentCfgPath, "--log-format", "json")
		if err != nil {
			return nil, err
		}
		if err := waitReadyLine(ctx, agent, agentReady); err != nil {
			return nil, err
		}
		progress("dpc-agent (pid %d) ready", agent.pid)
		prov, ready, err := s.startProcReady("provisioner", paths[provisionerPackage], []string{path}, "dpc-provisioner ready",
			"--nats", s.info.URL, "--config", cfgPath, "--metrics", "127.0.0.1:0", "--log-format", "json")
		if err != nil {
			return nil, err
		}
		if err := waitReadyLine(ctx, prov, ready); err != nil {
			return nil, err
		}
		progress("dpc-provisioner (pid %d) ready, config %s", prov.pid, cfgPath)
	}
	for _, p := range s.procs {
		s.info.Processes = append(s.info.Processes, ProcInfo{Name: p.name, PID: p.pid, Command: commandLine(p.cmd)})
	}
	if err := c.waitServices(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// waitReadyLine waits for p's ready log line.
func waitReadyLine(ctx context.Context, p *proc, ready <-chan []byte) error {
	select {
	case <-ready:
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited before it was ready: %v%s", p.name, p.err, p.log.String())
	case <-ctx.Done():
		return fmt.Errorf("%s not ready: %w%s", p.name, context.Cause(ctx), p.log.String())
	}
}

// waitServices polls until work answers with at least --min instances and
// work-fixed with --fixed, or a process exits, or ctx ends.
func (c *ReplayCmd) waitServices(ctx context.Context, s *system) error {
	nc, err := s.connect("dpc-bench replay probe")
	if err != nil {
		return err
	}
	defer nc.Close()
	s.info.ServerVersion = nc.ConnectedServerVersion()
	node, err := omq.New(nc)
	if err != nil {
		return err
	}
	want := map[string]int{elasticService: c.Min, fixedService: c.Fixed}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		for _, p := range s.procs {
			if p.exited() {
				return fmt.Errorf("%s exited before the services were up: %v%s", p.name, p.err, p.log.String())
			}
		}
		last = nil
		for _, name := range []string{elasticService, fixedService} {
			pings, err := node.PingWithin(ctx, name, 200*time.Millisecond)
			if err == nil && len(pings) < want[name] {
				err = fmt.Errorf("%s has %d instance(s), want %d", name, len(pings), want[name])
			}
			if err == nil {
				err = node.Lookup(name).Call(ctx, workFunction, nil, nil, omq.Timeout(2*time.Second))
			}
			if err != nil {
				last = err
				break
			}
		}
		if last == nil {
			s.progress("%s has %d instance(s) and %s %d: starting the load", elasticService, want[elasticService], fixedService, want[fixedService])
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("services not up: %w (last: %v)", context.Cause(ctx), last)
		case <-tick.C:
		}
	}
}
