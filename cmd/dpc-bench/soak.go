package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// SoakCmd looks for the two faults the thesis found in its prototype: busy
// loops (K-serv and Tst-serv at 100% CPU while idle) and a leak (K-serv
// growing about 2 MB per run of the nop experiments). It measures each
// process's CPU while no calls are made, then makes many calls, sampling
// every process's resident memory and the hub's Go heap as they go, and
// then measures idle CPU again.
type SoakCmd struct {
	Instances int           `help:"tst instances to start." default:"2"`
	Settle    time.Duration `help:"Wait after the system is ready before the idle window, so that start-up work is not counted." default:"2s"`
	Idle      time.Duration `help:"Idle window before the calls: no calls, each process's CPU measured over it (0 skips it)." default:"30s"`

	Calls       int `help:"Calls to make, alternately tst.add and hub.nopKserv." default:"100000"`
	Clients     int `help:"Concurrent clients, each on its own connection, each making one call at a time." default:"4"`
	SampleEvery int `name:"sample-every" help:"Sample memory every this many calls." default:"10000"`
	Warmup      int `help:"Calls after which growth is measured (pools, buffers and the heap's target settle first)." default:"10000"`

	IdleAfter time.Duration `name:"idle-after" help:"Idle window after the calls (0 skips it): CPU must fall back, nothing left spinning." default:"10s"`

	SystemFlags `embed:""`
}

// The functions the soak calls, alternately.
const (
	soakAdd = "tst.add"
	soakNop = "hub.nopKserv"
)

// SoakReport is what dpc-bench soak found, as printed by --json.
type SoakReport struct {
	Machine Machine    `json:"machine"`
	System  SystemInfo `json:"system"`
	Config  SoakConfig `json:"config"`
	// Idle is the window before the calls, IdleAfter the one after.
	Idle      *IdleWindow `json:"idle,omitempty"`
	IdleAfter *IdleWindow `json:"idle_after,omitempty"`
	// Samples are taken before the first call and every SampleEvery calls.
	Samples []MemSample `json:"samples"`
	// Growth is each series from the first sample at or after Warmup calls
	// to the last.
	Growth []Growth `json:"growth"`
	// InstanceCalls is how many tst.add calls each tst instance handled.
	InstanceCalls []InstanceCalls `json:"instance_calls,omitempty"`
	Load          Load            `json:"load"`
	Interrupted   bool            `json:"interrupted,omitempty"`
}

// SoakConfig is what shaped the figures.
type SoakConfig struct {
	Instances   int           `json:"instances"`
	Settle      time.Duration `json:"settle_ns"`
	Idle        time.Duration `json:"idle_ns"`
	Calls       int           `json:"calls"`
	Clients     int           `json:"clients"`
	SampleEvery int           `json:"sample_every"`
	Warmup      int           `json:"warmup_calls"`
	IdleAfter   time.Duration `json:"idle_after_ns"`
	Functions   []string      `json:"functions"`
	Timeout     time.Duration `json:"timeout_ns"`
}

// IdleWindow is each process's use of the machine over a stretch with no
// calls.
type IdleWindow struct {
	Duration  time.Duration `json:"duration_ns"`
	Processes []IdleProc    `json:"processes"`
}

// IdleProc is one process over an idle window.
type IdleProc struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// CPUPercent is CPU time over wall time, as a percentage of one core.
	CPUPercent float64       `json:"cpu_percent"`
	CPU        time.Duration `json:"cpu_ns"`
	// CtxSwitchesPerSec counts wake-ups, which show a polling loop even
	// when its CPU time rounds down to no ticks.
	CtxSwitchesPerSec float64 `json:"ctx_switches_per_s"`
	RSS               int64   `json:"rss_bytes"`
}

// MemSample is the memory of every process after some number of calls.
type MemSample struct {
	Calls   int           `json:"calls"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// OpsPerSec is the rate of the calls since the previous sample.
	OpsPerSec float64 `json:"ops_per_s,omitempty"`
	// RSS is each process's VmRSS, the client (this process) included.
	RSS map[string]int64 `json:"rss_bytes"`
	// HubHeapInuse and HubGoroutines are from the hub's /metrics; 0 when
	// it has none.
	HubHeapInuse    int64 `json:"hub_heap_inuse_bytes,omitempty"`
	HubGoroutines   int   `json:"hub_goroutines,omitempty"`
	ClientHeapInuse int64 `json:"client_heap_inuse_bytes"`
}

// Growth is one series from the end of the warm-up to the last sample.
type Growth struct {
	Series string  `json:"series"`
	Unit   string  `json:"unit"` // bytes or goroutines
	From   float64 `json:"from"`
	To     float64 `json:"to"`
	// FromCalls and ToCalls are the calls made at the two samples.
	FromCalls int `json:"from_calls"`
	ToCalls   int `json:"to_calls"`
	// PerCall is the least-squares slope over the samples from the warm-up
	// on, in Unit per call: a leak shows as a steady positive slope, the
	// heap's saw-tooth between collections as noise around zero.
	PerCall float64 `json:"per_call"`
}

// InstanceCalls is the number of tst.add calls one tst instance handled.
type InstanceCalls struct {
	Instance string `json:"instance"`
	Calls    int    `json:"calls"`
}

// Validate reports every problem at once.
func (c *SoakCmd) Validate() error {
	var errs []error
	if c.Instances < 1 {
		errs = append(errs, fmt.Errorf("--instances %d: must be at least 1", c.Instances))
	}
	if c.Settle < 0 || c.Idle < 0 || c.IdleAfter < 0 {
		errs = append(errs, errors.New("--settle, --idle and --idle-after must not be negative"))
	}
	if c.Calls < 0 {
		errs = append(errs, fmt.Errorf("--calls %d: must not be negative", c.Calls))
	}
	if c.Clients < 1 {
		errs = append(errs, fmt.Errorf("--clients %d: must be at least 1", c.Clients))
	}
	if c.SampleEvery < 1 {
		errs = append(errs, fmt.Errorf("--sample-every %d: must be at least 1", c.SampleEvery))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("--warmup %d: must not be negative", c.Warmup))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", c.Timeout))
	}
	if c.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--start-timeout %s: must be positive", c.StartTimeout))
	}
	return errors.Join(errs...)
}

// Run starts the system (or takes the one at --nats), measures, and prints
// the report. Interrupted, it prints what it has.
func (c *SoakCmd) Run(ctx context.Context, stdout, stderr io.Writer) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	progress := c.progressTo(stderr)
	sys, err := startSystem(ctx, c.SystemFlags, c.Instances, progress)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	defer func() {
		if stopErr := sys.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	rep := &SoakReport{
		Machine: readMachine(), System: sys.info,
		Config: SoakConfig{
			Instances: c.Instances, Settle: c.Settle, Idle: c.Idle, Calls: c.Calls, Clients: c.Clients,
			SampleEvery: c.SampleEvery, Warmup: c.Warmup, IdleAfter: c.IdleAfter,
			Functions: []string{soakAdd, soakNop}, Timeout: c.Timeout,
		},
	}
	if !sys.info.Started {
		rep.Config.Instances = 0 // not ours to know
	}
	rep.Load.Start = loadAvg()
	runErr := c.measure(ctx, sys, rep, progress)
	rep.Load.End = loadAvg()
	interrupted := runErr != nil && ctx.Err() != nil
	if runErr != nil && !interrupted {
		return runErr
	}
	rep.Growth = growth(rep.Samples, c.Warmup)
	rep.Interrupted = interrupted
	if c.JSON {
		err = writeJSON(stdout, rep)
	} else {
		err = writeSoakText(stdout, rep)
	}
	if err != nil {
		return err
	}
	if interrupted {
		return errInterrupted
	}
	return nil
}

func (c *SoakCmd) measure(ctx context.Context, sys *system, rep *SoakReport, progress func(string, ...any)) error {
	if c.Idle > 0 && len(sys.procs) > 0 {
		if !sleepCtx(ctx, c.Settle) {
			return ctx.Err()
		}
		progress("idle for %s, no calls", c.Idle)
		w, err := idleWindow(ctx, sys.procs, c.Idle)
		if err != nil {
			return err
		}
		rep.Idle = w
	} else if c.Idle > 0 {
		progress("idle CPU skipped: no processes to watch (give --pid NAME=PID with --nats)")
	}

	if c.Calls > 0 {
		if err := c.load(ctx, sys, rep, progress); err != nil {
			return err
		}
		rep.InstanceCalls = instanceCalls(ctx, sys)
	}

	if c.IdleAfter > 0 && len(sys.procs) > 0 {
		progress("idle for %s after the calls", c.IdleAfter)
		w, err := idleWindow(ctx, sys.procs, c.IdleAfter)
		if err != nil {
			return err
		}
		rep.IdleAfter = w
	}
	return nil
}

// idleWindow samples every process at the start and the end of d.
func idleWindow(ctx context.Context, procs []*proc, d time.Duration) (*IdleWindow, error) {
	before := make([]procSample, len(procs))
	for i, p := range procs {
		s, err := readProc(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", p.name, p.pid, err)
		}
		before[i] = s
	}
	if !sleepCtx(ctx, d) {
		return nil, ctx.Err()
	}
	w := &IdleWindow{}
	for i, p := range procs {
		after, err := readProc(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", p.name, p.pid, err)
		}
		wall := after.at.Sub(before[i].at)
		w.Duration = max(w.Duration, wall)
		w.Processes = append(w.Processes, IdleProc{
			Name: p.name, PID: p.pid,
			CPUPercent:        cpuPercent(before[i], after),
			CPU:               after.cpu - before[i].cpu,
			CtxSwitchesPerSec: float64(after.ctxSwitches-before[i].ctxSwitches) / wall.Seconds(),
			RSS:               after.rss,
		})
	}
	return w, nil
}

// soakClient is one connection making calls.
type soakClient struct {
	nc       *nats.Conn
	tst, hub *omq.Stub
}

// load makes the calls in rounds of SampleEvery, the clients sharing each
// round, and samples memory after each round.
func (c *SoakCmd) load(ctx context.Context, sys *system, rep *SoakReport, progress func(string, ...any)) error {
	clients := make([]soakClient, c.Clients)
	defer func() {
		for _, cl := range clients {
			if cl.nc != nil {
				cl.nc.Close()
			}
		}
	}()
	for i := range clients {
		nc, err := sys.connect(fmt.Sprintf("dpc-bench soak client %d", i+1))
		if err != nil {
			return err
		}
		node, err := omq.New(nc, omq.WithTimeout(c.Timeout))
		if err != nil {
			nc.Close()
			return err
		}
		clients[i] = soakClient{nc: nc, tst: node.Lookup(tstService), hub: node.Lookup(hubService)}
	}

	progress("%d calls, %s and %s alternately, from %d clients; memory sampled every %d calls",
		c.Calls, soakAdd, soakNop, c.Clients, c.SampleEvery)
	start := time.Now()
	s, err := c.sample(ctx, sys, 0, start)
	if err != nil {
		return err
	}
	rep.Samples = append(rep.Samples, s)
	done := 0
	for done < c.Calls {
		n := min(c.SampleEvery, c.Calls-done)
		roundStart := time.Now()
		if err := round(ctx, clients, done, n); err != nil {
			return fmt.Errorf("after %d calls: %w", done, err)
		}
		elapsed := time.Since(roundStart)
		done += n
		s, err := c.sample(ctx, sys, done, start)
		if err != nil {
			return err
		}
		s.OpsPerSec = float64(n) / elapsed.Seconds()
		rep.Samples = append(rep.Samples, s)
		progress("%7d calls  %6.0f ops/s  %s", done, s.OpsPerSec, sampleLine(s, sys))
	}
	return nil
}

// round makes calls first … first+n-1, shared among the clients; even
// numbers call tst.add, odd ones hub.nopKserv.
func round(ctx context.Context, clients []soakClient, first, n int) error {
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for k := range clients {
		wg.Go(func() {
			cl := clients[k]
			for i := first + k; i < first+n; i += len(clients) {
				if ctx.Err() != nil {
					errs[k] = ctx.Err()
					return
				}
				if i%2 == 0 {
					var sum int
					if err := cl.tst.Call(ctx, "add", omq.Args(i, 1), &sum); err != nil {
						errs[k] = fmt.Errorf("%s: %w", soakAdd, err)
						return
					}
					if sum != i+1 {
						errs[k] = fmt.Errorf("%s(%d, 1) = %d", soakAdd, i, sum)
						return
					}
				} else if err := cl.hub.Call(ctx, "nopKserv", nil, nil); err != nil {
					errs[k] = fmt.Errorf("%s: %w", soakNop, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sample reads every process's RSS, the hub's heap and goroutines from its
// /metrics, and this process's own heap.
func (c *SoakCmd) sample(ctx context.Context, sys *system, calls int, start time.Time) (MemSample, error) {
	s := MemSample{Calls: calls, Elapsed: time.Since(start), RSS: map[string]int64{}}
	for _, p := range sys.procs {
		rss, err := procRSS(p.pid)
		if err != nil {
			return s, fmt.Errorf("%s (pid %d): %w", p.name, p.pid, err)
		}
		s.RSS[p.name] = rss
	}
	if rss, err := procRSS(os.Getpid()); err == nil {
		s.RSS[clientProc] = rss
	}
	if sys.info.MetricsURL != "" {
		m, err := scrapeMetrics(ctx, sys.info.MetricsURL, metricHeapInuse, metricGoroutines)
		if err != nil {
			return s, fmt.Errorf("hub metrics: %w", err)
		}
		s.HubHeapInuse = int64(m[metricHeapInuse])
		s.HubGoroutines = int(m[metricGoroutines])
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.ClientHeapInuse = int64(ms.HeapInuse)
	return s, nil
}

// sampleLine is a progress line's memory figures.
func sampleLine(s MemSample, sys *system) string {
	var parts []string
	for _, p := range sys.procs {
		parts = append(parts, fmt.Sprintf("%s RSS %s", p.name, mib(float64(s.RSS[p.name]))))
	}
	if s.HubHeapInuse > 0 {
		parts = append(parts, fmt.Sprintf("hub heap %s, %d goroutines", mib(float64(s.HubHeapInuse)), s.HubGoroutines))
	}
	return strings.Join(parts, "  ")
}

// series is one column of the samples, for the growth table.
type series struct {
	name, unit string
	value      func(MemSample) (float64, bool)
}

// soakSeries lists the sampled series in report order: the hub's, each
// other process's, the client's.
func soakSeries(samples []MemSample) []series {
	rss := func(name string) func(MemSample) (float64, bool) {
		return func(s MemSample) (float64, bool) { v, ok := s.RSS[name]; return float64(v), ok }
	}
	var names []string
	if len(samples) > 0 {
		for name := range samples[0].RSS {
			names = append(names, name)
		}
	}
	// hub, then services by name, then the client.
	rank := func(n string) int {
		switch n {
		case hubProc:
			return 0
		case clientProc:
			return 2
		}
		return 1
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var out []series
	for _, n := range names {
		out = append(out, series{n + " RSS", "bytes", rss(n)})
		if n == hubProc && len(samples) > 0 && samples[0].HubHeapInuse > 0 {
			out = append(out,
				series{"hub heap in use", "bytes", func(s MemSample) (float64, bool) { return float64(s.HubHeapInuse), true }},
				series{"hub goroutines", "goroutines", func(s MemSample) (float64, bool) { return float64(s.HubGoroutines), true }})
		}
		if n == clientProc {
			out = append(out, series{"client heap in use", "bytes", func(s MemSample) (float64, bool) { return float64(s.ClientHeapInuse), true }})
		}
	}
	return out
}

// growth measures every series from the first sample at or after warmup
// calls to the last.
func growth(samples []MemSample, warmup int) []Growth {
	first := slices.IndexFunc(samples, func(s MemSample) bool { return s.Calls >= warmup && s.Calls > 0 })
	if first < 0 || first == len(samples)-1 {
		return nil
	}
	after := samples[first:]
	var out []Growth
	for _, sr := range soakSeries(samples) {
		var xs, ys []float64
		for _, s := range after {
			if v, ok := sr.value(s); ok {
				xs = append(xs, float64(s.Calls))
				ys = append(ys, v)
			}
		}
		if len(xs) < 2 {
			continue
		}
		out = append(out, Growth{
			Series: sr.name, Unit: sr.unit,
			From: ys[0], To: ys[len(ys)-1], FromCalls: int(xs[0]), ToCalls: int(xs[len(xs)-1]),
			PerCall: slope(xs, ys),
		})
	}
	return out
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// instanceCalls asks every tst instance ($SRV.STATS) how many add calls it
// handled: the queue group should have shared them out. Best effort: nil
// when the stats do not come.
func instanceCalls(ctx context.Context, sys *system) []InstanceCalls {
	nc, err := sys.connect("dpc-bench stats")
	if err != nil {
		return nil
	}
	defer nc.Close()
	node, err := omq.New(nc)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stats, _ := node.Stats(ctx, tstService)
	var out []InstanceCalls
	for _, st := range stats {
		ic := InstanceCalls{Instance: st.ID}
		for _, ep := range st.Endpoints {
			if ep.Name == "add" {
				ic.Calls = ep.NumRequests
			}
		}
		out = append(out, ic)
	}
	slices.SortFunc(out, func(a, b InstanceCalls) int { return strings.Compare(a.Instance, b.Instance) })
	return out
}

// sleepCtx waits d, or less if ctx ends first; false if it did.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// mib formats bytes in MiB.
func mib(b float64) string {
	return fmt.Sprintf("%.1f MiB", b/(1<<20))
}
