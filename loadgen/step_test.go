package loadgen

import (
	"testing"
	"time"
)

func TestStep_Rate(t *testing.T) {
	s := Step{Low: 10, High: 100, Warmup: 20 * time.Second, Hold: 30 * time.Second, After: 10 * time.Second}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{
		{-time.Second, 0},
		{0, 10},
		{20*time.Second - time.Nanosecond, 10},
		{20 * time.Second, 100},
		{50*time.Second - time.Nanosecond, 100},
		{50 * time.Second, 10},
		{60*time.Second - time.Nanosecond, 10},
		{60 * time.Second, 0},
	} {
		if got := s.Rate(tc.at); got != tc.want {
			t.Errorf("λ(%s) = %g, want %g", tc.at, got, tc.want)
		}
	}
	if s.Up() != 20*time.Second || s.Down() != 50*time.Second || s.Length() != time.Minute || s.ReportFrom() != 0 {
		t.Errorf("Up %s, Down %s, Length %s, ReportFrom %s", s.Up(), s.Down(), s.Length(), s.ReportFrom())
	}
	// Even arrivals: 10 a second before and after, 100 during.
	n, _ := countArrivals(EvenArrivals(s), 0, s.Up())
	m, _ := countArrivals(EvenArrivals(s), s.Up(), s.Down())
	if !near(float64(n), 200, 1) || !near(float64(m), 3000, 1) {
		t.Errorf("even arrivals: %d in the warm-up, %d in the step; want 200 and 3000", n, m)
	}
}
