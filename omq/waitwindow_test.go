package omq

import (
	"testing"
	"time"
)

// A supervisor reading an instance after a burst must see the burst's
// waits while they are recent and nothing once they are old, or it would
// never scale an idle service down.
func TestWaitWindow_ForgetsOldWaits(t *testing.T) {
	var w waitWindow
	t0 := time.Unix(1000, 0)
	for i := range 100 {
		w.add(t0.Add(time.Duration(i)*time.Millisecond), time.Duration(i+1)*time.Millisecond)
	}
	p50, p90, p99 := waitPercentiles(w.recent(t0.Add(time.Second)))
	if p50 != 0.050 || p90 != 0.090 || p99 != 0.099 {
		t.Fatalf("recent burst: p50/p90/p99 = %v/%v/%v, want 0.050/0.090/0.099", p50, p90, p99)
	}
	// Two quick calls after the burst has aged out are all that counts.
	later := t0.Add(waitMaxAge + time.Second)
	w.add(later, 2*time.Millisecond)
	w.add(later, 4*time.Millisecond)
	p50, _, p99 = waitPercentiles(w.recent(later))
	if p50 != 0.002 || p99 != 0.004 {
		t.Fatalf("after the burst aged out: p50/p99 = %v/%v, want 0.002/0.004", p50, p99)
	}
	if p50, p90, p99 := waitPercentiles(w.recent(later.Add(waitMaxAge + time.Second))); p50+p90+p99 != 0 {
		t.Fatalf("idle: p50/p90/p99 = %v/%v/%v, want 0", p50, p90, p99)
	}
}

func TestWaitWindow_KeepsLast1024(t *testing.T) {
	var w waitWindow
	t0 := time.Unix(1000, 0)
	for i := range 2048 {
		d := time.Second // the first 1024: slow
		if i >= 1024 {
			d = time.Millisecond
		}
		w.add(t0, d)
	}
	if _, _, p99 := waitPercentiles(w.recent(t0)); p99 != 0.001 {
		t.Fatalf("p99 = %v, want 0.001 (only the last 1024 count)", p99)
	}
}
