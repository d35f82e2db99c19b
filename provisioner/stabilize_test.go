package provisioner

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// poisson draws a Poisson count of mean mean (Knuth's method: fine for
// the means here, e^-mean stays far above the smallest float64).
func poisson(rng *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// stepFeed drives svc's policy and settle as the supervisor does, one
// period of 1 s per round with Poisson arrivals at rate(round), the
// instances appearing at once: it returns the count after every round.
func stepFeed(t *testing.T, svc *serviceState, rounds int, rate func(round int) float64) []int {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Unix(1_000_000, 0)
	cur := 1
	out := make([]int, rounds)
	for i := range rounds {
		k := poisson(rng, rate(i))
		obs := Observation{Service: svc.Name, Now: start.Add(time.Duration(i+1) * time.Second), Period: time.Second,
			Current: cur, Ready: cur, Limits: svc.Limits, Lambda: float64(k),
			// Work sleeps 20 ms a call; Poisson gaps as each of cur
			// instances sees them.
			ServiceTime: Moments{Count: int64(k), Mean: 0.020}}
		if k > cur {
			gap := float64(cur) / float64(k)
			obs.InterArrival = Moments{Count: int64(k / cur), Mean: gap, Variance: gap * gap}
		}
		dec, err := svc.Policy.Decide(context.Background(), obs)
		if err != nil {
			t.Fatal(err)
		}
		cur, _ = svc.settle(obs, dec.Desired)
		out[i] = cur
	}
	return out
}

// changes counts the rounds in counts[from:to] whose count differs from
// the round before: each is a start or a stop.
func changes(counts []int, from, to int) int {
	n := 0
	for i := max(from, 1); i < to; i++ {
		if counts[i] != counts[i-1] {
			n++
		}
	}
	return n
}

// The combined policy without history sizes from each period's rate; at a
// steady rate on the boundary between two counts the Poisson noise of a
// 1 s period crosses it in about every other round (as in dpc-bench
// step). The supervisor's down window holds the higher count: a step up
// still acts in the first round, the steady rate costs at most two scale
// actions, and a real drop lowers the count once the window has passed.
func TestServiceState_DownWindowDampsNoise(t *testing.T) {
	rc := DefaultReactiveConfig()
	rc.ResponseTime = 50 * time.Millisecond // half the p95 SLA of 100 ms, as the step bench gives it
	pc := DefaultPredictiveConfig()
	pc.ResponseTime = rc.ResponseTime
	delta, _, err := CapacityAtRate(0.020, 1, 0, rc.ResponseTime)
	if err != nil {
		t.Fatal(err)
	}
	const warm, hold, after = 20, 60, 30
	boundary := 4 * delta // 4 instances up to it, 5 above
	rate := func(i int) float64 {
		if i >= warm && i < warm+hold {
			return boundary
		}
		return 10
	}
	run := func(window time.Duration) []int {
		pred, err := NewPredictive(pc, NewMemoryHistory())
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewCombined(pred, rc)
		if err != nil {
			t.Fatal(err)
		}
		svc := &serviceState{Service: Service{Name: "work", Limits: Limits{Min: 1, Max: 10}, Policy: c, DownWindow: window}}
		return stepFeed(t, svc, warm+hold+after, rate)
	}

	// Without the window (the code before it) the count flaps: the feed
	// is as noisy as the bench found it.
	base := changes(run(0), warm+1, warm+hold)
	t.Logf("without a down window: %d scale actions in the hold", base)
	if n := base; n < 10 {
		t.Fatalf("without a down window: %d scale actions in the hold at λ=%.1f/s, δ=%.1f/s; the feed does not cross the boundary", n, boundary, delta)
	}

	counts := run(DefaultDownWindow)
	t.Logf("δ=%.1f/s, λ=%.1f/s in the hold; counts %v", delta, boundary, counts)
	if counts[warm-1] != 1 {
		t.Fatalf("before the step: %d instances, want 1", counts[warm-1])
	}
	if counts[warm] < 4 {
		t.Errorf("first round of the step: %d instances, want at least 4 at once", counts[warm])
	}
	if n := changes(counts, warm, warm+hold); n > 2 {
		t.Errorf("%d scale actions in the %d rounds of the hold, after the step; want at most 2: %v", n, hold, counts[warm:warm+hold])
	}
	window := int(DefaultDownWindow / time.Second)
	drop := warm + hold
	for i := drop; i < drop+window-1; i++ {
		if counts[i] < counts[drop-1] {
			t.Fatalf("%d s after the drop, within the %v window: down to %d already", i-drop+1, DefaultDownWindow, counts[i])
		}
	}
	if got := counts[drop+window+1]; got != 1 {
		t.Errorf("%d s after the drop: %d instances, want 1 once the %v window has passed", window+2, got, DefaultDownWindow)
	}
}
