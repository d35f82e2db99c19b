package elasticity

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/internal/chart"
	"github.com/dpc-project/dpc/loadgen"
)

// StepReport is what dpc-bench step found, as printed by --json and
// written to summary.json.
type StepReport struct {
	Machine     benchreport.Machine `json:"machine"`
	System      benchsys.Info       `json:"system"`
	Config      StepConfig          `json:"config"`
	Curve       string              `json:"curve"`
	Phases      []StepPhase         `json:"phases"`
	Result      StepResult          `json:"result"`
	Targets     []StepTarget        `json:"targets"`
	Out         string              `json:"out"`
	Files       []string            `json:"files"`
	Load        benchreport.Load    `json:"load"`
	Interrupted bool                `json:"interrupted,omitempty"`
}

// StepConfig is what shaped the figures.
type StepConfig struct {
	Low             float64       `json:"low_rps"`
	High            float64       `json:"high_rps"`
	Warmup          time.Duration `json:"warmup_ns"`
	Hold            time.Duration `json:"hold_ns"`
	After           time.Duration `json:"after_ns"`
	Arrivals        string        `json:"arrivals"`
	Seed            uint64        `json:"seed"`
	SLA             time.Duration `json:"sla_ns"`
	Stable          time.Duration `json:"stable_ns"`
	Timeout         time.Duration `json:"timeout_ns"`
	ServiceTime     time.Duration `json:"service_time_ns"`
	ServiceTimeDist string        `json:"service_time_dist"`
	Concurrency     int           `json:"concurrency"`
	Policy          string        `json:"policy"`
	Min             int           `json:"min"`
	Max             int           `json:"max"`
	Period          time.Duration `json:"period_ns"`
	Direct          bool          `json:"direct,omitempty"`
	MaxInflight     int           `json:"max_inflight"`
}

// StepPhase sums up one phase of the load: the warm-up at L1, the step
// at L2, and L1 again after it.
type StepPhase struct {
	Name string `json:"name"`
	// The phase's seconds: [From, To) from the start of the load.
	From int     `json:"from_s"`
	To   int     `json:"to_s"`
	Rate float64 `json:"offered_rps"`
	loadgen.ServiceSummary
}

// StepResult is the step response. Times are from the step they follow,
// in seconds; nil (null) when it did not happen within its phase.
type StepResult struct {
	// Up and Down are the seconds of the load at which the load stepped.
	Up   int `json:"step_up_at_s"`
	Down int `json:"step_down_at_s"`
	// InstancesBefore is the instances that answered $SRV.PING as the
	// load stepped up (the last count before it if that ping failed).
	InstancesBefore int `json:"instances_before"`
	// NewInstanceServed is when a call was first answered by an instance
	// unknown before the step (NewInstance), to the reply, within the
	// hold.
	NewInstance       string   `json:"new_instance,omitempty"`
	NewInstanceServed *float64 `json:"new_instance_served_s"`
	// InstancesRose is the first second counting more instances than
	// InstancesBefore (by $SRV.PING once a second).
	InstancesRose *int `json:"instances_rose_s"`
	// P95Recovered is the first second from which the 1-second p95 stayed
	// within the SLA for the stable time (or to the end of the hold); 0
	// when it never left it. HighViolations are the hold's seconds over
	// the SLA.
	P95Recovered   *int `json:"p95_recovered_s"`
	HighViolations int  `json:"high_sla_violation_seconds"`
	// PeakInstances is the most instances counted from the step up to the
	// end, first at PeakAt.
	PeakInstances int  `json:"peak_instances"`
	PeakAt        *int `json:"peak_at_s"`
	// L1Instances is what L1 needs: the oracle's count for L1, at least
	// --min (L1From says which, or why the pre-step count was used).
	L1Instances int    `json:"l1_instances"`
	L1From      string `json:"l1_instances_from"`
	// SurplusGone is the first second after the step down from which the
	// count stayed at most L1Instances for the stable time (or to the end).
	SurplusGone *int `json:"surplus_gone_s"`
}

// StepTarget is one of the targets and how the run did.
type StepTarget struct {
	Name  string   `json:"name"`
	Limit float64  `json:"limit_s"`
	Value *float64 `json:"value_s"`
	Met   bool     `json:"met"`
	// MissedBy is how far over the limit the value is (0 when met;
	// omitted when there is no value).
	MissedBy *float64 `json:"missed_by_s,omitempty"`
}

// The targets.
const (
	newInstanceTarget = 2 * time.Second
	p95Target         = 5 * time.Second
)

func newTarget(name string, limit time.Duration, v *float64) StepTarget {
	t := StepTarget{Name: name, Limit: limit.Seconds(), Value: v}
	if v != nil {
		t.Met = *v <= t.Limit
		by := max(0, *v-t.Limit)
		t.MissedBy = &by
	}
	return t
}

func intPtr(v int, ok bool) *int {
	if !ok {
		return nil
	}
	return &v
}

// StepRun is what offering the step recorded.
type StepRun struct {
	Rec  *loadgen.Recorder
	UpTo int // whole seconds recorded
	// Firsts is when each instance first answered a call, from the start
	// of the load.
	Firsts map[string]time.Duration
	// AtStep are the instances that answered $SRV.PING just before the
	// step up; Pinged is false when that ping failed or never ran.
	AtStep []string
	Pinged bool
}

// MeasureStep fills in the report's phases, result and targets from the
// rows (every second of the load) and the run's record of who served,
// as rep.Config says.
func MeasureStep(rep *StepReport, curve loadgen.Step, rows []loadgen.Row, run *StepRun) {
	c := rep.Config
	up, down, end := int(curve.Up()/time.Second), int(curve.Down()/time.Second), run.UpTo
	stable := int(c.Stable / time.Second)
	policy := c.Policy
	if c.Direct {
		policy = fmt.Sprintf("none (%d, direct)", c.Min)
	}
	for _, ph := range []struct {
		name     string
		from, to int
		rate     float64
	}{{"warm-up", 0, up, c.Low}, {"step", up, down, c.High}, {"after", down, int(curve.Length() / time.Second), c.Low}} {
		from, to := min(ph.from, end), min(ph.to, end)
		rep.Phases = append(rep.Phases, StepPhase{Name: ph.name, From: from, To: to, Rate: ph.rate,
			ServiceSummary: loadgen.Summarize(benchsys.ElasticService, policy, rows, run.Rec.Latencies(0, from, to), from, to, c.SLA)})
	}

	r := &rep.Result
	r.Up, r.Down = up, down
	r.InstancesBefore = len(run.AtStep)
	if !run.Pinged && up > 0 && up <= len(rows) {
		r.InstancesBefore = max(rows[up-1].Instances, 0)
	}
	if end > up {
		if id, after, ok := firstNewInstance(run.Firsts, knownBefore(run.Firsts, curve.Up(), run.AtStep), curve.Up()); ok && after < curve.Hold {
			s := after.Seconds()
			r.NewInstance, r.NewInstanceServed = id, &s
		}
		r.InstancesRose = intPtr(firstAbove(rows, up, down, r.InstancesBefore))
		r.P95Recovered = intPtr(p95Recovery(rows, up, min(down, end), stable))
		r.HighViolations = violations(rows, up, down)
		peak, at := peakInstances(rows, up, end)
		r.PeakInstances, r.PeakAt = peak, intPtr(at, at >= 0)
	}

	if n, err := c.OracleModel().Instances(c.Low); err == nil {
		r.L1Instances = max(n, c.Min)
		r.L1From = fmt.Sprintf("oracle %d for %g req/s (%s), at least --min %d", n, c.Low, c.OracleModel(), c.Min)
	} else {
		r.L1Instances = max(r.InstancesBefore, c.Min)
		r.L1From = "the count before the step (no oracle: " + err.Error() + ")"
	}
	if end > down {
		r.SurplusGone = intPtr(scaleDown(rows, down, end, r.L1Instances, stable))
	}

	var p95 *float64
	if r.P95Recovered != nil {
		v := float64(*r.P95Recovered)
		p95 = &v
	}
	rep.Targets = []StepTarget{
		newTarget("new instance serving after the step", newInstanceTarget, r.NewInstanceServed),
		newTarget("p95 within the SLA after the step", p95Target, p95),
	}
}

// WriteStepResults writes step.csv, the chart and summary.json to dir,
// and the summary to stdout (as JSON with asJSON).
func WriteStepResults(dir string, rep *StepReport, rows []loadgen.Row, curve loadgen.Step, asJSON bool, stdout io.Writer) error {
	csvPath := filepath.Join(dir, "step.csv")
	oracleInst, _ := oracleInstances(rep.Config.OracleModel(), rows)
	if err := benchreport.WriteFile(csvPath, func(w io.Writer) error { return WriteCSV(w, [][]loadgen.Row{rows}, oracleInst) }); err != nil {
		return err
	}
	rep.Files = append(rep.Files, csvPath)
	if len(rows) > 0 {
		charts, err := chart.Write(dir, "chart", stepChart(rep, rows, curve))
		rep.Files = append(rep.Files, charts...)
		if err != nil {
			return err
		}
	}
	rep.Files = append(rep.Files, filepath.Join(dir, "summary.json"))
	if err := benchreport.WriteFile(filepath.Join(dir, "summary.json"), func(w io.Writer) error { return benchreport.WriteJSON(w, rep) }); err != nil {
		return err
	}
	if asJSON {
		return benchreport.WriteJSON(stdout, rep)
	}
	return WriteStepText(stdout, rep)
}

// stepChart is the chart of the run: offered λ, instances and p95, the
// step shaded.
func stepChart(rep *StepReport, rows []loadgen.Row, curve loadgen.Step) chart.Data {
	d := chart.Data{
		Title: fmt.Sprintf("step %g → %g req/s, %s, SLA p95 ≤ %s", rep.Config.Low, rep.Config.High, rep.Phases[0].Policy, rep.Config.SLA),
		SLA:   float64(rep.Config.SLA) / float64(time.Millisecond),
		Shade: [2]float64{curve.Up().Seconds(), curve.Down().Seconds()},
	}
	cs := chart.Service{Name: benchsys.ElasticService}
	for _, r := range rows {
		d.T = append(d.T, float64(r.T))
		d.Offered = append(d.Offered, r.Offered)
		inst := math.NaN()
		if r.Instances >= 0 {
			inst = float64(r.Instances)
		}
		cs.Instances = append(cs.Instances, inst)
		cs.P95 = append(cs.P95, r.P95)
	}
	d.Services = []chart.Service{cs}
	return d
}

func secondsCell(v *float64) string {
	if v == nil {
		return "not within the phase"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64) + " s"
}

func wholeSecondsCell(v *int) string {
	if v == nil {
		return "not within the phase"
	}
	return strconv.Itoa(*v) + " s"
}

func targetCell(t StepTarget) string {
	switch {
	case t.Met:
		return fmt.Sprintf("target ≤ %g s: met", t.Limit)
	case t.MissedBy != nil:
		return fmt.Sprintf("target ≤ %g s: missed by %.2f s", t.Limit, *t.MissedBy)
	}
	return fmt.Sprintf("target ≤ %g s: missed", t.Limit)
}

// WriteStepText prints the summary: the phases as a table, then the step
// response.
func WriteStepText(w io.Writer, r *StepReport) error {
	var b strings.Builder
	c := r.Config
	fmt.Fprintln(&b, "dpc-bench step: the work service's response to a step in offered load")
	fmt.Fprintln(&b)
	sys := fmt.Sprintf("%s under dpc-provisioner (%s, %d–%d instances, period %s)", benchsys.ElasticService, c.Policy, c.Min, c.Max, c.Period)
	if c.Direct {
		sys = fmt.Sprintf("%s started directly, not resized: %d instance(s)", benchsys.ElasticService, c.Min)
	}
	if r.Interrupted {
		sys += "; interrupted"
	}
	for _, l := range [][2]string{
		{"curve", r.Curve},
		{"services", sys},
		{"work", fmt.Sprintf("sleeps %s per call (%s), %d call(s) at a time per instance; call timeout %s", c.ServiceTime, c.ServiceTimeDist, c.Concurrency, c.Timeout)},
		{"SLA", fmt.Sprintf("p95 ≤ %s in a second, by when the calls were due; recovered once it holds for %s", c.SLA, c.Stable)},
	} {
		fmt.Fprintf(&b, "%-8s %s\n", l[0], l[1])
	}
	m := r.Machine
	fmt.Fprintf(&b, "%-8s %d CPUs (%s), %s/%s, %s\n", "machine", m.NumCPU, m.CPUModel, m.OS, m.Arch, m.GoVersion)
	benchreport.WriteLoad(&b, r.Load)
	fmt.Fprintln(&b)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tt s\tλ req/s\tcalls\tfailed\tp50 ms\tp95 ms\tp99 ms\tSLA-violating s\tmean inst\tmax inst")
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%d–%d\t%g\t%d\t%d\t%.1f\t%.1f\t%.1f\t%d/%d\t%.2f\t%d\n", p.Name, p.From, p.To, p.Rate, p.Calls,
			p.Errors+p.Timeouts+p.Dropped, p.P50, p.P95, p.P99, p.ViolationSeconds, p.Seconds, p.MeanInstances, p.MaxInstances)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(&b)

	res := r.Result
	newInst := secondsCell(res.NewInstanceServed)
	if res.NewInstance != "" {
		newInst += " (" + res.NewInstance + ")"
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "step up at t=%d s, %d instance(s) before it\t\t\n", res.Up, res.InstancesBefore)
	fmt.Fprintf(tw, "  first new instance serving a call\t%s\t%s\n", newInst, targetCell(r.Targets[0]))
	fmt.Fprintf(tw, "  more instances counted (each second)\t%s\t\n", wholeSecondsCell(res.InstancesRose))
	fmt.Fprintf(tw, "  p95 back within the SLA\t%s\t%s\n", wholeSecondsCell(res.P95Recovered), targetCell(r.Targets[1]))
	fmt.Fprintf(tw, "  seconds over the SLA during the step\t%d\t\n", res.HighViolations)
	peakAt := "–"
	if res.PeakAt != nil {
		peakAt = fmt.Sprintf("first %d s after the step", *res.PeakAt)
	}
	fmt.Fprintf(tw, "  peak instances\t%d\t%s\n", res.PeakInstances, peakAt)
	fmt.Fprintf(tw, "step down at t=%d s\t\t\n", res.Down)
	fmt.Fprintf(tw, "  back to %d instance(s)\t%s\t%s\n", res.L1Instances, wholeSecondsCell(res.SurplusGone), res.L1From)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "%-8s %s\n", "files", strings.Join(r.Files, ", "))
	_, err := io.WriteString(w, b.String())
	return err
}
