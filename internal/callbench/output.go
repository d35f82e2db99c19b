package callbench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/dpc-project/dpc/internal/benchreport"
)

// WriteText prints the report as two tables: the figures per case, then
// omq against raw with a PASS/MISS marker per target.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintln(&b, "dpc-bench: omq Call against raw NATS request-reply")
	fmt.Fprintln(&b)
	benchreport.WriteMachine(&b, m)
	where := "external"
	if r.Server.Embedded {
		where = "embedded (in this process)"
	}
	conn := "TCP connection"
	if r.Server.TLS {
		conn = "TLS connection"
	}
	if r.Server.Auth {
		conn += ", authenticated"
	}
	fmt.Fprintf(&b, "server   nats-server %s, %s, at %s; every client and responder on its own %s\n", r.Server.Version, where, r.Server.URL, conn)
	fmt.Fprintf(&b, "method   %s\n", describeMethod(r.Config))
	fmt.Fprintln(&b)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tside\tops/s\tp50\tp90\tp99\tCPU/op\tsyscalls/op\tctx sw/op\truns ops/s min–max\t")
	for _, c := range r.Cases {
		s := c.Median
		note := ""
		if c.Partial {
			note = " (partial)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.2f\t%s%s\t\n", c.Clients, c.Side, benchreport.Thousands(s.OpsPerSec),
			benchreport.Micros(s.P50), benchreport.Micros(s.P90), benchreport.Micros(s.P99), benchreport.Micros(s.CPUPerOp), s.SyscallsPerOp, s.CtxSwitchesPerOp, runRange(c.Runs), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(r.Comparisons) > 0 {
		t := r.Config.Targets
		fmt.Fprintln(&b)
		fmt.Fprintf(&b, "targets  omq throughput ≥ %.2f× raw, omq p50 ≤ %.2f× raw\n", t.MinThroughput, t.MaxP50)
		fmt.Fprintln(&b)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "clients\tops/s omq/raw\t\tp50 omq/raw\t\t")
		for _, c := range r.Comparisons {
			fmt.Fprintf(tw, "%d\t%.3f\t%s\t%.3f\t%s\t\n", c.Clients, c.ThroughputRatio, mark(c.ThroughputPass), c.P50Ratio, mark(c.P50Pass))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.Interrupted {
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "interrupted: the figures above cover only the runs that finished")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func describeMethod(c ReportConfig) string {
	per := fmt.Sprintf("%s per run", c.Duration)
	if c.Requests > 0 {
		per = fmt.Sprintf("%d requests per client per run", c.Requests)
	}
	warm := "no warm-up"
	if c.Warmup > 0 {
		warm = fmt.Sprintf("after a %s warm-up of each side", c.Warmup)
	}
	return fmt.Sprintf("%d runs of each side per client count (%s), alternating order (A B, B A, …), %s; median of the runs; payload %d B",
		c.Repeats, per, warm, c.Payload)
}

func mark(pass bool) string {
	if pass {
		return "PASS"
	}
	return "MISS"
}

func runRange(runs []Summary) string {
	if len(runs) == 0 {
		return "-"
	}
	rates := make([]float64, len(runs))
	for i, r := range runs {
		rates[i] = r.OpsPerSec
	}
	return benchreport.Thousands(slices.Min(rates)) + "–" + benchreport.Thousands(slices.Max(rates))
}
