package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/internal/procstat"
	"github.com/dpc-project/dpc/loadgen"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// The functions the soak calls, alternately.
const (
	fnAdd = "tst.add"
	fnNop = "hub.nopKserv"
)

// Report is what dpc-bench soak found, as printed by --json.
type Report struct {
	Machine benchreport.Machine `json:"machine"`
	System  benchsys.Info       `json:"system"`
	Config  Config              `json:"config"`
	// Idle is the window before the calls, IdleAfter the one after.
	Idle      *IdleWindow `json:"idle,omitempty"`
	IdleAfter *IdleWindow `json:"idle_after,omitempty"`
	// Samples are taken before the first call and every SampleEvery calls.
	Samples []MemSample `json:"samples"`
	// Growth is each series from the first sample at or after Warmup calls
	// to the last.
	Growth []Growth `json:"growth"`
	// InstanceCalls is how many tst.add calls each tst instance handled.
	InstanceCalls []InstanceCalls  `json:"instance_calls,omitempty"`
	Load          benchreport.Load `json:"load"`
	Interrupted   bool             `json:"interrupted,omitempty"`
}

// Config is what shaped the figures.
type Config struct {
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

// NewReport is the report of a soak of sys as cfg says, before any
// figures.
func NewReport(sys *benchsys.System, cfg Config) *Report {
	cfg.Functions = []string{fnAdd, fnNop}
	if !sys.Info.Started {
		cfg.Instances = 0 // not ours to know
	}
	return &Report{Machine: benchreport.ReadMachine(), System: sys.Info, Config: cfg}
}

// Measure measures sys as rep.Config says, into rep: idle CPU, then the
// calls with the memory samples, then idle CPU again. Interrupted, it
// returns ctx's error, rep holding what was measured.
func Measure(ctx context.Context, sys *benchsys.System, rep *Report, progress func(string, ...any)) error {
	c := rep.Config
	if c.Idle > 0 && len(sys.Procs) > 0 {
		if !loadgen.Sleep(ctx, c.Settle) {
			return ctx.Err()
		}
		progress("idle for %s, no calls", c.Idle)
		w, err := idleWindow(ctx, sys.Measured(), c.Idle)
		if err != nil {
			return err
		}
		rep.Idle = w
	} else if c.Idle > 0 {
		progress("idle CPU skipped: no processes to watch (give --pid NAME=PID with --nats)")
	}

	if c.Calls > 0 {
		if err := load(ctx, sys, rep, progress); err != nil {
			return err
		}
		rep.InstanceCalls = instanceCalls(ctx, sys)
	}

	if c.IdleAfter > 0 && len(sys.Procs) > 0 {
		progress("idle for %s after the calls", c.IdleAfter)
		w, err := idleWindow(ctx, sys.Measured(), c.IdleAfter)
		if err != nil {
			return err
		}
		rep.IdleAfter = w
	}
	return nil
}

// idleWindow samples every process at the start and the end of d.
func idleWindow(ctx context.Context, procs []procstat.Process, d time.Duration) (*IdleWindow, error) {
	before := make([]procstat.Sample, len(procs))
	for i, p := range procs {
		s, err := procstat.Read(p.PID)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", p.Name, p.PID, err)
		}
		before[i] = s
	}
	if !loadgen.Sleep(ctx, d) {
		return nil, ctx.Err()
	}
	w := &IdleWindow{}
	for i, p := range procs {
		after, err := procstat.Read(p.PID)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", p.Name, p.PID, err)
		}
		wall := after.At.Sub(before[i].At)
		w.Duration = max(w.Duration, wall)
		w.Processes = append(w.Processes, IdleProc{
			Name: p.Name, PID: p.PID,
			CPUPercent:        procstat.CPUPercent(before[i], after),
			CPU:               after.CPU - before[i].CPU,
			CtxSwitchesPerSec: float64(after.CtxSwitches-before[i].CtxSwitches) / wall.Seconds(),
			RSS:               after.RSS,
		})
	}
	return w, nil
}

// client is one connection making calls.
type client struct {
	nc       *nats.Conn
	tst, hub *omq.Stub
}

// load makes the calls in rounds of SampleEvery, the clients sharing each
// round, and samples memory after each round.
func load(ctx context.Context, sys *benchsys.System, rep *Report, progress func(string, ...any)) error {
	c := rep.Config
	clients := make([]client, c.Clients)
	defer func() {
		for _, cl := range clients {
			if cl.nc != nil {
				cl.nc.Close()
			}
		}
	}()
	for i := range clients {
		node, err := sys.Node(fmt.Sprintf("dpc-bench soak client %d", i+1), omq.WithTimeout(c.Timeout))
		if err != nil {
			return err
		}
		clients[i] = client{nc: node.Conn(), tst: node.Lookup(benchsys.TstService), hub: node.Lookup(benchsys.HubService)}
	}

	progress("%d calls, %s and %s alternately, from %d clients; memory sampled every %d calls",
		c.Calls, fnAdd, fnNop, c.Clients, c.SampleEvery)
	start := time.Now()
	s, err := sample(ctx, sys, 0, start)
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
		s, err := sample(ctx, sys, done, start)
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
func round(ctx context.Context, clients []client, first, n int) error {
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
						errs[k] = fmt.Errorf("%s: %w", fnAdd, err)
						return
					}
					if sum != i+1 {
						errs[k] = fmt.Errorf("%s(%d, 1) = %d", fnAdd, i, sum)
						return
					}
				} else if err := cl.hub.Call(ctx, "nopKserv", nil, nil); err != nil {
					errs[k] = fmt.Errorf("%s: %w", fnNop, err)
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
func sample(ctx context.Context, sys *benchsys.System, calls int, start time.Time) (MemSample, error) {
	s := MemSample{Calls: calls, Elapsed: time.Since(start), RSS: map[string]int64{}}
	for _, p := range sys.Procs {
		rss, err := procstat.RSS(p.PID)
		if err != nil {
			return s, fmt.Errorf("%s (pid %d): %w", p.Name, p.PID, err)
		}
		s.RSS[p.Name] = rss
	}
	if rss, err := procstat.RSS(os.Getpid()); err == nil {
		s.RSS[procstat.ClientName] = rss
	}
	if sys.Info.MetricsURL != "" {
		m, err := procstat.Scrape(ctx, sys.Info.MetricsURL, procstat.MetricHeapInuse, procstat.MetricGoroutines)
		if err != nil {
			return s, fmt.Errorf("hub metrics: %w", err)
		}
		s.HubHeapInuse = int64(m[procstat.MetricHeapInuse])
		s.HubGoroutines = int(m[procstat.MetricGoroutines])
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.ClientHeapInuse = int64(ms.HeapInuse)
	return s, nil
}

// sampleLine is a progress line's memory figures.
func sampleLine(s MemSample, sys *benchsys.System) string {
	var parts []string
	for _, p := range sys.Procs {
		parts = append(parts, fmt.Sprintf("%s RSS %s", p.Name, benchreport.MiB(float64(s.RSS[p.Name]))))
	}
	if s.HubHeapInuse > 0 {
		parts = append(parts, fmt.Sprintf("hub heap %s, %d goroutines", benchreport.MiB(float64(s.HubHeapInuse)), s.HubGoroutines))
	}
	return strings.Join(parts, "  ")
}

// series is one column of the samples, for the growth table.
type series struct {
	name, unit string
	value      func(MemSample) (float64, bool)
}

// allSeries lists the sampled series in report order: the hub's, each
// other process's, the client's.
func allSeries(samples []MemSample) []series {
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
		case benchsys.HubProc:
			return 0
		case procstat.ClientName:
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
		if n == benchsys.HubProc && len(samples) > 0 && samples[0].HubHeapInuse > 0 {
			out = append(out,
				series{"hub heap in use", "bytes", func(s MemSample) (float64, bool) { return float64(s.HubHeapInuse), true }},
				series{"hub goroutines", "goroutines", func(s MemSample) (float64, bool) { return float64(s.HubGoroutines), true }})
		}
		if n == procstat.ClientName {
			out = append(out, series{"client heap in use", "bytes", func(s MemSample) (float64, bool) { return float64(s.ClientHeapInuse), true }})
		}
	}
	return out
}

// Growths measures every series from the first sample at or after warmup
// calls to the last.
func Growths(samples []MemSample, warmup int) []Growth {
	first := slices.IndexFunc(samples, func(s MemSample) bool { return s.Calls >= warmup && s.Calls > 0 })
	if first < 0 || first == len(samples)-1 {
		return nil
	}
	after := samples[first:]
	var out []Growth
	for _, sr := range allSeries(samples) {
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
func instanceCalls(ctx context.Context, sys *benchsys.System) []InstanceCalls {
	node, err := sys.Node("dpc-bench stats")
	if err != nil {
		return nil
	}
	defer node.Conn().Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stats, _ := node.Stats(ctx, benchsys.TstService)
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
