package omq_test

import (
	"context"
	"errors"
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
# HELP omq_handler_errors_total Calls answered with an error, by error code (400, 404, 408, 409, 413, 422, 429, 500 or 503, else 4xx, 5xx or other).
# TYPE omq_handler_errors_total counter
omq_handler_errors_total{code="400",function="add",service="calc"} 1
omq_handler_errors_total{code="500",function="panic",service="calc"} 1
# HELP omq_client_calls_total Calls made through stubs in this process, by result (ok, timeout, no_responders, error, or the error code: 400, 404, 408, 409, 413, 422, 429, 500 or 503, else 4xx, 5xx or other).
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

// Error codes are any integer a handler or a remote service chooses; as
// label values they are kept to a fixed set, so that a hostile service
// cannot create series without bound.
func TestMetrics_ErrorCodesAreBoundedLabels(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := omq.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	n, _ := e.node(omq.WithMetrics(m))
	bind(t, n, "codes", omq.Handlers{
		"fail": omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
			var code int
			if err := req.Decode(&code); err != nil {
				return nil, err
			}
			return nil, omq.Errorf(code, "failing with %d", code)
		}),
	})
	stub := n.Lookup("codes")
	ctx := ctxT(t, 10*time.Second)
	for _, code := range []int{413, 422, 418, 451, 502, 599, 600, 0, 302, -5, 1 << 40} {
		var re *omq.Error
		if err := stub.Call(ctx, "fail", omq.Args(code), nil); !errors.As(err, &re) || re.Code != code {
			t.Fatalf("code %d: got %v", code, err)
		}
	}

	want := `
# HELP omq_handler_errors_total Calls answered with an error, by error code (400, 404, 408, 409, 413, 422, 429, 500 or 503, else 4xx, 5xx or other).
# TYPE omq_handler_errors_total counter
omq_handler_errors_total{code="413",function="fail",service="codes"} 1
omq_handler_errors_total{code="422",function="fail",service="codes"} 1
omq_handler_errors_total{code="4xx",function="fail",service="codes"} 2
omq_handler_errors_total{code="5xx",function="fail",service="codes"} 2
omq_handler_errors_total{code="other",function="fail",service="codes"} 5
# HELP omq_client_calls_total Calls made through stubs in this process, by result (ok, timeout, no_responders, error, or the error code: 400, 404, 408, 409, 413, 422, 429, 500 or 503, else 4xx, 5xx or other).
# TYPE omq_client_calls_total counter
omq_client_calls_total{function="fail",kind="call",result="413",service="codes"} 1
omq_client_calls_total{function="fail",kind="call",result="422",service="codes"} 1
omq_client_calls_total{function="fail",kind="call",result="4xx",service="codes"} 2
omq_client_calls_total{function="fail",kind="call",result="5xx",service="codes"} 2
omq_client_calls_total{function="fail",kind="call",result="other",service="codes"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"omq_handler_errors_total", "omq_client_calls_total"); err != nil {
		t.Fatal(err)
	}
	if err := lint(reg); err != nil {
		t.Fatal(err)
	}
}
