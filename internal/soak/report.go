package soak

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/dpc-project/dpc/internal/benchreport"
)

// thesisLeakPerCall is the growth the thesis saw in K-serv: about 2 MB per
// run of the nop experiments, which made 1000 nopKserv and 1000 nopExtra
// calls.
const thesisLeakPerCall = 2e6 / 2000

// WriteText prints the soak report: idle CPU, the memory samples, the
// growth after warm-up, idle CPU after the calls.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintln(&b, "dpc-bench soak: idle CPU and memory over many calls")
	fmt.Fprintln(&b)
	benchreport.WriteMachine(&b, r.Machine)
	benchreport.WriteSystem(&b, r.System)
	benchreport.WriteLoad(&b, r.Load)
	fmt.Fprintln(&b)

	if r.Idle != nil {
		fmt.Fprintf(&b, "idle, before the calls: %.1fs with no calls, after %s settling (the only traffic: the hub's catalog pinging every service once a second)\n",
			r.Idle.Duration.Seconds(), r.Config.Settle)
		fmt.Fprintln(&b)
		if err := writeIdle(&b, r.Idle); err != nil {
			return err
		}
		fmt.Fprintln(&b)
	}

	if len(r.Samples) > 0 {
		c := r.Config
		fmt.Fprintf(&b, "memory: %d calls, %s and %s alternately, from %d clients each making one call at a time; sampled every %d calls\n",
			c.Calls, c.Functions[0], c.Functions[1], c.Clients, c.SampleEvery)
		fmt.Fprintln(&b)
		srs := allSeries(r.Samples)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "calls\tops/s\t")
		for _, sr := range srs {
			unit := " MiB"
			if sr.unit != "bytes" {
				unit = ""
			}
			fmt.Fprintf(tw, "%s%s\t", sr.name, unit)
		}
		fmt.Fprintln(tw)
		for _, s := range r.Samples {
			rate := "-"
			if s.OpsPerSec > 0 {
				rate = benchreport.Thousands(s.OpsPerSec)
			}
			fmt.Fprintf(tw, "%s\t%s\t", benchreport.Thousands(float64(s.Calls)), rate)
			for _, sr := range srs {
				v, _ := sr.value(s)
				if sr.unit == "bytes" {
					fmt.Fprintf(tw, "%.1f\t", v/(1<<20))
				} else {
					fmt.Fprintf(tw, "%.0f\t", v)
				}
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(&b)
	}

	if len(r.Growth) > 0 {
		g0 := r.Growth[0]
		fmt.Fprintf(&b, "growth after warm-up, from %s calls to %s (trend: least-squares slope over those samples)\n",
			benchreport.Thousands(float64(g0.FromCalls)), benchreport.Thousands(float64(g0.ToCalls)))
		fmt.Fprintln(&b)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "series\tfrom\tto\tchange\ttrend per 100k calls\ttrend per call\t")
		for _, g := range r.Growth {
			perCall := fmt.Sprintf("%+.1f B", g.PerCall)
			if g.Unit != "bytes" {
				perCall = fmt.Sprintf("%+.5f", g.PerCall)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", g.Series,
				formatValue(g.Unit, g.From, false), formatValue(g.Unit, g.To, false), formatValue(g.Unit, g.To-g.From, true),
				formatValue(g.Unit, g.PerCall*100_000, true), perCall)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(&b, "\nfor scale: the thesis's K-serv grew about 2 MB per run of 2,000 calls, %.0f B per call, %s per 100k calls\n",
			thesisLeakPerCall, benchreport.MiB(thesisLeakPerCall*100_000))
		fmt.Fprintln(&b)
	}

	if len(r.InstanceCalls) > 0 {
		var parts []string
		for _, ic := range r.InstanceCalls {
			parts = append(parts, fmt.Sprintf("%s %s", ic.Instance, benchreport.Thousands(float64(ic.Calls))))
		}
		fmt.Fprintf(&b, "%s calls handled per tst instance: %s\n\n", fnAdd, strings.Join(parts, ", "))
	}

	if r.IdleAfter != nil {
		fmt.Fprintf(&b, "idle, after the calls: %.1fs with no calls\n", r.IdleAfter.Duration.Seconds())
		fmt.Fprintln(&b)
		if err := writeIdle(&b, r.IdleAfter); err != nil {
			return err
		}
	}
	if r.Interrupted {
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "interrupted: the figures above cover only what finished")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeIdle(b *strings.Builder, w *IdleWindow) error {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tpid\tCPU %\tCPU time\tctx switches/s\tRSS MiB\t")
	for _, p := range w.Processes {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%dms\t%.1f\t%.1f\t\n", p.Name, p.PID, p.CPUPercent, p.CPU.Milliseconds(),
			p.CtxSwitchesPerSec, float64(p.RSS)/(1<<20))
	}
	return tw.Flush()
}

// formatValue prints bytes in MiB (KiB for a small change) and counts as
// whole numbers; signed adds a + to growth.
func formatValue(unit string, v float64, signed bool) string {
	if unit != "bytes" {
		if signed {
			return fmt.Sprintf("%+.0f", v)
		}
		return fmt.Sprintf("%.0f", v)
	}
	m := v / (1 << 20)
	if math.Abs(m) < 0.05 && v != 0 && signed {
		return fmt.Sprintf("%+.1f KiB", v/1024)
	}
	if signed {
		return fmt.Sprintf("%+.1f MiB", m)
	}
	return fmt.Sprintf("%.1f MiB", m)
}
