package oracle

import (
	"errors"
	"math"
	"testing"
	"time"
)

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)
}

// Erlang C against hand-computed values and published tables
// (C(10, 8) = 0.4092, C(5, 4.5) = 0.7625).
func TestErlangC_KnownValues(t *testing.T) {
	for _, tc := range []struct {
		k    int
		a    float64
		want float64
	}{
		{1, 0.5, 0.5},        // M/M/1: C = ρ
		{2, 1, 1.0 / 3},      // B = 1/5, C = 0.2/(1 − 0.5·0.8)
		{3, 2, 4.0 / 9},      // B = 4/19, C = (4/19)/(1 − (2/3)(15/19))
		{10, 8, 0.409180151}, // table
		{5, 4.5, 0.762493221},
		{3, 0, 0},
		{3, 3, 1}, // unstable: every call waits
		{3, 4, 1},
	} {
		if got := ErlangC(tc.k, tc.a); !near(got, tc.want, 1e-8) {
			t.Errorf("C(%d, %g) = %.9f, want %.9f", tc.k, tc.a, got, tc.want)
		}
	}
}

// For M/M/1 the response time is exponential with rate μ − λ: the
// model's tail must be exactly that.
func TestModel_ResponseTailMM1IsExponential(t *testing.T) {
	m := Model{ServiceTime: 20 * time.Millisecond, Dist: Exponential, Concurrency: 1, SLA: 100 * time.Millisecond, Percentile: 0.95}
	for _, lambda := range []float64{5, 25, 40, 49} {
		for _, tt := range []time.Duration{0, 10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
			want := math.Exp(-(50 - lambda) * tt.Seconds())
			if got := m.ResponseTail(1, lambda, tt); !near(got, want, 1e-9) {
				t.Errorf("λ=%g t=%s: P(R > t) = %g, want %g", lambda, tt, got, want)
			}
		}
	}
	// θ = μ: M/M/2 at λ = 50/s, s = 20 ms (θ = 2·50 − 50 = 50 = μ).
	got := m.ResponseTail(2, 50, 100*time.Millisecond)
	c := ErlangC(2, 1) // 1/3
	want := (1-c)*math.Exp(-5) + c*(1+5)*math.Exp(-5)
	if !near(got, want, 1e-6) {
		t.Errorf("θ = μ: P(R > 0.1) = %g, want %g", got, want)
	}
}

// M/D/k: P(W > t) = C·exp(−2(kμ − λ)t), and R = W + s.
func TestModel_WaitTailDeterministic(t *testing.T) {
	m := Model{ServiceTime: 20 * time.Millisecond, Dist: Deterministic, Concurrency: 1, SLA: 100 * time.Millisecond, Percentile: 0.95}
	// k = 1, λ = 25/s: C = 0.5, θ = 2(50 − 25) = 50/s; P(W > 80 ms) =
	// 0.5·e^−4.
	if got, want := m.WaitTail(1, 25, 80*time.Millisecond), 0.5*math.Exp(-4); !near(got, want, 1e-9) {
		t.Errorf("P(W > 80ms) = %g, want %g", got, want)
	}
	if got, want := m.ResponseTail(1, 25, 100*time.Millisecond), 0.5*math.Exp(-4); !near(got, want, 1e-9) {
		t.Errorf("P(R > 100ms) = %g, want %g", got, want)
	}
	if got := m.ResponseTail(4, 1, 19*time.Millisecond); got != 1 {
		t.Errorf("P(R > 19ms) = %g with a 20ms service time, want 1", got)
	}
	if got := m.WaitTail(2, 100, time.Second); got != 1 {
		t.Errorf("unstable (λ = kμ): P(W > 1s) = %g, want 1", got)
	}
}

// The fewest instances, by hand: s = 20 ms deterministic, SLA p95 ≤
// 100 ms (so P(W > 80 ms) ≤ 0.05).
func TestModel_Instances(t *testing.T) {
	m := Model{ServiceTime: 20 * time.Millisecond, Dist: Deterministic, Concurrency: 1, SLA: 100 * time.Millisecond, Percentile: 0.95, Min: 1}
	for _, tc := range []struct {
		lambda float64
		want   int
	}{
		{0, 1},   // the minimum
		{25, 1},  // 0.5·e^−4 = 0.009
		{49, 2},  // n = 1: C = 0.98, θ = 2/s: 0.98·e^−0.16 = 0.84
		{100, 3}, // a = 2, n = 3: (4/9)·e^−8 = 0.00015
		{140, 4}, // a = 2.8, n = 3: 0.877·e^−1.6 = 0.177; n = 4: 0.429·e^−9.6 = 2.9e−5
	} {
		got, err := m.Instances(tc.lambda)
		if err != nil || got != tc.want {
			t.Errorf("Instances(%g) = %d, %v; want %d", tc.lambda, got, err, tc.want)
		}
	}
	// Two calls at a time per instance: 140/s needs 4 servers, 2 instances.
	m2 := m
	m2.Concurrency = 2
	if got, err := m2.Instances(140); err != nil || got != 2 {
		t.Errorf("concurrency 2: Instances(140) = %d, %v; want 2", got, err)
	}
	sum, err := m.InstanceSeconds([]float64{0, 25, 100, 140})
	if err != nil || sum != 1+1+3+4 {
		t.Errorf("InstanceSeconds = %d, %v; want 9", sum, err)
	}
}

// Exponential service: M/M/k sized by its exact response-time tail.
func TestModel_InstancesExponential(t *testing.T) {
	m := Model{ServiceTime: 20 * time.Millisecond, Dist: Exponential, Concurrency: 1, SLA: 100 * time.Millisecond, Percentile: 0.95, Min: 1}
	// λ = 25/s, k = 1: P(R > 0.1) = e^−2.5 = 0.082 > 0.05; k = 2 meets it.
	if got, err := m.Instances(25); err != nil || got != 2 {
		t.Errorf("Instances(25) = %d, %v; want 2", got, err)
	}
	// The answer meets the SLA and one fewer does not.
	for _, lambda := range []float64{10, 60, 150, 400} {
		n, err := m.Instances(lambda)
		if err != nil {
			t.Fatal(err)
		}
		if p := m.ResponseTail(n, lambda, m.SLA); p > 0.05 {
			t.Errorf("λ=%g: %d instances give P(R > SLA) = %g", lambda, n, p)
		}
		if n > m.Min {
			if p := m.ResponseTail(n-1, lambda, m.SLA); p <= 0.05 {
				t.Errorf("λ=%g: %d instances already give P(R > SLA) = %g", lambda, n-1, p)
			}
		}
	}
}

func TestModel_Errors(t *testing.T) {
	base := Model{ServiceTime: 20 * time.Millisecond, Concurrency: 1, SLA: 100 * time.Millisecond, Percentile: 0.95, Min: 1}
	slow := base
	slow.ServiceTime = 150 * time.Millisecond
	if _, err := slow.Instances(1); !errors.Is(err, ErrInfeasible) {
		t.Errorf("service time over the SLA: %v, want ErrInfeasible", err)
	}
	exp := base
	exp.Dist, exp.ServiceTime = Exponential, 40*time.Millisecond // P(S > 100ms) = e^−2.5 > 0.05
	if _, err := exp.Instances(1); !errors.Is(err, ErrInfeasible) {
		t.Errorf("exponential, P(S > SLA) > 5%%: %v, want ErrInfeasible", err)
	}
	capped := base
	capped.Max = 2
	if _, err := capped.Instances(1000); !errors.Is(err, ErrTooMany) {
		t.Errorf("over Max: %v, want ErrTooMany", err)
	}
	bad := base
	bad.Percentile = 95
	if err := bad.Validate(); err == nil {
		t.Error("percentile 95 accepted")
	}
}
