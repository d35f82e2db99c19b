package bodies

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText prints rep as a table.
func WriteText(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "Large bodies: %d bytes (%.0f MiB) through a real dpc-hub, files service and dpc-cli\n", rep.Size, float64(rep.Size)/(1<<20))
	m := rep.Machine
	fmt.Fprintf(w, "machine: %s, %d cores, %s/%s, kernel %s, %s\n\n", or(m.CPUModel, "unknown CPU"), m.NumCPU, m.OS, m.Arch, m.Kernel, m.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tprocess\tRSS before\tpeak\tgrowth\tafter\ttarget\tmet\tseconds\t")
	for _, r := range rep.Rows {
		after := "—"
		if r.After > 0 {
			after = mib(r.After)
		}
		met := "yes"
		if !r.Met {
			met = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t≤ %s\t%s\t%.1f\t\n", r.Phase, r.Process, mib(r.Before), mib(r.Peak), mib(r.Growth), after, mib(rep.Target), met, r.Seconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nEach phase on a fresh hub (and files service). dpc-cli is a new process per command: before is its peak on the same command with 1 KiB (a call; a notes save).")
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
