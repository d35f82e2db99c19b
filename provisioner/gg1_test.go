package provisioner_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/provisioner"
)

func TestCapacity_HandComputed(t *testing.T) {
	tests := []struct {
		name             string
		s, varA, varB    float64
		d                time.Duration
		want             float64
		wantInstancesFor float64 // λ
		wantInstances    int
	}{
		{
			// No variance: no queueing, δ = 1/s = 1/0.1 = 10/s.
			// λ=35: 35/10 = 3.5 → 4.
			name: "deterministic", s: 0.1, d: 200 * time.Millisecond,
			want: 10, wantInstancesFor: 35, wantInstances: 4,
		},
		{
			// (0.01 + 0.0025) / (2 × (0.3 − 0.05)) = 0.0125 / 0.5 = 0.025;
			// δ = 1/(0.05 + 0.025) = 1/0.075 = 13.333…/s.
			// λ=40: 40/13.333 = 3.0 → 3 (exactly three, not four).
			name: "variances", s: 0.05, varA: 0.01, varB: 0.0025, d: 300 * time.Millisecond,
			want: 40.0 / 3, wantInstancesFor: 40, wantInstances: 3,
		},
		{
			// (0.0004 + 0.0002) / (2 × (0.1 − 0.02)) = 0.0006 / 0.16 = 0.00375;
			// δ = 1/(0.02 + 0.00375) = 1/0.02375 = 42.105…/s.
			// λ=120: 120/42.105 = 2.85 → 3.
			name: "the doc's example", s: 0.020, varA: 0.0004, varB: 0.0002, d: 100 * time.Millisecond,
			want: 1 / 0.02375, wantInstancesFor: 120, wantInstances: 3,
		},
		{
			// s=0: 0.01 / (2 × 1) = 0.005; δ = 1/0.005 = 200/s.
			// λ=201: 1.005 → 2.
			name: "zero service time", s: 0, varA: 0.01, d: time.Second,
			want: 200, wantInstancesFor: 201, wantInstances: 2,
		},
		{
			// Close to the target queueing dominates: 0.02 / (2 × 0.01) = 1;
			// δ = 1/(0.09 + 1) = 0.917…/s. λ=10: 10.9 → 11.
			name: "target just above service time", s: 0.09, varA: 0.01, varB: 0.01, d: 100 * time.Millisecond,
			want: 1 / 1.09, wantInstancesFor: 10, wantInstances: 11,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := provisioner.Capacity(tt.s, tt.varA, tt.varB, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tt.want) > 1e-9*tt.want {
				t.Errorf("Capacity = %v, want %v", got, tt.want)
			}
			if n := provisioner.Instances(tt.wantInstancesFor, got); n != tt.wantInstances {
				t.Errorf("Instances(%v, %v) = %d, want %d", tt.wantInstancesFor, got, n, tt.wantInstances)
			}
		})
	}
}

func TestCapacity_NoVarianceNoServiceTimeIsUnbounded(t *testing.T) {
	got, err := provisioner.Capacity(0, 0, 0, time.Second)
	if err != nil || !math.IsInf(got, 1) {
		t.Fatalf("Capacity(0, 0, 0, 1s) = %v, %v; want +Inf", got, err)
	}
	if n := provisioner.Instances(5, got); n != 1 {
		t.Errorf("Instances(5, +Inf) = %d, want 1", n)
	}
}

func TestCapacity_Unattainable(t *testing.T) {
	tests := []struct {
		name string
		s    float64
		d    time.Duration
	}{
		{"d equals s", 0.1, 100 * time.Millisecond},
		{"d below s", 0.15, 100 * time.Millisecond},
		{"zero target", 0.01, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provisioner.Capacity(tt.s, 0, 0, tt.d)
			if !errors.Is(err, provisioner.ErrUnattainable) {
				t.Fatalf("err = %v, want ErrUnattainable", err)
			}
			if !strings.HasPrefix(err.Error(), "provisioner: ") || !strings.Contains(err.Error(), "d="+tt.d.String()) {
				t.Errorf("err = %q, want the prefix and the figures", err)
			}
		})
	}
}

func TestCapacity_BadMoments(t *testing.T) {
	tests := []struct {
		name          string
		s, varA, varB float64
	}{
		{"negative service time", -0.01, 0, 0},
		{"NaN variance", 0.01, math.NaN(), 0},
		{"infinite variance", 0.01, 0, math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provisioner.Capacity(tt.s, tt.varA, tt.varB, time.Second)
			if err == nil || errors.Is(err, provisioner.ErrUnattainable) || !strings.HasPrefix(err.Error(), "provisioner: ") {
				t.Fatalf("err = %v, want a plain provisioner error", err)
			}
		})
	}
}

func TestInstances_Ceil(t *testing.T) {
	tests := []struct {
		name          string
		lambda, delta float64
		want          int
	}{
		{"no arrivals", 0, 10, 0},
		{"negative rate", -1, 10, 0},
		{"NaN rate", math.NaN(), 10, 0},
		{"exact", 30, 10, 3},
		{"a real excess", 30.01, 10, 4},                                 // 3.001 → 4
		{"tiny rate still needs one", 0.001, 10, 1},                     // 0.0001 → 1
		{"the doc's example", 120, 1 / 0.02375, 3},                      // 120 × 0.02375 = 2.85 → 3
		{"measurement noise above a whole number", 30.000000001, 10, 3}, // 3.0000000001 → 3
		{"float rounding of the quotient", 0.1 * 3, 0.1, 3},             // 3.0000000000000004 → 3
		{"float rounding below a whole number", 0.7, 0.1, 7},            // 6.999999999999999 → 7
		{"within the slack", 2.0000000019, 1, 2},                        // 2 + 1.9e-9 < 2·(1 + 1e-9)
		{"beyond the slack", 2.0000000031, 1, 3},                        // 2 + 3.1e-9 > 2·(1 + 1e-9)
		{"beyond the slack at one", 1.0000000023752968, 1, 2},           // 2.4e-9 above 1
		{"no capacity", 5, 0, math.MaxInt},                              // for the supervisor to clamp
		{"negative capacity", 5, -1, math.MaxInt},
		{"NaN capacity", 5, math.NaN(), math.MaxInt},
		{"unbounded capacity", 5, math.Inf(1), 1},            // 0 → at least 1
		{"overflowing quotient", 1e300, 1e-300, math.MaxInt}, // +Inf
		{"infinite rate", math.Inf(1), 10, math.MaxInt},
		{"large but sane", 1e6, 1, 1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := provisioner.Instances(tt.lambda, tt.delta); got != tt.want {
				t.Errorf("Instances(%v, %v) = %d, want %d", tt.lambda, tt.delta, got, tt.want)
			}
		})
	}
}

func ExampleCapacity() {
	// Each instance takes 20ms per call on average, give or take 14.1ms
	// (σb² = 0.0002 s²); the gaps between the calls one instance sees vary
	// by 20ms (σa² = 0.0004 s²); the target is 100ms.
	delta, err := provisioner.Capacity(0.020, 0.0004, 0.0002, 100*time.Millisecond)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("δ = %.1f/s per instance\n", delta)
	fmt.Println("η for 120/s:", provisioner.Instances(120, delta))
	fmt.Println("η for 0/s:", provisioner.Instances(0, delta))

	// A 100ms target for calls that take 150ms cannot be met.
	_, err = provisioner.Capacity(0.150, 0, 0, 100*time.Millisecond)
	fmt.Println(errors.Is(err, provisioner.ErrUnattainable))
	fmt.Println(err)
	// Output:
	// δ = 42.1/s per instance
	// η for 120/s: 3
	// η for 0/s: 0
	// true
	// provisioner: response-time target unattainable: target d=100ms ≤ mean service time s=150.0ms
}

func TestCapacityAtRate_HandComputed(t *testing.T) {
	const d = 100 * time.Millisecond
	tests := []struct {
		name            string
		s, ca2, varB    float64
		want            float64
		paperAtLowRate  float64 // Capacity with σa² measured at 5 calls/s
		checkPaperBelow bool
	}{
		// Poisson (ca² = 1), fixed 20 ms: D = 0.08; x = 0.08 − √(0.0064 − 0.0032)
		// = 0.08 − 0.056569 = 0.023431 s → δ = 42.68/s (ρ = 0.85; M/D/1 mean
		// wait ρs/2(1−ρ) = 56.9 ms, response 76.9 ms ≤ d).
		{name: "poisson, fixed service", s: 0.020, ca2: 1, want: 1 / (0.08 - math.Sqrt(0.0032)),
			// The paper's bound with σa² = 0.2² measured at 5/s: 1/(0.02 + 0.04/0.16) = 3.70/s.
			paperAtLowRate: 1 / (0.02 + 0.04/0.16), checkPaperBelow: true},
		// Evenly spaced arrivals (ca² = 0): only service variance queues:
		// 1/(0.02 + 0.0002/0.16) = 47.06/s.
		{name: "even arrivals", s: 0.020, ca2: 0, varB: 0.0002, want: 1 / (0.02 + 0.0002/0.16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, loose, err := provisioner.CapacityAtRate(tt.s, tt.ca2, tt.varB, d)
			if err != nil || loose || math.Abs(got-tt.want) > 1e-9*tt.want {
				t.Fatalf("CapacityAtRate = %v, %v; want %v", got, err, tt.want)
			}
			if tt.checkPaperBelow {
				paper, _ := provisioner.Capacity(tt.s, 0.04, tt.varB, d)
				if math.Abs(paper-tt.paperAtLowRate) > 1e-9 || paper*10 > got {
					t.Fatalf("paper's bound at a low rate = %v, want %v, far below %v", paper, tt.paperAtLowRate, got)
				}
			}
		})
	}
}

// Very bursty arrivals put the (loose) bound above d at every rate: the
// discriminant D² − ca²(2Ds + σb²) is negative (0.0064 − 3·0.0032 < 0).
// The capacity is then the one at the burstiest ca² the bound handles,
// ca²* = D²/(2Ds + σb²) = 2: x = (2Ds + σb²)/D = 0.0032/0.08 = 0.04 →
// δ = 25/s, for ca² = 3 as for ca² = 10 — never more capacity for
// burstier arrivals, and no jump at ca²*. d ≤ s is still unattainable.
func TestCapacityAtRate_Bursty(t *testing.T) {
	for _, ca2 := range []float64{3, 10} {
		got, loose, err := provisioner.CapacityAtRate(0.020, ca2, 0, 100*time.Millisecond)
		if err != nil || !loose || math.Abs(got-25) > 1e-9 {
			t.Fatalf("ca²=%v: %v, %v, %v; want 25, loose", ca2, got, loose, err)
		}
	}
	// Continuous at the edge: ca² = 2 has discriminant 0, root D/ca².
	edge, loose, _ := provisioner.CapacityAtRate(0.020, 2, 0, 100*time.Millisecond)
	below, _, _ := provisioner.CapacityAtRate(0.020, 2.0001, 0, 100*time.Millisecond)
	if loose || math.Abs(edge-25) > 1e-6 || math.Abs(below-edge) > 0.01 {
		t.Fatalf("edge %v (loose %v), just past it %v; want 25 and continuous", edge, loose, below)
	}
	if _, _, err := provisioner.CapacityAtRate(0.2, 1, 0, 100*time.Millisecond); !errors.Is(err, provisioner.ErrUnattainable) {
		t.Fatalf("d ≤ s: err = %v, want ErrUnattainable", err)
	}
}
