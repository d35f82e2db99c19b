package elasticity

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
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

// ReplayReport is what dpc-bench replay found, as printed by --json and
// written to summary.json.
type ReplayReport struct {
	Machine benchreport.Machine `json:"machine"`
	System  benchsys.Info       `json:"system"`
	Config  ReplayConfig        `json:"config"`
	Curve   string              `json:"curve"`
	// The reported seconds of the load: [ReportFrom, ReportTo).
	ReportFrom  int              `json:"report_from_s"`
	ReportTo    int              `json:"report_to_s"`
	Services    []ReplayService  `json:"services"`
	Oracle      *ReplayOracle    `json:"oracle,omitempty"`
	Out         string           `json:"out"`
	Files       []string         `json:"files"`
	Load        benchreport.Load `json:"load"`
	Interrupted bool             `json:"interrupted,omitempty"`
}

// ReplayConfig is what shaped the figures.
type ReplayConfig struct {
	Day             time.Duration `json:"day_ns,omitempty"`
	Days            int           `json:"days,omitempty"`
	Arrivals        string        `json:"arrivals"`
	Seed            uint64        `json:"seed"`
	SLA             time.Duration `json:"sla_ns"`
	Timeout         time.Duration `json:"timeout_ns"`
	ServiceTime     time.Duration `json:"service_time_ns"`
	ServiceTimeDist string        `json:"service_time_dist"`
	Concurrency     int           `json:"concurrency"`
	Policy          string        `json:"policy"`
	Min             int           `json:"min"`
	Max             int           `json:"max"`
	Fixed           int           `json:"fixed"`
	Period          time.Duration `json:"period_ns"`
	Direct          bool          `json:"direct,omitempty"`
	MaxInflight     int           `json:"max_inflight"`
}

// Summarize fills in the report's reported seconds, services and oracle
// from rec, the record of upTo seconds of curve (day numbers the days of
// the CSV; 0 for a trace), as rep.Config says; it returns every
// service's rows and the oracle's instances of each second, for
// WriteReplayResults.
func (rep *ReplayReport) Summarize(rec *loadgen.Recorder, curve loadgen.Curve, day time.Duration, upTo int) (rows [][]loadgen.Row, oracleInst []int) {
	c := rep.Config
	rows = rec.Rows(curve, day, upTo, c.SLA)
	from := min(int(curve.ReportFrom()/time.Second), upTo)
	rep.ReportFrom, rep.ReportTo = from, upTo
	policies := map[string]string{benchsys.ElasticService: c.Policy, benchsys.FixedService: fmt.Sprintf("fixed (%d)", c.Fixed)}
	if c.Direct {
		policies = map[string]string{benchsys.ElasticService: fmt.Sprintf("none (%d, direct)", c.Min), benchsys.FixedService: fmt.Sprintf("none (%d, direct)", c.Fixed)}
	}
	for i, name := range rec.Services() {
		rep.Services = append(rep.Services, ReplayService{ServiceSummary: loadgen.Summarize(name, policies[name], rows[i], rec.Latencies(i, from, upTo), from, upTo, c.SLA)})
	}
	if len(rows) > 0 {
		oracleInst = rep.SizeByOracle(rows[0], from, upTo)
	}
	return rows, oracleInst
}

// CSVHeader is replay.csv's first line.
var CSVHeader = []string{"t_s", "day", "service", "offered_rps", "sent", "completed", "errors", "timeouts", "dropped",
	"p50_ms", "p95_ms", "p99_ms", "instances", "sla_met", "oracle_instances"}

// writeCSV writes the rows of every service, second by second, services
// in order within a second, with the oracle's instances of each second
// (nil: none). Unknown values are empty.
func WriteCSV(w io.Writer, rows [][]loadgen.Row, oracleInst []int) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	n := 0
	for _, r := range rows {
		n = max(n, len(r))
	}
	f := func(v float64, prec int) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	for sec := range n {
		for _, svc := range rows {
			if sec >= len(svc) {
				continue
			}
			r := svc[sec]
			inst := ""
			if r.Instances >= 0 {
				inst = strconv.Itoa(r.Instances)
			}
			orc := ""
			if sec < len(oracleInst) {
				orc = strconv.Itoa(oracleInst[sec])
			}
			if err := cw.Write([]string{
				strconv.Itoa(r.T), strconv.Itoa(r.Day), r.Service, f(r.Offered, 2),
				strconv.Itoa(r.Sent), strconv.Itoa(r.OK), strconv.Itoa(r.Errors), strconv.Itoa(r.Timeout), strconv.Itoa(r.Dropped),
				f(r.P50, 2), f(r.P95, 2), f(r.P99, 2), inst, strconv.FormatBool(r.SLAMet), orc,
			}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteReplayResults writes replay.csv, the chart, summary.json and
// summary.md to dir, and the summary to stdout (as JSON with asJSON).
func WriteReplayResults(dir string, rep *ReplayReport, rows [][]loadgen.Row, oracleInst []int, curve loadgen.Curve, asJSON bool, stdout io.Writer) error {
	csvPath := filepath.Join(dir, "replay.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	if err := WriteCSV(f, rows, oracleInst); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", csvPath, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	rep.Files = append(rep.Files, csvPath)

	if len(rows) > 0 && len(rows[0]) > 0 {
		charts, err := chart.Write(dir, "chart", replayChart(rep, rows, curve))
		rep.Files = append(rep.Files, charts...)
		if err != nil {
			return err
		}
	}
	rep.Files = append(rep.Files, filepath.Join(dir, "summary.md"), filepath.Join(dir, "summary.json"))
	if err := benchreport.WriteFile(filepath.Join(dir, "summary.json"), func(w io.Writer) error { return benchreport.WriteJSON(w, rep) }); err != nil {
		return err
	}
	if err := benchreport.WriteFile(filepath.Join(dir, "summary.md"), func(w io.Writer) error { return WriteReplayMarkdown(w, rep) }); err != nil {
		return err
	}
	if asJSON {
		return benchreport.WriteJSON(stdout, rep)
	}
	return WriteReplayText(stdout, rep)
}

// replayChart is the chart of the whole run: offered λ, instances and
// p95 of both services, the day boundaries marked and the flash crowd
// shaded.
func replayChart(rep *ReplayReport, rows [][]loadgen.Row, curve loadgen.Curve) chart.Data {
	d := chart.Data{Title: fmt.Sprintf("SLA p95 ≤ %s", rep.Config.SLA), SLA: float64(rep.Config.SLA) / float64(time.Millisecond)}
	var names []string
	for _, s := range rep.Services {
		names = append(names, fmt.Sprintf("%s (%s)", s.Service, s.Policy))
	}
	if len(names) > 0 {
		d.Title = strings.Join(names, " vs ") + ", " + d.Title
	}
	for _, r := range rows[0] {
		d.T = append(d.T, float64(r.T))
		d.Offered = append(d.Offered, r.Offered)
	}
	for _, svc := range rows {
		cs := chart.Service{Name: svc[0].Service}
		for _, r := range svc {
			inst := math.NaN()
			if r.Instances >= 0 {
				inst = float64(r.Instances)
			}
			cs.Instances = append(cs.Instances, inst)
			cs.P95 = append(cs.P95, r.P95)
		}
		d.Services = append(d.Services, cs)
	}
	if dc, ok := curve.(loadgen.Diurnal); ok {
		for day := 1; day < dc.Days; day++ {
			d.Marks = append(d.Marks, (time.Duration(day) * dc.Day).Seconds())
		}
		if from, to, ok := dc.FlashWindow(); ok {
			d.Shade = [2]float64{from.Seconds(), to.Seconds()}
		}
	}
	return d
}

// summaryHeader is the summary table's columns.
var summaryHeader = []string{"service", "policy", "calls", "errors", "timeouts", "dropped", "slower than SLA",
	"p50 ms", "p95 ms", "p99 ms", "SLA-violating s", "instance-s", "× oracle", "mean inst", "max inst"}

func summaryCells(s ReplayService) []string {
	return []string{
		s.Service, s.Policy, strconv.Itoa(s.Calls), strconv.Itoa(s.Errors), strconv.Itoa(s.Timeouts), strconv.Itoa(s.Dropped),
		fmt.Sprintf("%.2f%%", 100*s.SlowFraction),
		fmt.Sprintf("%.1f", s.P50), fmt.Sprintf("%.1f", s.P95), fmt.Sprintf("%.1f", s.P99),
		fmt.Sprintf("%d/%d (%.1f%%)", s.ViolationSeconds, s.Seconds, 100*s.ViolationFraction),
		strconv.Itoa(s.InstanceSeconds), oracleCell(s), fmt.Sprintf("%.2f", s.MeanInstances), strconv.Itoa(s.MaxInstances),
	}
}

// describeReplay is the lines above the table, as label and text.
func describeReplay(r *ReplayReport) [][2]string {
	c := r.Config
	window := fmt.Sprintf("t %d–%d s", r.ReportFrom, r.ReportTo)
	switch {
	case c.Days == 2:
		window += " (day 2; the first trains the predictive history)"
	case c.Days > 2:
		window += fmt.Sprintf(" (day %d; the first %d train the predictive history)", c.Days, c.Days-1)
	}
	if r.Interrupted {
		window += ", interrupted"
	}
	svc := fmt.Sprintf("sleeps %s per call (%s), %d call(s) at a time per instance; call timeout %s", c.ServiceTime, c.ServiceTimeDist, c.Concurrency, c.Timeout)
	sys := fmt.Sprintf("%s under dpc-provisioner (%s, %d–%d instances, period %s); %s %d instances", benchsys.ElasticService, c.Policy, c.Min, c.Max, c.Period, benchsys.FixedService, c.Fixed)
	if c.Direct {
		sys = fmt.Sprintf("started directly, not resized: %s %d instance(s), %s %d", benchsys.ElasticService, c.Min, benchsys.FixedService, c.Fixed)
	}
	lines := [][2]string{
		{"curve", r.Curve},
		{"reported", window},
		{"services", sys},
		{"work", svc},
		{"SLA", fmt.Sprintf("p95 ≤ %s in a second, by when the calls were due; a failed call counts as the timeout", c.SLA)},
	}
	if r.Oracle != nil {
		lines = append(lines, [2]string{"oracle", describeOracle(r.Oracle)})
	}
	return lines
}

// WriteReplayText prints the summary as a table.
func WriteReplayText(w io.Writer, r *ReplayReport) error {
	var b strings.Builder
	fmt.Fprintln(&b, "dpc-bench replay: an elastic service against a fixed-size one under the same load")
	fmt.Fprintln(&b)
	for _, l := range describeReplay(r) {
		fmt.Fprintf(&b, "%-8s %s\n", l[0], l[1])
	}
	m := r.Machine
	fmt.Fprintf(&b, "%-8s %d CPUs, %s/%s, %s\n", "machine", m.NumCPU, m.OS, m.Arch, m.GoVersion)
	benchreport.WriteLoad(&b, r.Load)
	fmt.Fprintln(&b)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(summaryHeader, "\t"))
	for _, s := range r.Services {
		fmt.Fprintln(tw, strings.Join(summaryCells(s), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "%-8s %s\n", "files", strings.Join(r.Files, ", "))
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteReplayMarkdown writes summary.md: the same as the text, with the
// chart.
func WriteReplayMarkdown(w io.Writer, r *ReplayReport) error {
	var b strings.Builder
	fmt.Fprintln(&b, "# dpc-bench replay")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "An elastic service against a fixed-size one under the same load.")
	fmt.Fprintln(&b)
	for _, l := range describeReplay(r) {
		fmt.Fprintf(&b, "- **%s**: %s\n", l[0], l[1])
	}
	m := r.Machine
	fmt.Fprintf(&b, "- **machine**: %d CPUs, %s/%s, %s\n", m.NumCPU, m.OS, m.Arch, m.GoVersion)
	if r.Load.Start >= 0 && r.Load.End >= 0 {
		fmt.Fprintf(&b, "- **load average**: %.2f at the start, %.2f at the end\n", r.Load.Start, r.Load.End)
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "| %s |\n", strings.Join(summaryHeader, " | "))
	fmt.Fprintf(&b, "|%s\n", strings.Repeat("---|", len(summaryHeader)))
	for _, s := range r.Services {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(summaryCells(s), " | "))
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "Every second is in [replay.csv](replay.csv); the processes' logs are in logs/.")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "![offered load, instances and p95 latency of both services](chart.png)")
	_, err := io.WriteString(w, b.String())
	return err
}
