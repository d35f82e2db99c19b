package thesis

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
)

// WriteText prints the thesis report as three tables: the runs beside
// the thesis's, ops/s beside the thesis's, and CPU use.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintln(&b, "dpc-bench thesis: the DPC thesis's nop experiment (chapter 4, table 4.4), redone")
	fmt.Fprintln(&b)
	benchreport.WriteMachine(&b, r.Machine)
	benchreport.WriteSystem(&b, r.System)
	benchreport.WriteLoad(&b, r.Load)
	fmt.Fprintf(&b, "method   %d runs; each makes %d sequential omq Calls of %s, then %d of %s, from one client (this process) over TCP",
		r.Config.Runs, r.Config.Calls, functions[0].Name, r.Config.Calls, functions[1].Name)
	if r.Config.Warmup > 0 {
		fmt.Fprintf(&b, ", after %d unmeasured calls of each", r.Config.Warmup)
	}
	fmt.Fprintln(&b, "; the thesis: K-app, K-serv and Tst-serv on three nodes of a cluster, JSON-RPC over HTTP")
	fmt.Fprintln(&b)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "run\t")
	for _, f := range r.Functions {
		fmt.Fprintf(tw, "%s s\tops/s\tthesis s\t", f.Name)
	}
	fmt.Fprintln(tw)
	runs := 0
	for _, f := range r.Functions {
		runs = max(runs, len(f.Runs), len(f.Thesis.RunSeconds))
	}
	for i := range runs {
		fmt.Fprintf(tw, "%d\t", i+1)
		for _, f := range r.Functions {
			if i < len(f.Runs) {
				fmt.Fprintf(tw, "%.4f\t%s\t", f.Runs[i].Seconds, benchreport.Thousands(f.Runs[i].OpsPerSec))
			} else {
				fmt.Fprint(tw, "-\t-\t")
			}
			if i < len(f.Thesis.RunSeconds) {
				fmt.Fprintf(tw, "%.2f\t", f.Thesis.RunSeconds[i])
			} else {
				fmt.Fprint(tw, "\t")
			}
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "average\t")
	for _, f := range r.Functions {
		fmt.Fprintf(tw, "%.4f\t%s\t%.2f\t", f.AverageSeconds, benchreport.Thousands(f.OpsPerSec), f.Thesis.AverageSeconds)
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "ops/s = calls per run / average time of a run, as the thesis computed it")
	fmt.Fprintln(&b)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "function\tops/s\tthesis ops/s\tratio\ttime per call\tthesis\t")
	for _, f := range r.Functions {
		thesisPer := time.Duration(f.Thesis.AverageSeconds / numRepeats * float64(time.Second))
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.1f×\t%s\t%s\t\n", f.Name, benchreport.Thousands(f.OpsPerSec), f.Thesis.OpsPerSec, f.Ratio,
			benchreport.Micros(f.PerCall), benchreport.Millis(thesisPer))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(&b)
	if len(r.Functions) > 0 && r.Functions[0].CPU != nil {
		fmt.Fprintln(&b, "CPU use, % of one core over all runs of each function, and CPU time per call (the thesis: top during the runs, table 4.1)")
		fmt.Fprintln(&b)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "process\t")
		for _, f := range r.Functions {
			fmt.Fprintf(tw, "%s\tper call\t", f.Name)
		}
		fmt.Fprintln(tw, "thesis\t")
		for i, pc := range r.Functions[0].CPU {
			fmt.Fprintf(tw, "%s\t", pc.Name)
			for _, f := range r.Functions {
				if i < len(f.CPU) {
					fmt.Fprintf(tw, "%.1f%%\t%s\t", f.CPU[i].Percent, benchreport.Micros(f.CPU[i].PerCall))
				} else {
					fmt.Fprint(tw, "-\t-\t")
				}
			}
			if t, ok := r.ThesisCPU[pc.Name]; ok {
				fmt.Fprintf(tw, "%s%% (%s)\t", t.Percent, t.Process)
			} else {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if !r.System.Started && (len(r.System.Processes) == 0 || r.System.Processes[0].Name != benchsys.HubProc) {
			fmt.Fprintln(&b, "(the hub's CPU needs --pid hub=PID with --nats)")
		}
	} else {
		fmt.Fprintln(&b, "CPU use: not available (no /proc on this system)")
	}
	if r.Interrupted {
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "interrupted: the figures above cover only the runs that finished")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
