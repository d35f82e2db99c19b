package loadgen

import (
	"math"
	"testing"
	"time"
)

// Rows judge each second by the p95 of its calls, a failed call counting
// as the timeout; an unsampled instance count is the last one seen.
func TestRecorder_Rows(t *testing.T) {
	rec := NewRecorder([]string{"a", "b"}, 5*time.Second)
	// Second 0 of a: 19 fast calls and one slow: p95 is fast.
	for range 19 {
		rec.Sent(0, 0, false)
		rec.Done(0, 0, OutcomeOK, 10*time.Millisecond)
	}
	rec.Sent(0, 0, false)
	rec.Done(0, 0, OutcomeOK, 300*time.Millisecond)
	rec.Instances(0, 0, 2)
	// Second 1 of a: 18 fast, one error, one dropped: 2 of 20 fail, p95
	// is the timeout.
	for range 18 {
		rec.Sent(0, 1, false)
		rec.Done(0, 1, OutcomeOK, 10*time.Millisecond)
	}
	rec.Sent(0, 1, false)
	rec.Done(0, 1, OutcomeError, time.Millisecond)
	rec.Sent(0, 1, true)
	// Second 2 of a: nothing at all. b: one timeout in second 0.
	rec.Sent(1, 0, false)
	rec.Done(1, 0, OutcomeTimeout, 5*time.Second)
	rec.Instances(1, 2, 3)

	curve := Diurnal{Day: 2 * time.Second, Days: 2, Base: 7, Peak: 7}
	rows := rec.Rows(curve, curve.Day, 3, 100*time.Millisecond)
	if len(rows) != 2 || len(rows[0]) != 3 || len(rows[1]) != 3 {
		t.Fatalf("rows %v", rows)
	}
	a0, a1, a2 := rows[0][0], rows[0][1], rows[0][2]
	if a0.Sent != 20 || a0.OK != 20 || a0.P50 != 10 || a0.P95 != 10 || a0.P99 != 300 || !a0.SLAMet || a0.Instances != 2 || a0.Day != 1 || a0.Offered != 7 {
		t.Errorf("a, second 0: %+v", a0)
	}
	if a1.Sent != 20 || a1.OK != 18 || a1.Errors != 1 || a1.Dropped != 1 || a1.P95 != 5000 || a1.SLAMet || a1.Instances != 2 {
		t.Errorf("a, second 1: %+v", a1)
	}
	if a2.Sent != 0 || !math.IsNaN(a2.P95) || !a2.SLAMet || a2.Instances != 2 || a2.Day != 2 {
		t.Errorf("a, second 2: %+v", a2)
	}
	b0, b2 := rows[1][0], rows[1][2]
	if b0.Timeout != 1 || b0.P50 != 5000 || b0.SLAMet || b0.Instances != -1 || b2.Instances != 3 {
		t.Errorf("b: %+v, %+v", b0, b2)
	}

	s := Summarize("a", "combined", rows[0], rec.Latencies(0, 1, 3), 1, 3, 100*time.Millisecond)
	want := ServiceSummary{Service: "a", Policy: "combined", Seconds: 2, ViolationSeconds: 1, ViolationFraction: 0.5,
		Calls: 20, OK: 18, Errors: 1, Dropped: 1, SlowFraction: 0.1, P50: 10, P95: 5000, P99: 5000,
		InstanceSeconds: 4, MeanInstances: 2, MaxInstances: 2}
	if s != want {
		t.Errorf("summary\n got  %+v\n want %+v", s, want)
	}
	if v := rec.Second(0, 1); v.Sent != 20 || v.Failed != 2 || v.P95 != 5000 || v.Instances != -1 {
		t.Errorf("second(0, 1) = %+v", v)
	}
	if v := rec.Second(0, 9); v.Sent != 0 || !math.IsNaN(v.P95) {
		t.Errorf("second(0, 9) = %+v", v)
	}
}

func TestPercentile_NearestRank(t *testing.T) {
	sorted := make([]time.Duration, 100)
	for i := range sorted {
		sorted[i] = time.Duration(i + 1)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.50, 50}, {0.90, 90}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := Percentile(sorted, tt.p); got != tt.want {
			t.Errorf("p%.0f = %d, want %d", tt.p*100, got, tt.want)
		}
	}
	if got := Percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("one sample: p99 = %d, want 7", got)
	}
}
