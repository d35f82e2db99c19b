package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/elasticity"
)

// replayCmd parses a replay command line as dpc-bench would, defaults
// and all.
func replayCmd(t *testing.T, args ...string) *ReplayCmd {
	t.Helper()
	c, err := parseReplay(t, args...)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c
}

// parseReplay parses a replay command line; kong runs Validate.
func parseReplay(t *testing.T, args ...string) (*ReplayCmd, error) {
	t.Helper()
	var cli CLI
	parser, err := kong.New(&cli, kong.Exit(func(int) { t.Fatalf("kong exited on %q", args) }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = parser.Parse(append([]string{"replay"}, args...))
	return &cli.Replay, err
}

func TestReplayCmd_Validate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for valid
	}{
		{nil, ""},
		{[]string{"--day", "40s", "--days", "2", "--policy", "target-tracking"}, ""},
		{[]string{"--day", "1s"}, "--day 1s"},
		{[]string{"--days", "0"}, "--days 0"},
		{[]string{"--base", "50", "--peak", "10"}, "--base 50, --peak 10"},
		{[]string{"--flash-at", "1"}, "--flash-at 1"},
		{[]string{"--flash-x", "0.5"}, "--flash-x 0.5"},
		{[]string{"--min", "0"}, "--min 0"},
		{[]string{"--min", "5", "--max", "4"}, "--min 5, --max 4"},
		{[]string{"--fixed", "0"}, "--fixed 0"},
		{[]string{"--service-time", "0s"}, "--service-time 0s"},
		{[]string{"--sla", "5s", "--timeout", "5s"}, "--sla 5s, --timeout 5s"},
		{[]string{"--ping-window", "1s"}, "--ping-window 1s"},
		{[]string{"--speedup", "0"}, "--speedup 0"},
	} {
		_, err := parseReplay(t, tc.args...)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
	// Every problem at once.
	_, err := parseReplay(t, "--days", "0", "--fixed", "0")
	if err == nil || !strings.Contains(err.Error(), "--days") || !strings.Contains(err.Error(), "--fixed") {
		t.Errorf("two problems: %v", err)
	}
}

// runReplay runs a replay with a short day into a temporary directory and
// returns its summary and the directory.
func runReplay(t *testing.T, ctx context.Context, stderr interface{ Write([]byte) (int, error) }, args ...string) (*elasticity.ReplayReport, string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	c := replayCmd(t, append([]string{"--bin-dir", binDir(t), "--out", out, "--json", "--progress-every", "1s"}, args...)...)
	var stdout bytes.Buffer
	err := c.Run(ctx, &stdout, stderr)
	checkUserHomeUntouched(t)
	var rep elasticity.ReplayReport
	data, rerr := os.ReadFile(filepath.Join(out, "summary.json"))
	if rerr != nil {
		return nil, out, errors.Join(err, rerr)
	}
	if jerr := json.Unmarshal(data, &rep); jerr != nil {
		t.Fatalf("summary.json: %v", jerr)
	}
	if stdout.Len() > 0 && !json.Valid(stdout.Bytes()) {
		t.Errorf("--json printed what is not JSON:\n%s", stdout.String())
	}
	return &rep, out, err
}

// checkReplayFiles checks that every result file is there and not empty,
// and that the CSV has a row per service per second.
func checkReplayFiles(t *testing.T, out string, seconds int) {
	t.Helper()
	for _, f := range []string{"replay.csv", "summary.md", "summary.json", "chart.png", "chart.svg"} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	f, err := os.Open(filepath.Join(out, "replay.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if seconds >= 0 && len(recs) != 1+2*seconds {
		t.Errorf("replay.csv has %d lines, want a header and %d rows", len(recs), 2*seconds)
	}
}

// With --direct the services start without agent or provisioner, and
// the replay reports both, with the same calls for each.
func TestReplayCmd_Direct(t *testing.T) {
	var progress bytes.Buffer
	rep, out, err := runReplay(t, t.Context(), &syncWriter{w: &progress},
		"--direct", "--day", "3s", "--days", "2", "--base", "5", "--peak", "20", "--fixed", "2", "--min", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	checkReplayFiles(t, out, 6)
	if rep.ReportFrom != 3 || rep.ReportTo != 6 || rep.Interrupted {
		t.Errorf("reported [%d, %d), interrupted %v; want [3, 6)", rep.ReportFrom, rep.ReportTo, rep.Interrupted)
	}
	if len(rep.Services) != 2 {
		t.Fatalf("services %+v", rep.Services)
	}
	work, fixed := rep.Services[0], rep.Services[1]
	if work.Service != "work" || fixed.Service != "work-fixed" {
		t.Errorf("services %q, %q", work.Service, fixed.Service)
	}
	if work.Calls == 0 || work.Calls != fixed.Calls {
		t.Errorf("calls %d and %d: want the same schedule, some calls, for both", work.Calls, fixed.Calls)
	}
	if work.MaxInstances != 1 || fixed.MaxInstances != 2 || fixed.InstanceSeconds != 2*fixed.Seconds {
		t.Errorf("instances: work max %d, work-fixed max %d and %d instance-s over %d s", work.MaxInstances, fixed.MaxInstances, fixed.InstanceSeconds, fixed.Seconds)
	}
	if !strings.Contains(progress.String(), "t ") {
		t.Errorf("no progress lines:\n%s", progress.String())
	}
	if rep.Oracle == nil || rep.Oracle.InstanceSeconds < rep.ReportTo-rep.ReportFrom || work.OracleRatio <= 0 || fixed.OracleRatio <= 0 {
		t.Errorf("oracle %+v; ratios %g, %g", rep.Oracle, work.OracleRatio, fixed.OracleRatio)
	}
	checkGone(t, rep.System.Processes)
}

// An interrupt stops the load, and the results of the seconds so far are
// still written.
func TestReplayCmd_InterruptWritesWhatItHas(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	progress := &cancelOn{text: "t   2s/", cancel: cancel}
	rep, out, err := runReplay(t, ctx, progress, "--direct", "--day", "10m", "--days", "1")
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("got %v, want errInterrupted\n%s", err, progress.String())
	}
	if rep == nil {
		t.Fatalf("no summary.json after an interrupt\n%s", progress.String())
	}
	if !rep.Interrupted || rep.ReportTo < 2 || rep.ReportTo >= 600 {
		t.Errorf("interrupted %v, reported up to %d s", rep.Interrupted, rep.ReportTo)
	}
	checkReplayFiles(t, out, rep.ReportTo)
	checkGone(t, rep.System.Processes)
}

// The whole experiment: the provisioner starts work and work-fixed
// through the agent, and the replay reports both.
func TestReplayCmd_UnderTheProvisioner(t *testing.T) {
	var progress bytes.Buffer
	rep, out, err := runReplay(t, t.Context(), &syncWriter{w: &progress},
		"--day", "4s", "--days", "2", "--base", "5", "--peak", "40", "--fixed", "2", "--max", "4", "--policy", "target-tracking")
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	checkReplayFiles(t, out, 8)
	work, fixed := rep.Services[0], rep.Services[1]
	if work.Calls == 0 || work.Calls != fixed.Calls {
		t.Errorf("calls %d and %d: want the same schedule, some calls, for both", work.Calls, fixed.Calls)
	}
	if work.MaxInstances < 1 || work.MaxInstances > 4 || fixed.MaxInstances != 2 {
		t.Errorf("instances: work max %d (want 1..4), work-fixed max %d (want 2)", work.MaxInstances, fixed.MaxInstances)
	}
	if work.Policy != "target-tracking" || fixed.Policy != "fixed (2)" {
		t.Errorf("policies %q, %q", work.Policy, fixed.Policy)
	}
	for _, f := range []string{"provisioner.yml", "agent.yml", "logs/provisioner.log", "logs/agent.log", "logs/hub.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	checkGone(t, rep.System.Processes)
}

// syncWriter lets the progress goroutine and the test share a buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// A trace is replayed call for call: every request time of the file is
// one call to each service.
func TestReplayCmd_Trace(t *testing.T) {
	var trace strings.Builder
	trace.WriteString("id,t\n")
	for i := range 40 {
		fmt.Fprintf(&trace, "%d,%.3f\n", i, 1000+float64(i)*0.05)
	}
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, []byte(trace.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	rep, out, err := runReplay(t, t.Context(), &syncWriter{w: &progress}, "--direct", "--csv", path, "--speedup", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	checkReplayFiles(t, out, 2)
	for _, s := range rep.Services {
		if s.Calls != 40 {
			t.Errorf("%s: %d calls, want the trace's 40", s.Service, s.Calls)
		}
	}
	if rep.ReportFrom != 0 || rep.ReportTo != 2 || !strings.Contains(rep.Curve, "40 requests") {
		t.Errorf("reported [%d, %d) of %q", rep.ReportFrom, rep.ReportTo, rep.Curve)
	}
}
