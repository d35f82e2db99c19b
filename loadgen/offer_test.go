package loadgen

import (
	"testing"
	"time"
)

func TestConstant_Rate(t *testing.T) {
	c := Constant{PerSec: 50, For: 10 * time.Second}
	if c.Rate(-time.Nanosecond) != 0 || c.Rate(0) != 50 || c.Rate(10*time.Second-1) != 50 || c.Rate(10*time.Second) != 0 {
		t.Errorf("rates %g %g %g %g", c.Rate(-time.Nanosecond), c.Rate(0), c.Rate(10*time.Second-1), c.Rate(10*time.Second))
	}
	if c.Length() != 10*time.Second || c.ReportFrom() != 0 {
		t.Errorf("Length %s, ReportFrom %s", c.Length(), c.ReportFrom())
	}
	n, _ := countArrivals(EvenArrivals(c), 0, c.Length())
	if !near(float64(n), 500, 1) {
		t.Errorf("%d even arrivals in 10 s at 50/s, want 500", n)
	}
}

// A progress line says where the load is (the day, for a diurnal curve)
// and each service's second, unknowns shown as such.
func TestProgressLine(t *testing.T) {
	rec := NewRecorder([]string{"work", "work-fixed"}, time.Second)
	rec.Sent(0, 1, false)
	rec.Done(0, 1, OutcomeOK, 20*time.Millisecond)
	rec.Sent(0, 1, true)
	rec.Instances(0, 1, 2)
	d := Diurnal{Day: 4 * time.Second, Days: 2, Base: 10, Peak: 10}
	want := "t   2s/8s (day 1/2)  λ  10.0/s | work: 2 sent, 1 failed, p95 1000ms, 2 inst | work-fixed: 0 sent, 0 failed, p95 –, ? inst"
	if got := ProgressLine(rec, d, 1); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
