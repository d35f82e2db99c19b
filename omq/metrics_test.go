package omq_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics_RecordCallsByServiceAndFunction(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := omq.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	n, _ := e.node(omq.WithMetrics(m))
	bind(t, n, "calc", &Calc{})
	stub := n.Lookup("calc")
	ctx := ctxT(t, 10*time.Second)
	for range 3 {
		if err := stub.Call(ctx, "add", omq.Args(1, 2), nil); err != nil {
			t.Fatal(err)
		}
	}
	_ = stub.Call(ctx, "add", omq.Args("x", 2), nil)
	_ = stub.Call(ctx, "panic", nil, nil)

	want := `
# HELP omq_handled_total Calls handled by instances in this process.
# TYPE omq_handled_total counter
omq_handled_total{function="add",service="calc"} 4
omq_handled_total{function="fail",service="calc"} 0
omq_handled_total{function="nop",service="calc"} 0
omq_handled_total{function="panic",service="calc"} 1
omq_handled_total{function="sleep",service="calc"} 0
# HELP omq_handler_errors_total Calls answered with an error, by error code.
# TYPE omq_handler_errors_total counter
omq_handler_errors_total{code="400",function="add",service="calc"} 1
omq_handler_errors_total{code="500",function="panic",service="calc"} 1
# HELP omq_client_calls_total Calls made through stubs in this process, by result (ok, timeout, no_responders, or the error code).
# TYPE omq_client_calls_total counter
omq_client_calls_total{function="add",kind="call",result="400",service="calc"} 1
omq_client_calls_total{function="add",kind="call",result="ok",service="calc"} 3
omq_client_calls_total{function="panic",kind="call",result="500",service="calc"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"omq_handled_total", "omq_handler_errors_total", "omq_client_calls_total"); err != nil {
		t.Fatal(err)
	}
	// Every function's series exist from bind on, so dashboards show a
	// zero rather than nothing.
	if got := testutil.CollectAndCount(reg, "omq_queue_wait_seconds", "omq_handler_duration_seconds"); got != 10 {
		t.Fatalf("%d histogram series, want 10 (5 functions × 2 histograms)", got)
	}
	if err := lint(reg); err != nil {
		t.Fatal(err)
	}
	// A second collector on the same registry is refused, not silently merged.
	if _, err := omq.NewMetrics(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
}

func lint(reg *prometheus.Registry) error {
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		var b strings.Builder
		for _, p := range problems {
			b.WriteString(p.Metric + ": " + p.Text + "\n")
		}
		return &lintError{b.String()}
	}
	return nil
}

type lintError struct{ s string }

func (e *lintError) Error() string { return "metric lint: " + e.s }
