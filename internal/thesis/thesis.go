package thesis

import (
	"context"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/internal/procstat"
	"github.com/dpc-project/dpc/omq"
)

// numRepeats is the thesis's numRepeats, the calls in each of its runs.
const numRepeats = 1000

// The thesis's figures: table 4.4 (the third experiment, after both busy
// loops were fixed) and table 4.1 (CPU use, from top, during the runs).
var (
	functions = []experiment{
		{Name: "hub.nopKserv", Service: benchsys.HubService, Function: "nopKserv", Thesis: Figures{
			Name: "nopKserv", RunSeconds: []float64{2.49, 2.46, 2.47, 2.47, 2.51}, AverageSeconds: 2.48, OpsPerSec: 403.23}},
		{Name: "tst.nopExtra", Service: benchsys.TstService, Function: "nopExtra", Thesis: Figures{
			Name: "nopExtra", RunSeconds: []float64{2.69, 2.74, 2.74, 2.73, 2.83}, AverageSeconds: 2.75, OpsPerSec: 363.64}},
	}
	// cpuFigures: per process of ours, the thesis's counterpart and its CPU
	// use during the nop experiments. The service is tst#1 when the bench
	// starts it, and presumably tst when named with --pid.
	cpuFigures = map[string]CPUFigure{
		benchsys.HubProc:           {Process: "K-serv", Percent: "38–60"},
		benchsys.TstService + "#1": {Process: "Tst-serv", Percent: "10–15"},
		benchsys.TstService:        {Process: "Tst-serv", Percent: "10–15"},
		procstat.ClientName:        {Process: "K-app", Percent: "25–40"},
	}
)

type experiment struct {
	Name              string
	Service, Function string
	Thesis            Figures
}

// Figures are the thesis's own figures for one function.
type Figures struct {
	Name           string    `json:"name"`
	RunSeconds     []float64 `json:"run_s"`
	AverageSeconds float64   `json:"average_s"`
	OpsPerSec      float64   `json:"ops_per_s"`
}

// CPUFigure is the thesis's CPU figure for the counterpart of one of our
// processes.
type CPUFigure struct {
	Process string `json:"process"`
	Percent string `json:"percent"`
}

// Report is what dpc-bench thesis found, as printed by --json.
type Report struct {
	Machine   benchreport.Machine `json:"machine"`
	System    benchsys.Info       `json:"system"`
	Config    Config              `json:"config"`
	Functions []Function          `json:"functions"`
	// ThesisCPU maps our process names to the thesis's figures for their
	// counterparts.
	ThesisCPU   map[string]CPUFigure `json:"thesis_cpu"`
	Load        benchreport.Load     `json:"load"`
	Interrupted bool                 `json:"interrupted,omitempty"`
}

// Config is what shaped the figures.
type Config struct {
	Runs    int           `json:"runs"`
	Calls   int           `json:"calls_per_run"`
	Warmup  int           `json:"warmup_calls"`
	Timeout time.Duration `json:"timeout_ns"`
}

// Function is one function's runs, the average and the comparison.
type Function struct {
	Name string      `json:"name"`
	Runs []RunResult `json:"runs"`
	// AverageSeconds is the mean time of a run; OpsPerSec is calls /
	// AverageSeconds, as the thesis computed it.
	AverageSeconds float64       `json:"average_s"`
	OpsPerSec      float64       `json:"ops_per_s"`
	PerCall        time.Duration `json:"per_call_ns"`
	// CPU is each process's use over all the runs of this function
	// together: one run is too short for the 10ms ticks of /proc.
	CPU    []procstat.ProcCPU `json:"cpu,omitempty"`
	Thesis Figures            `json:"thesis"`
	// Ratio is OpsPerSec / the thesis's.
	Ratio float64 `json:"ratio"`
}

// RunResult is one run of one function.
type RunResult struct {
	Seconds   float64            `json:"s"`
	OpsPerSec float64            `json:"ops_per_s"`
	CPU       []procstat.ProcCPU `json:"cpu,omitempty"`
}

// perCall fills in each process's CPU per call of a run.
func (r *RunResult) perCall(calls int) {
	for i := range r.CPU {
		r.CPU[i].PerCall = r.CPU[i].CPU / time.Duration(calls)
	}
}

// Measure does the warm-up and the runs on sys. Each run calls nopKserv
// c.Calls times, then nopExtra, as K-app did, so slow drift in the
// machine falls on both alike. Interrupted, it returns the runs so far
// with ctx's error.
func Measure(ctx context.Context, sys *benchsys.System, c Config, progress func(string, ...any)) (*Report, error) {
	rep := &Report{Machine: benchreport.ReadMachine(), System: sys.Info, ThesisCPU: cpuFigures, Config: c}
	node, err := sys.Node("dpc-bench thesis client", omq.WithTimeout(c.Timeout))
	if err != nil {
		return rep, err
	}
	defer node.Conn().Close()
	meter := procstat.NewCPUMeter(sys.Measured(), true)
	spans := make([]*procstat.CPUSpan, len(functions))
	for i, f := range functions {
		rep.Functions = append(rep.Functions, Function{Name: f.Name, Thesis: f.Thesis})
		spans[i] = meter.Span()
		if c.Warmup > 0 {
			if _, err := callN(ctx, node.Lookup(f.Service), f.Function, c.Warmup); err != nil {
				return rep, fmt.Errorf("%s warm-up: %w", f.Name, err)
			}
		}
	}
	defer func() {
		for i := range rep.Functions {
			averageRuns(&rep.Functions[i], c.Calls, meter.Percents(spans[i]))
		}
	}()
	for r := range c.Runs {
		for i, f := range functions {
			before := meter.Snap()
			elapsed, err := callN(ctx, node.Lookup(f.Service), f.Function, c.Calls)
			after := meter.Snap()
			if err != nil {
				return rep, fmt.Errorf("%s, run %d: %w", f.Name, r+1, err)
			}
			spans[i].Add(before, after)
			one := meter.Span()
			one.Add(before, after)
			run := RunResult{Seconds: elapsed.Seconds(), OpsPerSec: float64(c.Calls) / elapsed.Seconds(), CPU: meter.Percents(one)}
			run.perCall(c.Calls)
			rep.Functions[i].Runs = append(rep.Functions[i].Runs, run)
			progress("%-12s run %d/%d  %d calls in %.3fs  %7.0f ops/s", f.Name, r+1, c.Runs, c.Calls, run.Seconds, run.OpsPerSec)
		}
	}
	return rep, nil
}

// callN makes n sequential calls of fn and returns the time they took.
func callN(ctx context.Context, stub *omq.Stub, fn string, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		if err := stub.Call(ctx, fn, nil, nil); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// averageRuns fills in the average of the runs so far and the comparison.
func averageRuns(f *Function, calls int, cpu []procstat.ProcCPU) {
	if len(f.Runs) == 0 {
		return
	}
	var sum float64
	for _, r := range f.Runs {
		sum += r.Seconds
	}
	f.AverageSeconds = sum / float64(len(f.Runs))
	f.OpsPerSec = float64(calls) / f.AverageSeconds
	f.PerCall = time.Duration(f.AverageSeconds / float64(calls) * float64(time.Second))
	for i := range cpu {
		cpu[i].PerCall = cpu[i].CPU / time.Duration(len(f.Runs)*calls)
	}
	f.CPU = cpu
	f.Ratio = f.OpsPerSec / f.Thesis.OpsPerSec
}
