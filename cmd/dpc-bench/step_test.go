package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/elasticity"
)

// parseStep parses a step command line as dpc-bench would; kong runs
// Validate.
func parseStep(t *testing.T, args ...string) (*StepCmd, error) {
	t.Helper()
	var cli CLI
	parser, err := kong.New(&cli, kong.Exit(func(int) { t.Fatalf("kong exited on %q", args) }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = parser.Parse(append([]string{"step"}, args...))
	return &cli.Step, err
}

func TestStepCmd_Validate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for valid
	}{
		{nil, ""},
		{[]string{"--low", "0", "--high", "5", "--warmup", "1s", "--stable", "1s"}, ""},
		{[]string{"--low", "50", "--high", "50"}, "--low 50, --high 50"},
		{[]string{"--warmup", "1500ms"}, "--warmup 1.5s"},
		{[]string{"--hold", "0s"}, "--hold 0s"},
		{[]string{"--stable", "0s"}, "--stable 0s"},
		{[]string{"--min", "3", "--max", "2"}, "--min 3, --max 2"},
		{[]string{"--sla", "5s", "--timeout", "5s"}, "--sla 5s, --timeout 5s"},
		{[]string{"--ping-window", "1s"}, "--ping-window 1s"},
	} {
		_, err := parseStep(t, tc.args...)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// runStep runs a short step into a temporary directory and returns the
// summary printed by --json, after checking summary.json says the same.
func runStep(t *testing.T, args ...string) (*elasticity.StepReport, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	c, err := parseStep(t, append([]string{"--bin-dir", binDir(t), "--out", out, "--json", "--progress-every", "1s",
		"--low", "5", "--high", "60", "--warmup", "2s", "--hold", "5s", "--after", "4s", "--stable", "2s"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, progress bytes.Buffer
	if err := c.Run(t.Context(), &stdout, &syncWriter{w: &progress}); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	checkUserHomeUntouched(t)
	var rep elasticity.StepReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(data), bytes.TrimSpace(stdout.Bytes())) {
		t.Error("summary.json differs from what --json printed")
	}
	for _, f := range []string{"step.csv", "summary.json", "chart.png", "chart.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	checkGone(t, rep.System.Processes)
	return &rep, out
}

// checkStepReport checks what every run's report must have: three phases
// covering the run, the step where it was asked for, times not negative,
// the peak at least the count before the step.
func checkStepReport(t *testing.T, rep *elasticity.StepReport) {
	t.Helper()
	if len(rep.Phases) != 3 || rep.Phases[0].From != 0 || rep.Phases[1].From != 2 || rep.Phases[2].From != 7 || rep.Phases[2].To != 11 {
		t.Fatalf("phases %+v", rep.Phases)
	}
	if rep.Phases[1].Calls <= rep.Phases[0].Calls || rep.Phases[0].Calls == 0 {
		t.Errorf("calls: %d in the warm-up, %d in the step; want more in the step", rep.Phases[0].Calls, rep.Phases[1].Calls)
	}
	r := rep.Result
	if r.Up != 2 || r.Down != 7 || r.InstancesBefore < 1 || r.PeakInstances < r.InstancesBefore || r.L1Instances < 1 {
		t.Errorf("result %+v", r)
	}
	if r.NewInstanceServed != nil && (*r.NewInstanceServed < 0 || r.NewInstance == "") {
		t.Errorf("new instance %q after %g s", r.NewInstance, *r.NewInstanceServed)
	}
	for name, v := range map[string]*int{"instances rose": r.InstancesRose, "p95 recovered": r.P95Recovered, "peak at": r.PeakAt, "surplus gone": r.SurplusGone} {
		if v != nil && *v < 0 {
			t.Errorf("%s: %d s", name, *v)
		}
	}
	if len(rep.Targets) != 2 {
		t.Errorf("targets %+v", rep.Targets)
	}
	for _, tg := range rep.Targets {
		if tg.Value != nil && tg.Met != (*tg.Value <= tg.Limit) {
			t.Errorf("target %+v", tg)
		}
	}
	var text bytes.Buffer
	if err := elasticity.WriteStepText(&text, rep); err != nil || !strings.Contains(text.String(), "first new instance serving a call") {
		t.Errorf("text: %v\n%s", err, text.String())
	}
}

// Without the provisioner nothing is added: no new instance, the peak
// the starting count, and the count back at L1's at once.
func TestStepCmd_Direct(t *testing.T) {
	rep, _ := runStep(t, "--direct")
	checkStepReport(t, rep)
	r := rep.Result
	if r.NewInstanceServed != nil || r.InstancesRose != nil || r.PeakInstances != 1 || r.SurplusGone == nil || *r.SurplusGone != 0 {
		t.Errorf("direct: %+v", r)
	}
	if rep.Targets[0].Met {
		t.Errorf("the new-instance target met with no new instance: %+v", rep.Targets[0])
	}
}

// Under the provisioner: the step is measured, whatever the provisioner
// managed in so short a run.
func TestStepCmd_UnderTheProvisioner(t *testing.T) {
	rep, out := runStep(t, "--max", "4", "--policy", "target-tracking")
	checkStepReport(t, rep)
	if rep.Result.PeakInstances > 4 {
		t.Errorf("peak %d over --max 4", rep.Result.PeakInstances)
	}
	for _, f := range []string{"provisioner.yml", "agent.yml", "logs/provisioner.log", "logs/agent.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
