package dispatchbench_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/dispatchbench"
)

// TestRun runs every scenario for every side, briefly, and checks the
// report is complete and shows what the design promises: behaviour, not
// timings.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real loads for about 15 s")
	}
	srv := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress strings.Builder
	cfg := dispatchbench.Config{
		URL:         srv.ClientURL(),
		Scenarios:   []string{dispatchbench.ScenarioFast, dispatchbench.ScenarioStep},
		Duration:    300 * time.Millisecond,
		Warmup:      -1,
		Clients:     []int{2},
		Concurrency: []int{1},
		// Enough hung calls (about 270) that losing the one the hung slot
		// holds leaves ≥ 99 %, the working instance far from saturated
		// even under the race detector on a busy machine.
		Rate:       120,
		HungWork:   time.Millisecond,
		StepBefore: 500 * time.Millisecond,
		StepAfter:  time.Second,
		Progress:   &progress,
	}
	rep, err := dispatchbench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Scenarios = []string{dispatchbench.ScenarioHung}
	cfg.Duration = 2500 * time.Millisecond
	hung, err := dispatchbench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep.Hung = hung.Hung
	var out strings.Builder
	if err := dispatchbench.WriteText(&out, rep); err != nil {
		t.Fatal(err)
	}
	// (The report's header gives the fast runs' duration, not the hung's.)
	t.Logf("progress:\n%s\nreport:\n%s", progress.String(), out.String())

	sides := dispatchbench.AllSides
	if len(rep.Fast) != len(sides) || len(rep.Hung) != len(sides) || len(rep.Step) != len(sides) {
		t.Fatalf("rows: fast %d, hung %d, step %d; want %d each", len(rep.Fast), len(rep.Hung), len(rep.Step), len(sides))
	}
	for k, side := range sides {
		f := rep.Fast[k]
		if f.Side != side || f.Clients != 2 || f.Calls == 0 || f.Errors != 0 || f.Throughput <= 0 || f.P50Ms <= 0 || f.P99Ms < f.P50Ms {
			t.Errorf("fast %s: %+v", side, f)
		}
		h := rep.Hung[k]
		if h.Side != side || h.Calls < 200 || h.OK+h.Failed != h.Calls || h.TakenHung < 1 || h.TakenWorking < 1 {
			t.Errorf("hung %s: %+v", side, h)
		}
		s := rep.Step[k]
		if s.Side != side || s.Calls < 50 || len(s.Served) != 5 || len(s.Buckets) == 0 || s.CallsBefore == 0 {
			t.Errorf("step %s: %+v", side, s)
			continue
		}
		var served int64
		for _, n := range s.Served {
			served += n
		}
		if s.Served[0] == 0 || served < int64(s.Calls-s.Failed) {
			t.Errorf("step %s: served %v, %d calls succeeded", side, s.Served, s.Calls-s.Failed)
		}
		// Every side spreads the load once more instances are bound:
		// the new ones serve.
		for i, n := range s.Served[1:] {
			if n == 0 {
				t.Errorf("step %s: new instance %d served nothing", side, i+1)
			}
		}
	}
	push, refuse, pull := rep.Hung[0], rep.Hung[1], rep.Hung[2]
	// Refused calls go to the idle instance: only the call in the hung
	// slot is lost.
	if refuse.OKPercent < 99 {
		t.Errorf("refuse: %.2f%% of the calls succeeded with a hung instance, want ≥ 99%%", refuse.OKPercent)
	}
	// Pushed calls wait at whichever instance NATS picked: about half
	// wait behind the hung handler until their timeout.
	if push.OK >= refuse.OK || push.Failed < 10 {
		t.Errorf("push: %d of %d succeeded (refuse %d): want the calls that landed at the hung instance lost", push.OK, push.Calls, refuse.OK)
	}
	// A slot pulls only when free: only the message the hung slot took
	// is lost.
	if pull.OKPercent < 99 {
		t.Errorf("pull: %.2f%% of the calls succeeded with a hung instance, want ≥ 99%%", pull.OKPercent)
	}
	for _, part := range []string{"fast:", "hung:", "step:", "push", "refuse", "pull", "within SLA after"} {
		if !strings.Contains(out.String(), part) {
			t.Errorf("report lacks %q", part)
		}
	}
}
