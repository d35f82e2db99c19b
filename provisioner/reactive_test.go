package provisioner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/provisioner"
)

// t0 is the fake clock's start; tests add periods to it.
var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// tenPerSecond are moments for which δ = 10/s at d = 200ms: no variance,
// s = 0.1 s, so δ = 1/0.1.
var tenPerSecond = struct{ st, ia provisioner.Moments }{
	st: provisioner.Moments{Count: 100, Mean: 0.1},
	ia: provisioner.Moments{Count: 100},
}

// observe builds an observation with δ = 10/s moments.
func observe(at time.Time, lambda float64, current int) provisioner.Observation {
	return provisioner.Observation{
		Service:      "tst",
		Now:          at,
		Period:       2 * time.Second,
		Current:      current,
		Ready:        current,
		Limits:       provisioner.Limits{Min: 0, Max: 10},
		Lambda:       lambda,
		ServiceTime:  tenPerSecond.st,
		InterArrival: tenPerSecond.ia,
	}
}

func newReactive(t *testing.T) *provisioner.Reactive {
	t.Helper()
	cfg := provisioner.DefaultReactiveConfig()
	cfg.ResponseTime = 200 * time.Millisecond
	r, err := provisioner.NewReactive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func decide(t *testing.T, p provisioner.Provisioner, obs provisioner.Observation) provisioner.Decision {
	t.Helper()
	d, err := p.Decide(context.Background(), obs)
	if err != nil {
		t.Fatalf("Decide(%+v): %v", obs, err)
	}
	return d
}

func TestReactiveConfig_Validate(t *testing.T) {
	ok := provisioner.DefaultReactiveConfig()
	ok.ResponseTime = time.Second
	tests := []struct {
		name   string
		change func(*provisioner.ReactiveConfig)
		want   string // in the error; "" for none
	}{
		{"defaults with d", func(*provisioner.ReactiveConfig) {}, ""},
		{"no d", func(c *provisioner.ReactiveConfig) { c.ResponseTime = 0 }, "ResponseTime"},
		{"tau1 of 1", func(c *provisioner.ReactiveConfig) { c.Tau1 = 1 }, "Tau1"},
		{"tau1 zero", func(c *provisioner.ReactiveConfig) { c.Tau1 = 0 }, "Tau1"},
		{"tau2 of 1", func(c *provisioner.ReactiveConfig) { c.Tau2 = 1 }, "Tau2"},
		{"tau2 zero", func(c *provisioner.ReactiveConfig) { c.Tau2 = 0 }, "Tau2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "provisioner: ") {
				t.Fatalf("err = %v, want one about %s", err, tt.want)
			}
			if _, nerr := provisioner.NewReactive(c); nerr == nil {
				t.Error("NewReactive accepted it")
			}
		})
	}
}

func TestReactive_BandEdges(t *testing.T) {
	// Sized first for 40/s: η = ⌈40/10⌉ = 4, λpred = 40. Then:
	tests := []struct {
		name   string
		lambda float64
		want   int
		inWhy  string
		pred   string // λpred after the decision
	}{
		{"on the prediction", 40, 4, "within [τ2=0.50, τ1=1.20]: keep η=4", "40.0/s"},
		{"exactly τ1", 48, 4, "ratio 1.20 within", "40.0/s"},               // 48/40 = 1.2, not above
		{"just above τ1", 48.01, 5, "ratio 1.20 > τ1=1.20", "48.0/s"},      // 4.801 → 5
		{"well above τ1", 120, 12, "ratio 3.00 > τ1=1.20", "120.0/s"},      // the supervisor clamps to Max
		{"exactly τ2", 20, 4, "ratio 0.50 within", "40.0/s"},               // 20/40 = 0.5, not below
		{"just below τ2", 19.99, 2, "ratio 0.50 < τ2=0.50", "20.0/s"},      // 1.999 → 2
		{"to nothing", 0, 0, "ratio 0.00 < τ2=0.50: no arrivals", "0.0/s"}, // η = 0
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReactive(t)
			first := decide(t, r, observe(t0, 40, 0))
			if first.Desired != 4 || !strings.Contains(first.Reason, "no λpred yet") {
				t.Fatalf("first decision %+v, want 4 with no λpred yet", first)
			}
			got := decide(t, r, observe(t0.Add(2*time.Second), tt.lambda, 4))
			if got.Desired != tt.want || !strings.Contains(got.Reason, tt.inWhy) {
				t.Fatalf("Decide(λ=%v) = %+v, want %d with %q", tt.lambda, got, tt.want, tt.inWhy)
			}
			// After a recompute λpred follows λobs, so the same rate again
			// keeps the count; otherwise λpred stayed 40.
			again := decide(t, r, observe(t0.Add(4*time.Second), tt.lambda, got.Desired))
			if again.Desired != tt.want || !strings.Contains(again.Reason, "λpred="+tt.pred) || !strings.Contains(again.Reason, "keep") {
				t.Errorf("same rate again: %+v, want to keep %d against λpred=%s", again, tt.want, tt.pred)
			}
		})
	}
}

func TestReactive_ReasonHasFigures(t *testing.T) {
	cfg := provisioner.DefaultReactiveConfig()
	cfg.ResponseTime = 100 * time.Millisecond
	r, err := provisioner.NewReactive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	obs := provisioner.Observation{
		Service: "tst", Now: t0, Current: 1, Limits: provisioner.Limits{Max: 10}, Lambda: 40,
		ServiceTime:  provisioner.Moments{Count: 80, Mean: 0.020, Variance: 0.0002},
		InterArrival: provisioner.Moments{Count: 79, Mean: 0.025, Variance: 0.0004},
	}
	decide(t, r, obs)
	obs.Now, obs.Lambda = obs.Now.Add(2*time.Second), 120
	got := decide(t, r, obs)
	// ca² = 0.0004/0.025² = 0.64; D = 0.08; x = (D − √(D² − ca²(2D·s + σb²)))/ca²
	// = (0.08 − √(0.0064 − 0.64·0.0034))/0.64 = (0.08 − 0.064992)/0.64
	// = 0.023450 s → δ = 42.6/s; 120/42.6 = 2.8 → 3.
	want := "λobs=120.0/s, λpred=40.0/s, ratio 3.00 > τ1=1.20: δ=42.6/s (s=20.0ms, ca²=0.64 (σa²=(20.0ms)² now), σb²=(14.1ms)², d=100ms) → η=3"
	if got.Desired != 3 || got.Reason != want {
		t.Errorf("got %d, %q\nwant 3, %q", got.Desired, got.Reason, want)
	}
}

func TestReactive_NoMoments(t *testing.T) {
	tests := []struct {
		name    string
		lambda  float64
		current int
		durable int64
		want    int
		inWhy   string
	}{
		{"keeps the current count", 10, 3, 0, 3, "no service-time samples yet, δ unknown: keep 3"},
		{"at least one with arrivals", 10, 0, 0, 1, "keep 1"},
		{"none without demand", 0, 0, 0, 0, "no arrivals → η=0"},
		{"one for the durable lane", 0, 0, 5, 1, "5 calls wait in the durable lane → 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReactive(t)
			obs := observe(t0, tt.lambda, tt.current)
			obs.ServiceTime, obs.InterArrival = provisioner.Moments{}, provisioner.Moments{}
			obs.Durable = tt.durable
			got := decide(t, r, obs)
			if got.Desired != tt.want || !strings.Contains(got.Reason, tt.inWhy) {
				t.Fatalf("got %+v, want %d with %q", got, tt.want, tt.inWhy)
			}
		})
	}
}

func TestReactive_NoMomentsIsNotAPrediction(t *testing.T) {
	r := newReactive(t)
	obs := observe(t0, 40, 2)
	obs.ServiceTime = provisioner.Moments{}
	if got := decide(t, r, obs); got.Desired != 2 {
		t.Fatalf("without moments: %+v, want the current 2", got)
	}
	// The same rate, now with moments: within the band of a prediction it
	// never made, it must size rather than keep the fallback.
	got := decide(t, r, observe(t0.Add(2*time.Second), 40, 2))
	if got.Desired != 4 || !strings.Contains(got.Reason, "no λpred yet") {
		t.Fatalf("with moments: %+v, want 4 from no λpred yet", got)
	}
}

func TestReactive_KeepsMomentsOverIdle(t *testing.T) {
	r := newReactive(t)
	decide(t, r, observe(t0, 40, 0)) // learns δ = 10/s
	idle := observe(t0.Add(2*time.Second), 0, 4)
	idle.ServiceTime, idle.InterArrival = provisioner.Moments{}, provisioner.Moments{}
	if got := decide(t, r, idle); got.Desired != 0 {
		t.Fatalf("idle: %+v, want 0", got)
	}
	busy := observe(t0.Add(4*time.Second), 35, 0)
	busy.ServiceTime, busy.InterArrival = provisioner.Moments{}, provisioner.Moments{}
	got := decide(t, r, busy)
	// δ = 10/s remembered: ⌈35/10⌉ = 4.
	if got.Desired != 4 || !strings.Contains(got.Reason, "δ=10.0/s") {
		t.Fatalf("after idle: %+v, want 4 from δ=10.0/s", got)
	}
}

func TestReactive_Unattainable(t *testing.T) {
	r := newReactive(t) // d = 200ms
	obs := observe(t0, 40, 2)
	obs.ServiceTime.Mean = 0.3
	got := decide(t, r, obs)
	if got.Desired != 10 || !strings.Contains(got.Reason, "d=200ms ≤ s=300.0ms") {
		t.Fatalf("got %+v, want Limits.Max 10 because d ≤ s", got)
	}
	obs.Limits.Max = 0 // no maximum known: hold
	obs.Now = obs.Now.Add(2 * time.Second)
	if got := decide(t, r, obs); got.Desired != 2 {
		t.Fatalf("no maximum: %+v, want the current 2", got)
	}
	// Service time back to normal at the same rate: not stuck at Max.
	got = decide(t, r, observe(t0.Add(4*time.Second), 40, 10))
	if got.Desired != 4 {
		t.Fatalf("attainable again: %+v, want 4", got)
	}
}

func TestReactive_PerService(t *testing.T) {
	r := newReactive(t)
	a := observe(t0, 40, 0)
	b := observe(t0, 80, 0)
	b.Service = "other"
	if got := decide(t, r, a); got.Desired != 4 {
		t.Fatalf("tst: %+v", got)
	}
	if got := decide(t, r, b); got.Desired != 8 || !strings.Contains(got.Reason, "no λpred yet") {
		t.Fatalf("other: %+v, want 8 with its own state", got)
	}
	a.Now, a.Lambda = a.Now.Add(2*time.Second), 44
	if got := decide(t, r, a); got.Desired != 4 || !strings.Contains(got.Reason, "λpred=40.0/s") {
		t.Fatalf("tst again: %+v, want 4 against its own λpred", got)
	}
}

func TestReactive_BadObservation(t *testing.T) {
	r := newReactive(t)
	obs := observe(t0, -1, 0)
	if _, err := r.Decide(context.Background(), obs); err == nil || !strings.HasPrefix(err.Error(), "provisioner: ") {
		t.Fatalf("negative λ: err = %v", err)
	}
}
