package provisioner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/provisioner"
)

// waitObs is an observation of current instances whose queue wait has
// p50/p90/p99 of half, one and three times p90.
func waitObs(at time.Time, current int, p90 time.Duration) provisioner.Observation {
	return provisioner.Observation{
		Service:   "tst",
		Now:       at,
		Period:    10 * time.Second,
		Current:   current,
		Ready:     current,
		Limits:    provisioner.Limits{Min: 1, Max: 100},
		Lambda:    50,
		QueueWait: provisioner.Percentiles{P50: p90 / 2, P90: p90, P99: 3 * p90},
	}
}

func newTargetTracking(t *testing.T, change func(*provisioner.TargetTrackingConfig)) *provisioner.TargetTracking {
	t.Helper()
	cfg := provisioner.DefaultTargetTrackingConfig()
	cfg.Target = 100 * time.Millisecond
	if change != nil {
		change(&cfg)
	}
	p, err := provisioner.NewTargetTracking(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func noWindows(c *provisioner.TargetTrackingConfig) { c.UpWindow, c.DownWindow = 0, 0 }

func TestTargetTrackingConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*provisioner.TargetTrackingConfig)
		want   string
	}{
		{"defaults with a target", func(*provisioner.TargetTrackingConfig) {}, ""},
		{"no target", func(c *provisioner.TargetTrackingConfig) { c.Target = 0 }, "Target"},
		{"percentile 95", func(c *provisioner.TargetTrackingConfig) { c.Percentile = 95 }, "Percentile"},
		{"tolerance 1", func(c *provisioner.TargetTrackingConfig) { c.Tolerance = 1 }, "Tolerance"},
		{"negative window", func(c *provisioner.TargetTrackingConfig) { c.DownWindow = -time.Second }, "windows"},
		{"factor below 1", func(c *provisioner.TargetTrackingConfig) { c.MaxUpFactor = 0.5 }, "MaxUpFactor"},
		{"never up", func(c *provisioner.TargetTrackingConfig) { c.MaxUpFactor, c.MaxUpStep = 1, 0 }, "never scale up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := provisioner.DefaultTargetTrackingConfig()
			c.Target = time.Second
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
		})
	}
}

func TestTargetTracking_RatioAndTolerance(t *testing.T) {
	tests := []struct {
		name    string
		current int
		p90     time.Duration
		want    int
		inWhy   string
	}{
		{"on target", 4, 100 * time.Millisecond, 4, "within tolerance 0.10, keep 4"},
		{"upper tolerance edge", 4, 110 * time.Millisecond, 4, "within tolerance"},       // |110−100| = 10 ≤ 0.1×100
		{"just above the edge", 4, 111 * time.Millisecond, 5, "⌈4×1.11⌉=5"},              // 4.44 → 5
		{"lower tolerance edge", 4, 90 * time.Millisecond, 4, "within tolerance"},        // |90−100| = 10
		{"just below the edge", 10, 89 * time.Millisecond, 9, "⌈10×0.89⌉=9"},             // 8.9 → 9
		{"one and a half", 4, 150 * time.Millisecond, 6, "ratio 1.50 on 4 → ⌈4×1.50⌉=6"}, // 6
		{"half", 10, 50 * time.Millisecond, 5, "⌈10×0.50⌉=5"},                            // 5
		{"no wait with traffic", 3, 0, 1, "λ=50.0/s → 1"},                                // ⌈0⌉ = 0, but λ > 0
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTargetTracking(t, noWindows)
			got := decide(t, p, waitObs(t0, tt.current, tt.p90))
			if got.Desired != tt.want || !strings.Contains(got.Reason, tt.inWhy) {
				t.Fatalf("got %+v, want %d with %q", got, tt.want, tt.inWhy)
			}
		})
	}
}

func TestTargetTracking_Percentile(t *testing.T) {
	// waitObs(…, 100ms): p50 = 50ms, p90 = 100ms, p99 = 300ms; target 100ms on 4.
	for _, tt := range []struct {
		percentile int
		want       int
	}{{50, 2}, {90, 4}, {99, 8}} { // ⌈4×0.5⌉ = 2; 4 kept; ⌈4×3⌉ = 12 capped at max(8, 8) = 8
		p := newTargetTracking(t, func(c *provisioner.TargetTrackingConfig) { noWindows(c); c.Percentile = tt.percentile })
		if got := decide(t, p, waitObs(t0, 4, 100*time.Millisecond)); got.Desired != tt.want {
			t.Errorf("p%d: %+v, want %d", tt.percentile, got, tt.want)
		}
	}
}

func TestTargetTracking_FromZero(t *testing.T) {
	tests := []struct {
		name    string
		lambda  float64
		backlog int64
		durable int64
		want    int
	}{
		{"arrivals", 2, 0, 0, 1},
		{"backlog", 0, 3, 0, 1},
		{"durable lane", 0, 0, 7, 1},
		{"nothing", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTargetTracking(t, nil)
			obs := waitObs(t0, 0, 0)
			obs.Lambda, obs.Backlog, obs.Durable = tt.lambda, tt.backlog, tt.durable
			if got := decide(t, p, obs); got.Desired != tt.want {
				t.Fatalf("got %+v, want %d", got, tt.want)
			}
		})
	}
}

func TestTargetTracking_UpCap(t *testing.T) {
	tests := []struct {
		name    string
		current int
		p90     time.Duration
		want    int
		capped  bool
	}{
		{"small: +4 beats doubling", 2, time.Second, 6, true},       // ⌈2×10⌉ = 20, capped at max(4, 6)
		{"large: doubling beats +4", 10, time.Second, 20, true},     // 100, capped at max(20, 14)
		{"under the cap", 10, 150 * time.Millisecond, 15, false},    // 15 ≤ 20
		{"one: +4", 1, 10 * time.Second, 5, true},                   // 100, capped at max(2, 5)
		{"down is not capped", 20, 10 * time.Millisecond, 2, false}, // ⌈20×0.1⌉ = 2
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTargetTracking(t, noWindows)
			got := decide(t, p, waitObs(t0, tt.current, tt.p90))
			if got.Desired != tt.want {
				t.Fatalf("got %+v, want %d", got, tt.want)
			}
			if strings.Contains(got.Reason, "capped at") != tt.capped {
				t.Errorf("reason %q, want capped %v", got.Reason, tt.capped)
			}
		})
	}
}

// step is one period of a fake-clock run: the instances running and the
// p90 queue wait the policy sees, and the count it should propose.
type step struct {
	at      time.Duration // since t0
	current int
	p90     time.Duration
	want    int
}

func runSteps(t *testing.T, p provisioner.Provisioner, steps []step) {
	t.Helper()
	for i, s := range steps {
		got := decide(t, p, waitObs(t0.Add(s.at), s.current, s.p90))
		if got.Desired != s.want {
			t.Fatalf("step %d (t0+%v, %d instances, p90 %v): %+v, want %d", i, s.at, s.current, s.p90, got, s.want)
		}
	}
}

func TestTargetTracking_Windows(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		up    time.Duration
		down  time.Duration
		steps []step
	}{
		{
			// Up at once; down held by the highest recommendation of the
			// last 30s: the 8 of t0 drops out only when t0 is no longer
			// after now−30s, at t0+30s.
			name: "scale-down window", down: 30 * time.Second,
			steps: []step{
				{0, 4, 200 * ms, 8},               // ⌈4×2⌉ = 8
				{10 * time.Second, 8, 50 * ms, 8}, // rec 4, held by 8
				{20 * time.Second, 8, 50 * ms, 8}, // rec 4, held by 8
				{30 * time.Second, 8, 50 * ms, 4}, // window (t0, t0+30s]: 4, 4, 4
			},
		},
		{
			// Up only to the lowest recommendation of the last 20s.
			name: "scale-up window", up: 20 * time.Second,
			steps: []step{
				{0, 2, 100 * ms, 2},                // rec 2, in tolerance
				{10 * time.Second, 2, 300 * ms, 2}, // rec 6, held by the 2 of t0
				{20 * time.Second, 2, 300 * ms, 6}, // (t0, t0+20s]: 6, 6
			},
		},
		{
			name: "partial scale-down", down: 30 * time.Second,
			steps: []step{
				{0, 10, 100 * ms, 10},               // rec 10
				{10 * time.Second, 10, 70 * ms, 10}, // rec 7, held by 10
				{20 * time.Second, 10, 50 * ms, 10}, // rec 5, held by 10
				{30 * time.Second, 10, 50 * ms, 7},  // (t0, +30s]: 7, 5, 5 → down only to 7
				{40 * time.Second, 7, 70 * ms, 5},   // rec ⌈7×0.7⌉ = 5: 5, 5, 5 → 5
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTargetTracking(t, func(c *provisioner.TargetTrackingConfig) { c.UpWindow, c.DownWindow = tt.up, tt.down })
			runSteps(t, p, tt.steps)
		})
	}
}

func TestTargetTracking_WindowReasons(t *testing.T) {
	p := newTargetTracking(t, nil) // DownWindow 30s
	decide(t, p, waitObs(t0, 4, 200*time.Millisecond))
	got := decide(t, p, waitObs(t0.Add(10*time.Second), 8, 50*time.Millisecond))
	if !strings.Contains(got.Reason, "held at 8 by the highest recommendation of the last 30s (8)") {
		t.Errorf("reason %q, want it held by the scale-down window", got.Reason)
	}
	got = decide(t, p, waitObs(t0.Add(20*time.Second), 8, 70*time.Millisecond))
	if got.Desired != 8 {
		t.Fatalf("got %+v, want 8", got)
	}
}

func TestTargetTracking_NoOscillation(t *testing.T) {
	// The queue wait alternates between twice and half the target, period
	// after period. Without a down window the count flaps; with one it
	// settles on the high count.
	flap := func(p provisioner.Provisioner) []int {
		current := 4
		var counts []int
		for i := range 12 {
			p90 := 200 * time.Millisecond
			if i%2 == 1 {
				p90 = 50 * time.Millisecond
			}
			current = decide(t, p, waitObs(t0.Add(time.Duration(i)*5*time.Second), current, p90)).Desired
			counts = append(counts, current)
		}
		return counts
	}
	changes := func(counts []int) int {
		n := 0
		for i := 1; i < len(counts); i++ {
			if counts[i] != counts[i-1] {
				n++
			}
		}
		return n
	}
	without := flap(newTargetTracking(t, noWindows))
	with := flap(newTargetTracking(t, nil))
	if changes(without) < 10 {
		t.Errorf("without windows %v: expected it to flap", without)
	}
	// With the window: 4 → 8 → 8 → 16 → … up while the high wait lasts,
	// never down within 30s of a high recommendation.
	for i := 1; i < len(with); i++ {
		if with[i] < with[i-1] {
			t.Fatalf("with a 30s down window %v: scaled down at step %d", with, i)
		}
	}
	if with[0] != 8 {
		t.Fatalf("with a 30s down window %v: want the first high wait to double the count to 8", with)
	}
}

func TestTargetTracking_PerService(t *testing.T) {
	p := newTargetTracking(t, nil)
	decide(t, p, waitObs(t0, 4, 200*time.Millisecond)) // tst: rec 8
	other := waitObs(t0.Add(10*time.Second), 8, 50*time.Millisecond)
	other.Service = "other"
	if got := decide(t, p, other); got.Desired != 4 {
		t.Fatalf("other: %+v, want 4, not held by tst's window", got)
	}
}
