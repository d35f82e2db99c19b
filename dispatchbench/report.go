package dispatchbench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
)

// Report is a run's figures. Latencies are in milliseconds.
type Report struct {
	Machine     benchreport.Machine `json:"machine"`
	Load        benchreport.Load    `json:"load"`
	Settings    Settings            `json:"settings"`
	Fast        []FastRow           `json:"fast,omitempty"`
	Hung        []HungRow           `json:"hung,omitempty"`
	Step        []StepResult        `json:"step,omitempty"`
	Interrupted bool                `json:"interrupted,omitempty"`
}

// Settings are the run's configuration, as reported.
type Settings struct {
	Sides           []string `json:"sides"`
	Scenarios       []string `json:"scenarios"`
	DurationS       float64  `json:"duration_s"`
	WarmupS         float64  `json:"warmup_s"`
	Clients         []int    `json:"clients"`
	FastConcurrency int      `json:"fast_concurrency"`
	Rate            float64  `json:"rate"`
	Concurrency     []int    `json:"concurrency"`
	HungWorkMs      float64  `json:"hung_work_ms"`
	TimeoutMs       float64  `json:"timeout_ms"`
	StepRate        float64  `json:"step_rate"`
	StepWorkMs      float64  `json:"step_work_ms"`
	StepBeforeS     float64  `json:"step_before_s"`
	StepAfterS      float64  `json:"step_after_s"`
	StepAdd         int      `json:"step_add"`
	StepTimeoutMs   float64  `json:"step_timeout_ms"`
	BucketMs        float64  `json:"bucket_ms"`
	SLAMs           float64  `json:"sla_ms"`
	Seed            uint64   `json:"seed"`
}

func settingsOf(c Config) Settings {
	return Settings{
		Sides: c.Sides, Scenarios: c.Scenarios,
		DurationS: c.Duration.Seconds(), WarmupS: max(c.Warmup, 0).Seconds(),
		Clients: c.Clients, FastConcurrency: c.FastConcurrency,
		Rate: c.Rate, Concurrency: c.Concurrency, HungWorkMs: msOf(c.HungWork), TimeoutMs: msOf(c.Timeout),
		StepRate: c.StepRate, StepWorkMs: msOf(c.StepWork), StepBeforeS: c.StepBefore.Seconds(), StepAfterS: c.StepAfter.Seconds(),
		StepAdd: c.StepAdd, StepTimeoutMs: msOf(c.StepTimeout), BucketMs: msOf(c.Bucket), SLAMs: msOf(c.SLA),
		Seed: c.Seed,
	}
}

// FastRow is one side at one number of closed-loop clients.
type FastRow struct {
	Side       string  `json:"side"`
	Clients    int     `json:"clients"`
	Calls      int     `json:"calls"`
	Errors     int     `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"calls_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
}

// HungRow is one side at one concurrency. TakenHung counts the calls the
// hung instance's handler took (each lost to its caller); percentiles are
// of the calls that succeeded.
type HungRow struct {
	Side         string  `json:"side"`
	Concurrency  int     `json:"concurrency"`
	Rate         float64 `json:"rate"`
	Calls        int     `json:"calls"`
	OK           int     `json:"ok"`
	Failed       int     `json:"failed"`
	OKPercent    float64 `json:"ok_percent"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	TakenHung    int64   `json:"taken_hung"`
	TakenWorking int64   `json:"taken_working"`
}

// StepResult is one side's step. Times are from the start of the load
// (BindStartMs, BoundMs) or from when the new instances were bound
// (buckets, RecoveryMs: the end of the last bucket whose p95 was over the
// SLA; 0 if none was, -1 if the last one was). A failed call counts as
// taking the step timeout. Served is by instance, the first one first.
type StepResult struct {
	Side           string   `json:"side"`
	Calls          int      `json:"calls"`
	Failed         int      `json:"failed"`
	BindStartMs    float64  `json:"bind_start_ms"`
	BoundMs        float64  `json:"bound_ms"`
	CallsBefore    int      `json:"calls_before_bound"`
	P95BeforeMs    float64  `json:"p95_before_bound_ms"`
	Buckets        []Bucket `json:"buckets"`
	RecoveryMs     float64  `json:"recovery_ms"`
	Served         []int64  `json:"served"`
	FirstAfterBind int64    `json:"first_served_after_bound"`
}

// Bucket is the calls sent in one interval after the binding.
type Bucket struct {
	FromMs  float64 `json:"from_ms"`
	Calls   int     `json:"calls"`
	P95Ms   float64 `json:"p95_ms"`
	OverSLA bool    `json:"over_sla"`
}

// percentiles are the nearest-rank percentiles of lats in milliseconds
// (0 for none).
func percentiles(lats []time.Duration, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(lats) == 0 {
		return out
	}
	s := slices.Clone(lats)
	slices.Sort(s)
	for k, q := range qs {
		i := int(q*float64(len(s))+0.999999) - 1
		out[k] = msOf(s[min(max(i, 0), len(s)-1)])
	}
	return out
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ms prints milliseconds with a precision that suits their size.
func ms(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3fms", v)
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

func recoveryText(v float64) string {
	switch {
	case v < 0:
		return "not within the run"
	case v == 0:
		return "at once"
	}
	return ms(v)
}

// WriteText prints the report as tables, one per scenario.
func WriteText(w io.Writer, rep *Report) error {
	var b strings.Builder
	benchreport.WriteMachine(&b, rep.Machine)
	benchreport.WriteLoad(&b, rep.Load)
	s := rep.Settings
	fmt.Fprintf(&b, "sides    push (omq, WithResendWhenBusy(false)), refuse (omq default), pull (JetStream work queue, pull only into free slots)\n")
	if rep.Interrupted {
		fmt.Fprintf(&b, "INTERRUPTED: only the runs that finished are shown\n")
	}
	if len(rep.Fast) > 0 {
		fmt.Fprintf(&b, "\nfast: a function that returns at once; 1 instance at concurrency %d; closed-loop clients, %s each (after %s unmeasured)\n",
			s.FastConcurrency, secs(s.DurationS), secs(s.WarmupS))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "clients\tside\tcalls/s\tp50\tp99\terrors\t")
		for _, r := range rep.Fast {
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%d\t\n", r.Clients, r.Side, r.Throughput, ms(r.P50Ms), ms(r.P99Ms), r.Errors)
		}
		tw.Flush()
	}
	if len(rep.Hung) > 0 {
		fmt.Fprintf(&b, "\nhung: 2 instances at concurrency C, one hung (ignores its context), one working %s a call; Poisson %.0f calls/s for %s; not idempotent, timeout %s\n",
			dur(s.HungWorkMs), s.Rate, secs(s.DurationS), dur(s.TimeoutMs))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "C\tside\tcalls\tsucceeded\tfailed\tp50 ok\tp99 ok\ttaken hung/working\t")
		for _, r := range rep.Hung {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%.2f%%\t%d\t%s\t%s\t%d/%d\t\n", r.Concurrency, r.Side, r.Calls, r.OKPercent, r.Failed,
				ms(r.P50Ms), ms(r.P99Ms), r.TakenHung, r.TakenWorking)
		}
		tw.Flush()
		fmt.Fprintf(&b, "target: ≥ 99%% succeed within their timeout\n")
	}
	if len(rep.Step) > 0 {
		writeStep(&b, rep)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeStep(b *strings.Builder, rep *Report) {
	s := rep.Settings
	fmt.Fprintf(b, "\nstep: 1 instance at concurrency 1, %s a call; Poisson %.0f calls/s; %d more bound after %s, then %s more; timeout %s; SLA p95 ≤ %s\n",
		dur(s.StepWorkMs), s.StepRate, s.StepAdd, secs(s.StepBeforeS), secs(s.StepAfterS), dur(s.StepTimeoutMs), dur(s.SLAMs))
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "side\tcalls\tfailed\tbound at\tp95 before\twithin SLA after\tserved first (after bound) / new\t")
	for _, r := range rep.Step {
		var news []string
		for _, n := range r.Served[min(1, len(r.Served)):] {
			news = append(news, fmt.Sprint(n))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%d (%d) / %s\t\n", r.Side, r.Calls, r.Failed, ms(r.BoundMs), ms(r.P95BeforeMs),
			recoveryText(r.RecoveryMs), r.Served[0], r.FirstAfterBind, strings.Join(news, " "))
	}
	tw.Flush()

	fmt.Fprintf(b, "\np95 of the calls sent in each %s after the new instances were bound (* over the SLA)\n", dur(s.BucketMs))
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "from\t")
	rows := 0
	for _, r := range rep.Step {
		fmt.Fprintf(tw, "%s\t", r.Side)
		rows = max(rows, len(r.Buckets))
	}
	fmt.Fprintln(tw)
	for k := range rows {
		fmt.Fprintf(tw, "+%s\t", dur(float64(k)*s.BucketMs))
		for _, r := range rep.Step {
			if k >= len(r.Buckets) || r.Buckets[k].Calls == 0 {
				fmt.Fprint(tw, "-\t")
				continue
			}
			bk := r.Buckets[k]
			mark := ""
			if bk.OverSLA {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s%s\t", ms(bk.P95Ms), mark)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func secs(s float64) string { return time.Duration(s * float64(time.Second)).String() }

// dur prints milliseconds as a duration: 1s, 250ms, 1.5ms.
func dur(v float64) string { return time.Duration(v * float64(time.Millisecond)).String() }
